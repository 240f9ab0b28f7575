import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, sha256, withClient, writeInstances } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * The local object store's disk full (a small tmpfs mounted as the data folder, which needs root):
 * senders get a failure status, nothing is half-stored (no temporary file left behind, every object
 * whole and referenced by its receipt), and Yingyun takes everything again once space returns. Both
 * local stores: a file per object, and the segment log, whose appends fail once the disk is full (the
 * segment is then abandoned: records after a failed write could not be read back after a restart).
 */
const TMPFS_BYTES = 24 * 1024 * 1024;

describe('disk full on the local object store', () => {
  for (const [localStore, sentWhenFull] of [['files', 12], ['segments', 500]] as const) {
    it(`answers a failure status when the disk is full, keeps nothing half-stored, and recovers when space returns (${localStore})`, async (t) => {
      if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
      if (!requirePeer(t, process.getuid?.() === 0 && commandExists('mount'), 'root (to mount a small tmpfs as the data folder)')) return;
      const mountPoint = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-disk-'));
      const files = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-disk-files-'));
      execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${TMPFS_BYTES},mode=0755`, 'tmpfs', mountPoint]);
      let system: TestSystem | undefined;
      try {
        system = await startTestSystem({ YINGYUN_DATA_DIR: mountPoint, YINGYUN_LOCAL_STORE: localStore });
        const store = await openLocalObjectStore(path.join(mountPoint, 'objects'), localStore);
        const first = writeInstances(path.join(files, 'first'), 'fault-disk-first', 10);
        const before = await sendWithStorescu(system.dicomPort, first);
        assert.equal(before.acknowledged.length, first.length, `all stored while there is room:\n${before.output.slice(-2000)}`);

        // Fill what is left but about one instance's worth.
        const filler = path.join(mountPoint, 'filler');
        const free = () => {
          const stats = fs.statfsSync(mountPoint);
          return stats.bavail * stats.bsize;
        };
        const largest = Math.max(...first.map((instance) => fs.statSync(instance.file).size));
        fs.writeFileSync(filler, Buffer.alloc(Math.max(0, free() - Math.floor(largest * 1.5))));
        const whenFull = writeInstances(path.join(files, 'full'), 'fault-disk-full', sentWhenFull);
        const full = await sendWithStorescu(system.dicomPort, whenFull, { associations: 2 });
        assert.ok(full.refused.length > 0, `failure statuses once the disk is full (${full.acknowledged.length} acknowledged):\n${full.output.slice(-2000)}`);
        assert.match(full.output, /Received Store Response \((Refused: OutOfResources|Failed|Error)/, 'a failure status, not a dropped association');

        // Nothing half-stored: no temporary upload left, and every object whole and referenced by its receipt.
        const incoming = path.join(mountPoint, 'objects', '.incoming');
        assert.deepEqual(fs.existsSync(incoming) ? fs.readdirSync(incoming) : [], [], 'no temporary upload left behind');
        const receipts = await withClient(system.databaseUrl, (client) => client.query<{ objectKey: string; objectSha256: string }>('SELECT object_key AS "objectKey", object_sha256 AS "objectSha256" FROM receipts'));
        const byKey = new Map(receipts.rows.map((row) => [row.objectKey, row.objectSha256]));
        const halfStored = [];
        for await (const key of store.list('instances/')) {
          const digest = sha256(await store.get(key));
          if (byKey.get(key) !== digest) halfStored.push({ key, digest });
        }
        assert.deepEqual(halfStored, [], 'objects without a receipt of the same bytes');

        fs.rmSync(filler);
        const unacknowledged = whenFull.filter((instance) => !full.acknowledged.includes(instance));
        const resent = await sendWithStorescu(system.dicomPort, unacknowledged);
        assert.equal(resent.acknowledged.length, unacknowledged.length, `everything goes in once space returns:\n${resent.output.slice(-2000)}`);
        await assertNothingLost(system.databaseUrl, store, [...before.acknowledged, ...full.acknowledged, ...resent.acknowledged]);
        const counts = await assertIndexConsistent(system.databaseUrl, store);
        assert.equal(counts.receipts, first.length + whenFull.length);
        await store.close();
        t.diagnostic(`disk full (${localStore}): ${full.acknowledged.length} acknowledged, ${full.refused.length} refused; all ${unacknowledged.length} acknowledged once space returned`);
      } finally {
        await system?.shutdown();
        execFileSync('umount', ['-l', mountPoint]);
        fs.rmSync(mountPoint, { recursive: true, force: true });
        fs.rmSync(files, { recursive: true, force: true });
      }
    });
  }
});
