import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Visibility } from '../archive/access/policy.ts';
import { migrate } from '../archive/db/migrate.ts';
import { QueryRepository, studySearchSql } from '../archive/db/query-repository.ts';
import { personNameSearchKeys } from '../archive/dicom/normalize.ts';
import type { DicomJsonPersonName } from '../archive/dicom/types.ts';
import { createLogger } from '../archive/log.ts';
import { personNameKeyPrefixes, personNamePatterns } from '../archive/query/person-name.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { addSyntheticIndex, syntheticPatientName } from '../bench/synthetic-index.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';

/**
 * patient_name_keys (migration 027): the b-tree that finds the patients a PatientName query can
 * match. The regular expressions of archive/query/person-name.ts decide; the keys must never lose a
 * patient they would match, whatever the name and the query, and must make the hot name queries
 * index scans.
 */
const everyone: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

const NAMES: DicomJsonPersonName[] = [
  { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' },
  { Alphabetic: 'WANG^XIAODONG', Ideographic: '王小东' },
  { Alphabetic: 'Wang^Wei', Ideographic: '王^伟' },
  { Alphabetic: 'Li^Ji', Ideographic: '李^𠮷' },
  { Alphabetic: 'OuYang^Na', Ideographic: '欧阳^娜' },
  { Alphabetic: 'Zhang^Xiao Ming', Ideographic: '张^晓明', Phonetic: 'ジャン^シャオミン' },
  { Alphabetic: 'Smith^John^Q^Dr.^Jr.' },
  { Alphabetic: 'O.Brien^J+(x)' },
  { Alphabetic: 'Ｗａｎｇ^Ｆａｎｇ' },
  { Ideographic: '诸葛^亮' },
  { Alphabetic: 'Nguyen^Van An' },
];

const VALUES = [
  'WANG^XIAODONG', 'wang^xiaodong', '王^小东', '王小东', 'Wang^XiaoDong=王^小东', '=王^小东', '王*', '王 *', 'wang*', 'WANG^*', 'w?ng^*',
  '*小东', '*dong', '王^小?', '李*', '李𠮷', '欧阳*', '欧*', '诸葛^亮', '诸葛亮', 'zhang^xiao ming', 'zhang^xiao*', 'ジャン*', 'smith^john^q^dr.^jr.',
  'smith*', 'o.brien^j+(x)', 'oxbrien*', 'wang^fang', 'ＷＡＮＧ*', 'nguyen^van*', 'xiao', 'XIAOD', '小', '小东', '东', '亮', 'an', 'iao', 'dong',
  'wang^xiao', 'van an', '张*', '*', 'Z*', '?ang*', 'zhang^xiao ming=张^晓明',
];

describe('patient name keys (migration 027)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let sourceId: string;
  let institutionId: string;
  const insertPatient = async (patientId: string, name: DicomJsonPersonName) => {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO patients (issuer, patient_id, source_id, institution_id, patient_name, name_search, attributes)
       VALUES ('TEST', $1, $2, $3, $4, $5, '{}') RETURNING id::text`,
      [patientId, sourceId, institutionId, JSON.stringify(name), personNameSearchKeys([name])],
    );
    await pool.query(
      `INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, number_of_instances, attributes)
       VALUES ($1, $2, $3, $4, 1, '{}')`,
      [`2.25.${rows[0]!.id}${Date.now()}`, rows[0]!.id, sourceId, institutionId],
    );
    return rows[0]!.id;
  };

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool, createLogger('silent'));
    const { rows } = await pool.query<{ institution: string; source: string }>(
      `WITH i AS (INSERT INTO institutions (code, name, kind) VALUES ('NAMES', 'names', 'hospital') RETURNING id)
       INSERT INTO sources (via, name, institution_id) SELECT 'import', 'names', id FROM i RETURNING institution_id::text AS institution, id::text AS source`,
    );
    institutionId = rows[0]!.institution;
    sourceId = rows[0]!.source;
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('gives the names already in the index their keys when it is applied', async () => {
    // The database as it was before 027, with a patient in it.
    await pool.query(`DROP TABLE patient_name_keys; DROP FUNCTION patient_name_keys_refresh() CASCADE; DROP FUNCTION person_name_keys(text); DROP FUNCTION person_name_matches(text, text);
                      DELETE FROM schema_migrations WHERE name = '027_patient_name_keys.sql'`);
    const existing = await insertPatient('BEFORE', { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' });
    await migrate(pool, createLogger('silent'));
    const { rows } = await pool.query<{ key: string }>('SELECT key FROM patient_name_keys WHERE patient_pk = $1 ORDER BY key', [existing]);
    assert.deepEqual(rows.map((row) => row.key), ['wangxiaodong', 'xiaodong', '|wangxiaodong', '|王小东', '东', '小东', '王小东'].sort(byCodePoint));
  });

  it('finds by index exactly the patients the patterns match, for literal and fuzzy queries alike', async () => {
    await pool.query('DELETE FROM studies; DELETE FROM patients');
    const stored = new Map<string, string>();
    for (const [index, name] of NAMES.entries()) stored.set(await insertPatient(`N${index}`, name), personNameSearchKeys([name]));
    const repository = new QueryRepository(pool);
    let indexed = 0;
    for (const fuzzy of [false, true]) {
      for (const value of VALUES) {
        const expected = [...stored].filter(([, keys]) => personNamePatterns(value, fuzzy).every((pattern) => new RegExp(pattern, 'u').test(keys))).map(([id]) => id);
        const query = parseQidoQuery('study', { PatientName: value, fuzzymatching: String(fuzzy), includefield: '00100020' });
        const { rows } = await repository.searchStudies(query, everyone);
        const { rows: found } = await pool.query<{ id: string }>(
          'SELECT p.id::text FROM patients p JOIN studies st ON st.patient_pk = p.id WHERE st.study_instance_uid = ANY ($1::text[])',
          [rows.map((row) => row.studyInstanceUid)],
        );
        assert.deepEqual(found.map((row) => row.id).sort(), expected.sort(), `${value} (fuzzy ${fuzzy})`);
        // The other way to the same patients, which a common name takes: walking the studies and probing each one's keys.
        const probing = {
          ...query,
          conditions: query.conditions.map((condition) => (condition.match.kind === 'person-name' ? { ...condition, match: { ...condition.match, keyLookup: 'probe' as const } } : condition)),
        };
        const sql = studySearchSql(probing, everyone);
        const { rows: probed } = await pool.query<{ studyInstanceUid: string }>(sql.text, sql.values);
        assert.deepEqual(probed.map((row) => row.studyInstanceUid).sort(), rows.map((row) => row.studyInstanceUid).sort(), `${value} (fuzzy ${fuzzy}), probing`);
        if (personNameKeyPrefixes(value, fuzzy).length) indexed++;
      }
    }
    assert.ok(indexed > VALUES.length, 'most values are looked up by their keys');
    // The queries the keys are for find what a person would expect.
    const expectFound = async (value: string, fuzzy: boolean, count: number) => {
      const { rows } = await repository.searchStudies(parseQidoQuery('study', { PatientName: value, fuzzymatching: String(fuzzy) }), everyone);
      assert.equal(rows.length, count, `${value} (fuzzy ${fuzzy})`);
    };
    await expectFound('王*', false, 3);
    await expectFound('WANG^*', false, 4);
    await expectFound('小东', true, 2);
    await expectFound('诸葛*', false, 1);
    await expectFound('司马*', false, 0);
  });

  it('follows a patient renamed by a later instance', async () => {
    const renamed = await insertPatient('RENAMED', { Alphabetic: 'Chen^Jing', Ideographic: '陈^静' });
    await pool.query('UPDATE patients SET name_search = $2 WHERE id = $1', [renamed, personNameSearchKeys([{ Alphabetic: 'Lin^Jing', Ideographic: '林^静' }])]);
    const { rows } = await pool.query<{ key: string }>(`SELECT key FROM patient_name_keys WHERE patient_pk = $1 AND key LIKE '|%' ORDER BY key`, [renamed]);
    assert.deepEqual(rows.map((row) => row.key), ['|linjing', '|林静']);
    await pool.query('UPDATE patients SET name_search = NULL WHERE id = $1', [renamed]);
    const { rows: none } = await pool.query('SELECT 1 FROM patient_name_keys WHERE patient_pk = $1', [renamed]);
    assert.equal(none.length, 0);
  });

  it('answers the hot study-level queries from indexes, reading neither series nor instances', async () => {
    await addSyntheticIndex(pool, { patients: 10_000, studies: 20_000 });
    await pool.query('VACUUM ANALYZE');
    const { rows: [hospital] } = await pool.query<{ id: string }>(`SELECT id::text FROM institutions WHERE code = 'SYNH8'`);
    const radiologist: Visibility = { institutionIds: [hospital!.id], linkedPatientsPurpose: null, maskIdentity: false };
    const family = syntheticPatientName(1008).Ideographic!.split('^')[0]!;
    const queries: [name: string, parameters: Record<string, string>, index: RegExp][] = [
      ['Patient ID', { PatientID: 'P00001008' }, /patients_by_patient_id/],
      ['Han surname prefix', { PatientName: `${family}*`, limit: '25' }, /patient_name_keys_pkey|studies_by_institution/],
      ['Latin surname prefix', { PatientName: 'ZHANG^*', limit: '25' }, /patient_name_keys_pkey|studies_by_institution/],
      ['absent surname', { PatientName: '司马*', limit: '25' }, /patient_name_keys_pkey/],
      ['full name', { PatientName: syntheticPatientName(1008).Ideographic!, limit: '25' }, /patient_name_keys_pkey/],
      ['date range and modality', { StudyDate: '20200101-20200131', ModalitiesInStudy: 'CT', limit: '25' }, /studies_by_institution|studies_by_date_recent/],
      ['accession', { AccessionNumber: 'SYN000001008' }, /studies_by_accession/],
    ];
    for (const [name, parameters, index] of queries) {
      const sql = studySearchSql(await new QueryRepository(pool).lookUpNames(parseQidoQuery('study', parameters)), radiologist);
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN ${sql.text}`, sql.values);
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      assert.match(plan, index, `${name}:\n${plan}`);
      assert.doesNotMatch(plan, /Seq Scan/, `${name}:\n${plan}`);
      assert.doesNotMatch(plan, /\b(instances|series|receipts)\b/, `${name}:\n${plan}`);
    }
  });
});

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
