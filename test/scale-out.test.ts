import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { SystemStatus } from '../archive/metrics/status.ts';
import { assertNothingLost, sendWithStorescu, writeInstances, type SendOutcome, type SentInstance } from './support/faults.ts';
import { commandExists, redisAvailable, requirePeer } from './support/peers.ts';
import { startScaledStack, type ScaledStack } from './support/scaled-stack.ts';

const INDEX_RUNS = 'yingyun_job_duration_seconds_count{job_type="index-instance",outcome="completed"}';
const THUMBNAIL_RUNS = 'yingyun_job_duration_seconds_count{job_type="render-instance-thumbnail",outcome="completed"}';
const sum = (values: number[]) => values.reduce((total, value) => total + value, 0);

/**
 * Stateless scale-out (issue 18): two gateway processes and two worker processes (separate `node`
 * children, as docker-compose.yml runs them) on one PostgreSQL database, Redis and S3-compatible
 * server. A 4-association load split across both gateways is indexed once and thumbnailed once per
 * instance (the workers' job counters say how often each job ran); then one gateway is stopped with
 * SIGTERM in the middle of a load while the other carries on, and nothing acknowledged is lost.
 */
describe('scale out: two gateways, two workers', () => {
  let stack: ScaledStack | undefined;
  let folder: string;
  let available = false;

  before(async () => {
    available = commandExists('storescu') && (await redisAvailable());
    if (!available) return;
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-scale-files-'));
    stack = await startScaledStack({ gateways: 2, workers: 2 });
  });
  after(async () => {
    await stack?.stop();
    if (folder) await fs.rm(folder, { recursive: true, force: true });
  });

  const counts = async () => {
    const client = new pg.Client({ connectionString: stack!.databaseUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ receipts: number; indexed: number; instances: number }>(
        `SELECT (SELECT count(*) FROM receipts)::int AS receipts, (SELECT count(*) FROM receipts WHERE indexed_at IS NOT NULL)::int AS indexed, (SELECT count(*) FROM instances)::int AS instances`,
      );
      return rows[0]!;
    } finally {
      await client.end();
    }
  };
  const waitUntil = async (what: string, done: () => Promise<boolean>, timeoutMs = 60_000) => {
    const deadline = Date.now() + timeoutMs;
    while (!(await done())) {
      if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  };

  it('indexes and thumbnails every instance of a load split across both gateways exactly once', async (t) => {
    if (!requirePeer(t, available, 'DCMTK storescu and Redis')) return;
    const { gateways, workers } = stack!;
    for (const worker of workers) {
      assert.equal((await fetch(`${worker.httpUrl}/healthz`)).status, 200);
      const anonymous = await fetch(`${worker.httpUrl}/metrics`);
      assert.equal(anonymous.status, 401, "a worker's metrics need a system administrator's token");
      await anonymous.body?.cancel();
    }
    const instances = writeInstances(path.join(folder, 'split'), 'scale-split', 80);
    const halves = [instances.filter((_, index) => index % 2 === 0), instances.filter((_, index) => index % 2 === 1)];
    const outcomes = await Promise.all(gateways.map((gateway, index) => sendWithStorescu(gateway.dicomPort, halves[index]!, { associations: 2 })));
    outcomes.forEach((outcome, index) => assert.equal(outcome.acknowledged.length, halves[index]!.length, outcome.output));
    await waitUntil('every instance is indexed and thumbnailed', async () => (await counts()).indexed === instances.length && sum(await stack!.workerFigure(THUMBNAIL_RUNS)) >= instances.length);
    assert.deepEqual(await counts(), { receipts: instances.length, indexed: instances.length, instances: instances.length });
    const indexRuns = await stack!.workerFigure(INDEX_RUNS);
    assert.equal(sum(indexRuns), instances.length, `index jobs run once per instance (${indexRuns.join(' + ')})`);
    assert.ok(indexRuns.every((runs) => runs > 0), `both workers took jobs (${indexRuns.join(' + ')})`);
    assert.equal(sum(await stack!.workerFigure(THUMBNAIL_RUNS)), instances.length, 'one thumbnail per instance');
    await assertNothingLost(stack!.databaseUrl, stack!.runtime.store, outcomes.flatMap((outcome) => outcome.acknowledged));
  });

  it('loses nothing when one gateway is stopped (SIGTERM) in the middle of a load while the other carries on', async (t) => {
    if (!requirePeer(t, available, 'DCMTK storescu and Redis')) return;
    const { gateways } = stack!;
    const before = await counts();
    const instances = writeInstances(path.join(folder, 'stop'), 'scale-stop', 120);
    const toStopped = instances.filter((_, index) => index % 2 === 0);
    const toRemaining = instances.filter((_, index) => index % 2 === 1);
    let stopping: Promise<void> | undefined;
    const [stoppedSide, remainingSide] = await Promise.all([
      sendWithStorescu(gateways[0]!.dicomPort, toStopped, {
        associations: 2,
        onResponse: (outcome: SendOutcome) => {
          if (!stopping && outcome.acknowledged.length + outcome.refused.length >= 8) stopping = gateways[0]!.stop();
        },
      }),
      sendWithStorescu(gateways[1]!.dicomPort, toRemaining, { associations: 2 }),
    ]);
    assert.ok(stopping, 'the gateway was stopped mid-load');
    await stopping;
    assert.notEqual(gateways[0]!.child.exitCode, null, 'the stopped gateway exited');
    assert.equal(gateways[0]!.child.exitCode, 0, `a clean stop:\n${gateways[0]!.output()}`);
    assert.equal(remainingSide.acknowledged.length, toRemaining.length, `the other gateway took all of its load:\n${remainingSide.output}`);
    const acknowledged: SentInstance[] = [...stoppedSide.acknowledged, ...remainingSide.acknowledged];
    // Every Success has its receipt, the dataset the sender sent (SHA-256), its object and its index row.
    await assertNothingLost(stack!.databaseUrl, stack!.runtime.store, acknowledged);
    await waitUntil('everything received is indexed', async () => {
      const now = await counts();
      return now.indexed === now.receipts;
    });
    const after = await counts();
    assert.ok(after.receipts - before.receipts >= acknowledged.length, 'a receipt for every acknowledged instance');
    assert.equal(sum(await stack!.workerFigure(INDEX_RUNS)), after.receipts, 'still one index job per receipt');

    const status = (await (await fetch(`${gateways[1]!.httpUrl}/api/admin/status`, { headers: { authorization: `Bearer ${stack!.adminToken}` } })).json()) as SystemStatus;
    const byRole = (role: string, state: string) => status.processes.filter((process) => process.role === role && process.state === state).length;
    assert.equal(byRole('gateway', 'live'), 1, JSON.stringify(status.processes));
    assert.equal(byRole('gateway', 'stopped'), 1);
    assert.equal(byRole('worker', 'live'), 2);
  });
});
