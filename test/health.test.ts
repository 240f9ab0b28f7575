import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { ReadinessCheck } from '../archive/health.ts';
import { S3ObjectStore } from '../archive/storage/s3-store.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

interface ReadyAnswer {
  status: string;
  database?: { ready: boolean; reason?: string };
  objectStore?: { ready: boolean; reason?: string };
  queue?: { ready: boolean; reason?: string };
}

describe('liveness and readiness', () => {
  let system: TestSystem;
  const readyz = async () => {
    const response = await fetch(`${system.httpUrl}/readyz`);
    return { status: response.status, body: (await response.json()) as ReadyAnswer };
  };
  const healthz = async () => (await fetch(`${system.httpUrl}/healthz`)).status;

  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await system?.shutdown();
  });

  it('answers ready with each backend, without a token', async () => {
    const { status, body } = await readyz();
    assert.equal(status, 200, JSON.stringify(body));
    assert.equal(body.status, 'ready');
    for (const backend of [body.database, body.objectStore, body.queue]) assert.equal(backend?.ready, true);
    assert.equal(await healthz(), 200);
  });

  it('answers 503 while PostgreSQL refuses connections, 200 again once it takes them, and stays alive throughout', async () => {
    const database = new URL(system.databaseUrl).pathname.slice(1);
    const admin = new pg.Pool({ connectionString: system.databaseUrl.replace(`/${database}`, '/postgres'), max: 1 });
    try {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      const down = await readyz();
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.database?.ready, false);
      assert.ok(down.body.database?.reason, 'says why');
      assert.equal(down.body.objectStore?.ready, true);
      assert.equal(await healthz(), 200, 'alive: nothing a restart would fix');
    } finally {
      await admin.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await admin.end();
    }
    const up = await readyz();
    assert.equal(up.status, 200, JSON.stringify(up.body));
  });

  it('answers 503 while the object store folder is gone, and 200 again once it is back', async () => {
    const objects = path.join(system.dataDir, 'objects');
    await fs.rename(objects, `${objects}.away`);
    try {
      const down = await readyz();
      assert.equal(down.status, 503, JSON.stringify(down.body));
      assert.equal(down.body.objectStore?.ready, false);
      assert.equal(down.body.database?.ready, true);
    } finally {
      await fs.rename(`${objects}.away`, objects);
    }
    assert.equal((await readyz()).status, 200);
  });

  it('does not route /readyz/… to the viewer', async () => {
    assert.equal((await fetch(`${system.httpUrl}/readyz/x`)).status, 404);
  });
});

describe('readiness of a backend that never answers', () => {
  it('reports an S3 endpoint that accepts connections and never answers as not ready, within the timeout', async (t) => {
    const held: net.Socket[] = [];
    const silent = net.createServer((socket) => held.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    t.after(() => {
      for (const socket of held) socket.destroy();
      silent.close();
    });
    const { port } = silent.address() as net.AddressInfo;
    const store = new S3ObjectStore(
      { endpoint: `http://127.0.0.1:${port}`, bucket: 'silent', region: 'us-east-1', accessKeyId: 'x', secretAccessKey: 'y', idleTimeoutMs: 60_000 },
      '/nonexistent-spool',
    );
    const check = new ReadinessCheck({ pool: { query: async () => ({}) as never }, store, queue: { checkAvailable: async () => undefined } }, 300);
    const started = Date.now();
    const [first, second] = await Promise.all([check.check(), check.check()]);
    assert.ok(Date.now() - started < 2_000, 'answered within its timeout, not the backend’s');
    assert.equal(first, second, 'checks asked for together share one probe');
    assert.equal(first.ready, false);
    assert.equal(first.database.ready, true);
    assert.deepEqual({ ready: first.objectStore.ready, reason: first.objectStore.reason }, { ready: false, reason: 'no answer within 300 ms' });
  });
});
