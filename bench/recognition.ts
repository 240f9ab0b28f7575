/**
 * `npm run bench:recognition`: the region's statistics and the person index at regional scale (issue
 * 16's targets), in a database of its own that the bench creates and drops (test/support/system.ts).
 *
 * Generated straight in PostgreSQL with generate_series, with the triggers off for the load (as a
 * bulk import would run): 10,000,000 studies of 50 hospitals over 24 months, each with its statistics
 * facts (main modality, technologist, QC grade, final report and its turnaround, report QC grade) as
 * migration 022's triggers would have written them, 2,000,000 prior views and 1,200,000 recognition
 * decisions; the rollups are then built set-wise (statistics_rebuild_rollups). 2,000,000 patient
 * records are linked to persons with a resident ID's match hash each.
 *
 * Measured: the dashboard's questions through StatisticsService (the code the routes call, without
 * HTTP) p50 < 200 ms, each query's plan printed; a person lookup by ID number (the match-hash query and
 * the visible studies, as PersonService.lookup runs them) < 10 ms; keeping the rollups current, a QC
 * grade's trigger path on the 10-million-study tables; and the link-person job's rate, records/s,
 * against the ingest rate of the small corpus in docs/benchmarks.md. BENCH_STUDIES scales the load.
 */
import { createHash } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import type pg from 'pg';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Visibility } from '../archive/access/policy.ts';
import { InstitutionsRepository } from '../archive/db/institutions-repository.ts';
import { PersonRepository } from '../archive/db/person-repository.ts';
import { StatisticsRepository } from '../archive/db/statistics-repository.ts';
import { DEFAULT_STATISTICS_CONFIG } from '../archive/statistics/statistics-config.ts';
import { StatisticsService } from '../archive/statistics/statistics-service.ts';
import { residentIdNumber } from '../fixtures/generate.ts';
import { startTestSystem } from '../test/support/system.ts';

const STUDIES = Number(process.env.BENCH_STUDIES ?? 10_000_000);
const PATIENTS = Math.max(1000, Math.round(STUDIES / 5));
const VIEWS = Math.round(STUDIES / 5);
const DECISIONS = Math.round((VIEWS * 3) / 5);
const HOSPITALS = 50;
const MONTHS = 24;
const FIRST_MONTH = '2024-12-01';
const LINKED_RECORDS = 2000;
/** bench:ingest's small corpus with 4 associations (docs/benchmarks.md, 2026-12-05): the fastest ingest we measured. */
const SMALL_CORPUS_INSTANCES_PER_SECOND = 410;
const REPEATS = 15;

const seconds = (since: number) => ((performance.now() - since) / 1000).toFixed(1);

