/**
 * The index's hot queries at region scale: `npm run bench:index` (10^5, 10^6 and 10^7 instances)
 * and `npm run bench:queries` (10^6 only). For each size a fresh database is migrated with the real
 * migrations and loaded with a synthetic region by COPY (bench/synthetic-index.ts: 50 hospitals,
 * 20 instances per study in 3-5 series, a 500-slice CT series every 5,000 studies, two studies per
 * patient record, pairs of records at two hospitals sharing a resident ID). Each query is then run
 * through the code production runs (QueryRepository for QIDO-RS, C-FIND and the priors list,
 * RetrieveRepository for WADO-RS metadata) `--runs` times with varied parameters, and its
 * p50/p99 printed; one table puts the sizes side by side (the growth curve). The plans
 * (EXPLAIN ANALYZE, BUFFERS) of the largest size are written to bench/queries/*.sql, so a reviewer
 * reads the real SQL and how it runs (Immich keeps its generated queries the same way).
 *
 * Options (or the environment): --instances=100000,1000000 (INDEX_BENCH_INSTANCES), --runs=200
 * (INDEX_BENCH_RUNS), --keep to leave the databases behind (they are dropped by default; 10^7 takes
 * about 15 GB), --reuse=<database URL> to measure a kept one again (with one size: the one it holds).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import type { Visibility } from '../archive/access/policy.ts';
import { migrate } from '../archive/db/migrate.ts';
import { instanceSearchSql, priorStudiesSql, QueryRepository, samePersonSql, seriesSearchSql, studySearchSql, type SqlQuery } from '../archive/db/query-repository.ts';
import { metadataSql, RetrieveRepository } from '../archive/db/retrieve-repository.ts';
import { createLogger } from '../archive/log.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { createTestDatabase } from '../test/support/database.ts';
import {
  addSyntheticIndex,
  LARGE_SERIES_EVERY,
  SYNTHETIC_INSTITUTIONS,
  syntheticAccession,
  syntheticModality,
  syntheticPatientId,
  syntheticPatientName,
  syntheticStudyOwner,
  syntheticStudyUid,
} from './synthetic-index.ts';

const { values: options } = parseArgs({
  options: {
    instances: { type: 'string', default: process.env.INDEX_BENCH_INSTANCES ?? '1000000' },
    runs: { type: 'string', default: process.env.INDEX_BENCH_RUNS ?? '200' },
    keep: { type: 'boolean', default: false },
    // Measure again an index an earlier run kept (--keep), without loading it anew.
    reuse: { type: 'string' },
  },
});
const sizes = options.instances.split(',').map((value) => Math.round(Number(value)));
const runs = Number(options.runs);
if (sizes.some((size) => !(size >= 20_000)) || !(runs >= 1)) throw new Error('--instances takes sizes of at least 20000, --runs at least 1');
const outputDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'queries');
const WADO_BASE = 'http://127.0.0.1:8080/dicom-web';

interface Case {
  name: string;
  purpose: string;
  /** The i-th run: the call production makes, and the statements it runs. */
  run(i: number): { call: () => Promise<unknown>; sql: () => Promise<SqlQuery[]> };
}

interface Figures {
  /** Through the repository, as production calls it: the client's time. */
  p50: number;
  p99: number;
  /** Execution time inside PostgreSQL (EXPLAIN ANALYZE) of the same runs' statements. */
  serverP50: number;
  serverP99: number;
  rows: number;
}

const results = new Map<string, Map<number, Figures>>();
const purposes = new Map<string, string>();

