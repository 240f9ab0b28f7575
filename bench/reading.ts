/**
 * `npm run bench:reading`: how fast the reading centre's work goes (issue 15's targets), each figure
 * printed beside a floor measured in the same run on the same machine, so a reader sees what the
 * HTTP, access and audit layers cost on top of the database or the file they serve.
 *
 * Worklist: 100,000 workitems over 40 county hospitals of one region; a reading-centre radiologist
 * (whose scope is the whole region) searches it as the worklist screen does. The floor is the same
 * search run straight through the repository (SQL only: no HTTP, no access check, no audit event).
 *
 * Then, in a reading centre of its own (test/support/reading-centre.ts) with one chest CT: opening its
 * task from the worklist screen to first image, signing → SR in QIDO-RS, the report PDF cold and
 * warm, a consultation's window/level reaching the other browser, and the patient's cloud film under
 * DevTools' Slow 4G, each with its floor (see the functions below and docs/benchmarks.md).
 * BENCH_WORKITEMS sets the worklist's size (the other measurements do not depend on it).
 */
import { execFile } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import dcmjs from 'dcmjs';
import type pg from 'pg';
import type { Browser, Page } from 'playwright-core';
import { WebSocket } from 'ws';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { visibilityFor } from '../archive/access/policy.ts';
import { WorkitemsRepository, type WorkitemSearch } from '../archive/db/workitems-repository.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import type { Report } from '../archive/reading/report.ts';
import { renderReportPdf, type ReportPdfInput } from '../archive/reading/report-pdf.ts';
import { workitemIndexKeys } from '../archive/reading/workitem.ts';
import { makeCtSeries, STUDIES, type Study } from '../fixtures/generate.ts';
import { translator } from '../viewer/src/i18n/i18n.ts';
import { ensureViewerBuilt, launchChromium, signIn, viewportTimings, waitForCondition, waitForCornerText, waitForFirstImage, waitForText, type Credentials } from '../test/support/browser.ts';
import { FINDINGS, IMPRESSION, newUid, readingCentre, type ReadingCentre } from '../test/support/reading-centre.ts';
import { startTestSystem, type TestSystem } from '../test/support/system.ts';

const WORKITEMS = Number(process.env.BENCH_WORKITEMS ?? 100_000);
const HOSPITALS = 40;
const REPEATS = 200;
const TARGET_SEARCH_P50_MS = 30;
const BENCH_DIRECTORY = path.dirname(fileURLToPath(import.meta.url));
const QUERIES_DIRECTORY = path.join(BENCH_DIRECTORY, 'queries');
const zh = translator('zh-CN');

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
  // As autovacuum leaves a table that has settled: statistics, and the visibility map that lets the
  // worklist choose its page from the index alone (a freshly bulk-loaded table has neither).
  await system.runtime.db.pool.query('VACUUM (ANALYZE) workitems');
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

const TARGETS = { openTaskMs: 700, signToQidoMs: 2_000, pdfMs: 1_000, consultationP95Ms: 150, filmKeyImageMs: 1_500 };
const SIGNATURES = 7;
const PDF_REPEATS = 20;
const VOI_CHANGES = 40;
const OPENINGS = 5;
const PASSWORD = 'bench reading passphrase';
/**
 * Chrome DevTools' "Slow 4G" preset (front_end/core/sdk/NetworkManager.ts, Slow4GConditions, the
 * same as puppeteer's PredefinedNetworkConditions['Slow 4G']): 1.6 Mbit/s down and 750 kbit/s up,
 * each × 0.9, and 150 ms × 3.75 latency.
 */
const SLOW_4G = { offline: false, downloadThroughput: (1.6 * 1000 * 1000) / 8 * 0.9, uploadThroughput: (750 * 1000) / 8 * 0.9, latency: 150 * 3.75 };
const PHONE = { viewport: { width: 390, height: 844 }, deviceScaleFactor: 2, isMobile: true, hasTouch: true };

function summary(samples: number[]): string {
  const sorted = [...samples].sort((a, b) => a - b);
  const at = (fraction: number) => sorted[Math.min(sorted.length - 1, Math.floor(fraction * sorted.length))]!;
  return `p50 ${at(0.5).toFixed(0)} ms, p95 ${at(0.95).toFixed(0)} ms, max ${sorted.at(-1)!.toFixed(0)} ms (n=${sorted.length})`;
}

