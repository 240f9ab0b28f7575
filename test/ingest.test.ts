import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import dcmjs from 'dcmjs';
import pg from 'pg';
import { ReceiptsRepository } from '../archive/db/receipts-repository.ts';
import { IngestRejection } from '../archive/dicom/types.ts';
import { IngestService } from '../archive/ingest.ts';
import { createLogger } from '../archive/log.ts';
import type { ObjectStore } from '../archive/storage/object-store.ts';
import { PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { openTestRuntime, QUARANTINE_INSTITUTION_ID } from './support/runtime.ts';

const source = { via: 'import' as const, name: 'ingest-test', institutionId: QUARANTINE_INSTITUTION_ID };
const havePydicom = fs.existsSync(PYDICOM_TEST_FILES);
const read = (name: string) => fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the ingest path', () => {
  it('stores the object durably, commits the receipt, then indexes it and draws a thumbnail', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime();
    try {
      const part10 = read('CT_small.dcm');
      const outcome = await runtime.ingest.ingest({ part10 }, source);
      assert.equal(outcome.result, 'stored');
      // Success means: the bytes are in the object store and the receipt is committed.
      assert.ok((await runtime.store.get(outcome.objectKey)).equals(part10));
      const receipt = await runtime.jobs.receipts.get(outcome.receiptId);
      assert.equal(receipt!.objectSha256, sha256(part10));
      assert.equal(receipt!.sopInstanceUid, outcome.parsed.sopInstanceUid);

      await runtime.queue.whenIdle();
      const { rows } = await runtime.db.pool.query(
        `SELECT s.number_of_instances, s.modalities, i.thumbnail_key, se.thumbnail_key AS series_thumbnail
         FROM instances i JOIN studies s ON s.id = i.study_pk JOIN series se ON se.id = i.series_pk
         WHERE i.sop_instance_uid = $1`,
        [outcome.parsed.sopInstanceUid],
      );
      assert.equal(rows[0].number_of_instances, 1);
      assert.deepEqual(rows[0].modalities, ['CT']);
      assert.ok(rows[0].thumbnail_key, 'instance thumbnail recorded');
      assert.equal(rows[0].series_thumbnail, rows[0].thumbnail_key, 'the only instance draws the series');
      const thumbnail = await runtime.store.get(rows[0].thumbnail_key);
      assert.equal(thumbnail.subarray(0, 2).toString('hex'), 'ffd8', 'a JPEG');
    } finally {
      await runtime.dispose();
    }
  });

  it('treats identical bytes as a duplicate and different bytes under one UID as a new version', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime();
    try {
      const littleEndian = read('MR_small.dcm');
      const bigEndian = read('MR_small_bigendian.dcm');
      const first = await runtime.ingest.ingest({ part10: littleEndian }, source);
      const again = await runtime.ingest.ingest({ part10: littleEndian }, source);
      assert.equal(first.result, 'stored');
      assert.equal(again.result, 'duplicate');
      assert.equal(again.receiptId, first.receiptId);

      const second = await runtime.ingest.ingest({ part10: bigEndian }, source);
      assert.equal(second.parsed.sopInstanceUid, first.parsed.sopInstanceUid, 'pydicom ships the same instance in two encodings');
      assert.equal(second.result, 'new-version');
      assert.notEqual(second.objectKey, first.objectKey, 'the first version is not overwritten');
      assert.ok((await runtime.store.get(first.objectKey)).equals(littleEndian));

      const events = await new ReceiptsRepository(runtime.db.pool).eventsFor(first.parsed.sopInstanceUid);
      assert.deepEqual(events, [{ kind: 'new-version', receiptId: second.receiptId, previousReceiptId: first.receiptId }]);

      await runtime.queue.whenIdle();
      const { rows } = await runtime.db.pool.query(
        `SELECT i.receipt_id, s.number_of_instances FROM instances i JOIN series s ON s.id = i.series_pk
         WHERE i.sop_instance_uid = $1`,
        [first.parsed.sopInstanceUid],
      );
      assert.equal(rows.length, 1);
      assert.equal(rows[0].receipt_id, second.receiptId, 'the newest version is current');
      assert.equal(rows[0].number_of_instances, 1, 'a version is not a second instance');
    } finally {
      await runtime.dispose();
    }
  });

  it('recounts both series when a new version moves an instance to another series', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime();
    try {
      const original = read('MR_small.dcm');
      // The same instance, corrected at the PACS into another series: a new version with another Series Instance UID.
      const message = dcmjs.data.DicomMessage.readFile(original.buffer.slice(original.byteOffset, original.byteOffset + original.byteLength));
      message.dict['0020000E']!.Value = ['1.2.826.0.1.3680043.8.498.99999.1'];
      const moved = Buffer.from(message.write());
      const first = await runtime.ingest.ingest({ part10: original }, source);
      await runtime.queue.whenIdle();
      const second = await runtime.ingest.ingest({ part10: moved }, source);
      assert.equal(second.result, 'new-version');
      await runtime.queue.whenIdle();
      const { rows } = await runtime.db.pool.query(
        `SELECT se.series_instance_uid AS uid, se.number_of_instances AS n, st.number_of_instances AS study_n, st.number_of_series AS study_series
         FROM series se JOIN studies st ON st.id = se.study_pk ORDER BY se.series_instance_uid`,
      );
      const counts = Object.fromEntries(rows.map((row) => [row.uid, row.n]));
      assert.deepEqual(counts, { [first.parsed.seriesInstanceUid]: 0, '1.2.826.0.1.3680043.8.498.99999.1': 1 });
      assert.equal(rows[0].study_n, 1, 'still one instance in the study');
      assert.equal(rows[0].study_series, 1, 'and one series with instances');
    } finally {
      await runtime.dispose();
    }
  });

  it('refuses an instance naming its series under another study than the series is filed under, and keeps nothing of it', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime();
    try {
      const original = read('MR_small.dcm');
      const first = await runtime.ingest.ingest({ part10: original }, source);
      await runtime.queue.whenIdle();
      // Another instance of the same series, naming another study: a series keeps its first study, and
      // a receipt is filed with its instance (migration 035).
      const message = dcmjs.data.DicomMessage.readFile(original.buffer.slice(original.byteOffset, original.byteOffset + original.byteLength));
      message.dict['0020000D']!.Value = ['1.2.826.0.1.3680043.8.498.99999.2'];
      message.dict['00080018']!.Value = ['1.2.826.0.1.3680043.8.498.99999.3'];
      await assert.rejects(runtime.ingest.ingest({ part10: Buffer.from(message.write()) }, source), (error: unknown) => {
        assert.ok(error instanceof IngestRejection);
        assert.equal(error.kind, 'malformed');
        assert.match(error.message, new RegExp(`series ${first.parsed.seriesInstanceUid} belongs to study ${first.parsed.studyInstanceUid}`));
        return true;
      });
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 1);
      const objects = [];
      for await (const key of runtime.store.list('instances/')) objects.push(key);
      assert.deepEqual(objects, [first.objectKey]);
    } finally {
      await runtime.dispose();
    }
  });

  it('answers a failure and records nothing when the object store fails', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime({ runWorkers: false });
    try {
      // The store's own methods, but every write fails as a full disk does.
      const failingStore: ObjectStore = Object.assign(Object.create(runtime.store) as ObjectStore, {
        put: async () => {
          throw new Error('disk full');
        },
      });
      const ingest = new IngestService({ pool: runtime.db.pool, store: failingStore, log: createLogger('silent'), afterCommit: async () => undefined });
      await assert.rejects(ingest.ingest({ part10: read('CT_small.dcm') }, source), (error: unknown) => {
        assert.ok(error instanceof IngestRejection);
        assert.equal(error.kind, 'out-of-resources');
        assert.match(error.message, /object store unavailable: disk full/);
        return true;
      });
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 0);
    } finally {
      await runtime.dispose();
    }
  });

  it('answers a failure and commits no receipt when the database is unreachable; the retry once it is back succeeds', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime({ runWorkers: false });
    const deadPool = new pg.Pool({ connectionString: 'postgres://nobody@127.0.0.1:1/none', connectionTimeoutMillis: 500 });
    try {
      const part10 = read('CT_small.dcm');
      const down = new IngestService({ pool: deadPool, store: runtime.store, log: createLogger('silent'), afterCommit: async () => undefined });
      await assert.rejects(down.ingest({ part10 }, source), (error: unknown) => {
        assert.ok(error instanceof IngestRejection);
        assert.equal(error.kind, 'out-of-resources');
        assert.match(error.message, /database unavailable/);
        return true;
      });
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 0, 'nothing acknowledged, nothing indexed');
      // The sender retries: the object written before the failure is written again under the same
      // key, and this time the receipt commits.
      const retried = await runtime.ingest.ingest({ part10 }, source);
      assert.equal(retried.result, 'stored');
      assert.equal(sha256(await runtime.store.get(retried.objectKey)), sha256(part10));
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 1);
    } finally {
      await deadPool.end();
      await runtime.dispose();
    }
  });

  it('commits the receipt while the object is flushed, unconfirmed; a flush that then fails takes the receipt with it and answers a failure', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const runtime = await openTestRuntime({ runWorkers: false });
    try {
      let releaseFlush!: (error: Error) => void;
      const flushing = new Promise<void>((_resolve, reject) => (releaseFlush = reject));
      flushing.catch(() => undefined); // awaited by the store, perhaps only after it failed
      // A store whose flush is held until the test has looked at the receipt, and then fails (a disk error).
      const failingStore: ObjectStore = Object.assign(Object.create(runtime.store) as ObjectStore, {
        put: async (key: string, body: Buffer, contentType: string) => {
          await runtime.store.put(key, body, contentType);
          await flushing;
        },
      });
      const ingest = new IngestService({ pool: runtime.db.pool, store: failingStore, log: createLogger('silent'), afterCommit: async () => undefined });
      const attempt = ingest.ingest({ part10: read('CT_small.dcm') }, source);
      let unconfirmed: Array<{ id: string; object_confirmed: boolean }> = [];
      for (let tries = 0; tries < 250 && unconfirmed.length === 0; tries++) {
        unconfirmed = (await runtime.db.pool.query<{ id: string; object_confirmed: boolean }>('SELECT id, NOT EXISTS (SELECT 1 FROM receipt_object_pending p WHERE p.receipt_id = receipts.id) AS object_confirmed FROM receipts')).rows;
        if (unconfirmed.length === 0) await new Promise((resolve) => setTimeout(resolve, 20));
      }
      assert.equal(unconfirmed.length, 1, 'the receipt is committed before the flush ends');
      assert.equal(unconfirmed[0]!.object_confirmed, false, 'and not yet confirmed');
      assert.equal((await runtime.jobs.receipts.awaitingIndex(0, 10)).length, 0, 'an unconfirmed receipt is never indexed by the reconciler');
      releaseFlush(new Error('EIO: the disk failed'));
      await assert.rejects(attempt, (error: unknown) => {
        assert.ok(error instanceof IngestRejection);
        assert.equal(error.kind, 'out-of-resources');
        assert.match(error.message, /object store unavailable/);
        return true;
      });
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 0, 'the receipt went with the failed flush');
      const retried = await runtime.ingest.ingest({ part10: read('CT_small.dcm') }, source);
      assert.equal(retried.result, 'stored');
      await runtime.ingest.committer.drain();
      await new Promise((resolve) => setTimeout(resolve, 100));
      const confirmed = await runtime.db.pool.query<{ object_confirmed: boolean }>('SELECT NOT EXISTS (SELECT 1 FROM receipt_object_pending p WHERE p.receipt_id = receipts.id) AS object_confirmed FROM receipts WHERE id = $1', [retried.receiptId]);
      assert.equal(confirmed.rows[0]!.object_confirmed, true, 'the retry is confirmed once its flush is done');
    } finally {
      await runtime.dispose();
    }
  });

  it('rejects malformed input with a reason and stores nothing', async () => {
    const runtime = await openTestRuntime({ runWorkers: false });
    try {
      const cases = [Buffer.alloc(0), Buffer.from('this is not DICOM at all'), Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), Buffer.from([2, 0, 0, 0, 0x55, 0x4c, 4, 0])])];
      for (const part10 of cases) {
        await assert.rejects(runtime.ingest.ingest({ part10 }, source), (error: unknown) => {
          assert.ok(error instanceof IngestRejection, `IngestRejection for ${part10.length} bytes`);
          assert.ok(['malformed', 'missing-attribute'].includes(error.kind));
          assert.ok(error.message.length > 10);
          return true;
        });
      }
      assert.equal((await runtime.jobs.receipts.counts()).receipts, 0);
    } finally {
      await runtime.dispose();
    }
  });
});

describe('recovery', () => {
  it('indexes and thumbnails receipts whose jobs were lost, after a restart', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    // A gateway-only runtime acknowledges and enqueues into an in-process queue nobody works:
    // closing it is a crash that loses those messages.
    const gateway = await openTestRuntime({ runWorkers: false });
    const files = ['CT_small.dcm', 'MR_small.dcm', 'JPEG2000.dcm'];
    const outcomes = [];
    for (const file of files) outcomes.push(await gateway.ingest.ingest({ part10: read(file) }, source));
    await gateway.close();

    const restarted = await openTestRuntime({ databaseUrl: gateway.databaseUrl, dataDir: gateway.dataDir });
    try {
      const deadline = Date.now() + 30_000;
      let stats = await restarted.jobs.thumbnails.counts();
      while ((stats.instances < files.length || stats.awaitingThumbnail > 0) && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
        stats = await restarted.jobs.thumbnails.counts();
      }
      assert.equal((await restarted.jobs.receipts.counts()).awaitingIndex, 0);
      assert.equal(stats.instances, files.length);
      assert.equal(stats.awaitingThumbnail, 0);
    } finally {
      await restarted.dispose();
      await gateway.dispose();
    }
  });
});
