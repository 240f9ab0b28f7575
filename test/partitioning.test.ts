import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Visibility } from '../archive/access/policy.ts';
import { IndexRepository } from '../archive/db/index-repository.ts';
import { migrate } from '../archive/db/migrate.ts';
import { instanceSearchSql } from '../archive/db/query-repository.ts';
import { metadataSql } from '../archive/db/retrieve-repository.ts';
import type { IndexRecord } from '../archive/index/index-record.ts';
import { createLogger } from '../archive/log.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { addSyntheticIndex, syntheticStudyUid } from '../bench/synthetic-index.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

/**
 * instances partitioned by hash of the Study Instance UID (migration 032, docs/architecture.md
 * "Region scale"): the upgrade of a database holding instances, the indexer's upsert under the
 * per-study uniqueness, and partition pruning of the queries about one study.
 */
const MIGRATIONS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../archive/db/migrations');
const PARTITIONING = '032_partition_instances.sql';
const everyone: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

/** The migrations before 032, as a database upgraded from an earlier release has them. */
async function migrateBefore(pool: pg.Pool, name: string): Promise<void> {
  await pool.query('CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const file of (await fs.readdir(MIGRATIONS)).filter((file) => file.endsWith('.sql') && file < name).sort()) {
    await pool.query(await fs.readFile(path.join(MIGRATIONS, file), 'utf8'));
    await pool.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
  }
}