for (const instances of sizes) {
  const studies = Math.round(instances / 20);
  const patients = Math.round(studies / 2);
  const database = options.reuse ? { url: options.reuse, drop: async () => {} } : await createTestDatabase();
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  try {
    await migrate(pool, createLogger('silent'));
    const loadStarted = performance.now();
    if (!options.reuse) {
      await addSyntheticIndex(pool, { patients, studies, instances: true });
      // VACUUM too: the visibility map lets index-only scans skip the heap, as autovacuum would long
      // before a real index grew this large.
      await pool.query('VACUUM ANALYZE');
    }
    const { rows: [counted] } = await pool.query<{ instances: string; bytes: string }>(
      `SELECT (SELECT count(*) FROM instances)::text AS instances, pg_database_size(current_database())::text AS bytes`,
    );
    console.log(
      `\n== ${Number(counted!.instances).toLocaleString('en')} instances, ${studies.toLocaleString('en')} studies, ${patients.toLocaleString('en')} patient records, ` +
        `${SYNTHETIC_INSTITUTIONS} institutions: loaded in ${((performance.now() - loadStarted) / 1000).toFixed(0)} s, ${(Number(counted!.bytes) / 2 ** 30).toFixed(1)} GiB`,
    );
    const cases = await hotQueries(pool, { studies, patients });
    const largest = instances === Math.max(...sizes);
    if (largest) await fs.mkdir(outputDirectory, { recursive: true });
    for (const hot of cases) {
      purposes.set(hot.name, hot.purpose);
      for (let i = 0; i < 10; i++) await hot.run(runs + i).call(); // warm the cache and the connections
      const times: number[] = [];
      let rows = 0;
      for (let i = 0; i < runs; i++) {
        const { call } = hot.run(i);
        const started = performance.now();
        const result = await call();
        times.push(performance.now() - started);
        rows += Array.isArray(result) ? result.length : 0;
      }
      times.sort((a, b) => a - b);
      // The same runs timed inside PostgreSQL: what the index costs, without the client's round trips
      // and the scheduling of a machine shared with other work.
      const serverTimes: number[] = [];
      for (let i = 0; i < runs; i++) {
        let total = 0;
        for (const sql of await hot.run(i).sql()) {
          const { rows: [plan] } = await pool.query<{ 'QUERY PLAN': [{ 'Execution Time': number }] }>(`EXPLAIN (ANALYZE, TIMING OFF, FORMAT JSON) ${sql.text}`, sql.values);
          total += plan!['QUERY PLAN'][0]['Execution Time'];
        }
        serverTimes.push(total);
      }
      serverTimes.sort((a, b) => a - b);
      const figures = { p50: percentile(times, 0.5), p99: percentile(times, 0.99), serverP50: percentile(serverTimes, 0.5), serverP99: percentile(serverTimes, 0.99), rows: rows / runs };
      results.set(hot.name, (results.get(hot.name) ?? new Map()).set(instances, figures));
      const statements = await hot.run(0).sql();
      const plans = [];
      for (const sql of statements) plans.push(await explain(pool, sql));
      const execution = plans.map((plan) => plan.find((line) => line.startsWith('Execution Time'))?.replace('Execution Time: ', '') ?? '').join(' + ');
      console.log(
        `${hot.name.padEnd(32)} p50 ${figures.p50.toFixed(2).padStart(7)} ms  p99 ${figures.p99.toFixed(2).padStart(7)} ms   in PostgreSQL p50 ${figures.serverP50.toFixed(2).padStart(7)} ms  p99 ${figures.serverP99.toFixed(2).padStart(7)} ms  ${figures.rows.toFixed(1).padStart(6)} rows  (plan of run 0: ${execution})`,
      );
      if (largest) await writePlan(hot, instances, statements, plans);
    }
  } finally {
    await pool.end();
    if (options.keep || options.reuse) console.log(`kept ${database.url}`);
    else await database.drop();
  }
}

for (const [title, p50, p99] of [['through the repository (client)', 'p50', 'p99'], ['inside PostgreSQL', 'serverP50', 'serverP99']] as const) {
  console.log(`\nGrowth, ${title}: p50 / p99 in ms over ${runs} runs each, by instances in the index`);
  console.log(['query'.padEnd(32), ...sizes.map((size) => `10^${Math.log10(size).toFixed(1).replace(/\.0$/, '')}`.padStart(17))].join(''));
  for (const [name, bySize] of results) {
    const cells = sizes.map((size) => `${bySize.get(size)![p50].toFixed(2)} / ${bySize.get(size)![p99].toFixed(2)}`.padStart(17));
    console.log([name.padEnd(32), ...cells].join(''));
  }
}
if (sizes.length) console.log(`plans of the ${Math.max(...sizes).toLocaleString('en')}-instance index written to ${path.relative(process.cwd(), outputDirectory)}/`);

