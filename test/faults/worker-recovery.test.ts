import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { assertIndexConsistent, assertNothingLost, datasetOf, sha256, type SentInstance } from '../support/faults.ts';
import { projectRoot } from '../support/npm-start.ts';
import { PYDICOM_TEST_FILES, redisAvailable, requirePeer, testRedisUrl } from '../support/peers.ts';
import { openTestRuntime, QUARANTINE_INSTITUTION_ID } from '../support/runtime.ts';

function startWorker(environment: Record<string, string>): ChildProcess {
  return spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
    cwd: projectRoot,
    env: { ...process.env, YINGYUN_LOG_LEVEL: 'warn', ...environment },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
}

describe('separate worker processes on BullMQ', () => {
  it('finish every job after a worker is killed mid-job and another one starts', async (t) => {
    if (!requirePeer(t, await redisAvailable(), `Redis at ${testRedisUrl}`)) return;
    if (!requirePeer(t, fs.existsSync(PYDICOM_TEST_FILES), 'python3-pydicom test files')) return;
    const environment = { REDIS_URL: testRedisUrl, YINGYUN_QUEUE_NAME: `yingyun-test-${randomBytes(6).toString('hex')}` };
    // The gateway role: acknowledges and enqueues, never processes.
    const gateway = await openTestRuntime({ runWorkers: false, environment });
    const workerEnvironment = { ...environment, DATABASE_URL: gateway.databaseUrl, YINGYUN_DATA_DIR: gateway.dataDir };
    let worker: ChildProcess | undefined;
    try {
      let stored = 0;
      const acknowledged: SentInstance[] = [];
      for (const name of fs.readdirSync(PYDICOM_TEST_FILES).filter((file) => file.endsWith('.dcm'))) {
        try {
          const file = path.join(PYDICOM_TEST_FILES, name);
          const part10 = fs.readFileSync(file);
          const outcome = await gateway.ingest.ingest({ part10 }, { via: 'import', name: 'test', institutionId: QUARANTINE_INSTITUTION_ID });
          if (outcome.result !== 'duplicate') stored++;
          const { sopInstanceUid, studyInstanceUid, seriesInstanceUid, datasetOffset } = outcome.parsed;
          acknowledged.push({ file, sopInstanceUid, studyInstanceUid, seriesInstanceUid, datasetSha256: sha256(part10.subarray(datasetOffset)) });
        } catch {
          // pydicom ships deliberately broken files; the ingest path rejects them, which is tested elsewhere.
        }
      }
      assert.ok(stored > 20, `enough instances to catch a worker mid-job (${stored})`);

      worker = startWorker(workerEnvironment);
      // A worker process's start (tsx, the runtime, its pools) took over 60 s on the 2-core machine under load.
      const deadline = Date.now() + 180_000;
      while ((await gateway.queue.counts()).active === 0) {
        assert.ok(Date.now() < deadline, 'the worker started processing');
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      worker.kill('SIGKILL');
      await new Promise((resolve) => worker!.once('exit', resolve));
      const unfinished = await gateway.jobs.thumbnails.counts();
      const awaiting = (await gateway.jobs.receipts.counts()).awaitingIndex;
      assert.ok(awaiting > 0 || unfinished.awaitingThumbnail > 0, 'work was left unfinished by the kill');

      worker = startWorker(workerEnvironment);
      // BullMQ hands a dead worker's active job to another after its lock expires (30 s).
      const finishBy = Date.now() + 120_000;
      for (;;) {
        const receipts = await gateway.jobs.receipts.counts();
        const instances = await gateway.jobs.thumbnails.counts();
        const queue = await gateway.queue.counts();
        if (receipts.awaitingIndex === 0 && instances.awaitingThumbnail === 0 && queue.active + queue.waiting + queue.delayed === 0) break;
        assert.ok(Date.now() < finishBy, `all work finished after the restart: ${JSON.stringify({ receipts, instances, queue })}`);
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
      assert.equal((await gateway.queue.counts()).failed, 0);
      // pydicom ships some files twice under one SOP Instance UID (another version): only the newest is current.
      const newest = new Map(acknowledged.map((instance) => [instance.sopInstanceUid, instance]));
      await assertNothingLost(gateway.databaseUrl, gateway.store, [...newest.values()]);
      await assertIndexConsistent(gateway.databaseUrl, gateway.store);
    } finally {
      worker?.kill('SIGTERM');
      await gateway.dispose();
    }
  });
});
