/**
 * `npm run bench:reading`: how fast the reading centre's work goes (issue 15's targets), each figure
 * printed beside a floor measured in the same run on the same machine, so a reader sees what the
 * HTTP, access and audit layers cost on top of the database or the file they serve.
 *
 * Worklist: 100,000 workitems over 40 county hospitals of one region; a reading-centre radiologist
 * (whose scope is the whole region) searches it as the worklist screen does. The floor is the same
 * search run straight through the repository (SQL only: no HTTP, no access check, no audit event).
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { visibilityFor } from '../archive/access/policy.ts';
import { WorkitemsRepository, type WorkitemSearch } from '../archive/db/workitems-repository.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { workitemIndexKeys } from '../archive/reading/workitem.ts';
import { startTestSystem, type TestSystem } from '../test/support/system.ts';

const WORKITEMS = Number(process.env.BENCH_WORKITEMS ?? 100_000);
const HOSPITALS = 40;
const REPEATS = 200;
const TARGET_SEARCH_P50_MS = 30;
const QUERIES_DIRECTORY = path.join(path.dirname(fileURLToPath(import.meta.url)), 'queries');

interface Timing {
  p50: number;
  p95: number;
}

async function timed(repeats: number, run: (iteration: number) => Promise<void>): Promise<Timing> {
  for (let warm = 0; warm < 10; warm++) await run(warm);
  const samples: number[] = [];
  for (let iteration = 0; iteration < repeats; iteration++) {
    const started = performance.now();
    await run(iteration);
    samples.push(performance.now() - started);
  }
  samples.sort((a, b) => a - b);
  const at = (fraction: number) => samples[Math.min(samples.length - 1, Math.floor(fraction * samples.length))]!;
  return { p50: at(0.5), p95: at(0.95) };
}

const FAMILY = [['Wang', '王'], ['Li', '李'], ['Zhang', '张'], ['Liu', '刘'], ['Chen', '陈'], ['Yang', '杨'], ['Huang', '黄'], ['Zhao', '赵']] as const;
const GIVEN = [['Wei', '伟'], ['Fang', '芳'], ['Na', '娜'], ['Min', '敏'], ['Jing', '静'], ['Qiang', '强'], ['Lei', '磊'], ['XiaoDong', '小东']] as const;
const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'US', 'MG'];

/** The n-th synthetic workitem: a hospital's study to read, scheduled over the past year, 1 in 10 still open. */
function syntheticWorkitem(n: number, hospital: number): { dataset: DicomJsonDataset; uid: string } {
  const family = FAMILY[n % FAMILY.length]!;
  const given = GIVEN[Math.floor(n / FAMILY.length) % GIVEN.length]!;
  const scheduled = new Date(Date.UTC(2026, 0, 1) + (n % 525_600) * 60_000);
  const dt = scheduled.toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const studyUid = `2.25.${800_000_000_000 + n}`;
  const uid = `2.25.${700_000_000_000 + n}`;
  const state = n % 10 === 0 ? (n % 20 === 0 ? 'SCHEDULED' : 'IN PROGRESS') : n % 37 === 0 ? 'CANCELED' : 'COMPLETED';
  const reader = `DR-${n % 25}`;
  return {
    uid,
    dataset: {
      '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.34.6.1'] },
      '00080018': { vr: 'UI', Value: [uid] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: `${family[0]}^${given[0]}`, Ideographic: `${family[1]}^${given[1]}` }] },
      '00100020': { vr: 'LO', Value: [`H${hospital}-${String(n).padStart(8, '0')}`] },
      '00100021': { vr: 'LO', Value: [`HOSP${hospital}`] },
      '00741000': { vr: 'CS', Value: [state] },
      '00741200': { vr: 'CS', Value: [['HIGH', 'MEDIUM', 'LOW'][n % 3]!] },
      '00404005': { vr: 'DT', Value: [dt] },
      '00741204': { vr: 'LO', Value: [`${MODALITIES[n % MODALITIES.length]} reading`] },
      '00741202': { vr: 'LO', Value: ['Remote reading'] },
      '00404034': { vr: 'SQ', Value: [{ '00404009': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: [reader] }, '00080102': { vr: 'SH', Value: ['99YINGYUN'] }, '00080104': { vr: 'LO', Value: [`Reader ${n % 25}`] } }] } }] },
      '0040A370': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [studyUid] }, '00080050': { vr: 'SH', Value: [`ACC${n}`] } }] },
      '00404021': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [studyUid] } }] },
    },
  };
}