async function timed(repeats: number, run: () => Promise<unknown>): Promise<{ p50: number; max: number }> {
  for (let warm = 0; warm < 3; warm++) await run();
  const samples: number[] = [];
  for (let iteration = 0; iteration < repeats; iteration++) {
    const started = performance.now();
    await run();
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  return { p50: samples[Math.floor(samples.length / 2)]!, max: samples.at(-1)! };
}

/** A pool that remembers the statements run through it, so each question's SQL can be EXPLAINed. */
function recordingPool(pool: pg.Pool): { pool: pg.Pool; statements: { text: string; values: unknown[] }[] } {
  const statements: { text: string; values: unknown[] }[] = [];
  const recording = {
    query: (text: string, values: unknown[] = []) => {
      statements.push({ text, values });
      return pool.query(text, values);
    },
  } as unknown as pg.Pool;
  return { pool: recording, statements };
}

async function generate(pool: pg.Pool, regionId: string): Promise<void> {
  const step = async (label: string, sql: string) => {
    const started = performance.now();
    await pool.query(sql);
    console.log(`  ${label}: ${seconds(started)} s`);
  };
  console.log(`generating ${STUDIES.toLocaleString('en')} studies of ${HOSPITALS} hospitals over ${MONTHS} months …`);
  const generation = performance.now();
  await pool.query(`INSERT INTO institutions (code, name, kind, region_id) SELECT 'BH' || g, '第' || g || '人民医院', 'hospital', ${regionId} FROM generate_series(1, ${HOSPITALS}) g`);
  await pool.query(`INSERT INTO sources (via, name, institution_id) SELECT 'import', code, id FROM institutions WHERE code LIKE 'BH%'`);
  await pool.query(`CREATE UNLOGGED TABLE bench_hospitals AS SELECT row_number() OVER (ORDER BY i.id) - 1 AS n, i.id, s.id AS source_id FROM institutions i JOIN sources s ON s.institution_id = i.id WHERE i.code LIKE 'BH%'`);
  // The load runs as a replica would apply it: no triggers, no foreign-key checks. Indexes the
  // measured queries do not use are dropped in this throwaway database so the load stays short.
  await pool.query(`DO $$ DECLARE dropped record; BEGIN
    FOR dropped IN SELECT i.indexrelid::regclass AS name FROM pg_index i LEFT JOIN pg_constraint c ON c.conindid = i.indexrelid
      WHERE i.indrelid IN ('studies'::regclass, 'patients'::regclass) AND c.oid IS NULL
        AND i.indexrelid::regclass::text NOT IN ('studies_by_patient', 'patients_by_birth_date_sex')
    LOOP EXECUTE 'DROP INDEX ' || dropped.name; END LOOP; END $$`);
  const replica = `SET session_replication_role = replica;`;
  await step(
    'patients',
    `${replica} INSERT INTO patients (issuer, patient_id, source_id, attributes, institution_id)
     SELECT 'BENCH', g::text, h.source_id, '{}', h.id FROM generate_series(1, ${PATIENTS}) g JOIN bench_hospitals h ON h.n = g % ${HOSPITALS}`,
  );
  await step(
    'studies',
    `${replica} INSERT INTO studies (study_instance_uid, patient_pk, source_id, study_date, accession_number, modalities, attributes, institution_id, created_at)
     SELECT '2.25.77' || g, p.first + (g % ${PATIENTS}), h.source_id, d, 'A' || g, ARRAY[m], '{}', h.id, d + time '09:00'
     FROM generate_series(1, ${STUDIES}) g
     CROSS JOIN (SELECT min(id) AS first FROM patients) p
     JOIN bench_hospitals h ON h.n = g % ${HOSPITALS},
     LATERAL (SELECT date '${FIRST_MONTH}' + (abs(hashint8(g)) % ${MONTHS * 30})::integer AS d,
                     (ARRAY['DX','DX','DX','DX','CR','CT','CT','CT','MR','MR','US','US','MG'])[1 + abs(hashint8(g + 1)) % 13] AS m) x`,
  );
  // What migration 022's triggers write for each study, drawn with realistic shares: a third of the
  // studies QC-graded (radiographs 甲 60 %, 乙 25 %, 丙 12 %, 废片 3 %), 85 % reported, turnaround
  // from 20 minutes to days (log-spread), a tenth of the reports QC-graded.
  await step(
    'statistics facts',
    `${replica} INSERT INTO statistics_studies
     SELECT id, institution_id, date_trunc('month', study_date)::date, m, 'T' || institution_id || '-' || (r % 12),
            CASE WHEN graded THEN scale END,
            CASE WHEN graded THEN (CASE scale WHEN 'radiography' THEN (ARRAY['A','B','C','reject']) ELSE (ARRAY['excellent','good','acceptable','unacceptable']) END)[g4] END,
            CASE WHEN graded THEN g4 = 4 END,
            reported,
            CASE WHEN reported THEN floor(20 * power(1.0065, r % 1000))::integer END,
            CASE WHEN reported AND r % 10 = 0 THEN (ARRAY['conforming','conforming','conforming','conforming','conforming','conforming','conforming','conforming','basically-conforming','non-conforming'])[1 + (r / 10) % 10] END,
            study_instance_uid
     FROM (SELECT st.id, st.study_instance_uid, st.institution_id, st.study_date, st.modalities[1] AS m, abs(hashint8(st.id + 7)) AS r,
                  CASE WHEN st.modalities[1] IN ('DX','CR','MG') THEN 'radiography' WHEN st.modalities[1] = 'CT' THEN 'ct' WHEN st.modalities[1] = 'MR' THEN 'mr' END AS scale
           FROM studies st) s,
     LATERAL (SELECT scale IS NOT NULL AND r % 3 = 0 AS graded, r % 100 < 85 AS reported,
                     CASE WHEN (r / 100) % 100 < 60 THEN 1 WHEN (r / 100) % 100 < 85 THEN 2 WHEN (r / 100) % 100 < 97 THEN 3 ELSE 4 END AS g4) x`,
  );
  await step(
    'prior views',
    `${replica} INSERT INTO prior_views (study_pk, study_instance_uid, study_institution_id, viewing_institution_id, viewed_by_user_id, purpose, hr_mark, modality, viewed_on, viewed_at)
     SELECT s.id, s.study_instance_uid, s.institution_id, h.id, u.id, '诊疗', CASE WHEN g % 10 < 7 THEN '渝HR' END, s.modalities[1], s.study_date + (g % 20), s.study_date + (g % 20) + time '10:00'
     FROM generate_series(1, ${VIEWS}) g
     CROSS JOIN (SELECT min(id) AS first FROM studies) f
     CROSS JOIN (SELECT min(id) AS id FROM users) u
     JOIN studies s ON s.id = f.first + (abs(hashint8(g + 3)) % ${STUDIES})
     JOIN bench_hospitals h ON h.n = (g + 1) % ${HOSPITALS}
     ON CONFLICT (study_pk, viewed_by_user_id, viewed_on, study_instance_uid) DO NOTHING`,
  );
  await step(
    'recognition decisions',
    `${replica} INSERT INTO recognition_decisions (study_pk, study_instance_uid, study_institution_id, deciding_institution_id, decided_by_user_id, decided_by_name, decision, reason_code, patient_informed, order_kind, order_value, hr_mark, modality, decided_at)
     SELECT v.study_pk, v.study_instance_uid, v.study_institution_id, v.viewing_institution_id, v.viewed_by_user_id, 'bench', CASE WHEN v.id % 10 < 8 THEN 'recognised' ELSE 'not-recognised' END,
            CASE WHEN v.id % 10 >= 8 THEN (ARRAY['condition-changed','emergency','major-intervention','quality-insufficient','patient-request'])[1 + v.id % 5] END,
            true, 'text', '复查', v.hr_mark, v.modality, v.viewed_at + interval '5 minutes'
     FROM prior_views v WHERE v.hr_mark IS NOT NULL LIMIT ${DECISIONS}`,
  );
  await step('rollups (statistics_rebuild_rollups)', `SELECT statistics_rebuild_rollups()`);
  await step(
    'persons and identifiers',
    `${replica}
     INSERT INTO persons (id) OVERRIDING SYSTEM VALUE SELECT g FROM generate_series(1, ${PATIENTS}) g;
     INSERT INTO person_links (patient_pk, person_id, method) SELECT p.id, p.id - f.first + 1, 'automatic' FROM patients p CROSS JOIN (SELECT min(id) AS first FROM patients) f WHERE p.issuer = 'BENCH';
     INSERT INTO person_identifiers (patient_pk, kind, issuer, match_hash, sealed_value)
       SELECT p.id, 'resident-id', '2.16.156.10011.1.3', sha256(('bench-person-' || (p.id - f.first + 1))::bytea), '\\x00'::bytea
       FROM patients p CROSS JOIN (SELECT min(id) AS first FROM patients) f WHERE p.issuer = 'BENCH';
     SELECT setval(pg_get_serial_sequence('persons', 'id'), ${PATIENTS})`,
  );
  await step('ANALYZE', 'ANALYZE');
  console.log(`generated in ${seconds(generation)} s`);
  const sizes = await pool.query<{ name: string; rows: string }>(
    `SELECT relname AS name, to_char(reltuples, 'FM999,999,999,999') AS rows FROM pg_class WHERE relname IN
       ('studies', 'statistics_studies', 'statistics_monthly', 'statistics_monthly_grades', 'statistics_turnaround', 'statistics_recognition_monthly', 'prior_views', 'recognition_decisions', 'person_identifiers') ORDER BY relname`,
  );
  for (const { name, rows } of sizes.rows) console.log(`  ${name}: ${rows} rows`);
}

// The reconciler would start linking the generated records itself after its grace period: not here.
const system = await startTestSystem({ YINGYUN_RECONCILE_AFTER_SECONDS: '86400' });
try {
  const { runtime } = system;
  const pool = runtime.db.pool;
  const region = await system.administration.createRegion(COMMAND_LINE_ACTOR, { code: 'BENCH_CITY', name: '基准市', level: 'city' });
  await generate(pool, region.id);
  const hospitals = (await pool.query<{ id: string }>(`SELECT id::text FROM bench_hospitals ORDER BY n`)).rows.map((row) => row.id);

  console.log('\n## Dashboard questions (StatisticsService, p50 of 15 after 3 warm-ups)');
  const recording = recordingPool(pool);
  const service = new StatisticsService({ repository: new StatisticsRepository(recording.pool), institutions: new InstitutionsRepository(pool), config: DEFAULT_STATISTICS_CONFIG });
  const director: Visibility = { institutionIds: hospitals, linkedPatientsPurpose: null, maskIdentity: false };
  const questions: [string, () => Promise<unknown>][] = [
    ['region, 24 months, per month', () => service.summary({ region: region.id, from: '2024-12', to: '2026-11', groupBy: 'month' }, director)],
    ['region, 12 months, per institution', () => service.summary({ region: region.id, from: '2025-12', to: '2026-11', groupBy: 'institution' }, director)],
    ['region, 12 months, per institution and month (stacked)', () => service.summary({ region: region.id, from: '2025-12', to: '2026-11', groupBy: 'institution,month' }, director)],
    ['region, CT only, per month', () => service.summary({ region: region.id, modality: 'CT', from: '2024-12', to: '2026-11', groupBy: 'month' }, director)],
    ['one hospital, 12 months, per technologist', () => service.summary({ institution: hospitals[7], from: '2025-12', to: '2026-11', groupBy: 'technologist' }, director)],
    ['drill-down: one hospital-month 甲片, page 1', () => service.drillDown({ institution: hospitals[7], month: '2026-03', figure: 'a-grade', from: '2024-12', to: '2026-11' }, director)],
    ['drill-down: region-month recognised, page 1', () => service.drillDown({ region: region.id, month: '2026-03', figure: 'recognised', from: '2024-12', to: '2026-11' }, director)],
    ['export XLSX, region per institution', () => service.export({ region: region.id, from: '2025-12', to: '2026-11', groupBy: 'institution' }, director, 'xlsx', 'zh-CN')],
  ];
  const explained: { label: string; text: string; values: unknown[] }[] = [];
  for (const [label, run] of questions) {
    const timing = await timed(REPEATS, run);
    recording.statements.length = 0;
    await run();
    explained.push(...recording.statements.map((statement, index) => ({ label: `${label} [${index + 1}]`, ...statement })));
    console.log(`- ${label}: p50 ${timing.p50.toFixed(1)} ms, max ${timing.max.toFixed(1)} ms (target p50 < 200 ms: ${timing.p50 < 200 ? 'met' : 'NOT met'})`);
  }

  console.log('\n## Person lookup by ID number (match-hash query, then the visible studies)');
  const persons = new PersonRepository(pool);
  let personNumber = 0;
  const lookup = await timed(200, async () => {
    const hash = createHash('sha256').update(`bench-person-${1 + ((personNumber++ * 7919) % PATIENTS)}`).digest();
    const ids = await persons.personsWithHash(hash);
    if (ids.length !== 1) throw new Error(`expected one person, found ${ids.length}`);
    await persons.visibleStudies(ids, director);
  });
  console.log(`- lookup among ${PATIENTS.toLocaleString('en')} identifiers: p50 ${lookup.p50.toFixed(2)} ms, max ${lookup.max.toFixed(2)} ms (target < 10 ms: ${lookup.p50 < 10 ? 'met' : 'NOT met'})`);

  console.log('\n## Keeping the rollups current: a QC grade through the triggers (one transaction each)');
  const user = (await pool.query<{ id: string }>('SELECT min(id)::text AS id FROM users')).rows[0]!.id;
  const seriesPks = (
    await pool.query<{ id: string; study: string }>(
      `INSERT INTO series (series_instance_uid, study_pk, study_instance_uid, modality, series_number, attributes, institution_id)
       SELECT '2.25.88' || s.id, s.id, s.study_instance_uid, 'DX', 1, '{"00081070":{"vr":"PN","Value":[{"Alphabetic":"LI^MING"}]}}', s.institution_id
       FROM studies s WHERE s.modalities = '{DX}' ORDER BY s.id DESC LIMIT 200 RETURNING id::text, study_pk::text AS study`,
    )
  ).rows;
  let graded = 0;
  const grading = await timed(100, async () => {
    const target = seriesPks[graded++ % seriesPks.length]!;
    await pool.query(
      `INSERT INTO qc_grades (study_pk, study_instance_uid, series_pk, scale_id, grade_code, given_grade_code, reject, graded_by_user_id, graded_by_name)
       SELECT $1, study_instance_uid, $2, 'radiography', 'B', 'B', false, $3, 'bench' FROM studies
       WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM qc_grades WHERE series_pk = $2)`,
      [target.study, target.id, user],
    );
  });
  console.log(`- grade inserted and the study's facts and rollups moved at commit: p50 ${grading.p50.toFixed(2)} ms, max ${grading.max.toFixed(2)} ms`);

  console.log(`\n## Linking at ingest: link-person over ${LINKED_RECORDS} new patient records (two hospitals' records of ${LINKED_RECORDS / 2} people)`);
  const [first, second] = hospitals as [string, string];
  await pool.query(
    `INSERT INTO patients (issuer, patient_id, source_id, patient_name, birth_date, sex, attributes, institution_id)
     SELECT 'LINK' || (g % 2), 'L' || g, (SELECT source_id FROM bench_hospitals WHERE id = CASE WHEN g % 2 = 0 THEN $1::bigint ELSE $2::bigint END),
            '{"Alphabetic":"Wang^Wei"}', date '1970-01-01' + (g / 2), 'M',
            jsonb_build_object('00100010', jsonb_build_object('vr', 'PN', 'Value', jsonb_build_array(jsonb_build_object('Alphabetic', 'Wang^Wei'))),
                               '00100030', jsonb_build_object('vr', 'DA', 'Value', jsonb_build_array(to_char(date '1970-01-01' + (g / 2), 'YYYYMMDD'))),
                               '00100040', jsonb_build_object('vr', 'CS', 'Value', jsonb_build_array('M')),
                               '00101002', jsonb_build_object('vr', 'SQ', 'Value', jsonb_build_array(jsonb_build_object(
                                 '00100020', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array(ids.value)),
                                 '00100021', jsonb_build_object('vr', 'LO', 'Value', jsonb_build_array('CN-RESIDENT-ID')))))),
            CASE WHEN g % 2 = 0 THEN $1::bigint ELSE $2::bigint END
     FROM generate_series(0, ${LINKED_RECORDS - 1}) g
     JOIN (SELECT ordinality - 1 AS n, value FROM unnest($3::text[]) WITH ORDINALITY AS u(value, ordinality)) ids ON ids.n = g / 2`,
    [first, second, Array.from({ length: LINKED_RECORDS / 2 }, (_, n) => residentIdNumber(new Date(Date.UTC(1970, 0, 1 + n)).toISOString().slice(0, 10).replaceAll('-', ''), String(101 + 2 * (n % 400))))],
  );
  const records = (await pool.query<{ id: string }>(`SELECT id::text FROM patients WHERE issuer LIKE 'LINK%' ORDER BY id`)).rows.map((row) => row.id);
  const linking = performance.now();
  // As the job queue runs them: YINGYUN_WORKER_CONCURRENCY (4) at a time.
  let next = 0;
  await Promise.all(Array.from({ length: 4 }, async () => {
    while (next < records.length) await runtime.persons.linkPatient(records[next++]!);
  }));
  const rate = records.length / ((performance.now() - linking) / 1000);
  const linked = await pool.query<{ persons: string; shared: string }>(
    `SELECT count(DISTINCT person_id)::text AS persons, count(*) FILTER (WHERE shared_kinds <> '{}')::text AS shared FROM person_links WHERE patient_pk = ANY ($1::bigint[])`,
    [records],
  );
  console.log(`- ${rate.toFixed(0)} records/s; ${linked.rows[0]!.persons} persons, ${linked.rows[0]!.shared} records linked by a shared resident ID`);
  console.log(`  against the small corpus's ingest, ${SMALL_CORPUS_INSTANCES_PER_SECOND} instances/s even if every instance were a new patient: ${rate >= SMALL_CORPUS_INSTANCES_PER_SECOND ? 'met' : 'NOT met'}`);

  console.log('\n## Plans (EXPLAIN ANALYZE, BUFFERS)');
  for (const { label, text, values } of explained) {
    const plan = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ${text}`, values);
    console.log(`\n### ${label}\n${plan.rows.map((row) => row['QUERY PLAN']).join('\n')}`);
  }
} finally {
  await system.shutdown();
}
