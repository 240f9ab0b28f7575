import assert from 'node:assert/strict';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { commandExists } from './support/peers.ts';

const projectRoot = path.resolve(import.meta.dirname, '..');

interface Started {
  child: ChildProcess;
  httpUrl: string;
  dicomPort: number;
  output: () => string;
}

/** Runs `npm start` exactly as the README says, with only the data folder and ports changed. */
async function npmStart(dataDir: string): Promise<Started> {
  const environment: NodeJS.ProcessEnv = { ...process.env, YINGYUN_DATA_DIR: dataDir, YINGYUN_HTTP_PORT: '0', YINGYUN_DICOM_PORT: '0', YINGYUN_DICOM_HOST: '127.0.0.1' };
  // The embedded default is what a newcomer gets: no external services configured.
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET']) delete environment[name];
  // Its own process group, so Ctrl-C can be delivered as a terminal does: to npm, Yingyun and PostgreSQL at once.
  const child = spawn('npm', ['start', '--silent'], { cwd: projectRoot, env: environment, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = /Yingyun ready: web (http:\/\/\S+?)\/ +DICOM YINGYUN@[\d.]+:(\d+)/.exec(output);
    if (ready) return { child, httpUrl: ready[1]!, dicomPort: Number(ready[2]), output: () => output };
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready after 120 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Ctrl-C; true when Yingyun finished its orderly stop and embedded PostgreSQL is down. */
async function stopCleanly(started: Started, dataDir: string): Promise<boolean> {
  await new Promise<void>((resolve) => {
    // 'close', not 'exit': only then has everything the process wrote been read from its pipes.
    started.child.once('close', () => resolve());
    process.kill(-started.child.pid!, 'SIGINT');
  });
  // PostgreSQL had the same Ctrl-C and shuts down on its own clock: give it a few seconds to remove its pid file.
  let postgresStopped = false;
  for (let waited = 0; waited < 5_000 && !postgresStopped; waited += 100) {
    postgresStopped = await fs.access(path.join(dataDir, 'postgres', 'postmaster.pid')).then(
      () => false,
      () => true,
    );
    if (!postgresStopped) await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return /"msg":"stopped cleanly"/.test(started.output()) && postgresStopped;
}

/** Signs in with a password as the web app does; `post` then sends JSON with the session and its CSRF token. */
async function signIn(httpUrl: string, username: string, password: string) {
  const login = await fetch(`${httpUrl}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(login.status, 200, `sign-in: ${await login.clone().text()}`);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const cookie = login.headers.getSetCookie().map((header) => header.split(';')[0]).join('; ');
  return {
    async post(route: string, body: unknown) {
      const response = await fetch(`${httpUrl}${route}`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': csrfToken, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(response.status, 201, `${route}: ${await response.text()}`);
    },
  };
}

describe('npm start (embedded defaults)', () => {
  it('starts embedded PostgreSQL, serves health and DICOM, stops cleanly on Ctrl-C, and restarts on the same data', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-start-'));
    await fs.chmod(dataDir, 0o755);
    try {
      const first = await npmStart(dataDir);
      const health = await fetch(`${first.httpUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.match(first.output(), /embedded PostgreSQL in /);
      // First start: the administrator's one-time password is printed once, and signs in.
      const password = /administrator "admin" created with the one-time password (\S+)/.exec(first.output())?.[1];
      assert.ok(password, `a one-time password in:\n${first.output()}`);
      const admin = await signIn(first.httpUrl, 'admin', password);
      if (commandExists('echoscu')) {
        const echo = () => spawnSync('echoscu', ['-aec', 'YINGYUN', '127.0.0.1', String(first.dicomPort)], { env: { ...process.env, TCP_NODELAY: '1' }, encoding: 'utf8' });
        const unknown = echo();
        assert.notEqual(unknown.status, 0, 'an unregistered calling AE title is refused');
        assert.match(unknown.stderr, /Association Rejected|rejected/i);
        // What a PACS administrator does first: register the institution and its sender.
        await admin.post('/api/admin/institutions', { code: 'FIRST_HOSPITAL', name: '第一医院', kind: 'hospital' });
        await admin.post('/api/admin/peers', { institutionCode: 'FIRST_HOSPITAL', aeTitle: 'ECHOSCU', allowedNetworks: ['127.0.0.1/32'] });
        const registered = echo();
        assert.equal(registered.status, 0, `echoscu: ${registered.stderr}`);
      }
      assert.ok(await stopCleanly(first, dataDir), `clean stop:\n${first.output()}`);
      await fs.access(path.join(dataDir, 'postgres', 'PG_VERSION'));

      const second = await npmStart(dataDir);
      assert.doesNotMatch(second.output(), /creating the embedded PostgreSQL cluster/, 'the cluster is reused');
      assert.doesNotMatch(second.output(), /one-time password/, 'the first administrator is created once');
      await signIn(second.httpUrl, 'admin', password);
      assert.equal((await fetch(`${second.httpUrl}/healthz`)).status, 200);
      assert.ok(await stopCleanly(second, dataDir), `clean stop:\n${second.output()}`);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses an invalid configuration with a clear message before opening any port', () => {
    const result = spawnSync('npm', ['start', '--silent'], {
      cwd: projectRoot,
      env: { ...process.env, YINGYUN_AE_TITLE: 'THIS AE TITLE IS FAR TOO LONG', YINGYUN_HTTP_PORT: '99999' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /YINGYUN_AE_TITLE: an AE title is 1 to 16 printable ASCII characters/);
    assert.match(result.stderr, /YINGYUN_HTTP_PORT/);
  });
});