const verdict = (value: number, target: number) => (value < target ? `met (< ${target} ms)` : `MISSED (target < ${target} ms)`);

/**
 * The reading centre of test/support/reading-centre.ts (清河市影像诊断中心 reading 青石县人民医院), with a
 * CT routing rule, passwords for the browser, and one 60-slice 512×512 chest CT from Qingshi: its task
 * is made by the rule as the study is indexed.
 */
async function readingCentreWithStudy(system: TestSystem): Promise<{ centre: ReadingCentre; study: string; birthDate: string }> {
  const centre = await readingCentre(system);
  const region = (await system.runtime.institutions.findRegionByCode('QINGHE'))!;
  const rule = await system.fetch(`${system.httpUrl}/api/admin/reading-rules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ readingCentreId: centre.institutionIds.get('READING_CENTRE'), regionId: region.id, modalities: ['CT'] }) });
  if (rule.status !== 201) throw new Error(`reading rule: HTTP ${rule.status} ${await rule.text()}`);
  // The helper's users sign in with tokens only (setting a password would revoke them): the browser's own two.
  for (const [username, displayName] of BROWSER_USERS) await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName, role: 'radiologist', institutionCode: 'READING_CENTRE', password: PASSWORD });
  const ctStudy: Study = { ...STUDIES.wangPriorCt, accessionNumber: 'BENCH-READING-1', description: 'CT胸部平扫 基准' };
  let study = '';
  for (const instance of makeCtSeries({ study: ctStudy, seriesNumber: 2, slices: 60 })) {
    study = instance.description.studyInstanceUid;
    await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'bench-reading', institutionId: centre.institutionIds.get('QINGSHI')! });
  }
  await system.runtime.queue.whenIdle();
  return { centre, study, birthDate: '1965-03-12' };
}

const BROWSER_USERS = [['rc-browser-reader', '王芳 Wang Fang'], ['rc-browser-expert', '刘强 Liu Qiang']] as const;
const browserUser = (which: 0 | 1): Credentials => ({ username: BROWSER_USERS[which][0], password: PASSWORD, displayName: BROWSER_USERS[which][1] });

/**
 * Opening a task: the reader on the worklist screen clicks Open on the task, timed from the click as
 * the page receives it to the first image drawn (as bench:viewer times Open in the study list).
 * Floor: the same study opened straight from its URL in a fresh tab (the app loaded cold).
 */
async function benchOpenTask(system: TestSystem, browser: Browser, study: string): Promise<void> {
  const context = await browser.newContext({ viewport: { width: 1400, height: 900 }, locale: 'zh-CN' });
  const page = await context.newPage();
  await signIn(page, system.httpUrl, browserUser(0), '/worklist');
  const fromWorklist: number[] = [];
  const deepLink: number[] = [];
  for (let opening = 0; opening < OPENINGS; opening++) {
    await page.goto(`${system.httpUrl}/worklist`);
    const open = page.locator('.worklist-table tbody tr[data-workitem] button[data-action=open]').first();
    await open.waitFor();
    await page.evaluate(`document.addEventListener('click', () => { globalThis.clickedAt = performance.now(); }, { capture: true, once: true })`);
    await open.click();
    await waitForFirstImage(page, 'viewport-0', 60_000);
    fromWorklist.push((await viewportTimings(page, 'viewport-0'))!.firstImageAt! - ((await page.evaluate('globalThis.clickedAt')) as number));
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${study}`);
    await waitForFirstImage(page, 'viewport-0', 60_000);
    deepLink.push((await viewportTimings(page, 'viewport-0'))!.firstImageAt!);
  }
  await context.close();
  console.log(`\nOpening a task to first image (60-slice 512×512 CT, headless Chromium 1400×900, ${OPENINGS} openings)`);
  console.log(`  worklist Open → first image:         ${summary(fromWorklist)} — ${verdict(median(fromWorklist), TARGETS.openTaskMs)} (p50)`);
  console.log(`  floor, URL opened cold → first image: ${summary(deepLink)}`);
}

const median = (samples: number[]) => [...samples].sort((a, b) => a - b)[Math.floor(samples.length / 2)]!;

