import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Visibility } from '../archive/access/policy.ts';
import { migrate } from '../archive/db/migrate.ts';
import { QueryRepository, REMAINING_COUNT_CAP, studySearchSql } from '../archive/db/query-repository.ts';
import { personNameSearchKeys } from '../archive/dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../archive/dicom/types.ts';
import { createLogger } from '../archive/log.ts';
import { personNameKeyPrefixes, personNamePatterns } from '../archive/query/person-name.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { addSyntheticIndex, syntheticPatientName } from '../bench/synthetic-index.ts';
import { createTestDatabase, migrateBefore, type TestDatabase } from './support/database.ts';

/**
 * patient_name_keys (migration 027) and study_name_keys (031): the b-trees that find the patients
 * and studies a PatientName query can match. The regular expressions of archive/query/person-name.ts
 * decide; the keys must never lose a study they would match, whatever the name and the query, must
 * follow every change of a study or its patient, and must make the hot name queries index scans.
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

describe('patient and study name keys (migrations 027, 031)', () => {
  let database: TestDatabase;
  let pool: pg.Pool;
  let sourceId: string;
  let institutionId: string;
  const insertPatient = async (patientId: string, name: DicomJsonPersonName, institution = institutionId) => {
    const { rows } = await pool.query<{ id: string }>(
      `INSERT INTO patients (issuer, patient_id, source_id, institution_id, patient_name, name_search, attributes)
       VALUES ('TEST', $1, $2, $3, $4, $5, $6) RETURNING id::text`,
      [patientId, sourceId, institution, JSON.stringify(name), personNameSearchKeys([name]), JSON.stringify({ '00100020': { vr: 'LO', Value: [patientId] } })],
    );
    await insertStudy(rows[0]!.id, institution);
    return rows[0]!.id;
  };
  let studies = 0;
  const insertStudy = async (patientPk: string, institution = institutionId, studyDate: string | null = null) => {
    const uid = `2.25.${patientPk}${Date.now()}${++studies}`;
    await pool.query(
      `INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, study_date, number_of_instances, attributes)
       VALUES ($1, $2, $3, $4, $5, 1, '{}')`,
      [uid, patientPk, sourceId, institution, studyDate],
    );
    return uid;
  };
  /** Every study's keys as the triggers keep them, against what they should be from the rows as they are. */
  const assertStudyKeysCurrent = async (message: string) => {
    const { rows } = await pool.query<{ kept: string[]; due: string[] }>(
      `SELECT ARRAY(SELECT concat_ws(' ', k.key, k.study_pk, k.study_instance_uid, k.institution_id, k.study_date) FROM study_name_keys k ORDER BY 1) AS kept,
              ARRAY(SELECT concat_ws(' ', key, st.id, st.study_instance_uid, st.institution_id, st.study_date)
                    FROM studies st JOIN patients p ON p.id = st.patient_pk, unnest(person_name_keys(p.name_search)) AS key ORDER BY 1) AS due`,
    );
    assert.deepEqual(rows[0]!.kept, rows[0]!.due, message);
  };

  const addHospital = async () => {
    const { rows } = await pool.query<{ institution: string; source: string }>(
      `WITH i AS (INSERT INTO institutions (code, name, kind) VALUES ('NAMES', 'names', 'hospital') RETURNING id)
       INSERT INTO sources (via, name, institution_id) SELECT 'import', 'names', id FROM i RETURNING institution_id::text AS institution, id::text AS source`,
    );
    institutionId = rows[0]!.institution;
    sourceId = rows[0]!.source;
  };
  /**
   * Runs `use` on a database of its own that has the migrations before `migration`, as one upgraded
   * from an earlier release has them: the helpers above work on it meanwhile, then on this file's again.
   */
  const inDatabaseBefore = async (migration: string, use: () => Promise<void>) => {
    const older = await createTestDatabase();
    const own = { pool, sourceId, institutionId };
    pool = new pg.Pool({ connectionString: older.url });
    try {
      await migrateBefore(pool, migration);
      await addHospital();
      await use();
    } finally {
      await pool.end();
      ({ pool, sourceId, institutionId } = own);
      await older.drop();
    }
  };

  before(async () => {
    database = await createTestDatabase();
    pool = new pg.Pool({ connectionString: database.url });
    await migrate(pool, createLogger('silent'));
    await addHospital();
  });
  after(async () => {
    await pool?.end();
    await database?.drop();
  });

  it('gives the names already in the index their keys when it is applied', async () => {
    await inDatabaseBefore('027_patient_name_keys.sql', async () => {
      const existing = await insertPatient('BEFORE', { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' });
      await migrate(pool, createLogger('silent'));
      const { rows } = await pool.query<{ key: string }>('SELECT key FROM patient_name_keys WHERE patient_pk = $1 ORDER BY key', [existing]);
      assert.deepEqual(rows.map((row) => row.key), ['wangxiaodong', 'xiaodong', '|wangxiaodong', '|王小东', '东', '小东', '王小东'].sort(byCodePoint));
      const { rows: studyKeys } = await pool.query<{ key: string }>('SELECT k.key FROM study_name_keys k JOIN studies st ON st.id = k.study_pk WHERE st.patient_pk = $1 ORDER BY key', [existing]);
      assert.deepEqual(studyKeys.map((row) => row.key), rows.map((row) => row.key), 'the study has its patient\'s keys');
    });
  });

  it('gives the studies already in the index their keys when 031 is applied', async () => {
    await inDatabaseBefore('031_study_name_keys.sql', async () => {
      const existing = await insertPatient('BEFORE-031', { Alphabetic: 'Li^Na', Ideographic: '李^娜' });
      await insertStudy(existing, institutionId, '2024-03-01');
      await migrate(pool, createLogger('silent'));
      await assertStudyKeysCurrent('every study has its keys after the backfill');
      const { rows } = await pool.query<{ key: string }>('SELECT k.key FROM study_name_keys k JOIN studies st ON st.id = k.study_pk WHERE st.patient_pk = $1 ORDER BY key', [existing]);
      assert.deepEqual(rows.map((row) => row.key), ['lina', 'lina', 'na', 'na', '|lina', '|lina', '|李娜', '|李娜', '娜', '娜', '李娜', '李娜'].sort(byCodePoint), 'both studies of the patient');
    });
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
        // The other way a common name takes: walking the studies newest first and probing each one's keys.
        const walking = { ...query, conditions: query.conditions.map((condition) => (condition.match.kind === 'person-name' ? { ...condition, match: { ...condition.match, keyLookup: 'walk' as const } } : condition)) };
        const sql = studySearchSql(walking, everyone);
        const { rows: walked } = await pool.query<{ studyInstanceUid: string }>(sql.text, sql.values);
        assert.deepEqual(walked.map((row) => row.studyInstanceUid), rows.map((row) => row.studyInstanceUid), `${value} (fuzzy ${fuzzy}), walking: the same studies in the same order`);
        // And the series, instance and patient levels: a key condition on each study.
        const { rows: patients } = await repository.patientPage({ conditions: query.conditions, limit: 100, offset: 0 }, everyone);
        const { rows: expectedIds } = await pool.query<{ id: string }>('SELECT patient_id AS id FROM patients WHERE id = ANY ($1::bigint[])', [expected]);
        assert.deepEqual(patients.map(patientIdOf).sort(), expectedIds.map((row) => row.id).sort(), `${value} (fuzzy ${fuzzy}), patient level`);
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
    await assertStudyKeysCurrent('a renamed patient\'s studies');
  });

  it('keeps every study\'s keys current as studies and patients change, and finds them newest first', async () => {
    const repository = new QueryRepository(pool);
    const found = async (value: string, visibility: Visibility = everyone) =>
      (await repository.searchStudies(parseQidoQuery('study', { PatientName: value }), visibility)).rows.map((row) => row.studyInstanceUid);
    const zhou = await insertPatient('ZHOU', { Alphabetic: 'Zhou^Min', Ideographic: '周^敏' });
    const older = await insertStudy(zhou, institutionId, '2019-05-01');
    const newer = await insertStudy(zhou, institutionId, '2025-01-02');
    await assertStudyKeysCurrent('studies inserted');
    const [undated] = (await pool.query<{ uid: string }>('SELECT study_instance_uid AS uid FROM studies WHERE patient_pk = $1 AND study_date IS NULL', [zhou])).rows.map((row) => row.uid);
    assert.deepEqual(await found('周*'), [newer, older, undated], 'newest first, undated last (STUDY_ORDER)');
    // A later instance corrects the study date: the order follows.
    await pool.query(`UPDATE studies SET study_date = '2026-01-01' WHERE study_instance_uid = $1`, [older]);
    await assertStudyKeysCurrent('a study date corrected');
    assert.deepEqual(await found('周*'), [older, newer, undated]);
    // A study re-pointed to another patient record (the indexer's upsert when a corrected Patient ID arrives).
    const wu = await insertPatient('WU', { Alphabetic: 'Wu^Min', Ideographic: '吴^敏' });
    await pool.query('UPDATE studies SET patient_pk = $2 WHERE study_instance_uid = $1', [newer, wu]);
    await assertStudyKeysCurrent('a study moved to another patient record');
    assert.deepEqual(await found('周*'), [older, undated]);
    assert.ok((await found('吴^敏')).includes(newer));
    // The patient renamed: all of its studies follow.
    await pool.query('UPDATE patients SET name_search = $2 WHERE id = $1', [zhou, personNameSearchKeys([{ Alphabetic: 'Zheng^Min', Ideographic: '郑^敏' }])]);
    await assertStudyKeysCurrent('a patient renamed');
    assert.deepEqual(await found('周*'), []);
    assert.deepEqual(await found('郑*'), [older, undated]);
    assert.deepEqual(await found('ZHENG^*'), [older, undated]);
    // Patient and study written in one statement, as the indexer does (both triggers rewrite the same study's keys).
    await pool.query(
      `WITH renamed AS (UPDATE patients SET name_search = $2 WHERE id = $1 RETURNING id)
       INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, study_date, number_of_instances, attributes)
       SELECT '2.25.4242', id, $3, $4, '2026-02-02', 1, '{}' FROM renamed`,
      [zhou, personNameSearchKeys([{ Alphabetic: 'Qian^Min', Ideographic: '钱^敏' }]), sourceId, institutionId],
    );
    await assertStudyKeysCurrent('a patient renamed by the statement that inserts its study');
    assert.deepEqual(await found('钱*'), ['2.25.4242', older, undated]);
    // A study deleted takes its keys with it.
    await pool.query('DELETE FROM studies WHERE study_instance_uid = $1', ['2.25.4242']);
    await assertStudyKeysCurrent('a study deleted');
  });

  it('never shows another hospital\'s study through a key', async () => {
    const { rows } = await pool.query<{ id: string }>(`INSERT INTO institutions (code, name, kind) VALUES ('OTHER', 'other', 'hospital') RETURNING id::text`);
    const other = rows[0]!.id;
    await insertPatient('THEIRS', { Alphabetic: 'Ximen^Xiu', Ideographic: '西门^修' }, other);
    await insertPatient('MINE', { Alphabetic: 'Ximen^Feng', Ideographic: '西门^峰' });
    const repository = new QueryRepository(pool);
    const radiologist: Visibility = { institutionIds: [institutionId], linkedPatientsPurpose: null, maskIdentity: false };
    // QIDO-RS and C-FIND at the study level (keyed studies) and C-FIND at the patient level (a key condition per study).
    const patientsFound = async (level: 'study' | 'patient', value: string, fuzzy: boolean, visibility: Visibility) => {
      const query = parseQidoQuery('study', { PatientName: value, fuzzymatching: String(fuzzy) });
      if (level === 'patient') return (await repository.patientPage(query, visibility)).rows.map(patientIdOf).sort();
      const [searched, paged] = [await repository.searchStudies(query, visibility), await repository.studyPage(query, visibility)];
      assert.deepEqual(paged.rows, searched.rows, 'C-FIND pages the same studies as QIDO-RS');
      return searched.rows.map((row) => patientIdOf(row)).sort();
    };
    const nobody: Visibility = { institutionIds: [], linkedPatientsPurpose: null, maskIdentity: false };
    for (const level of ['study', 'patient'] as const) {
      assert.deepEqual(await patientsFound(level, '西门*', false, radiologist), ['MINE'], `${level}: Han prefix`);
      assert.deepEqual(await patientsFound(level, 'XIMEN^*', false, radiologist), ['MINE'], `${level}: Latin prefix`);
      assert.deepEqual(await patientsFound(level, 'xiu', true, radiologist), [], `${level}: fuzzy`);
      assert.deepEqual(await patientsFound(level, '修', true, radiologist), [], `${level}: fuzzy Han`);
      assert.deepEqual(await patientsFound(level, '西门^修', false, radiologist), [], `${level}: full name`);
      assert.deepEqual(await patientsFound(level, '西门*', false, { ...radiologist, institutionIds: [other] }), ['THEIRS'], `${level}: the other hospital's radiologist`);
      assert.deepEqual(await patientsFound(level, '西门*', false, everyone), ['MINE', 'THEIRS'], `${level}: the administrator sees both`);
      assert.deepEqual(await patientsFound(level, '西门*', false, nobody), [], `${level}: no institution, nothing`);
    }
    // The keys follow a study moved between institutions.
    await pool.query(`UPDATE studies SET institution_id = $1 WHERE patient_pk = (SELECT id FROM patients WHERE patient_id = 'THEIRS')`, [institutionId]);
    await assertStudyKeysCurrent('a study moved to another institution');
    assert.deepEqual(await patientsFound('study', '西门*', false, radiologist), ['MINE', 'THEIRS']);
  });

  it('counts what follows a full page only a little past it', async () => {
    const { rows } = await pool.query<{ id: string }>(`INSERT INTO institutions (code, name, kind) VALUES ('COUNTED', 'counted', 'hospital') RETURNING id::text`);
    const counted = rows[0]!.id;
    const sun = await insertPatient('SUN', { Alphabetic: 'Sun^Li', Ideographic: '孙^丽' }, counted);
    for (let n = 0; n < 160; n++) await insertStudy(sun, counted, `2020-01-${String(1 + (n % 28)).padStart(2, '0')}`);
    const visibility: Visibility = { institutionIds: [counted], linkedPatientsPurpose: null, maskIdentity: false };
    const repository = new QueryRepository(pool);
    const page = (offset: number) => repository.searchStudies(parseQidoQuery('study', { PatientName: '孙*', limit: '25', offset: String(offset) }), visibility);
    const first = await page(0);
    assert.equal(first.rows.length, 25);
    assert.deepEqual(first.remaining, { count: REMAINING_COUNT_CAP, atLeast: true }, '161 studies: at least the cap follows');
    assert.deepEqual((await page(100)).remaining, { count: 36, atLeast: false }, 'within the cap: exact');
    assert.deepEqual((await page(150)).remaining, { count: 0, atLeast: false }, 'the last page');
    const all = await repository.searchStudies(parseQidoQuery('study', { limit: '25' }), visibility);
    assert.deepEqual(all.remaining, { count: REMAINING_COUNT_CAP, atLeast: true }, 'without a name, too');
  });

  it('answers the hot study-level queries from indexes, reading neither patient records, series nor instances', async () => {
    await addSyntheticIndex(pool, { patients: 10_000, studies: 20_000 });
    await pool.query('VACUUM ANALYZE');
    const { rows: [hospital] } = await pool.query<{ id: string }>(`SELECT id::text FROM institutions WHERE code = 'SYNH8'`);
    const radiologist: Visibility = { institutionIds: [hospital!.id], linkedPatientsPurpose: null, maskIdentity: false };
    const family = syntheticPatientName(1008).Ideographic!.split('^')[0]!;
    const queries: [name: string, parameters: Record<string, string>, index: RegExp][] = [
      ['Patient ID', { PatientID: 'P00001008' }, /studies_by_patient_id/],
      ['Han surname prefix', { PatientName: `${family}*`, limit: '25' }, /study_name_keys_by_name/],
      ['Latin surname prefix', { PatientName: 'ZHANG^*', limit: '25' }, /study_name_keys_by_name/],
      ['fuzzy given name', { PatientName: 'xiao', fuzzymatching: 'true', limit: '25' }, /study_name_keys_by_name/],
      ['absent surname', { PatientName: '司马*', limit: '25' }, /study_name_keys_by_name/],
      ['full name', { PatientName: syntheticPatientName(1008).Ideographic!, limit: '25' }, /study_name_keys_by_name/],
      ['date range and modality', { StudyDate: '20200101-20200131', ModalitiesInStudy: 'CT', limit: '25' }, /studies_by_institution|studies_by_date_recent/],
      ['accession', { AccessionNumber: 'SYN000001008' }, /studies_by_accession/],
    ];
    // A reading centre over all fifty hospitals: 王* is common there, so its studies are walked newest first.
    const centre: Visibility = { ...radiologist, institutionIds: (await pool.query<{ id: string }>(`SELECT id::text FROM institutions WHERE code LIKE 'SYNH%'`)).rows.map((row) => row.id) };
    const walked = await new QueryRepository(pool).lookUpNames(parseQidoQuery('study', { PatientName: '王*', limit: '25' }), centre);
    assert.equal(walked.conditions[0]!.match.kind === 'person-name' && walked.conditions[0]!.match.keyLookup, 'walk');
    const walk = studySearchSql(walked, centre);
    const { rows: walkPlan } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${walk.text}`, walk.values);
    const plan = walkPlan.map((row) => row['QUERY PLAN']).join('\n');
    assert.match(plan, /Index Scan using studies_by_(date_recent|institution)[\s\S]*study_name_keys_pkey/, `reading centre, 王*:\n${plan}`);
    assert.doesNotMatch(plan, /Seq Scan|Sort Method/, `reading centre, 王*:\n${plan}`);
    for (const [name, parameters, index] of queries) {
      const sql = studySearchSql(await new QueryRepository(pool).lookUpNames(parseQidoQuery('study', parameters), radiologist), radiologist);
      const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sql.text}`, sql.values);
      const plan = rows.map((row) => row['QUERY PLAN']).join('\n');
      assert.match(plan, index, `${name}:\n${plan}`);
      assert.doesNotMatch(plan, /Seq Scan/, `${name}:\n${plan}`);
      // The patient's columns are the study's own copy (migration 036): no join to the records.
      assert.doesNotMatch(plan, /\b(patients|instances|series|receipts)\b/, `${name}:\n${plan}`);
      if (index.source === 'study_name_keys_by_name') {
        // Only the page's studies are fetched: the keys' range is sorted from the index alone.
        assert.match(plan, /Index Only Scan using study_name_keys_by_name/, `${name}:\n${plan}`);
        // by its UID or its id (migration 043): the join names both
        const fetched = /Index Scan using (?:studies_pkey|studies_by_id) on studies st\s+\(cost[^)]*\) \((?:actual time=\S+ rows=\d+ loops=(\d+)|never executed)\)/.exec(plan);
        assert.ok(fetched && Number(fetched[1] ?? 0) <= 26, `${name}: at most one page of studies fetched:\n${plan}`);
      }
    }
  });
});

function patientIdOf(row: { patientAttributes: DicomJsonDataset }): string {
  return String(row.patientAttributes['00100020']?.Value?.[0]);
}

function byCodePoint(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
