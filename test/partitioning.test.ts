import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Visibility } from '../archive/access/policy.ts';
import { IndexRepository, ThumbnailsRepository } from '../archive/db/index-repository.ts';
import { migrate } from '../archive/db/migrate.ts';
import { instanceSearchSql, matchCountSql, seriesSearchSql, type StudyRow, studySearchSql } from '../archive/db/query-repository.ts';
import { personNameSearchKeys } from '../archive/dicom/normalize.ts';
import { type NewReceipt, ReceiptsRepository } from '../archive/db/receipts-repository.ts';
import { metadataSql } from '../archive/db/retrieve-repository.ts';
import type { IndexRecord } from '../archive/index/index-record.ts';
import { createLogger } from '../archive/log.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { addSyntheticIndex, syntheticStudyUid } from '../bench/synthetic-index.ts';
import { createTestDatabase, migrateBefore, type TestDatabase } from './support/database.ts';

/**
 * instances and receipts partitioned by hash of the Study Instance UID (migrations 032 and 035,
 * docs/architecture.md "Region scale"): the upgrade of a database holding them, the indexer's upsert
 * under the per-study uniqueness, the receipt insert and look-ups reading one study's partition, the
 * composite foreign keys to receipts, and partition pruning of the queries about one study.
 */
const PARTITIONING = '032_partition_instances.sql';
const RECEIPTS_PARTITIONING = '035_partition_receipts.sql';
const everyone: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

interface Statement {
  text: string;
  values: unknown[];
}

/** A pool that keeps every statement it is asked to run (text and values), then runs it. */
function recording(pool: pg.Pool): { pool: pg.Pool; statements: Statement[] } {
  const statements: Statement[] = [];
  const query = (config: string | { text: string; values?: unknown[] }, values?: unknown[]) => {
    const statement = typeof config === 'string' ? { text: config, values: values ?? [] } : { text: config.text, values: config.values ?? [] };
    statements.push(statement);
    return pool.query(statement.text, statement.values);
  };
  return { pool: { query } as unknown as pg.Pool, statements };
}

/**
 * The partitions of receipts and instances a statement reads when it runs (EXPLAIN ANALYZE, rolled
 * back): the plan's scans that were not pruned and ran.
 */
async function partitionsExecuted(pool: pg.Pool, statement: Statement): Promise<string[]> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows } = await client.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF, SUMMARY OFF) ${statement.text}`, statement.values);
    const ran = rows.map((row) => row['QUERY PLAN']).filter((line) => !line.includes('never executed'));
    return [...new Set(ran.flatMap((line) => line.match(/\b(?:receipts|instances)_p\d\d\b/g) ?? []))].sort();
  } finally {
    await client.query('ROLLBACK');
    client.release();
  }
}

/** The partitions a plan reads. */
async function partitionsRead(pool: pg.Pool, sql: { text: string; values: unknown[] }): Promise<string[]> {
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.text}`, sql.values);
  const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
  return [...new Set(plan.match(/\b(?:instances|receipts)_p\d\d\b/g) ?? [])].sort();
}