/** Polls QIDO-RS (as the test administrator) until the instance is listed in the study. */
async function untilInQido(system: TestSystem, study: string, sopInstanceUid: string): Promise<void> {
  for (;;) {
    const response = await system.fetch(`${system.dicomWebUrl}/studies/${study}/instances?SOPInstanceUID=${sopInstanceUid}`, { headers: { accept: 'application/dicom+json' } });
    const listed = response.status === 200 ? ((await response.json()) as unknown[]).length : (await response.arrayBuffer(), 0);
    if (listed === 1) return;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/**
 * Signing → SR in QIDO: from sending the signature (初诊, 审核, then amendments) to QIDO-RS listing
 * that version's SR. Floor: the same SR bytes (fetched by WADO-URI, given new instance and series
 * UIDs) ingested directly and polled the same way — what the signature and its SR job add is the gap.
 */
async function benchSignToQido(system: TestSystem, centre: ReadingCentre, study: string): Promise<void> {
  const signed: number[] = [];
  const direct: number[] = [];
  for (let signature = 0; signature < SIGNATURES; signature++) {
    const [username, body] = signature === 0 ? ['rc-reader', { role: 'preliminary' }] : signature === 1 ? ['rc-senior', { role: 'final' }] : ['rc-senior', { role: 'amendment', reason: `基准更正 ${signature}` }];
    if (signature === 0) await centre.call('rc-reader', 'POST', `/api/studies/${study}/report`, {});
    const current = await centre.call<Report>(username, 'GET', `/api/studies/${study}/report`);
    if (signature !== 1) {
      const impression = `${IMPRESSION}（${signature}）`;
      const saved = await centre.call(username, 'PUT', `/api/studies/${study}/report/draft`, { content: { findings: FINDINGS, impression }, revision: current.json.draftRevision });
      if (saved.status !== 200) throw new Error(`draft: HTTP ${saved.status} ${JSON.stringify(saved.json)}`);
    }
    const revision = (await centre.call<Report>(username, 'GET', `/api/studies/${study}/report`)).json.draftRevision;
    const started = performance.now();
    const response = await centre.call<Report>(username, 'POST', `/api/studies/${study}/report/signatures`, { ...body, revision });
    if (response.status !== 201) throw new Error(`signature: HTTP ${response.status} ${JSON.stringify(response.json)}`);
    const version = response.json.versions.at(-1)!;
    await untilInQido(system, study, version.srSopInstanceUid);
    signed.push(performance.now() - started);
    await system.runtime.queue.whenIdle();

    const sr = await system.fetch(`${system.httpUrl}/wado?requestType=WADO&studyUID=${study}&seriesUID=${version.srSeriesInstanceUid}&objectUID=${version.srSopInstanceUid}&contentType=application/dicom`);
    if (sr.status !== 200) throw new Error(`WADO-URI of the SR: HTTP ${sr.status}`);
    const copy = withNewInstanceUids(Buffer.from(await sr.arrayBuffer()));
    const ingestStarted = performance.now();
    await system.runtime.ingest.ingest({ part10: copy.part10 }, { via: 'import', name: 'bench-reading', institutionId: centre.institutionIds.get('QINGSHI')! });
    await untilInQido(system, study, copy.sopInstanceUid);
    direct.push(performance.now() - ingestStarted);
    await system.runtime.queue.whenIdle();
  }
  console.log(`\nSigning → SR visible in QIDO-RS (初诊, 审核, ${SIGNATURES - 2} amendments; QIDO polled every 10 ms)`);
  console.log(`  signature sent → SR listed:            ${summary(signed)} — ${verdict(Math.max(...signed), TARGETS.signToQidoMs)} (max)`);
  console.log(`  floor, same SR bytes ingested → listed: ${summary(direct)}`);
}

/** A copy of a Part 10 file as another instance of another series of the same study. */
function withNewInstanceUids(part10: Buffer): { part10: Buffer; sopInstanceUid: string } {
  const read = dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer);
  const sopInstanceUid = newUid();
  const copy = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': read.dict['00080016']!,
    '00020003': { vr: 'UI', Value: [sopInstanceUid] },
    '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] },
  });
  copy.dict = { ...read.dict, '00080018': { vr: 'UI', Value: [sopInstanceUid] }, '0020000E': { vr: 'UI', Value: [newUid()] } };
  return { part10: Buffer.from(copy.write()), sopInstanceUid };
}