function percentile(sorted: number[], fraction: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil(fraction * sorted.length) - 1)]!;
}

async function explain(pool: pg.Pool, sql: SqlQuery): Promise<string[]> {
  const explained = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, SUMMARY) ${sql.text}`, sql.values);
  return explained.rows.map((row) => row['QUERY PLAN']);
}

async function writePlan(hot: Case, instances: number, sql: SqlQuery[], plans: string[][]): Promise<void> {
  const text = [
    `-- ${hot.purpose}`,
    `-- Generated by \`npm run bench:index\` on a ${instances.toLocaleString('en')}-instance synthetic region (bench/synthetic-index.ts)`,
    '',
    ...sql.flatMap((statement, index) => [
      `-- parameters: ${JSON.stringify(statement.values)}`,
      `${statement.text.replace(/\n\s+/g, '\n  ').trim()};`,
      '',
      ...plans[index]!.map((line) => `-- ${line}`),
      '',
    ]),
  ].join('\n');
  await fs.writeFile(path.join(outputDirectory, `${hot.name}.sql`), text);
}

/**
 * The queries, each varied by its run number over a deterministic spread of patients, names,
 * dates and studies, as a radiologist of the patient's hospital would send them.
 */
async function hotQueries(pool: pg.Pool, size: { studies: number; patients: number }): Promise<Case[]> {
  const queries = new QueryRepository(pool);
  const retrieve = new RetrieveRepository(pool);
  const { rows: hospitals } = await pool.query<{ hospital: number; id: string }>(`SELECT substr(code, 5)::int AS hospital, id::text FROM institutions WHERE code LIKE 'SYNH%'`);
  const institutions = new Map(hospitals.map((row) => [row.hospital, row.id]));
  const radiologistOf = (patient: number, linkedPatientsPurpose: string | null = null): Visibility => ({
    institutionIds: [institutions.get(patient % SYNTHETIC_INSTITUTIONS)!],
    linkedPatientsPurpose,
    maskIdentity: false,
  });
  // Spread the runs over the index: a multiplicative hash of the run number.
  const pick = (i: number, count: number) => 1 + ((i * 2654435761) % 4294967296) % count;
  const study = (i: number) => pick(i, size.studies);
  const qido = (level: 'study' | 'series' | 'instance', parameters: Record<string, string>, scope = {}) => parseQidoQuery(level, parameters, scope);
  const studyCase = (name: string, purpose: string, make: (i: number) => { parameters: Record<string, string>; patient: number }): Case => ({
    name,
    purpose,
    run(i) {
      const { parameters, patient } = make(i);
      const query = qido('study', { limit: '25', ...parameters });
      const visibility = radiologistOf(patient);
      return { call: async () => (await queries.searchStudies(query, visibility)).rows, sql: async () => [studySearchSql(await queries.lookUpNames(query, visibility), visibility)] };
    },
  });
  const largeSeriesStudies = Math.ceil(size.studies / LARGE_SERIES_EVERY);
  return [
    studyCase('studies-newest-first', 'the study list as a viewer first opens it: newest 25 studies of a hospital', (i) => ({ parameters: {}, patient: i })),
    studyCase('studies-by-patient-id', 'QIDO-RS PatientID={a patient record of the hospital}', (i) => {
      const patient = pick(i, size.patients);
      return { parameters: { PatientID: syntheticPatientId(patient) }, patient };
    }),
    studyCase('studies-by-name-han-prefix', 'QIDO-RS PatientName={a surname}* in Han characters (王*, 欧阳*…), newest 25', (i) => {
      const patient = pick(i, size.patients);
      const family = (syntheticPatientName(patient).Ideographic ?? '王^').split('^')[0]!;
      return { parameters: { PatientName: `${family}*` }, patient };
    }),
    studyCase('studies-by-name-latin-prefix', 'QIDO-RS PatientName={a surname}^* in Latin letters (WANG^*, SMITH^*…), newest 25', (i) => {
      const patient = pick(i, size.patients);
      return { parameters: { PatientName: `${syntheticPatientName(patient).Alphabetic.split('^')[0]}^*` }, patient };
    }),
    studyCase('studies-by-full-name', 'QIDO-RS PatientName={family}^{given} of a patient record (a common name: hundreds of matches at 10^7)', (i) => {
      const patient = pick(i, size.patients);
      return { parameters: { PatientName: syntheticPatientName(patient).Ideographic ?? syntheticPatientName(patient).Alphabetic }, patient };
    }),
    studyCase('studies-by-absent-name', 'QIDO-RS PatientName={a surname no one has}* (nothing matches)', (i) => ({ parameters: { PatientName: `${['诸葛', 'ZZYZX', '司马', 'QUUX'][i % 4]}*` }, patient: i })),
    studyCase('studies-by-name-fuzzy', 'QIDO-RS PatientName={a given name}&fuzzymatching=true (小东 finds 王小东)', (i) => {
      const patient = pick(i, size.patients);
      return { parameters: { PatientName: (syntheticPatientName(patient).Ideographic ?? '王^小东').split('^')[1]!, fuzzymatching: 'true' }, patient };
    }),
    studyCase('studies-by-date-and-modality', 'QIDO-RS StudyDate={one month}&ModalitiesInStudy={modality}, newest 25', (i) => {
      const month = new Date(Date.UTC(2015, i % 120, 1));
      const end = new Date(Date.UTC(2015, (i % 120) + 1, 0));
      const dicom = (date: Date) => date.toISOString().slice(0, 10).replace(/-/g, '');
      return { parameters: { StudyDate: `${dicom(month)}-${dicom(end)}`, ModalitiesInStudy: syntheticModality(i) }, patient: i };
    }),
    studyCase('studies-by-accession', 'QIDO-RS AccessionNumber={a study of the hospital}', (i) => {
      const n = study(i);
      return { parameters: { AccessionNumber: syntheticAccession(n) }, patient: syntheticStudyOwner(n, size.patients) };
    }),
    {
      name: 'series-of-study',
      purpose: 'QIDO-RS /studies/{study}/series',
      run(i) {
        const n = study(i);
        const query = qido('series', {}, { studyInstanceUid: syntheticStudyUid(n) });
        const visibility = radiologistOf(syntheticStudyOwner(n, size.patients));
        return { call: async () => (await queries.searchSeries(query, visibility)).rows, sql: async () => [seriesSearchSql(query, visibility)] };
      },
    },
    {
      name: 'instances-of-study',
      purpose: 'QIDO-RS /studies/{study}/instances',
      run(i) {
        const n = study(i);
        const query = qido('instance', {}, { studyInstanceUid: syntheticStudyUid(n) });
        const visibility = radiologistOf(syntheticStudyOwner(n, size.patients));
        return { call: async () => (await queries.searchInstances(query, visibility)).rows, sql: async () => [instanceSearchSql(query, visibility)] };
      },
    },
    {
      name: 'series-metadata-500',
      purpose: 'WADO-RS /studies/{study}/series/{500 slices}/metadata',
      run(i) {
        const n = 1 + (i % largeSeriesStudies) * LARGE_SERIES_EVERY;
        const scope = { studyInstanceUid: syntheticStudyUid(n), seriesInstanceUid: `${syntheticStudyUid(n)}.6` };
        return {
          call: async () => {
            const texts: string[] = [];
            for await (const text of retrieve.metadataTexts(scope, WADO_BASE)) texts.push(text);
            return texts;
          },
          sql: async () => [metadataSql(scope, WADO_BASE)],
        };
      },
    },
    {
      name: 'priors-of-person',
      purpose: 'GET /api/studies/{study}/priors: the same person\'s studies across hospitals (with a stated purpose)',
      run(i) {
        const n = study(i);
        const owner = syntheticStudyOwner(n, size.patients);
        const visibility = radiologistOf(owner, 'comparison with prior studies');
        return {
          call: async () => (await queries.priorStudies(syntheticStudyUid(n), visibility)) ?? [],
          // Two statements, as QueryRepository.priorStudies runs them: the second takes the first's answer.
          sql: async () => {
            const person = samePersonSql(syntheticStudyUid(n));
            const { rows: [found] } = await pool.query<{ studyPk: string; patientPks: string[] }>(person.text, person.values);
            return [person, priorStudiesSql(found!.patientPks, found!.studyPk, 200, visibility)];
          },
        };
      },
    },
  ];
}
