import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, writeInstances } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { startRedisServer } from '../support/services.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * Redis restarted under ingest in BullMQ mode (a redis-server of this test's own, without persistence,
 * so the restart loses every queued job): C-STOREs are still answered, nothing acknowledged is lost,
 * and the reconciler re-enqueues from the receipts what the queue forgot, so everything is indexed.
 */
describe('Redis restart during ingest', () => {
  it('keeps and indexes every acknowledged instance when Redis is killed and restarted empty in the middle of a send', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    if (!requirePeer(t, commandExists('redis-server'), 'Redis (redis-server)')) return;
    const redis = await startRedisServer();
    const files = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-redis-files-'));
    let system: TestSystem | undefined;
    try {
      system = await startTestSystem({ REDIS_URL: redis.url, YINGYUN_QUEUE_NAME: 'fault-redis' });
      const instances = writeInstances(files, 'fault-redis', 60);
      let restarting: Promise<void> | undefined;
      const sent = await sendWithStorescu(system.dicomPort, instances, {
        associations: 4,
        onResponse: ({ acknowledged }) => {
          if (!restarting && acknowledged.length >= 15) restarting = redis.restart(1000);
        },
      });
      assert.ok(restarting, 'Redis was restarted in the middle of the send');
      await restarting;
      assert.equal(sent.acknowledged.length + sent.refused.length, instances.length, `every C-STORE answered:\n${sent.output.slice(-3000)}`);
      const unacknowledged = instances.filter((instance) => !sent.acknowledged.includes(instance));
      const resent = await sendWithStorescu(system.dicomPort, unacknowledged);
      assert.equal(resent.acknowledged.length, unacknowledged.length, `the refused ones go in when sent again:\n${resent.output.slice(-2000)}`);
      const store = await openLocalObjectStore(path.join(system.dataDir, 'objects'));
      await assertNothingLost(system.databaseUrl, store, [...sent.acknowledged, ...resent.acknowledged]);
      const { receipts } = await assertIndexConsistent(system.databaseUrl, store);
      assert.equal(receipts, instances.length);
      t.diagnostic(`${sent.acknowledged.length}/${instances.length} acknowledged across the Redis restart, ${sent.refused.length} refused`);
    } finally {
      await system?.shutdown();
      await redis.stop();
      fs.rmSync(files, { recursive: true, force: true });
    }
  });
});