/**
 * The report PDF of the final version, rendered as the write-report-pdf job renders it (the series'
 * representative image as key image, the cloud film's QR): cold, the first PDF of a fresh process
 * after the fonts' preload a started worker does (and, apart, without it: bench/report-pdf-cold.ts),
 * then warm in this one. Floor: the same PDF without key images.
 */
async function benchPdf(system: TestSystem, study: string): Promise<void> {
  const report = (await system.runtime.reports.currentReportOfStudy(study))!;
  const version = report.versions.find((candidate) => candidate.status === 'final')!;
  const header = (await system.runtime.reports.studyHeader(study))!;
  const series = (await (await system.fetch(`${system.dicomWebUrl}/studies/${study}/series?Modality=CT`, { headers: { accept: 'application/dicom+json' } })).json()) as { '0020000E': { Value: string[] } }[];
  const thumbnail = await system.fetch(`${system.dicomWebUrl}/studies/${study}/series/${series[0]!['0020000E'].Value[0]}/thumbnail?viewport=384,384`, { headers: { accept: 'image/jpeg' } });
  if (thumbnail.status !== 200) throw new Error(`thumbnail: HTTP ${thumbnail.status}`);
  const filmUrl = (await system.runtime.shareLinks.patientLinkFor(study, { userId: null, username: 'bench' }))!.url;
  const input: ReportPdfInput = { study: header, reportId: report.id, version, keyImages: [{ bytes: Buffer.from(await thumbnail.arrayBuffer()) }], filmUrl };
  const inputFile = path.join(os.tmpdir(), `bench-report-pdf-${process.pid}.json`);
  await fs.writeFile(inputFile, JSON.stringify({ ...input, keyImages: input.keyImages.map((image) => image.bytes.toString('base64')) }));
  const coldRun = async (preloaded: boolean) => {
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', path.join(BENCH_DIRECTORY, 'report-pdf-cold.ts'), inputFile, ...(preloaded ? ['preloaded'] : [])]);
    return JSON.parse(stdout) as { preloadMs: number | null; renderMs: number };
  };
  const cold: number[] = [];
  const preload: number[] = [];
  const unloaded: number[] = [];
  for (let run = 0; run < 3; run++) {
    const { preloadMs, renderMs } = await coldRun(true);
    preload.push(preloadMs!);
    cold.push(renderMs);
    unloaded.push((await coldRun(false)).renderMs);
  }
  await fs.rm(inputFile);
  const warm: number[] = [];
  const bare: number[] = [];
  let bytes = 0;
  for (let run = 0; run < PDF_REPEATS; run++) {
    let started = performance.now();
    bytes = (await renderReportPdf(input)).length;
    warm.push(performance.now() - started);
    started = performance.now();
    await renderReportPdf({ ...input, keyImages: [] });
    bare.push(performance.now() - started);
  }
  console.log(`\nReport PDF of a signed final report (A4, Noto Sans CJK subset, one 384×384 key image, QR; ${(bytes / 1024).toFixed(0)} KiB)`);
  console.log(`  cold (first PDF of a fresh worker):  ${summary(cold)} — ${verdict(Math.max(...cold), TARGETS.pdfMs)} (max)`);
  console.log(`    its fonts, loaded once it is up:   ${summary(preload)} (preloadReportFonts, before any PDF is asked for)`);
  console.log(`    without that preload:              ${summary(unloaded)} (a PDF asked for while it runs waits for it, at most this)`);
  console.log(`  warm:                                ${summary(warm)} — ${verdict(Math.max(...warm), TARGETS.pdfMs)} (max)`);
  console.log(`  floor, warm without key images:      ${summary(bare)}`);
}

/**
 * Consultation: the presenter invites a colleague from the viewer as test/consultation-e2e
 * does; then sets window/level VOI_CHANGES times (bone and brain presets in turn), each timed from
 * the presenter's change event to the follower's overlay showing that window (a MutationObserver
 * in the follower's page; both pages share the browser's clock). Floor: a bare WebSocket round trip
 * (ping → pong) on the same consultation's live socket of the same gateway, from Node.
 */