/** The partitions a plan reads. */
async function partitionsRead(pool: pg.Pool, sql: { text: string; values: unknown[] }): Promise<string[]> {
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.text}`, sql.values);
  const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
  return [...new Set(plan.match(/\binstances_p\d\d\b/g) ?? [])];
}

describe('instances partitioned by study (migration 032)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('upgrades a database holding instances without losing or changing a row', async () => {
    await migrateBefore(pool, PARTITIONING);
    // 30 studies of 2 series of 4 instances, written as the indexer before 032 did, then a few deleted:
    // the identity must continue after the sequence, not after the largest id left.
    await pool.query(`
      WITH institution AS (INSERT INTO institutions (code, name, kind) VALUES ('PART', 'partitioning', 'hospital') RETURNING id),
      source AS (INSERT INTO sources (via, name, institution_id) SELECT 'import', 'partitioning', id FROM institution RETURNING id, institution_id)
      INSERT INTO patients (issuer, patient_id, source_id, institution_id, attributes) SELECT 'PART', 'P1', id, institution_id, '{}' FROM source`);
    await pool.query(`
      INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, attributes)
      SELECT '2.25.7' || n, p.id, p.source_id, p.institution_id, '{}' FROM patients p, generate_series(1, 30) AS n`);
    await pool.query(`
      INSERT INTO series (series_instance_uid, study_pk, institution_id, modality, attributes)
      SELECT st.study_instance_uid || '.' || s, st.id, st.institution_id, 'CT', '{}' FROM studies st, generate_series(1, 2) AS s`);
    await pool.query(`
      INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
        object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set, indexed_at)
      SELECT se.series_instance_uid || '.' || k, '1.2.840.10008.5.1.4.1.1.2', st.study_instance_uid, se.series_instance_uid, '1.2.840.10008.1.2.1',
        'k/' || se.series_instance_uid || '.' || k, 'sha', 'sha', 100, st.source_id, '{}', '{}', 132, false, '{}', now()
      FROM series se JOIN studies st ON st.id = se.study_pk, generate_series(1, 4) AS k`);
    await pool.query(`
      INSERT INTO instances (sop_instance_uid, series_pk, study_pk, institution_id, receipt_id, sop_class_uid, instance_number, attributes, thumbnail_key, thumbnail_receipt_id)
      SELECT r.sop_instance_uid, se.id, se.study_pk, se.institution_id, r.id, r.sop_class_uid, split_part(r.sop_instance_uid, '.', 5)::int,
        jsonb_build_object('00080018', r.sop_instance_uid), CASE WHEN r.id % 3 = 0 THEN 'thumb/' || r.id END, CASE WHEN r.id % 3 = 0 THEN r.id END
      FROM receipts r JOIN series se ON se.series_instance_uid = r.series_instance_uid ORDER BY r.id`);
    await pool.query(`DELETE FROM instances WHERE id IN (SELECT max(id) FROM instances UNION SELECT min(id) FROM instances)`);
    const snapshot = `SELECT id::text, sop_instance_uid, series_pk::text, study_pk::text, receipt_id::text, sop_class_uid, instance_number, number_of_frames,
                             attributes, thumbnail_key, thumbnail_receipt_id::text, thumbnail_error, institution_id::text
                      FROM instances ORDER BY id`;
    const before = (await pool.query(snapshot)).rows;
    const { rows: [sequence] } = await pool.query<{ last: string }>(`SELECT last_value::text AS last FROM instances_id_seq`);
    assert.equal(before.length, 30 * 2 * 4 - 2);

    await migrate(pool, createLogger('silent'));

    const { rows: [table] } = await pool.query<{ strategy: string; key: string; partitions: number }>(
      `SELECT pt.partstrat AS strategy, a.attname AS key, (SELECT count(*)::int FROM pg_inherits WHERE inhparent = pt.partrelid) AS partitions
       FROM pg_partitioned_table pt JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
       WHERE pt.partrelid = 'instances'::regclass`,
    );
    assert.deepEqual(table, { strategy: 'h', key: 'study_instance_uid', partitions: 16 });
    assert.deepEqual((await pool.query(snapshot)).rows, before);
    const { rows: mismatched } = await pool.query(
      'SELECT i.id FROM instances i JOIN studies st ON st.id = i.study_pk WHERE i.study_instance_uid IS DISTINCT FROM st.study_instance_uid',
    );
    assert.deepEqual(mismatched, []);
    const { rows: spread } = await pool.query<{ partitions: number }>('SELECT count(DISTINCT tableoid)::int AS partitions FROM instances');
    assert.ok(spread[0]!.partitions > 8, `30 studies spread over ${spread[0]!.partitions} partitions`);
    // Keys carry the partition key; the old global ones are gone with the old table.
    const { rows: keys } = await pool.query<{ name: string; definition: string }>(
      `SELECT conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
       WHERE conrelid = 'instances'::regclass AND contype IN ('p', 'u', 'f') ORDER BY conname`,
    );
    assert.deepEqual(keys.find((key) => key.name === 'instances_pkey')?.definition, 'PRIMARY KEY (study_instance_uid, id)');
    assert.deepEqual(keys.find((key) => key.name === 'instances_sop_instance_uid_key')?.definition, 'UNIQUE (sop_instance_uid, study_instance_uid)');
    assert.deepEqual(
      keys.find((key) => key.name === 'instances_study_fkey')?.definition,
      'FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies(study_instance_uid, id)',
    );
    // A new row continues after the old sequence.
    const { rows: [added] } = await pool.query<{ id: string }>(
      `INSERT INTO instances (sop_instance_uid, series_pk, study_pk, study_instance_uid, institution_id, receipt_id, sop_class_uid, attributes)
       SELECT 'after-upgrade', series_pk, study_pk, study_instance_uid, institution_id, receipt_id, sop_class_uid, '{}' FROM instances LIMIT 1
       RETURNING id::text`,
    );
    assert.ok(BigInt(added!.id) > BigInt(sequence!.last));
    // A study UID that is not the study_pk's is refused.
    await assert.rejects(
      pool.query(`UPDATE instances SET study_instance_uid = '2.25.71' WHERE study_instance_uid = '2.25.72'`),
      /instances_study_fkey|violates foreign key/,
    );
    await pool.query(`DELETE FROM instances WHERE sop_instance_uid = 'after-upgrade'`);
  });

  describe('indexing', () => {
    let index: IndexRepository;
    let sourceId: string;
    const receipt = async (sop: string, study: string, series: string) => {
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
           object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set)
         VALUES ($1, '1.2.840.10008.5.1.4.1.1.2', $2, $3, '1.2.840.10008.1.2.1', 'k/' || gen_random_uuid(), 'sha', gen_random_uuid()::text, 100, $4,
           '{}', '{}', 132, false, '{}') RETURNING id::text`,
        [sop, study, series, sourceId],
      );
      return rows[0]!.id;
    };
    const record = (sop: string, study: string, series: string, instanceNumber: number): IndexRecord => ({
      patient: { issuer: 'PART', patientId: 'P2', patientName: null, nameSearch: null, birthDate: null, sex: null, otherPatientIds: [], attributes: {} },
      study: {
        studyInstanceUid: study, studyDate: null, studyTime: null, accessionNumber: null, studyId: null, description: null,
        referringNameSearch: null, institutionName: null, attributes: {},
      },
      series: { seriesInstanceUid: series, modality: 'CT', seriesNumber: 1, description: null, bodyPart: null, performedStartDate: null, attributes: {} },
      instance: { sopInstanceUid: sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', instanceNumber, numberOfFrames: null, attributes: {} },
    });
    const rowsOf = async (sop: string) =>
      (await pool.query<{ study: string; series: string; receipt: string; number: number }>(
        `SELECT i.study_instance_uid AS study, se.series_instance_uid AS series, i.receipt_id::text AS receipt, i.instance_number AS number
         FROM instances i JOIN series se ON se.id = i.series_pk WHERE i.sop_instance_uid = $1`,
        [sop],
      )).rows;
    const counts = async (study: string) =>
      (await pool.query<{ instances: number; series: number[] }>(
        `SELECT st.number_of_instances AS instances, ARRAY(SELECT se.number_of_instances FROM series se WHERE se.study_pk = st.id ORDER BY se.id) AS series
         FROM studies st WHERE st.study_instance_uid = $1`,
        [study],
      )).rows[0];

    before(async () => {
      index = new IndexRepository(pool);
      const { rows } = await pool.query<{ id: string }>(`SELECT id::text FROM sources WHERE name = 'partitioning'`);
      sourceId = rows[0]!.id;
    });

    it('inserts, re-indexes the same receipt harmlessly and replaces with a newer version in place', async () => {
      const first = await receipt('2.25.80.1', '2.25.80', '2.25.80.1');
      const indexed = await index.indexReceipt(first, sourceId, record('2.25.80.1', '2.25.80', '2.25.80.1', 1));
      assert.equal(indexed.becameCurrent, true);
      assert.deepEqual(await rowsOf('2.25.80.1'), [{ study: '2.25.80', series: '2.25.80.1', receipt: first, number: 1 }]);
      const again = await index.indexReceipt(first, sourceId, record('2.25.80.1', '2.25.80', '2.25.80.1', 1));
      assert.equal(again.becameCurrent, false);
      const newer = await receipt('2.25.80.1', '2.25.80', '2.25.80.1');
      assert.equal((await index.indexReceipt(newer, sourceId, record('2.25.80.1', '2.25.80', '2.25.80.1', 2))).becameCurrent, true);
      assert.deepEqual(await rowsOf('2.25.80.1'), [{ study: '2.25.80', series: '2.25.80.1', receipt: newer, number: 2 }]);
      // The older version indexed late changes nothing.
      assert.equal((await index.indexReceipt(first, sourceId, record('2.25.80.1', '2.25.80', '2.25.80.1', 1))).becameCurrent, false);
      assert.deepEqual(await rowsOf('2.25.80.1'), [{ study: '2.25.80', series: '2.25.80.1', receipt: newer, number: 2 }]);
      assert.deepEqual(await counts('2.25.80'), { instances: 1, series: [1] });
    });

    it('moves an instance whose newer version names another study: one row, counts on both sides exact', async () => {
      const old = await receipt('2.25.81.1.1', '2.25.81', '2.25.81.1');
      await index.indexReceipt(old, sourceId, record('2.25.81.1.1', '2.25.81', '2.25.81.1', 1));
      const kept = await receipt('2.25.81.1.2', '2.25.81', '2.25.81.1');
      await index.indexReceipt(kept, sourceId, record('2.25.81.1.2', '2.25.81', '2.25.81.1', 2));
      const corrected = await receipt('2.25.81.1.1', '2.25.82', '2.25.82.1');
      assert.equal((await index.indexReceipt(corrected, sourceId, record('2.25.81.1.1', '2.25.82', '2.25.82.1', 1))).becameCurrent, true);
      assert.deepEqual(await rowsOf('2.25.81.1.1'), [{ study: '2.25.82', series: '2.25.82.1', receipt: corrected, number: 1 }]);
      assert.deepEqual(await counts('2.25.81'), { instances: 1, series: [1] });
      assert.deepEqual(await counts('2.25.82'), { instances: 1, series: [1] });
      // The version it replaced, indexed again, does not bring the instance back to the old study.
      assert.equal((await index.indexReceipt(old, sourceId, record('2.25.81.1.1', '2.25.81', '2.25.81.1', 1))).becameCurrent, false);
      assert.deepEqual(await rowsOf('2.25.81.1.1'), [{ study: '2.25.82', series: '2.25.82.1', receipt: corrected, number: 1 }]);
      assert.deepEqual(await counts('2.25.81'), { instances: 1, series: [1] });
    });

    it('keeps one row when two versions in two studies are indexed at the same moment', async () => {
      const versions = await Promise.all([1, 2, 3, 4].map((n) => receipt('2.25.83.9', `2.25.83${n}`, `2.25.83${n}.1`)));
      await Promise.all(versions.map((id, n) => index.indexReceipt(id, sourceId, record('2.25.83.9', `2.25.83${n + 1}`, `2.25.83${n + 1}.1`, 1))));
      const rows = await rowsOf('2.25.83.9');
      assert.equal(rows.length, 1);
      // the newest receipt wins, whatever order the four transactions ran in
      assert.equal(rows[0]!.receipt, versions.reduce((newest, id) => (BigInt(id) > BigInt(newest) ? id : newest)));
      const { rows: studies } = await pool.query<{ instances: number }>(
        `SELECT sum(number_of_instances)::int AS instances FROM studies WHERE study_instance_uid LIKE '2.25.83_'`,
      );
      assert.equal(studies[0]!.instances, 1);
    });

    it('waits for the lock on the SOP Instance UID before writing it', async () => {
      const holder = await pool.connect();
      try {
        await holder.query('BEGIN');
        await holder.query(`SELECT pg_advisory_xact_lock(hashtext('sop-instance'), hashtext('2.25.84.1'))`);
        const id = await receipt('2.25.84.1', '2.25.84', '2.25.84.1');
        let done = false;
        const indexing = index.indexReceipt(id, sourceId, record('2.25.84.1', '2.25.84', '2.25.84.1', 1)).finally(() => (done = true));
        await new Promise((resolve) => setTimeout(resolve, 300));
        assert.equal(done, false, 'indexed while another transaction held the lock');
        await holder.query('COMMIT');
        assert.equal((await indexing).becameCurrent, true);
      } finally {
        holder.release();
      }
    });
  });

  it('reads one partition for an instance search and WADO-RS metadata in one study', async () => {
    await addSyntheticIndex(pool, { patients: 100, studies: 200, instances: true });
    await pool.query('ANALYZE');
    const study = syntheticStudyUid(7);
    const search = instanceSearchSql(parseQidoQuery('instance', {}, { studyInstanceUid: study }), everyone);
    assert.equal((await partitionsRead(pool, search)).length, 1, search.text);
    const found = await pool.query(search.text, search.values);
    assert.ok(found.rows.length >= 15, `${found.rows.length} instances of ${study}`);
    for (const scope of [{ studyInstanceUid: study }, { studyInstanceUid: study, seriesInstanceUid: `${study}.1` }]) {
      const metadata = metadataSql(scope, 'https://archive/dicomweb');
      assert.deepEqual((await partitionsRead(pool, metadata)).length, 1, metadata.text);
    }
    // A search that names no study reads them all (the check above is not vacuous).
    const everywhere = instanceSearchSql(parseQidoQuery('instance', { SOPInstanceUID: `${study}.1.1` }), everyone);
    assert.equal((await partitionsRead(pool, everywhere)).length, 16);
    // The thumbnail job's look-up by receipt (migration 034) is an index probe, not a read of the table.
    const client = await pool.connect();
    try {
      await client.query('SET enable_seqscan = off');
      const { rows } = await client.query<{ 'QUERY PLAN': string }>(
        `EXPLAIN UPDATE instances SET thumbnail_key = 'k', thumbnail_receipt_id = 1, thumbnail_error = NULL WHERE receipt_id = 1`,
      );
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      assert.doesNotMatch(plan, /Seq Scan/, plan);
      assert.match(plan, /instances_p\d\d_receipt_id_idx|instances_by_receipt/, plan);
    } finally {
      await client.query('RESET enable_seqscan');
      client.release();
    }
  });
});