async function seedWorklist(system: TestSystem): Promise<{ token: string; hospitalIds: string[]; centreId: string }> {
  const { administration } = system;
  await administration.createRegion(COMMAND_LINE_ACTOR, { code: 'BENCH_REGION', name: '基准区 Bench region', level: 'city' });
  const hospitalIds: string[] = [];
  for (let hospital = 0; hospital < HOSPITALS; hospital++) {
    const institution = await administration.createInstitution(COMMAND_LINE_ACTOR, { code: `HOSP${hospital}`, name: `县医院 ${hospital}`, kind: 'hospital', regionCode: 'BENCH_REGION' });
    hospitalIds.push(institution.id);
  }
  const centre = await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'BENCH_CENTRE', name: '区域影像中心 Bench reading centre', kind: 'reading_centre', regionCode: 'BENCH_REGION' });
  await administration.createUser(COMMAND_LINE_ACTOR, { username: 'bench-reader', displayName: 'Bench Reader', role: 'radiologist', institutionCode: 'BENCH_CENTRE' });
  const { token } = await administration.createToken(COMMAND_LINE_ACTOR, { username: 'bench-reader', label: 'bench' });

  // Seeded in batches by SQL: the service creates SCHEDULED items only, and a year of history is
  // mostly COMPLETED ones (with the performer's Transaction UID the table requires of them).
  const started = performance.now();
  for (let from = 0; from < WORKITEMS; from += 2_000) {
    const rows = [];
    for (let n = from; n < Math.min(WORKITEMS, from + 2_000); n++) {
      const hospital = n % HOSPITALS;
      const { dataset, uid } = syntheticWorkitem(n, hospital);
      const keys = workitemIndexKeys(dataset);
      rows.push({ uid, institution: hospitalIds[hospital], dataset, transaction: keys.state === 'SCHEDULED' ? null : `2.25.${600_000_000_000 + n}`, ...keys });
    }
    await system.runtime.db.pool.query(
      `INSERT INTO workitems (sop_instance_uid, institution_id, dataset, transaction_uid, state, priority, scheduled_start, patient_id, issuer,
                              patient_name_search, station_keys, performer_keys, requested_study_uids, input_study_uids, procedure_step_label, worklist_label)
       SELECT r.uid, r.institution::bigint, r.dataset, r.transaction, r."state", r.priority, r."scheduledStart"::timestamp, r."patientId", r.issuer,
              r."patientNameSearch", ARRAY(SELECT jsonb_array_elements_text(r."stationKeys")), ARRAY(SELECT jsonb_array_elements_text(r."performerKeys")),
              ARRAY(SELECT jsonb_array_elements_text(r."requestedStudyUids")), ARRAY(SELECT jsonb_array_elements_text(r."inputStudyUids")),
              r."procedureStepLabel", r."worklistLabel"
       FROM jsonb_to_recordset($1::jsonb) AS r(uid text, institution text, dataset jsonb, transaction text, "state" text, priority text, "scheduledStart" text,
            "patientId" text, issuer text, "patientNameSearch" text, "stationKeys" jsonb, "performerKeys" jsonb, "requestedStudyUids" jsonb,
            "inputStudyUids" jsonb, "procedureStepLabel" text, "worklistLabel" text)`,
      [JSON.stringify(rows)],
    );
  }
  await system.runtime.db.pool.query('ANALYZE workitems');
  console.log(`seeded ${WORKITEMS} workitems over ${HOSPITALS} hospitals in ${((performance.now() - started) / 1000).toFixed(1)} s`);
  return { token, hospitalIds, centreId: centre.id };
}

interface WorklistQuery {
  name: string;
  /** bench/queries/worklist-{file}.sql holds its SQL and plan. */
  file: string;
  query: string;
  search: Omit<WorkitemSearch, 'limit' | 'offset'>;
}

