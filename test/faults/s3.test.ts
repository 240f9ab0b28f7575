import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../../archive/config.ts';
import { S3ObjectStore } from '../../archive/storage/s3-store.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, writeInstances, type SentInstance } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { startS3FaultProxy, type S3Fault } from '../support/s3-fault-proxy.ts';
import { startS3Server } from '../support/s3.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * The S3-compatible store failing under ingest: 500s, uploads never answered, slow answers, from a
 * fault-injecting proxy in front of the real S3-compatible server (s3rver). Every Success must be an
 * object S3 holds with the receipt's bytes; a failure must come in bounded time (a sender is never
 * left waiting on a silent S3), and once S3 behaves, everything goes in.
 */
/** S3_IDLE_TIMEOUT_SECONDS: short, so an unanswered upload fails quickly here. */
const IDLE_TIMEOUT_SECONDS = 3;

describe('S3 faults during ingest', () => {
  it('answers every C-STORE (Success only when S3 holds the object) through 500s, unanswered and slow uploads, and takes everything once S3 recovers', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const s3 = await startS3Server();
    const proxy = await startS3FaultProxy(Number(new URL(s3.env.S3_ENDPOINT!).port));
    const files = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-s3-'));
    let system: TestSystem | undefined;
    try {
      system = await startTestSystem({ ...s3.env, S3_ENDPOINT: proxy.endpoint, S3_IDLE_TIMEOUT_SECONDS: String(IDLE_TIMEOUT_SECONDS) });
      const acknowledged: SentInstance[] = [];
      const triedOnce = new Set<string>();
      const phases: Array<[string, (upload: number, path: string) => S3Fault]> = [
        // Every object's first try fails: the retry gets it through. Found by this suite: a C-STORE's
        // upload is streamed from its spool file, which the SDK's own retry cannot read again, so
        // half of these were refused until the store sent the file again itself.
        ['500 on the first try of every object', (_upload, key) => (triedOnce.has(key) ? 'none' : (triedOnce.add(key), 'error-500'))],
        ['500 on every upload', () => 'error-500'],
        // Found by this suite: the S3 client had no timeout, and a C-STORE waited on such an upload forever.
        ['no answer to every fourth upload', (upload) => (upload % 4 === 0 ? 'no-answer' : 'none')],
        ['slow answers', () => 'slow'],
      ];
      const unacknowledged: SentInstance[] = [];
      for (const [phase, fault] of phases) {
        proxy.inject(fault);
        const instances = writeInstances(path.join(files, phase.replaceAll(' ', '-')), `fault-s3-${phase}`, 8);
        const startedAt = Date.now();
        const sent = await sendWithStorescu(system.dicomPort, instances, { associations: 2, timeoutMs: 180_000 });
        const answered = sent.acknowledged.length + sent.refused.length;
        assert.equal(answered, instances.length, `${phase}: every C-STORE answered:\n${sent.output.slice(-3000)}`);
        // An upload never answered fails after the idle timeout: each association waits out at most a few.
        assert.ok(Date.now() - startedAt < 60_000, `${phase}: answered in bounded time`);
        if (phase === '500 on every upload') assert.equal(sent.acknowledged.length, 0, `${phase}: no Success while S3 fails every upload`);
        if (phase === '500 on the first try of every object') assert.equal(sent.acknowledged.length, instances.length, `${phase}: every instance stored on its retry:\n${sent.output.slice(-3000)}`);
        acknowledged.push(...sent.acknowledged);
        unacknowledged.push(...sent.refused);
        t.diagnostic(`${phase}: ${sent.acknowledged.length} acknowledged, ${sent.refused.length} refused in ${((Date.now() - startedAt) / 1000).toFixed(1)} s`);
      }
      assert.ok(proxy.counts['no-answer'] > 0 && proxy.counts['error-500'] > 0 && proxy.counts.slow > 0, `every fault struck: ${JSON.stringify(proxy.counts)}`);

      proxy.inject(() => 'none');
      const resent = await sendWithStorescu(system.dicomPort, unacknowledged, { associations: 2 });
      assert.equal(resent.acknowledged.length, unacknowledged.length, `everything refused goes in once S3 recovers:\n${resent.output.slice(-3000)}`);
      acknowledged.push(...resent.acknowledged);

      // Read back from S3 itself, not through the proxy.
      const config = loadConfig({ ...s3.env, DATABASE_URL: system.databaseUrl, YINGYUN_DATA_DIR: system.dataDir });
      const store = new S3ObjectStore(config.s3!, path.join(system.dataDir, 'spool'));
      await assertNothingLost(system.databaseUrl, store, acknowledged);
      const { receipts } = await assertIndexConsistent(system.databaseUrl, store);
      assert.equal(receipts, acknowledged.length);
    } finally {
      await system?.shutdown();
      await proxy.close();
      await s3.stop();
      fs.rmSync(files, { recursive: true, force: true });
    }
  });
});
