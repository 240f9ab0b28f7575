import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import pg from 'pg';
import { parseInstance } from '../archive/dicom/parse.ts';
import { IngestRejection } from '../archive/dicom/types.ts';
import { graceSecondsFor, TRANSACTIONS_IN_FLIGHT, type UnconfirmedGrace } from '../archive/db/receipt-committer.ts';
import { IngestService, resolveUnconfirmedReceipts } from '../archive/ingest.ts';
import { createLogger } from '../archive/log.ts';
import { openLocalObjectStore } from '../archive/storage/open.ts';
import { generateCorpus } from '../fixtures/generate.ts';
import { enqueueIndexInstance } from '../workers/jobs/index-instance.ts';
import { createTestDatabase } from './support/database.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, writeInstances } from './support/faults.ts';
import { npmStart, projectRoot, type Started } from './support/npm-start.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { openTestRuntime, QUARANTINE_INSTITUTION_ID } from './support/runtime.ts';

/**
 * Group commit of receipts (archive/db/receipt-committer.ts) and the recovery rule for a receipt
 * committed beside its object's flush (resolveUnconfirmedReceipts), on a real PostgreSQL and a real
 * local object store.
 */
const source = { via: 'import' as const, name: 'committer-test', institutionId: QUARANTINE_INSTITUTION_ID };

/** Distinct small instances (the fixtures' `small` preset), whole in memory. */
function instances(seed: string, count: number): Buffer[] {
  const parts: Buffer[] = [];
  for (let round = 0; parts.length < count; round++) {
    for (const instance of generateCorpus({ preset: 'small', seed: `${seed}-${round}` })) {
      parts.push(Buffer.from(instance.bytes));
      if (parts.length === count) break;
    }
  }
  return parts;
}

async function committedTransactions(pool: pg.Pool): Promise<number> {
  // The statistics of other backends reach the view when they go idle; a fresh snapshot sees them.
  const { rows } = await pool.query<{ xact_commit: string }>('SELECT pg_stat_force_next_flush(), xact_commit FROM pg_stat_database WHERE datname = current_database()');
  return Number(rows[0]!.xact_commit);
}