const WORKLIST_QUERIES: WorklistQuery[] = [
  { name: 'open items (SCHEDULED), first page', file: 'open-items', query: 'ProcedureStepState=SCHEDULED&limit=100', search: { states: ['SCHEDULED'] } },
  { name: 'a reader’s items in progress', file: 'reader-in-progress', query: 'ProcedureStepState=IN%20PROGRESS&ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue=DR-5&limit=100', search: { states: ['IN PROGRESS'], performerKey: 'dr-5' } },
  { name: 'one day of the schedule', file: 'one-day', query: 'ScheduledProcedureStepStartDateTime=20260215&limit=100', search: { scheduledFrom: '2026-02-15 00:00:00', scheduledUntil: '2026-02-16 00:00:00' } },
  { name: 'by study (Referenced Request)', file: 'by-study', query: 'ReferencedRequestSequence.StudyInstanceUID=2.25.800000012345', search: { requestedStudyUid: '2.25.800000012345' } },
  { name: 'by Patient ID', file: 'by-patient-id', query: 'PatientID=H5-00012365', search: { patientIdPattern: 'H5-00012365' } },
];

async function benchWorklist(system: TestSystem): Promise<void> {
  const { token, hospitalIds, centreId } = await seedWorklist(system);
  const repository = new WorkitemsRepository(system.runtime.db.pool);
  const visibility = visibilityFor(
    { userId: '0', username: 'bench-reader', displayName: 'Bench Reader', role: 'radiologist', institutionId: centreId, sessionId: '0', via: 'api_token' },
    { ownInstitutionKind: 'reading_centre', regionInstitutionIds: hospitalIds, purpose: null },
  );
  console.log(`\nWorklist search over ${WORKITEMS} workitems, as a reading-centre radiologist (${REPEATS} searches each; ms)`);
  console.log('search'.padEnd(40), 'HTTP p50'.padStart(9), 'HTTP p95'.padStart(9), 'SQL p50'.padStart(8), 'HTTP÷SQL'.padStart(9), `target p50<${TARGET_SEARCH_P50_MS}`.padStart(15));
  for (const { name, file, query, search } of WORKLIST_QUERIES) {
    let count = 0;
    const http = await timed(REPEATS, async () => {
      const response = await fetch(`${system.dicomWebUrl}/workitems?${query}`, { headers: { authorization: `Bearer ${token}`, accept: 'application/dicom+json' } });
      if (response.status !== 200) throw new Error(`${name}: HTTP ${response.status} ${await response.text()}`);
      count = ((await response.json()) as unknown[]).length;
    });
    const sql = await timed(REPEATS, async () => void (await repository.search({ ...search, limit: 100, offset: 0 }, visibility)));
    console.log(
      `${name} (${count})`.padEnd(40),
      http.p50.toFixed(1).padStart(9),
      http.p95.toFixed(1).padStart(9),
      sql.p50.toFixed(1).padStart(8),
      (http.p50 / sql.p50).toFixed(2).padStart(9),
      (http.p50 < TARGET_SEARCH_P50_MS ? 'met' : 'MISSED').padStart(15),
    );
    await writePlan(system, file, `UPS-RS GET /workitems?${decodeURIComponent(query)}`, (pool) => new WorkitemsRepository(pool).search({ ...search, limit: 100, offset: 0 }, visibility));
  }
  console.log(`plans written to ${path.relative(process.cwd(), QUERIES_DIRECTORY)}/worklist-*.sql`);
}

/**
 * The SQL a repository call sends, with its EXPLAIN (ANALYZE, BUFFERS), kept next to the benchmark as
 * bench:queries does for the index: the call runs against a pool that records what it was asked.
 */
async function writePlan(system: TestSystem, file: string, title: string, call: (pool: pg.Pool) => Promise<unknown>): Promise<void> {
  const pool = system.runtime.db.pool;
  let sent: { text: string; values: unknown[] } | undefined;
  const recording = new Proxy(pool, {
    get: (target, property) =>
      property === 'query'
        ? (text: string, values: unknown[]) => {
            sent = { text, values };
            return target.query(text, values);
          }
        : Reflect.get(target, property),
  });
  await call(recording);
  if (!sent) throw new Error(`${file}: no query was sent`);
  const { rows } = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS) ${sent.text}`, sent.values);
  const plan = rows.map((row) => `-- ${row['QUERY PLAN']}`).join('\n');
  const sql = sent.text.replace(/^\s+/gm, '  ').trim();
  await fs.writeFile(path.join(QUERIES_DIRECTORY, `worklist-${file}.sql`), `-- ${title}\n-- Generated by \`npm run bench:reading\` over ${WORKITEMS} workitems; parameters: ${JSON.stringify(sent.values)}\n\n${sql};\n\n${plan}\n`);
}

const system = await startTestSystem();
try {
  await benchWorklist(system);
} finally {
  await system.shutdown();
}
