import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { MetricsSnapshot } from '../archive/metrics/snapshot.ts';
import { percentiles, summariseStatus, type SystemStatus } from '../archive/metrics/status.ts';
import { sendWithStorescu, writeInstances } from './support/faults.ts';
import { randomBytes } from 'node:crypto';
import { createLogger } from '../archive/log.ts';
import { BullMqQueue } from '../workers/bullmq-queue.ts';
import { InProcessQueue } from '../workers/in-process-queue.ts';
import type { JobQueue } from '../workers/queue.ts';
import { commandExists, redisAvailable, requirePeer, testRedisUrl } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const BUCKETS = 14;

function snapshot(stored: number, ingestBuckets: Record<number, number> = {}, queue: MetricsSnapshot['queue'] = {}, associations = 0): MetricsSnapshot {
  const histogram = (counts: Record<number, number>) => {
    const buckets = new Array<number>(BUCKETS).fill(0);
    for (const [index, count] of Object.entries(counts)) buckets[Number(index)] = count;
    return { buckets, count: buckets.reduce((a, b) => a + b, 0), sum: 0 };
  };
  return {
    instances: { received: stored, stored, failed: 0, bytes: stored * 1000 },
    associations,
    ingestLatency: histogram(ingestBuckets),
    database: histogram({}),
    objectStore: histogram({}),
    jobs: {},
    queue,
    reconcilerBacklog: null,
    residentBytes: 1,
  };
}

describe('status figures from heartbeats', () => {
  it('interpolates percentiles inside the bucket that holds each rank', () => {
    // 100 observations in the 5–10 ms bucket (index 3: bounds 0.005 and 0.01 s).
    const buckets = new Array<number>(BUCKETS).fill(0);
    buckets[3] = 100;
    const figures = percentiles(buckets)!;
    assert.equal(figures.p50, 7.5);
    assert.ok(Math.abs(figures.p99 - 9.95) < 1e-9, String(figures.p99));
    assert.equal(percentiles(new Array<number>(BUCKETS).fill(0)), null);
    const top = new Array<number>(BUCKETS).fill(0);
    top[BUCKETS - 1] = 3;
    assert.equal(percentiles(top)!.p50, 10_000, 'the open top bucket reports its lower bound (10 s)');
  });

  it('adds two processes up per interval: rates from counter increases, the shared queue taken once', () => {
    const at = (seconds: number) => new Date(Date.UTC(2026, 0, 1, 0, 0, seconds)).toISOString();
    const queue = { 'index-instance': { waiting: 7, active: 1, delayed: 0, failed: 2 } };
    const samples = [
      { processId: 'gateway-a', sampledAt: at(0), snapshot: snapshot(0, {}, queue, 2) },
      { processId: 'gateway-a', sampledAt: at(10), snapshot: snapshot(50, { 3: 50 }, queue, 2) },
      { processId: 'gateway-b', sampledAt: at(1), snapshot: snapshot(100, { 3: 100 }, queue, 1) },
      { processId: 'gateway-b', sampledAt: at(11), snapshot: snapshot(130, { 3: 100, 5: 30 }, queue, 1) },
    ];
    const processes = samples.slice(1).filter((sample) => sample.sampledAt !== at(1)).map((sample) => ({
      processId: sample.processId,
      role: 'gateway' as const,
      host: 'h',
      pid: sample.processId === 'gateway-a' ? 1 : 2,
      startedAt: at(0),
      seenAt: sample.sampledAt,
      stoppedAt: null,
      snapshot: sample.snapshot,
    }));
    const status = summariseStatus(processes, samples, new Date(Date.parse(at(12))));
    assert.equal(status.series.length, 2);
    const [first, second] = status.series;
    assert.equal(first!.instancesPerSecond, 0, 'a first sample gives no increase');
    assert.equal(first!.associations, 3);
    assert.equal(second!.instancesPerSecond, (50 + 30) / 10);
    assert.equal(second!.bytesPerSecond, 80_000 / 10);
    assert.deepEqual(second!.queueDepth, { 'index-instance': 8 }, 'waiting + active + delayed, not doubled across processes');
    // 50 observations at 5–10 ms, 30 at 25–50 ms: the median lies in the first bucket, p99 in the second.
    assert.ok(second!.ingestMs!.p50 > 5 && second!.ingestMs!.p50 <= 10, JSON.stringify(second!.ingestMs));
    assert.ok(second!.ingestMs!.p99 > 25 && second!.ingestMs!.p99 <= 50, JSON.stringify(second!.ingestMs));
    assert.deepEqual(status.processes.map((process) => [process.processId, process.state, process.instancesStored]), [['gateway-a', 'live', 50], ['gateway-b', 'live', 130]]);
    assert.deepEqual(status.jobTypes, ['index-instance']);
    const later = summariseStatus(processes, samples, new Date(Date.parse(at(60))));
    assert.ok(later.processes.every((process) => process.state === 'silent'), 'processes not heard from for three intervals are silent');
  });
});