describe('group commit of receipts', () => {
  it('commits many concurrent receipts in fewer transactions than receipts, each durable and confirmed', async () => {
    const runtime = await openTestRuntime({ runWorkers: false });
    try {
      const parts = instances('group', 48);
      // The source is registered once, before the count starts: it is cached from then on.
      await runtime.ingest.ingest({ part10: parts.pop()! }, source);
      await runtime.ingest.committer.drain();
      await new Promise((resolve) => setTimeout(resolve, 200));
      const before = { ...runtime.ingest.committer.counts };
      await runtime.db.pool.query('SELECT pg_stat_clear_snapshot()');
      const transactionsBefore = await committedTransactions(runtime.db.pool);
      const outcomes = await Promise.all(parts.map((part10) => runtime.ingest.ingest({ part10 }, source)));
      await runtime.ingest.committer.drain();
      await new Promise((resolve) => setTimeout(resolve, 1200));
      await runtime.db.pool.query('SELECT pg_stat_clear_snapshot()');
      const transactionsAfter = await committedTransactions(runtime.db.pool);

      assert.ok(outcomes.every((outcome) => outcome.result === 'stored'));
      const groups = runtime.ingest.committer.counts.transactions - before.transactions;
      const receipts = runtime.ingest.committer.counts.receipts - before.receipts;
      assert.equal(receipts, parts.length);
      assert.ok(groups < receipts / 2, `${receipts} receipts in ${groups} group commits`);
      // PostgreSQL's own count, which includes every other transaction of the run (confirmations, this test's queries).
      const committed = transactionsAfter - transactionsBefore;
      assert.ok(committed < receipts, `${receipts} receipts, ${committed} transactions committed in the database`);
      const { rows } = await runtime.db.pool.query<{ receipts: number; unconfirmed: number }>(
        'SELECT count(*)::int AS receipts, (SELECT count(*)::int FROM receipt_object_pending) AS unconfirmed FROM receipts',
      );
      assert.deepEqual(rows[0], { receipts: parts.length + 1, unconfirmed: 0 });
      for (const outcome of outcomes) assert.ok(await runtime.store.exists(outcome.objectKey));
    } finally {
      await runtime.dispose();
    }
  });

  it('fails every member of a group whose transaction fails, and leaves none of them visible', async () => {
    const runtime = await openTestRuntime({ runWorkers: false });
    const blocker = new pg.Client({ connectionString: runtime.databaseUrl });
    try {
      const parts = instances('failing-group', TRANSACTIONS_IN_FLIGHT + 8);
      const firsts = parts.slice(0, TRANSACTIONS_IN_FLIGHT);
      const group = parts.slice(TRANSACTIONS_IN_FLIGHT);
      // One member of the group is refused by PostgreSQL at COMMIT (a deferred constraint trigger).
      const poison = parseInstance(group[3]!).sopInstanceUid;
      await runtime.db.pool.query(`
        CREATE FUNCTION refuse_at_commit() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN RAISE EXCEPTION 'refused at commit by the test'; END $$;
        CREATE CONSTRAINT TRIGGER refuse_poison AFTER INSERT ON receipts DEFERRABLE INITIALLY DEFERRED
          FOR EACH ROW WHEN (NEW.sop_instance_uid = '${poison}') EXECUTE FUNCTION refuse_at_commit();`);
      // Hold the table so that the first receipts' commits wait, one in each of the committer's slots,
      // and everything after them gathers into one group.
      await blocker.connect();
      await blocker.query('BEGIN');
      await blocker.query('LOCK TABLE receipts IN SHARE MODE');
      // Waited for by the committer's own backlog, not a clock: on a loaded machine a first receipt
      // still being parsed after a fixed pause would join the group with the poison.
      const backlogReaches = async (reached: (backlog: { waiting: number; inFlight: number }) => boolean) => {
        for (const started = Date.now(); !reached(runtime.ingest.committer.backlog); ) {
          assert.ok(Date.now() - started < 20_000, `committer backlog ${JSON.stringify(runtime.ingest.committer.backlog)}`);
          await new Promise((resolve) => setTimeout(resolve, 10));
        }
      };
      const firstOutcomes = firsts.map((part10) => runtime.ingest.ingest({ part10 }, source));
      await backlogReaches(({ inFlight }) => inFlight === TRANSACTIONS_IN_FLIGHT);
      const groupOutcomes = group.map((part10) => runtime.ingest.ingest({ part10 }, source).then(() => 'stored', (error: unknown) => error));
      await backlogReaches(({ waiting }) => waiting === group.length);
      const before = { ...runtime.ingest.committer.counts };
      await blocker.query('COMMIT');

      for (const outcome of await Promise.all(firstOutcomes)) assert.equal(outcome.result, 'stored');
      const results = await Promise.all(groupOutcomes);
      for (const result of results) {
        assert.ok(result instanceof IngestRejection, `every member fails, got ${String(result)}`);
        assert.equal(result.kind, 'out-of-resources');
        assert.match(result.message, /database unavailable \(commit the receipt\): refused at commit/);
      }
      assert.equal(runtime.ingest.committer.counts.transactions - before.transactions, TRANSACTIONS_IN_FLIGHT, 'only the first receipts committed after the wait');
      const { rows } = await runtime.db.pool.query<{ receipts: number }>('SELECT count(*)::int AS receipts FROM receipts');
      assert.equal(rows[0]!.receipts, TRANSACTIONS_IN_FLIGHT, 'nothing of the failed group is visible');
    } finally {
      await blocker.end().catch(() => undefined);
      await runtime.dispose();
    }
  });
});

describe('the receipt insert on a table without statistics', () => {
  // Migration 033: the insert's look-ups of an instance's earlier receipts must not walk the whole
  // table in id order, which the planner chose while the table had no statistics (a fresh database,
  // or one that grew since autovacuum last analysed it), so that each new instance read every receipt.
  it('reads a few index entries per insert, not the whole table, however many receipts there are', async () => {
    const runtime = await openTestRuntime({ runWorkers: false });
    try {
      const [first, ...parts] = instances('no-statistics', 51);
      await runtime.ingest.ingest({ part10: first! }, source);
      // A table grown by 20,000 receipts since it was last analysed (here: never).
      await runtime.db.pool.query(
        `INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
           object_key, object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set)
         SELECT '2.25.' || n, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
           object_key || n, object_sha256, md5(n::text), size_bytes, source_id, '{}', '[]', dataset_offset, deflated, character_set
         FROM receipts, generate_series(1, 20000) AS n`,
      );
      // Every index entry and every row read by a sequential scan of the partition holding the 20,000
      // (migration 035). The new instances' receipts are in other studies, whose partitions hold a few
      // rows each and, never analysed, are read whole (a few rows).
      const { rows: [big] } = await runtime.db.pool.query<{ partition: string }>(
        `SELECT tableoid::regclass::text AS partition FROM receipts GROUP BY 1 ORDER BY count(*) DESC LIMIT 1`,
      );
      const receiptsRead = async () => {
        await runtime.db.pool.query('SELECT pg_stat_force_next_flush()');
        await runtime.db.pool.query('SELECT pg_stat_clear_snapshot()');
        const { rows } = await runtime.db.pool.query<{ read: string }>(
          `SELECT (SELECT sum(idx_tup_read) FROM pg_stat_user_indexes WHERE relname = $1)
                + (SELECT sum(seq_tup_read) FROM pg_stat_user_tables WHERE relname = $1) AS read`,
          [big!.partition],
        );
        return Number(rows[0]!.read);
      };
      const before = await receiptsRead();
      for (const part10 of parts) await runtime.ingest.ingest({ part10 }, source);
      await runtime.ingest.committer.drain();
      // Statistics of the committer's connections reach the view when they go idle.
      await new Promise((resolve) => setTimeout(resolve, 1200));
      const read = (await receiptsRead()) - before;
      // A new instance is looked for in every partition (no entry found here), and an insert may confirm
      // the previous receipt by id (one entry). Walking an index in id order, or the partition, would read
      // all 20,000 entries per new instance.
      assert.ok(read < parts.length * 5, `${parts.length} inserts read ${read} index entries and rows of ${big!.partition}`);
    } finally {
      await runtime.dispose();
    }
  });
});