async function benchConsultation(system: TestSystem, browser: Browser, study: string): Promise<void> {
  const pages: Page[] = [];
  for (let person = 0; person < 2; person++) pages.push(await (await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' })).newPage());
  const [presenter, follower] = pages as [Page, Page];
  await signIn(presenter, system.httpUrl, browserUser(0), `/viewer?StudyInstanceUIDs=${study}`);
  await waitForFirstImage(presenter, 'viewport-0', 60_000);
  await presenter.click('button[data-action=consultation]');
  await presenter.fill('.consultation-invite input[name=invitee]', browserUser(1).username);
  await presenter.fill('.consultation-invite input[name=reason]', '基准会诊');
  await presenter.click('.consultation-invite button[data-action=invite]');
  await presenter.waitForSelector('.consultation-list button[data-action=consultation-join], .consultation-outcome');
  await signIn(follower, system.httpUrl, browserUser(1), `/viewer?StudyInstanceUIDs=${study}`);
  await follower.click('button[data-action=consultation]');
  await follower.click('button[data-action=consultation-accept]');
  await waitForFirstImage(follower, 'viewport-0', 60_000);
  // The presenter's list learns of the acceptance when refreshed; under load one refresh can come too early.
  const join = presenter.locator('button[data-action=consultation-join]');
  for (let attempt = 0; attempt < 20 && !(await join.count()); attempt++) {
    await presenter.click('button[data-action=consultations-refresh]');
    await join.waitFor({ timeout: 1_000 }).catch(() => undefined);
  }
  await join.click();
  await waitForText(presenter, '.consultation-floor', zh('consult.floorYou', { name: browserUser(1).displayName }));

  await presenter.evaluate(`document.addEventListener('change', (event) => { if (event.target.matches('select[data-action=presets]')) globalThis.sentAt = performance.timeOrigin + performance.now(); }, { capture: true })`);
  await follower.evaluate(`(() => {
    const corner = document.querySelector('.viewport[data-cell="0"] .corner.bottom-right');
    globalThis.shown = [];
    new MutationObserver(() => globalThis.shown.push({ text: corner.textContent, at: performance.timeOrigin + performance.now() })).observe(corner, { subtree: true, childList: true, characterData: true });
  })()`);
  const presets = [
    { value: await presenter.locator('select[data-action=presets] option', { hasText: zh('preset.bone') }).getAttribute('value'), shows: zh('overlay.window', { width: 2000, center: 500 }) },
    { value: await presenter.locator('select[data-action=presets] option', { hasText: zh('preset.brain') }).getAttribute('value'), shows: zh('overlay.window', { width: 80, center: 40 }) },
  ];
  const reached: number[] = [];
  for (let change = 0; change < VOI_CHANGES; change++) {
    const preset = presets[change % 2]!;
    await follower.evaluate('globalThis.shown = []');
    await presenter.selectOption('select[data-action=presets]', preset.value!);
    await waitForCornerText(follower, 0, 'bottom-right', preset.shows);
    const sentAt = (await presenter.evaluate('globalThis.sentAt')) as number;
    const shown = (await follower.evaluate('globalThis.shown')) as { text: string; at: number }[];
    reached.push(shown.find((entry) => entry.text.includes(preset.shows))!.at - sentAt);
  }

  const { token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: browserUser(0).username, label: 'bench:reading WebSocket floor' });
  const consultations = await fetch(`${system.httpUrl}/api/consultations`, { headers: { authorization: `Bearer ${token}` } });
  const consultation = ((await consultations.json()) as { id: string; status: string }[]).find((candidate) => candidate.status === 'active')!;
  const socket = new WebSocket(`${system.httpUrl.replace('http', 'ws')}/api/consultations/${consultation.id}/live`, { headers: { authorization: `Bearer ${token}` } });
  await new Promise((resolve, reject) => socket.once('open', resolve).once('error', reject));
  const roundTrips: number[] = [];
  for (let ping = 0; ping < VOI_CHANGES; ping++) {
    const started = performance.now();
    socket.ping();
    await new Promise((resolve) => socket.once('pong', resolve));
    roundTrips.push(performance.now() - started);
  }
  socket.close();
  for (const page of pages) await page.context().close();
  console.log(`\nConsultation: window/level of the presenter on the follower's screen (two Chromium contexts, ${VOI_CHANGES} changes)`);
  console.log(`  change → follower's overlay shows it: ${summary(reached)} — ${verdict(percentile(reached, 0.95), TARGETS.consultationP95Ms)} (p95)`);
  console.log(`  floor, WebSocket ping → pong through the gateway: ${summary(roundTrips)}`);
}

const percentile = (samples: number[], fraction: number) => [...samples].sort((a, b) => a - b)[Math.min(samples.length - 1, Math.floor(fraction * samples.length))]!;

/**
 * Cloud film on a phone (390×844): the patient submits the birth date on the link's page; timed from
 * that navigation's start to the first key image's last byte (the page's own when the image comes
 * inside it as a data: URL, else the image's Resource Timing) and to its paint (Element Timing), read
 * from the page afterwards as the film page runs no script; fresh context and empty cache each time,
 * under DevTools' Slow 4G and unthrottled.
 */
async function benchCloudFilm(system: TestSystem, browser: Browser, study: string, birthDate: string): Promise<void> {
  // The link names the gateway it was made by; the test system's configured port is 0 (any free one).
  const { url } = (await system.runtime.shareLinks.patientLinkFor(study, { userId: null, username: 'bench' }, system.httpUrl))!;
  const firstKeyImage = async (throttled: boolean): Promise<{ lastByte: number; painted: number }> => {
    const context = await browser.newContext({ ...PHONE, locale: 'zh-CN' });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    await cdp.send('Network.setCacheDisabled', { cacheDisabled: true });
    if (throttled) await cdp.send('Network.emulateNetworkConditions', SLOW_4G);
    await page.goto(url);
    await page.fill('#factor', birthDate);
    await page.click('button[type=submit]');
    await page.locator('main.film').waitFor({ timeout: 60_000 });
    await waitForCondition(page, "(() => { const image = document.querySelector('img.key-image'); return !!image && image.complete && image.naturalWidth > 0; })()", 60_000);
    const lastByte = (await page.evaluate(`(() => {
      const source = document.querySelector('img.key-image').currentSrc;
      return (source.startsWith('data:') ? performance.getEntriesByType('navigation')[0] : performance.getEntriesByName(source)[0]).responseEnd;
    })()`)) as number;
    const painted = (await page.evaluate(`new Promise((resolve) => new PerformanceObserver((list) => {
      const entry = list.getEntries().find((candidate) => candidate.identifier === 'first-key-image');
      if (entry) resolve(entry.renderTime || entry.loadTime);
    }).observe({ type: 'element', buffered: true }))`)) as number;
    await context.close();
    return { lastByte, painted };
  };
  const slow: number[] = [];
  const slowPainted: number[] = [];
  const fast: number[] = [];
  for (let run = 0; run < OPENINGS; run++) {
    const throttled = await firstKeyImage(true);
    slow.push(throttled.lastByte);
    slowPainted.push(throttled.painted);
    fast.push((await firstKeyImage(false)).lastByte);
  }
  console.log(`\nCloud film first key image on a phone (390×844 @2x), from submitting the birth date (${OPENINGS} fresh visits each)`);
  console.log(`  Slow 4G (${JSON.stringify(SLOW_4G)}), its last byte: ${summary(slow)} — ${verdict(median(slow), TARGETS.filmKeyImageMs)} (p50)`);
  console.log(`  Slow 4G, painted (Element Timing):   ${summary(slowPainted)} — ${verdict(median(slowPainted), TARGETS.filmKeyImageMs)} (p50)`);
  console.log(`  floor, unthrottled, its last byte:   ${summary(fast)}`);
}

const system = await startTestSystem();
try {
  console.log(`bench:reading on ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, node ${process.version}; load average before: ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
  await benchWorklist(system);
  const [{ centre, study, birthDate }] = await Promise.all([readingCentreWithStudy(system), ensureViewerBuilt()]);
  const browser = await launchChromium();
  try {
    await benchOpenTask(system, browser, study);
    await benchSignToQido(system, centre, study);
    await benchPdf(system, study);
    await benchConsultation(system, browser, study);
    await benchCloudFilm(system, browser, study, birthDate);
  } finally {
    await browser.close();
  }
  console.log(`\nload average after: ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
} finally {
  await system.shutdown();
}