describe('instances and receipts partitioned by study (migrations 032 and 035)', () => {
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
    // What refers to receipts (migration 035): a new version in the same study and one that named
    // another study (not indexed), with their events, an edge's forward and a routing item.
    await pool.query(`
      INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
        object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set, object_confirmed)
      SELECT sop_instance_uid, sop_class_uid, study, series_instance_uid, transfer_syntax_uid, object_key || '.' || study, 'sha-' || study, 'sha-' || study, size_bytes,
        source_id, metadata, bulk_data, dataset_offset, deflated, character_set, false
      FROM receipts, (VALUES ('2.25.71'), ('2.25.72')) AS v (study) WHERE sop_instance_uid = '2.25.71.1.2' ORDER BY study`);
    await pool.query(`
      INSERT INTO instance_events (sop_instance_uid, kind, receipt_id, previous_receipt_id, detail)
      SELECT r.sop_instance_uid, 'new-version', r.id, p.id, '{"sourceId": 1}' FROM receipts r JOIN receipts p ON p.sop_instance_uid = r.sop_instance_uid AND p.dataset_sha256 = 'sha'
      WHERE r.dataset_sha256 LIKE 'sha-%'`);
    await pool.query(`
      WITH peer AS (INSERT INTO dicom_peers (institution_id, ae_title) SELECT id, 'PART_PEER' FROM institutions WHERE code = 'PART' RETURNING id)
      INSERT INTO forward_items (receipt_id, peer_id) SELECT r.id, peer.id FROM receipts r, peer WHERE r.object_key = 'k/2.25.73.1.1'`);
    await pool.query(`
      INSERT INTO edge_forwards (receipt_id, sop_instance_uid, object_key, object_sha256, size_bytes, received_at)
      SELECT id, sop_instance_uid, object_key, object_sha256, size_bytes, received_at FROM receipts WHERE object_key = 'k/2.25.74.1.1'`);
    // A report's QC grade (021); the statistics' facts (022) are the triggers' own. Both refer to their
    // study by study_pk alone until migration 043.
    await pool.query(`
      WITH grader AS (INSERT INTO users (username, display_name, role) VALUES ('part-admin', 'admin', 'system_admin') RETURNING id),
      report AS (INSERT INTO reports (study_instance_uid, study_institution_id, status, draft)
                 SELECT study_instance_uid, institution_id, 'final', '{}' FROM studies WHERE study_instance_uid = '2.25.75' RETURNING id),
      version AS (INSERT INTO report_versions (report_id, version, status, content, sr_sop_instance_uid, sr_series_instance_uid, pdf_sop_instance_uid)
                  SELECT id, 1, 'final', '{}', '2.25.751', '2.25.752', '2.25.753' FROM report RETURNING report_id)
      INSERT INTO report_qc_grades (study_pk, report_id, report_version, grade_code, graded_by_user_id, graded_by_name)
      SELECT st.id, version.report_id, 1, 'conforming', grader.id, 'admin' FROM studies st, version, grader WHERE st.study_instance_uid = '2.25.75'`);
    const studyFacts = `SELECT study_pk::text, institution_id::text, month, modality, technologist, qc_grade, report_final, report_qc_grade
                        FROM statistics_studies ORDER BY study_pk`;
    const factsBefore = (await pool.query(studyFacts)).rows;
    assert.equal(factsBefore.length, 30);
    assert.equal(factsBefore.filter((fact) => fact.report_qc_grade === 'conforming').length, 1);
    const snapshot = `SELECT id::text, sop_instance_uid, series_pk::text, study_pk::text, receipt_id::text, sop_class_uid, instance_number, number_of_frames,
                             attributes, thumbnail_key, thumbnail_receipt_id::text, thumbnail_error, institution_id::text
                      FROM instances ORDER BY id`;
    // Whether the object is confirmed: a column until migration 037, a row of receipt_object_pending after.
    const receiptsSnapshot = (objectConfirmed: string) => `SELECT id::text, sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
                                     object_sha256, dataset_sha256, size_bytes::text, source_id::text, remote_address, called_ae_title, received_at,
                                     metadata, bulk_data, pixel, dataset_offset, deflated, character_set, indexed_at, ${objectConfirmed} AS object_confirmed
                              FROM receipts ORDER BY id`;
    const before = (await pool.query(snapshot)).rows;
    const receiptsBefore = (await pool.query(receiptsSnapshot('object_confirmed'))).rows;
    const { rows: [sequence] } = await pool.query<{ last: string }>(`SELECT last_value::text AS last FROM instances_id_seq`);
    const { rows: [receiptSequence] } = await pool.query<{ last: string }>(`SELECT last_value::text AS last FROM receipts_id_seq`);
    assert.equal(before.length, 30 * 2 * 4 - 2);
    assert.equal(receiptsBefore.length, 30 * 2 * 4 + 2);

    await migrate(pool, createLogger('silent'));

    // The facts and the grade carry their study's UID (043), the facts otherwise as they were.
    assert.deepEqual((await pool.query(studyFacts)).rows, factsBefore);
    const { rows: [uids] } = await pool.query<{ facts: number; grades: number }>(
      `SELECT (SELECT count(*)::int FROM statistics_studies f JOIN studies st ON st.id = f.study_pk AND st.study_instance_uid = f.study_instance_uid) AS facts,
              (SELECT count(*)::int FROM report_qc_grades g JOIN studies st ON st.id = g.study_pk AND st.study_instance_uid = '2.25.75' AND g.study_instance_uid = '2.25.75') AS grades`,
    );
    assert.deepEqual(uids, { facts: 30, grades: 1 });

    const { rows: tables } = await pool.query<{ table: string; strategy: string; key: string; partitions: number }>(
      `SELECT pt.partrelid::regclass::text AS table, pt.partstrat AS strategy, a.attname AS key,
              (SELECT count(*)::int FROM pg_inherits WHERE inhparent = pt.partrelid) AS partitions
       FROM pg_partitioned_table pt JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
       WHERE pt.partrelid IN ('instances'::regclass, 'receipts'::regclass) ORDER BY 1`,
    );
    assert.deepEqual(tables, [
      { table: 'instances', strategy: 'h', key: 'study_instance_uid', partitions: 16 },
      { table: 'receipts', strategy: 'h', key: 'study_instance_uid', partitions: 16 },
    ]);
    assert.deepEqual((await pool.query(snapshot)).rows, before);
    assert.deepEqual((await pool.query(receiptsSnapshot('NOT EXISTS (SELECT 1 FROM receipt_object_pending p WHERE p.receipt_id = receipts.id)'))).rows, receiptsBefore);
    // Every table that refers to a receipt has the receipt's study; an event whose previous version
    // named another study keeps it in its detail.
    const { rows: referring } = await pool.query<{ table: string; rows: number; mismatched: number }>(
      `SELECT 'instance_events' AS table, count(*)::int AS rows, count(*) FILTER (WHERE r.study_instance_uid IS DISTINCT FROM x.study_instance_uid)::int AS mismatched
       FROM instance_events x LEFT JOIN receipts r ON r.id = x.receipt_id
       UNION ALL
       SELECT 'forward_items', count(*)::int, count(*) FILTER (WHERE r.study_instance_uid IS DISTINCT FROM x.study_instance_uid)::int
       FROM forward_items x LEFT JOIN receipts r ON r.id = x.receipt_id
       UNION ALL
       SELECT 'edge_forwards', count(*)::int, count(*) FILTER (WHERE r.study_instance_uid IS DISTINCT FROM x.study_instance_uid)::int
       FROM edge_forwards x LEFT JOIN receipts r ON r.id = x.receipt_id
       UNION ALL
       SELECT 'series', count(*)::int, count(*) FILTER (WHERE st.study_instance_uid IS DISTINCT FROM x.study_instance_uid)::int
       FROM series x LEFT JOIN studies st ON st.id = x.study_pk`,
    );
    assert.deepEqual(referring, [
      { table: 'instance_events', rows: 2, mismatched: 0 },
      { table: 'forward_items', rows: 1, mismatched: 0 },
      { table: 'edge_forwards', rows: 1, mismatched: 0 },
      { table: 'series', rows: 60, mismatched: 0 },
    ]);
    const { rows: events } = await pool.query<{ study: string; previous: string | null; detail: Record<string, unknown> }>(
      `SELECT e.study_instance_uid AS study, e.previous_receipt_id::text AS previous, e.detail FROM instance_events e ORDER BY e.study_instance_uid`,
    );
    const firstVersion = receiptsBefore.find((receipt) => receipt.sop_instance_uid === '2.25.71.1.2' && receipt.dataset_sha256 === 'sha')!.id;
    assert.deepEqual(events, [
      { study: '2.25.71', previous: firstVersion, detail: { sourceId: 1 } },
      { study: '2.25.72', previous: null, detail: { sourceId: 1, previousReceiptId: firstVersion, previousStudyInstanceUid: '2.25.71' } },
    ]);
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
    const { rows: receiptKeys } = await pool.query<{ table: string; name: string; definition: string }>(
      `SELECT conrelid::regclass::text AS table, conname AS name, pg_get_constraintdef(oid) AS definition FROM pg_constraint
       WHERE contype IN ('p', 'u', 'f') AND conparentid = 0
         AND (conrelid = 'receipts'::regclass OR confrelid = 'receipts'::regclass OR conrelid = 'series'::regclass)
       ORDER BY 1, 2`,
    );
    assert.deepEqual(receiptKeys.map((key) => `${key.table}: ${key.definition}`).sort(), [
      'edge_forwards: FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'forward_items: FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'instance_events: FOREIGN KEY (study_instance_uid, previous_receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'instance_events: FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'instances: FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'instances: FOREIGN KEY (study_instance_uid, thumbnail_receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'receipt_object_pending: FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts(study_instance_uid, id) ON DELETE CASCADE',
      'receipts: PRIMARY KEY (study_instance_uid, id)',
      'receipts: FOREIGN KEY (source_id) REFERENCES sources(id)',
      'receipts: UNIQUE (sop_instance_uid, dataset_sha256, study_instance_uid)',
      'series: FOREIGN KEY (institution_id) REFERENCES institutions(id)',
      'series: PRIMARY KEY (study_instance_uid, id)',
      'series: FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies(study_instance_uid, id)',
      'series: FOREIGN KEY (study_instance_uid, thumbnail_receipt_id) REFERENCES receipts(study_instance_uid, id)',
      'series: UNIQUE (series_instance_uid, study_instance_uid)',
    ].sort());
    // The receipts' identity continues after the old sequence, and the edge's trigger fires on the new table.
    await pool.query('INSERT INTO edge_forwarding_enabled DEFAULT VALUES');
    const { rows: [receiptAdded] } = await pool.query<{ id: string }>(
      `INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
         object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set)
       SELECT 'after-upgrade', sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, 'k/after-upgrade', 'sha', 'sha', 1,
         source_id, '{}', '{}', 132, false, '{}' FROM receipts WHERE study_instance_uid = '2.25.75' LIMIT 1
       RETURNING id::text`,
    );
    assert.ok(BigInt(receiptAdded!.id) > BigInt(receiptSequence!.last));
    const { rows: queued } = await pool.query(`SELECT study_instance_uid FROM edge_forwards WHERE receipt_id = $1`, [receiptAdded!.id]);
    assert.deepEqual(queued, [{ study_instance_uid: '2.25.75' }]);
    await pool.query('DELETE FROM edge_forwarding_enabled');
    await pool.query(`DELETE FROM edge_forwards WHERE receipt_id = $1`, [receiptAdded!.id]);
    await pool.query(`DELETE FROM receipts WHERE id = $1`, [receiptAdded!.id]);
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

    it("copies the patient's columns onto its studies, and follows the patient record when it changes (migration 036)", async () => {
      const named = (sop: string, study: string, alphabetic: string) => {
        const indexed = record(sop, study, `${study}.1`, 1);
        const patientName = { Alphabetic: alphabetic };
        const attributes = { '00100010': { vr: 'PN', Value: [patientName] }, '00100020': { vr: 'LO', Value: ['P36'] } };
        return { ...indexed, patient: { ...indexed.patient, patientId: 'P36', patientName, nameSearch: personNameSearchKeys([patientName]), sex: 'F', attributes } };
      };
      const copies = async () =>
        (await pool.query<{ study: string; patientId: string; name: string; sex: string; attributes: unknown }>(
          `SELECT study_instance_uid AS study, patient_id AS "patientId", patient_name->>'Alphabetic' AS name, patient_sex AS sex, patient_attributes AS attributes
           FROM studies WHERE study_instance_uid LIKE '2.25.36_' ORDER BY study_instance_uid`,
        )).rows;
      // Two studies of one patient record: each carries the record's columns from its insert.
      await index.indexReceipt(await receipt('2.25.361.1.1', '2.25.361', '2.25.361.1'), sourceId, named('2.25.361.1.1', '2.25.361', 'WANG^FANG'));
      await index.indexReceipt(await receipt('2.25.362.1.1', '2.25.362', '2.25.362.1'), sourceId, named('2.25.362.1.1', '2.25.362', 'WANG^FANG'));
      assert.deepEqual((await copies()).map(({ study, patientId, name, sex }) => [study, patientId, name, sex]), [
        ['2.25.361', 'P36', 'WANG^FANG', 'F'],
        ['2.25.362', 'P36', 'WANG^FANG', 'F'],
      ]);
      // A third study corrects the name: the record changes in the same statement as the new study,
      // and the two earlier studies follow.
      await index.indexReceipt(await receipt('2.25.363.1.1', '2.25.363', '2.25.363.1'), sourceId, named('2.25.363.1.1', '2.25.363', 'WANG^FANGFANG'));
      const corrected = await copies();
      assert.deepEqual(corrected.map(({ name }) => name), ['WANG^FANGFANG', 'WANG^FANGFANG', 'WANG^FANGFANG']);
      const { rows: record36 } = await pool.query(`SELECT attributes FROM patients WHERE patient_id = 'P36'`);
      for (const copy of corrected) assert.deepEqual(copy.attributes, record36[0]!.attributes);
      // A study moved to another patient record takes that record's columns.
      await pool.query(`UPDATE studies SET patient_pk = (SELECT id FROM patients WHERE patient_id = 'P2') WHERE study_instance_uid = '2.25.362'`);
      assert.deepEqual((await copies()).map(({ patientId }) => patientId), ['P36', 'P2', 'P36']);
      // QIDO-RS finds them by the copy: the new name, not the old one.
      const search = (PatientName: string) => studySearchSql(parseQidoQuery('study', { PatientName, PatientID: 'P36' }), everyone);
      const found = async (PatientName: string) => (await pool.query<StudyRow>(search(PatientName).text, search(PatientName).values)).rows.map((row) => row.studyInstanceUid).sort();
      assert.deepEqual(await found('WANG^FANGFANG'), ['2.25.361', '2.25.363']);
      assert.deepEqual(await found('WANG^FANG'), []);
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

    describe('receipts by study (migration 035)', () => {
      let receipts: ReceiptsRepository;
      let thumbnails: ThumbnailsRepository;
      const newReceipt = (sop: string, study: string, series: string, sha: string): NewReceipt => ({
        sopInstanceUid: sop, sopClassUid: '1.2.840.10008.5.1.4.1.1.2', studyInstanceUid: study, seriesInstanceUid: series,
        transferSyntaxUid: '1.2.840.10008.1.2.1', objectKey: `k/${sop}.${sha}`, objectSha256: sha, datasetSha256: sha, sizeBytes: 100, sourceId,
        metadata: {}, bulkData: [], datasetOffset: 132, deflated: false, characterSet: { declared: [] },
      });
      const partitionOf = async (receiptId: string) =>
        (await pool.query<{ partition: string }>('SELECT tableoid::regclass::text AS partition FROM receipts WHERE id = $1', [receiptId])).rows[0]!.partition;

      // A hospital's own sender: the look-ups of the study's, series' and instance's owners run (for a
      // caller who may write everywhere they are left out).
      let writable: string[];

      before(async () => {
        receipts = new ReceiptsRepository(pool);
        thumbnails = new ThumbnailsRepository(pool);
        writable = (await pool.query<{ id: string }>(`SELECT institution_id::text AS id FROM sources WHERE id = $1`, [sourceId])).rows.map((row) => row.id);
      });

      it('looks an instance up in its study\'s partition alone once the study has it, in every one for a new instance; a re-sent receipt is a duplicate', async () => {
        const recorder = recording(pool);
        const first = await receipts.insertUnconfirmed(recorder.pool, newReceipt('2.25.90.1.1', '2.25.90', '2.25.90.1', 'a'), writable, []);
        assert.equal(first.refused, false);
        assert.equal(first.previousReceiptId, null);
        assert.ok(first.receiptId);
        const partition = await partitionOf(first.receiptId);
        const insert = recorder.statements.at(-1)!;
        // Another new instance of the study: no receipt of it there, so its owner is looked for in every partition.
        assert.equal((await partitionsExecuted(pool, { ...insert, values: ['2.25.90.1.2', ...insert.values.slice(1)] })).length, 16);
        // The same receipt again: its study's partition alone, and a duplicate.
        assert.deepEqual(await partitionsExecuted(pool, insert), [partition]);
        assert.deepEqual(await receipts.insertUnconfirmed(recorder.pool, newReceipt('2.25.90.1.1', '2.25.90', '2.25.90.1', 'a'), writable, []),
          { refused: false, seriesStudyInstanceUid: null, receiptId: null, previousReceiptId: null });
        assert.deepEqual(await receipts.findByContent('2.25.90.1.1', 'a', '2.25.90'), { receiptId: first.receiptId, objectKey: 'k/2.25.90.1.1.a', objectConfirmed: false });
        // A new version: its study's partition alone, with the previous version and its event.
        const newer = await receipts.insertUnconfirmed(recorder.pool, newReceipt('2.25.90.1.1', '2.25.90', '2.25.90.1', 'b'), writable, []);
        assert.equal(newer.previousReceiptId, first.receiptId);
        assert.deepEqual(await partitionsExecuted(pool, recorder.statements.at(-1)!), [partition]);
        assert.deepEqual(await receipts.eventsFor('2.25.90.1.1'), [{ kind: 'new-version', receiptId: newer.receiptId, previousReceiptId: first.receiptId }]);
      });

      it('refuses a receipt naming its series under another study; the indexer leaves one that came in first unindexed', async () => {
        const filed = await receipt('2.25.91.1.1', '2.25.91', '2.25.91.1');
        await index.indexReceipt(filed, sourceId, record('2.25.91.1.1', '2.25.91', '2.25.91.1', 1));
        const refused = await receipts.insertUnconfirmed(pool, newReceipt('2.25.92.1.1', '2.25.92', '2.25.91.1', 'a'), writable, []);
        assert.deepEqual(refused, { refused: false, seriesStudyInstanceUid: '2.25.91', receiptId: null, previousReceiptId: null });
        assert.equal((await pool.query(`SELECT 1 FROM receipts WHERE sop_instance_uid = '2.25.92.1.1'`)).rowCount, 0);
        // Received before the series was indexed (a race of two studies naming one new series).
        const early = await receipt('2.25.92.1.2', '2.25.92', '2.25.91.1');
        const indexed = await index.indexReceipt(early, sourceId, record('2.25.92.1.2', '2.25.92', '2.25.91.1', 2));
        assert.equal(indexed.becameCurrent, false);
        assert.equal(indexed.seriesInAnotherStudy, '2.25.91');
        assert.deepEqual(await rowsOf('2.25.92.1.2'), []);
        assert.deepEqual(await counts('2.25.91'), { instances: 1, series: [1] });
        // Its job run again records nothing more.
        assert.equal((await index.indexReceipt(early, sourceId, record('2.25.92.1.2', '2.25.92', '2.25.91.1', 2))).seriesInAnotherStudy, '2.25.91');
        const { rows: states } = await pool.query(
          `SELECT r.indexed_at IS NOT NULL AS indexed, e.kind, e.detail FROM receipts r JOIN instance_events e ON e.study_instance_uid = r.study_instance_uid AND e.receipt_id = r.id
           WHERE r.study_instance_uid = '2.25.92' AND r.id = $1`,
          [early],
        );
        assert.deepEqual(states, [{ indexed: true, kind: 'series-in-another-study', detail: { seriesInstanceUid: '2.25.91.1', seriesStudyInstanceUid: '2.25.91' } }]);
        const { rows: series } = await pool.query(`SELECT study_instance_uid FROM series WHERE series_instance_uid = '2.25.91.1'`);
        assert.deepEqual(series, [{ study_instance_uid: '2.25.91' }]);
      });

      it('refuses a row naming a receipt of another study (composite foreign keys)', async () => {
        const other = await receipt('2.25.94.1.1', '2.25.94', '2.25.94.1');
        const mine = await receipt('2.25.95.1.1', '2.25.95', '2.25.95.1');
        await index.indexReceipt(mine, sourceId, record('2.25.95.1.1', '2.25.95', '2.25.95.1', 1));
        const violations = {
          'instances (receipt)': `UPDATE instances SET receipt_id = ${other} WHERE study_instance_uid = '2.25.95'`,
          'instances (thumbnail)': `UPDATE instances SET thumbnail_receipt_id = ${other} WHERE study_instance_uid = '2.25.95'`,
          'instance_events': `INSERT INTO instance_events (sop_instance_uid, study_instance_uid, kind, receipt_id) VALUES ('2.25.95.1.1', '2.25.95', 'test', ${other})`,
          'instance_events (previous)': `INSERT INTO instance_events (sop_instance_uid, study_instance_uid, kind, receipt_id, previous_receipt_id) VALUES ('2.25.95.1.1', '2.25.95', 'test', ${mine}, ${other})`,
          'series (thumbnail)': `UPDATE series SET thumbnail_receipt_id = ${other} WHERE series_instance_uid = '2.25.95.1'`,
          'series (study)': `UPDATE series SET study_instance_uid = '2.25.94' WHERE series_instance_uid = '2.25.95.1'`,
          'forward_items': `INSERT INTO forward_items (receipt_id, study_instance_uid, peer_id) SELECT ${other}, '2.25.95', id FROM dicom_peers WHERE ae_title = 'PART_PEER'`,
          'edge_forwards': `INSERT INTO edge_forwards (receipt_id, study_instance_uid, sop_instance_uid, object_key, object_sha256, size_bytes, received_at)
                            VALUES (${other}, '2.25.95', '2.25.94.1.1', 'k', 'sha', 1, now())`,
        };
        for (const [what, statement] of Object.entries(violations)) {
          await assert.rejects(pool.query(statement), /violates foreign key constraint/, what);
        }
        // The same rows naming their own study's receipt are accepted.
        await pool.query(`UPDATE instances SET thumbnail_receipt_id = ${mine} WHERE study_instance_uid = '2.25.95'`);
        await pool.query(`UPDATE series SET thumbnail_receipt_id = ${mine} WHERE series_instance_uid = '2.25.95.1'`);
      });

      it('reads one partition of instances and of receipts for the index and thumbnail jobs\' look-ups', async () => {
        const id = await receipt('2.25.96.1.1', '2.25.96', '2.25.96.1');
        await index.indexReceipt(id, sourceId, record('2.25.96.1.1', '2.25.96', '2.25.96.1', 1));
        const remainder = (await partitionOf(id)).slice(-2);
        const recorder = recording(pool);
        const repository = new ThumbnailsRepository(recorder.pool);
        const target = await repository.currentInstanceForReceipt(id, '2.25.96');
        assert.equal(target?.receiptId, id);
        assert.equal(target?.studyInstanceUid, '2.25.96');
        assert.deepEqual(await partitionsExecuted(pool, recorder.statements.at(-1)!), [`instances_p${remainder}`, `receipts_p${remainder}`]);
        assert.deepEqual(await repository.middleInstanceOfSeries('2.25.96.1'), target);
        assert.deepEqual(await partitionsExecuted(pool, recorder.statements.at(-1)!), [`instances_p${remainder}`, `receipts_p${remainder}`]);
        // A job queued before 035 names no study: found all the same.
        assert.deepEqual(await thumbnails.currentInstanceForReceipt(id), target);
        // The index job's receipt, by id with its study.
        const receiptsRecorder = recording(pool);
        const stored = await new ReceiptsRepository(receiptsRecorder.pool).get(id, '2.25.96');
        assert.equal(stored?.id, id);
        assert.deepEqual(await partitionsExecuted(pool, receiptsRecorder.statements.at(-1)!), [`receipts_p${remainder}`]);
        assert.deepEqual(await receipts.get(id), stored);
      });
    });
  });

  describe('over a synthetic region', () => {
    before(async () => {
      await addSyntheticIndex(pool, { patients: 100, studies: 200, instances: true });
      await pool.query('ANALYZE');
    });

  it('searches studies, series and instances without reading patient records, unless a stated purpose needs them (migration 036)', async () => {
    const patientKeys = { PatientID: 'P0*', PatientName: 'W*', PatientBirthDate: '19400101-20000101', PatientSex: 'F', IssuerOfPatientID: 'SYN2' };
    const { rows: synthetic } = await pool.query<{ id: string }>(`SELECT id::text FROM institutions WHERE code = 'SYNH1'`);
    const hospital: Visibility = { institutionIds: [synthetic[0]!.id], linkedPatientsPurpose: null, maskIdentity: false };
    const withPurpose: Visibility = { ...hospital, linkedPatientsPurpose: 'continuing care' };
    const planOf = async (sql: { text: string; values: unknown[] }) =>
      (await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.text}`, sql.values)).rows.map((row) => row['QUERY PLAN']).join('\n');
    const planned = [
      studySearchSql(parseQidoQuery('study', patientKeys), hospital),
      seriesSearchSql(parseQidoQuery('series', patientKeys), hospital),
      instanceSearchSql(parseQidoQuery('instance', patientKeys), hospital),
      matchCountSql(parseQidoQuery('study', patientKeys), hospital),
      matchCountSql(parseQidoQuery('instance', patientKeys), hospital),
    ];
    for (const sql of planned) assert.doesNotMatch(await planOf(sql), /\bon patients\b/, sql.text);
    // With a stated purpose the visibility condition reads the records' identifiers: the join is there.
    assert.match(await planOf(studySearchSql(parseQidoQuery('study', patientKeys), withPurpose)), /\bon patients\b/);
    // The copies answer as the records did: every study of a patient whose record matches.
    const byRecord = await pool.query<{ uid: string }>(
      `SELECT st.study_instance_uid AS uid FROM studies st JOIN patients p ON p.id = st.patient_pk
       WHERE p.patient_id LIKE 'P0%' AND p.sex = 'F' AND p.issuer = 'SYN2' AND st.number_of_instances > 0 ORDER BY 1`,
    );
    const bySearch = studySearchSql(parseQidoQuery('study', { PatientID: 'P0*', PatientSex: 'F', IssuerOfPatientID: 'SYN2', limit: '1000' }), everyone);
    const found = (await pool.query<StudyRow>(bySearch.text, bySearch.values)).rows.map((row) => row.studyInstanceUid).sort();
    assert.ok(found.length > 0);
    assert.deepEqual(found, byRecord.rows.map((row) => row.uid));
  });

  it('reads one partition for an instance search and WADO-RS metadata in one study', async () => {
    const study = syntheticStudyUid(7);
    const search = instanceSearchSql(parseQidoQuery('instance', {}, { studyInstanceUid: study }), everyone);
    assert.equal((await partitionsRead(pool, search)).length, 1, search.text);
    const found = await pool.query(search.text, search.values);
    assert.ok(found.rows.length >= 15, `${found.rows.length} instances of ${study}`);
    // Metadata reads the receipts too: of the partition with the same number (migration 035).
    for (const scope of [{ studyInstanceUid: study }, { studyInstanceUid: study, seriesInstanceUid: `${study}.1` }]) {
      const metadata = metadataSql(scope, 'https://archive/dicomweb');
      const read = await partitionsRead(pool, metadata);
      assert.match(read[0] ?? '', /^instances_p\d\d$/, metadata.text);
      assert.deepEqual(read, [read[0], `receipts_p${read[0]!.slice(-2)}`], metadata.text);
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
});

describe('upgrading to migration 035 with an instance filed under another study than its receipt names', () => {
  it('stops without changing anything, and goes through once that instance is settled', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url });
    try {
      await migrateBefore(pool, RECEIPTS_PARTITIONING);
      await pool.query(`
        WITH institution AS (INSERT INTO institutions (code, name, kind) VALUES ('MISF', 'misfiled', 'hospital') RETURNING id),
        source AS (INSERT INTO sources (via, name, institution_id) SELECT 'import', 'misfiled', id FROM institution RETURNING id, institution_id),
        patient AS (INSERT INTO patients (issuer, patient_id, source_id, institution_id, attributes) SELECT 'MISF', 'P1', id, institution_id, '{}' FROM source RETURNING id, source_id, institution_id)
        INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, attributes)
        SELECT uid, id, source_id, institution_id, '{}' FROM patient, (VALUES ('2.25.1'), ('2.25.2')) AS v (uid)`);
      // Before 035 an instance went to its series' study even when its receipt named another.
      await pool.query(`
        WITH series AS (
          INSERT INTO series (series_instance_uid, study_pk, institution_id, attributes)
          SELECT '2.25.1.1', id, institution_id, '{}' FROM studies WHERE study_instance_uid = '2.25.1' RETURNING id, study_pk, institution_id
        ), receipt AS (
          INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key,
            object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set)
          SELECT '2.25.1.1.1', '1.2.840.10008.5.1.4.1.1.2', '2.25.2', '2.25.1.1', '1.2.840.10008.1.2.1', 'k', 'sha', 'sha', 1, id, '{}', '{}', 132, false, '{}'
          FROM sources WHERE name = 'misfiled' RETURNING id
        )
        INSERT INTO instances (sop_instance_uid, series_pk, study_pk, study_instance_uid, institution_id, receipt_id, sop_class_uid, attributes)
        SELECT '2.25.1.1.1', series.id, series.study_pk, '2.25.1', series.institution_id, receipt.id, '1.2.840.10008.5.1.4.1.1.2', '{}' FROM series, receipt`);
      await assert.rejects(migrate(pool, createLogger('silent')), /035: 1 instances are filed under another study than their current receipt names/);
      const kind = async () => (await pool.query<{ kind: string }>(`SELECT relkind::text AS kind FROM pg_class WHERE oid = 'receipts'::regclass`)).rows[0]!.kind;
      assert.equal(await kind(), 'r');
      assert.deepEqual((await pool.query(`SELECT name FROM schema_migrations WHERE name >= $1`, [RECEIPTS_PARTITIONING])).rows, []);
      // Settled (here: taken out of the index; docs/operations.md gives the choices), the upgrade goes through.
      await pool.query('DELETE FROM instances');
      await migrate(pool, createLogger('silent'));
      assert.equal(await kind(), 'p');
      assert.equal((await pool.query(`SELECT count(*)::int AS n FROM receipts`)).rows[0]!.n, 1);
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});

describe('upgrading to migration 036', () => {
  it("copies every study's patient columns from its record", async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url });
    try {
      await migrateBefore(pool, '036_study_patient_columns.sql');
      await pool.query(`
        WITH institution AS (INSERT INTO institutions (code, name, kind) VALUES ('UP36', 'upgraded', 'hospital') RETURNING id),
        source AS (INSERT INTO sources (via, name, institution_id) SELECT 'import', 'upgraded', id FROM institution RETURNING id, institution_id),
        patient AS (
          INSERT INTO patients (issuer, patient_id, source_id, institution_id, patient_name, name_search, birth_date, sex, attributes)
          SELECT 'UP36', 'P' || n, id, institution_id, jsonb_build_object('Alphabetic', 'LI^' || n), '|li|' || n, date '1950-01-01' + n, 'M',
                 jsonb_build_object('00100020', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array('P' || n)))
          FROM source, generate_series(1, 3) AS n RETURNING id, source_id, institution_id, patient_id
        )
        INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, attributes)
        SELECT '2.25.36.' || patient_id || '.' || k, id, source_id, institution_id, '{}' FROM patient, generate_series(1, 2) AS k`);
      await migrate(pool, createLogger('silent'));
      const { rows } = await pool.query<{ differing: number; copied: number }>(
        `SELECT count(*) FILTER (WHERE (st.patient_issuer, st.patient_id, st.patient_name, st.patient_name_search, st.patient_birth_date, st.patient_sex, st.patient_attributes)
                                       IS DISTINCT FROM (p.issuer, p.patient_id, p.patient_name, p.name_search, p.birth_date, p.sex, p.attributes))::int AS differing,
                count(st.patient_id)::int AS copied
         FROM studies st JOIN patients p ON p.id = st.patient_pk`,
      );
      assert.deepEqual(rows[0], { differing: 0, copied: 6 });
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});

/**
 * The Citus plan (docs/architecture.md, "Region scale: partitioning and Citus"): every primary and unique
 * key of a table to be distributed by study includes `study_instance_uid`, as Citus requires of a
 * distributed table. The lists of what was missing are empty since migration 043: a new key without the
 * column, or a new per-study table without it, fails here.
 */
describe('keys of the tables distributed by study (the Citus plan)', () => {
  const DISTRIBUTED_BY_STUDY = [
    'studies', 'series', 'instances', 'receipts', 'receipt_object_pending', 'instance_events', 'study_name_keys', 'qc_grades',
    'study_quality_checks', 'qc_flags', 'recognition_decisions', 'prior_views', 'statistics_studies', 'forward_items', 'edge_forwards',
  ];
  /** Tables keyed by `study_pk` that do not carry the Study Instance UID yet: every key of theirs lacks it. */
  const WITHOUT_THE_COLUMN: string[] = [];
  /** Keys of tables that carry the column, still without it. */
  const KEYS_LEFT: string[] = [];

  it('include study_instance_uid, except those the document lists as left', async () => {
    const database = await createTestDatabase();
    const pool = new pg.Pool({ connectionString: database.url });
    try {
      await migrate(pool, createLogger('silent'));
      const { rows } = await pool.query<{ tableName: string; indexName: string; hasColumn: boolean }>(
        `SELECT c.relname AS "tableName", i.relname AS "indexName",
                EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'study_instance_uid' AND NOT a.attisdropped) AS "hasColumn"
         FROM pg_index x JOIN pg_class c ON c.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid
         WHERE x.indisunique AND c.relname = ANY ($1)
           -- the project's tables (the names are those of parents: a partition's keys are its parent's)
           AND c.relnamespace = 'public'::regnamespace
           AND NOT EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'study_instance_uid' AND a.attnum = ANY (x.indkey))
         ORDER BY 1, 2`,
        [DISTRIBUTED_BY_STUDY],
      );
      assert.deepEqual(rows.filter((row) => !row.hasColumn).map((row) => row.tableName).filter((name, index, all) => all.indexOf(name) === index), WITHOUT_THE_COLUMN);
      assert.deepEqual(rows.filter((row) => row.hasColumn).map((row) => `${row.tableName}.${row.indexName}`), KEYS_LEFT);
    } finally {
      await pool.end();
      await database.drop();
    }
  });
});