describe('recovery of receipts committed beside their flush', () => {
  it('removes an unconfirmed receipt whose object did not survive, confirms and indexes one whose object did, and leaves confirmed ones alone', async () => {
    // The reconciler's own passes wait an hour here: the test runs the rule itself.
    const runtime = await openTestRuntime({ runWorkers: true, environment: { YINGYUN_RECONCILE_AFTER_SECONDS: '3600' } });
    try {
      const [lost, survived, acknowledged] = instances('recovery', 3);
      const acknowledgedOutcome = await runtime.ingest.ingest({ part10: acknowledged! }, source);
      // What a crash between the commit and the end of the flush leaves: receipts committed, never
      // confirmed and never enqueued for indexing, one of whose objects never reached its key.
      const crashed = new IngestService({ pool: runtime.db.pool, store: runtime.store, log: createLogger('silent'), afterCommit: async () => undefined });
      const lostOutcome = await crashed.ingest({ part10: lost! }, source);
      const survivedOutcome = await crashed.ingest({ part10: survived! }, source);
      await runtime.queue.whenIdle();
      await Promise.all([runtime.ingest.committer.drain(), crashed.committer.drain()]);
      await new Promise((resolve) => setTimeout(resolve, 200));
      await runtime.db.pool.query(
        `INSERT INTO receipt_object_pending (receipt_id, study_instance_uid, received_at, size_bytes)
         SELECT id, study_instance_uid, received_at, size_bytes FROM receipts WHERE id = ANY ($1::bigint[])`,
        [[lostOutcome.receiptId, survivedOutcome.receiptId]],
      );
      await runtime.store.delete(lostOutcome.objectKey);
      assert.deepEqual(await runtime.jobs.receipts.awaitingIndex(0, 10), [], 'unconfirmed receipts are not indexed before they are resolved');

      const resolve = (grace?: UnconfirmedGrace) => resolveUnconfirmedReceipts({ receipts: runtime.jobs.receipts, store: runtime.store, log: createLogger('silent') }, grace);
      // A young unconfirmed receipt may still be flushing: the rule leaves it until its grace is over.
      assert.equal(await resolve(), 0);
      // So may an old one of a large object: 60 s is past a small object's grace, not a 2 GB one's.
      await runtime.db.pool.query(`UPDATE receipt_object_pending SET received_at = now() - interval '60 seconds', size_bytes = 2e9 WHERE receipt_id = $1`, [lostOutcome.receiptId]);
      assert.equal(graceSecondsFor(2e9), 430);
      assert.equal(await resolve(), 0, 'a 2 GB object unconfirmed for 60 s may still be flushing');
      assert.equal(await resolve({ seconds: 0, flushBytesPerSecond: Infinity }), 2);
      const { rows } = await runtime.db.pool.query<{ id: string; object_confirmed: boolean }>('SELECT id, NOT EXISTS (SELECT 1 FROM receipt_object_pending p WHERE p.receipt_id = receipts.id) AS object_confirmed FROM receipts ORDER BY id');
      assert.deepEqual(
        rows.map((row) => [row.id, row.object_confirmed]),
        [
          [acknowledgedOutcome.receiptId, true],
          [survivedOutcome.receiptId, true],
        ],
        'the receipt without its object is gone; the other is confirmed',
      );
      assert.deepEqual(await runtime.jobs.receipts.awaitingIndex(0, 10), [{ id: survivedOutcome.receiptId, studyInstanceUid: survivedOutcome.parsed.studyInstanceUid }], 'the confirmed receipt is now for the reconciler to index');
      await enqueueIndexInstance(runtime.queue, survivedOutcome.receiptId, survivedOutcome.parsed.studyInstanceUid);
      await runtime.queue.whenIdle();
      const indexed = await runtime.db.pool.query<{ sop_instance_uid: string }>('SELECT sop_instance_uid FROM instances ORDER BY sop_instance_uid');
      assert.deepEqual(
        indexed.rows.map((row) => row.sop_instance_uid),
        [survivedOutcome.parsed.sopInstanceUid, acknowledgedOutcome.parsed.sopInstanceUid].sort(),
        'the confirmed receipt is indexed; the removed one never is',
      );
    } finally {
      await runtime.dispose();
    }
  });
});