describe('queue depth per job type', () => {
  const log = createLogger('silent');
  const depthOf = async (queue: JobQueue) => {
    await queue.enqueue('index-instance', { receiptId: '1' });
    await queue.enqueue('index-instance', { receiptId: '2' });
    await queue.enqueue('render-instance-thumbnail', { receiptId: '1' });
    await queue.enqueue('render-series-thumbnail', { seriesInstanceUid: '1.2' }, { delayMs: 60_000 });
    return queue.countsByType();
  };
  const expected = {
    'index-instance': { waiting: 2, active: 0, delayed: 0, failed: 0 },
    'render-instance-thumbnail': { waiting: 1, active: 0, delayed: 0, failed: 0 },
    'render-series-thumbnail': { waiting: 0, active: 0, delayed: 1, failed: 0 },
  };

  it('counts waiting and delayed jobs per type in the in-process queue', async () => {
    const queue = new InProcessQueue(log);
    assert.deepEqual(await depthOf(queue), expected);
    await queue.close();
  });

  it('counts them per type in BullMQ (Redis)', async (t) => {
    if (!requirePeer(t, await redisAvailable(), 'Redis')) return;
    const queue = new BullMqQueue(testRedisUrl, log, { queueName: `yingyun-test-${randomBytes(6).toString('hex')}` });
    try {
      assert.deepEqual(await depthOf(queue), expected);
    } finally {
      await queue.close();
    }
  });
});

describe('metrics of a running process', () => {
  let system: TestSystem;
  let folder: string;

  before(async () => {
    system = await startTestSystem();
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-metrics-'));
  });
  after(async () => {
    await system?.shutdown();
    if (folder) await fs.rm(folder, { recursive: true, force: true });
  });

  it('refuses /metrics and the status without a system administrator', async () => {
    for (const route of ['/metrics', '/api/admin/status']) {
      const anonymous = await fetch(`${system.httpUrl}${route}`);
      assert.equal(anonymous.status, 401, route);
      await anonymous.body?.cancel();
    }
    const badWindow = await system.fetch(`${system.httpUrl}/api/admin/status?minutes=0`);
    assert.equal(badWindow.status, 400);
    await badWindow.body?.cancel();
  });

  it('counts C-STORE instances by calling AE, their latency, the store and database, and reports them in the heartbeat', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    await system.runtime.heartbeat!.beat();
    const instances = writeInstances(folder, 'metrics', 6);
    const sent = await sendWithStorescu(system.dicomPort, instances, { callingAeTitle: 'COUNTY_PACS', associations: 2 });
    assert.equal(sent.acknowledged.length, instances.length, sent.output);
    await system.runtime.queue.whenIdle();

    const body = await (await system.fetch(`${system.httpUrl}/metrics`)).text();
    assert.match(body, /yingyun_instances_received_total\{channel="dimse",source="COUNTY_PACS"\} 6/);
    assert.match(body, /yingyun_instances_stored_total\{channel="dimse",source="COUNTY_PACS"\} 6/);
    assert.match(body, /yingyun_ingest_latency_seconds_count\{channel="dimse"\} 6/);
    assert.match(body, /yingyun_dimse_associations 0/, 'both associations ended');
    assert.match(body, /yingyun_object_store_seconds_count\{operation="finish"\} 6/, 'each C-STORE ends in one upload finish');
    assert.match(body, /yingyun_database_query_seconds_count\{pool="main"\} [1-9]/);
    assert.match(body, /yingyun_job_duration_seconds_count\{job_type="index-instance",outcome="completed"\} 6/);
    assert.match(body, /yingyun_queue_jobs/);
    assert.match(body, /yingyun_reconciler_backlog \d+/);
    assert.match(body, /yingyun_process_resident_memory_bytes \d+/);

    await system.runtime.heartbeat!.beat();
    const status = (await (await system.fetch(`${system.httpUrl}/api/admin/status`)).json()) as SystemStatus;
    const self = status.processes.find((process) => process.processId === system.runtime.heartbeat!.identity.processId);
    assert.ok(self, JSON.stringify(status.processes));
    assert.equal(self.role, 'all');
    assert.equal(self.state, 'live');
    assert.equal(self.instancesStored, 6);
    assert.ok(status.series.some((point) => point.instancesPerSecond > 0 && point.ingestMs !== null), JSON.stringify(status.series));
  });
});