describe('kill -9 during a group commit', () => {
  it('loses no instance storescu saw acknowledged, and shows none of the group that was committing', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const database = await createTestDatabase();
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-group-kill-'));
    const environment = { DATABASE_URL: database.url, YINGYUN_ADMIN_PASSWORD: 'group-kill-Admin-1', YINGYUN_RECONCILE_AFTER_SECONDS: '2' };
    const blocker = new pg.Client({ connectionString: database.url });
    const observer = new pg.Client({ connectionString: database.url });
    let running: Started | undefined;
    try {
      running = await npmStart(dataDir, { environment });
      for (const args of [
        ['institution', 'add', '--code', 'GROUPKILL', '--name', '组提交测试医院', '--kind', 'hospital'],
        ['peer', 'add', '--institution', 'GROUPKILL', '--ae', 'GROUP_PACS', '--network', '127.0.0.1/32'],
      ]) {
        const result = spawnSync('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: projectRoot, env: { ...process.env, ...environment, YINGYUN_DATA_DIR: dataDir }, encoding: 'utf8' });
        assert.equal(result.status, 0, `admin ${args.join(' ')}: ${result.stderr}`);
      }
      await blocker.connect();
      await observer.connect();
      const instances = writeInstances(path.join(dataDir, 'sent'), 'group-kill', 60);
      const current = running;
      let strike: Promise<number> | undefined;
      const sent = await sendWithStorescu(current.dicomPort, instances, {
        callingAeTitle: 'GROUP_PACS',
        associations: 4,
        onResponse: ({ acknowledged }) => {
          if (strike || acknowledged.length < 12) return;
          // Hold the receipts table so that the next group's inserts wait inside their transaction,
          // and kill the gateway while they do: the kill lands in the middle of a group commit. (The
          // statement is known by its start: pg_stat_activity keeps only the first 1 kB of it.)
          strike = (async () => {
            await blocker.query('BEGIN');
            await blocker.query('LOCK TABLE receipts IN SHARE MODE');
            let waiting = 0;
            for (let tries = 0; tries < 100 && waiting === 0; tries++) {
              await new Promise((resolve) => setTimeout(resolve, 20));
              const { rows } = await observer.query<{ count: number }>(
                "SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock' AND query LIKE '%DELETE FROM receipt_object_pending%'",
              );
              waiting = rows[0]!.count;
            }
            process.kill(-current.child.pid!, 'SIGKILL');
            await blocker.query('COMMIT');
            return waiting;
          })();
        },
      });
      assert.ok(strike, 'the strike came during the send');
      assert.ok((await strike) > 0, 'a group was waiting inside its transaction when the gateway was killed');
      assert.ok(sent.acknowledged.length < instances.length, `${sent.acknowledged.length} of ${instances.length} acknowledged before the kill`);

      running = await npmStart(dataDir, { environment });
      const store = await openLocalObjectStore(path.join(dataDir, 'objects'));
      await assertNothingLost(database.url, store, sent.acknowledged);
      const { receipts } = await assertIndexConsistent(database.url, store);
      // Acknowledged ones, and at most those whose commit and flush were done when the answer was cut off.
      assert.ok(receipts >= sent.acknowledged.length && receipts <= sent.acknowledged.length + 4, `${receipts} receipts for ${sent.acknowledged.length} acknowledged over 4 associations`);
      t.diagnostic(`${sent.acknowledged.length}/${instances.length} acknowledged before the kill; ${receipts} receipts after recovery, all indexed and read back`);
    } finally {
      await blocker.end().catch(() => undefined);
      await observer.end().catch(() => undefined);
      if (running?.child.exitCode === null) process.kill(-running.child.pid!, 'SIGKILL');
      await database.drop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
