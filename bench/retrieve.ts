/**
 * `npm run bench:retrieve` (issue 17): Yingyun as a query/retrieve archive against Orthanc in the
 * same run, on the same 500-slice CT, with DCMTK as the client and the destination.
 *
 * - C-MOVE of the study to a DCMTK storescp (movescu -aem), and C-GET of it (getscu, which writes
 *   what it receives): wall time of the DCMTK tool, best and median of the rounds, each peer in turn.
 * - Study-level C-FIND on an index of 200,000 studies (the synthetic regional index of
 *   bench/synthetic-index.ts): per-query time on one open association (dcmjs-dimse), p50 and p95.
 * - The county edge's forwarding rate over a capped link as a share of the cap (bench/edge.ts).
 *
 * Every DCMTK program and Orthanc run with TCP_NODELAY=1 and the same maximum PDU (bench/peers.ts).
 * Targets: retrieval at least 2x Orthanc's; C-FIND p50 < 20 ms; edge forwarding >= 90 % of the cap.
 */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import dimse from '../gateway/dimse/library.ts';
import { watchConnection } from '../gateway/dimse/store-scu.ts';
import { startTestSystem } from '../test/support/system.ts';
import { ensureCorpus, root } from './corpus.ts';
import { BENCH_NETWORK, DCMTK_NETWORK_ENV, launchOrthanc, networkSettings, startStorescp } from './peers.ts';
import { addSyntheticIndex } from './synthetic-index.ts';

const ROUNDS = Number(process.env.BENCH_RETRIEVE_ROUNDS ?? 3);
const FIND_QUERIES = Number(process.env.BENCH_FIND_QUERIES ?? 200);
const SYNTHETIC_PATIENTS = 100_000;
const SYNTHETIC_STUDIES = 200_000;
const MAX_PDU = ['--max-pdu', String(BENCH_NETWORK.maxPduLength)];

const work = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-bench-retrieve-'));
const [ct] = await ensureCorpus();
const ctFiles = ct!.files;
console.log(`corpus: ${ct!.name}, ${(ct!.bytes / 1e6).toFixed(1)} MB`);

const system = await startTestSystem({ YINGYUN_MAX_PDU_LENGTH: String(BENCH_NETWORK.maxPduLength) });
const destination = await startStorescp(work, false);
const orthanc = await launchOrthanc(work, {
  DicomAet: 'ORTHANC',
  // The DCMTK clients and the destination, as any PACS administrator would register them.
  DicomModalities: {
    movescu: { AET: 'MOVESCU', Host: '127.0.0.1', Port: 104 },
    getscu: { AET: 'GETSCU', Host: '127.0.0.1', Port: 104 },
    storescp: { AET: 'STORESCP', Host: '127.0.0.1', Port: destination.port },
  },
});

try {
  await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'BENCH_DEST', host: '127.0.0.1', port: destination.port });
  console.log('loading the CT into Yingyun and Orthanc …');
  let studyInstanceUid = '';
  for (const file of ctFiles) {
    const bytes = await fs.readFile(file);
    await system.runtime.ingest.ingest({ part10: bytes }, { via: 'import', name: 'bench-retrieve', institutionId: system.institutionId });
    const uploaded = await fetch(`http://127.0.0.1:${orthanc.httpPort}/instances`, { method: 'POST', body: new Uint8Array(bytes) });
    if (!uploaded.ok) throw new Error(`Orthanc refused ${file}: ${uploaded.status}`);
    if (!studyInstanceUid) studyInstanceUid = execFileSync('dcmdump', ['+P', '0020,000d', '-s', file], { encoding: 'utf8' }).match(/\[(.+?)\]/)![1]!;
  }
  await system.runtime.queue.whenIdle();

  const peers = [
    { name: 'Yingyun', aeTitle: system.aeTitle, port: system.dicomPort, moveDestination: 'BENCH_DEST' },
    { name: 'Orthanc', aeTitle: 'ORTHANC', port: orthanc.port, moveDestination: 'STORESCP' },
  ];
  const keys = ['-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${studyInstanceUid}`];
  const timed = async (tool: string, args: string[]): Promise<number> => {
    const started = performance.now();
    await new Promise<void>((resolve, reject) => {
      const child = spawn(tool, args, { stdio: ['ignore', 'ignore', 'pipe'], env: { ...process.env, ...DCMTK_NETWORK_ENV } });
      let errors = '';
      child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
      child.once('exit', (code) => (code === 0 ? resolve() : reject(new Error(`${tool} exited ${code}: ${errors}`))));
    });
    return performance.now() - started;
  };
  const results: Record<string, Record<string, number[]>> = { 'C-MOVE': {}, 'C-GET': {} };
  // The destination's own ceiling: DCMTK storescu sending the same files straight to the same storescp,
  // with no archive in between. No C-MOVE, whoever serves it, can deliver faster than this.
  const ceiling: number[] = [];
  for (let round = 0; round < ROUNDS; round++) {
    ceiling.push(await timed('storescu', ['-aet', 'BENCH', '-aec', 'STORESCP', '--max-send-pdu', String(BENCH_NETWORK.maxPduLength), '127.0.0.1', String(destination.port), ...ctFiles]));
    for (const peer of round % 2 === 0 ? peers : [...peers].reverse()) {
      (results['C-MOVE']![peer.name] ??= []).push(await timed('movescu', ['-aet', 'MOVESCU', '-aec', peer.aeTitle, '-aem', peer.moveDestination, ...MAX_PDU, ...keys, '127.0.0.1', String(peer.port)]));
      const getDirectory = await fs.mkdtemp(path.join(work, 'getscu-'));
      (results['C-GET']![peer.name] ??= []).push(await timed('getscu', ['-aet', 'GETSCU', '-aec', peer.aeTitle, '-od', getDirectory, ...MAX_PDU, ...keys, '127.0.0.1', String(peer.port)]));
      const received = (await fs.readdir(getDirectory)).length;
      if (received !== ctFiles.length) throw new Error(`getscu received ${received} of ${ctFiles.length} instances from ${peer.name}`);
      await fs.rm(getDirectory, { recursive: true, force: true });
    }
  }

  console.log(`\nretrieval of the ${ctFiles.length}-slice CT (${ROUNDS} rounds; best / median wall time of the DCMTK tool):`);
  console.log(`  destination: ${destination.name}, ${destination.settings}`);
  console.log(`  clients: movescu and getscu ${MAX_PDU.join(' ')}, ${networkSettings('environment TCP_NODELAY=1')}; getscu writes each instance to a file`);
  console.log(`  Orthanc: SQLite index, file storage, ${networkSettings('environment TCP_NODELAY=1')}`);
  const ratios: string[] = [];
  const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)]!;
  const ceilingBest = Math.min(...ceiling);
  console.log(`  ceiling  storescu → storescp, no archive: best ${(ceilingBest / 1000).toFixed(2)} s (${((ctFiles.length * 1000) / ceilingBest).toFixed(0)} instances/s), median ${(median(ceiling) / 1000).toFixed(2)} s`);
  for (const [operation, byPeer] of Object.entries(results)) {
    for (const [name, times] of Object.entries(byPeer)) {
      const best = Math.min(...times);
      console.log(`  ${operation.padEnd(7)} ${name.padEnd(8)} best ${(best / 1000).toFixed(2)} s (${((ctFiles.length * 1000) / best).toFixed(0)} instances/s, ${((ct!.bytes / 1e6) * 1000 / best).toFixed(1)} MB/s), median ${(median(times) / 1000).toFixed(2)} s`);
    }
    const ratio = median(byPeer.Orthanc!) / median(byPeer.Yingyun!);
    ratios.push(`${operation} ${ratio.toFixed(2)}x Orthanc (median; target >= 2x: ${ratio >= 2 ? 'met' : 'NOT met'})`);
  }

  // BENCH_RETRIEVE_ONLY=1: the retrievals alone (C-FIND and the edge take minutes more).
  const retrievalOnly = Boolean(process.env.BENCH_RETRIEVE_ONLY);
  let findP50 = NaN;
  let studyCount: { count: string } | undefined;
  if (!retrievalOnly) {
    console.log(`\nadding the synthetic regional index: ${SYNTHETIC_PATIENTS} patients, ${SYNTHETIC_STUDIES} studies …`);
    const pool = system.runtime.db.pool;
    await addSyntheticIndex(pool, { patients: SYNTHETIC_PATIENTS, studies: SYNTHETIC_STUDIES });
    await pool.query('VACUUM ANALYZE');
    // A hospital's PACS querying the region: a peer of one synthetic hospital, scoped to it as DICOMweb is.
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'SYNH7', aeTitle: 'BENCH_FIND' });
    ({ rows: [studyCount] } = await pool.query<{ count: string }>('SELECT count(*) FROM studies'));
    const finds = await studyFindTimes(system.dicomPort, system.aeTitle);
    const percentileOf = (values: number[], p: number) => {
      const sorted = [...values].sort((a, b) => a - b);
      return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
    };
    const allFindTimes = finds.map((find) => find.ms);
    findP50 = percentileOf(allFindTimes, 50);
    console.log(`study-level C-FIND on ${Number(studyCount!.count).toLocaleString('en')} studies, ${finds.length} queries on one association by a hospital's PACS (its own hospital's studies in scope), time from one final response to the next:`);
    for (const kind of [...new Set(finds.map((find) => find.kind))]) {
      const ofKind = finds.filter((find) => find.kind === kind);
      const matches = ofKind.map((find) => find.matches);
      console.log(`  ${kind.padEnd(40)} p50 ${percentileOf(ofKind.map((find) => find.ms), 50).toFixed(1).padStart(6)} ms, p95 ${percentileOf(ofKind.map((find) => find.ms), 95).toFixed(1).padStart(6)} ms, matches ${Math.min(...matches)}–${Math.max(...matches)}`);
  }
  console.log(`  all: p50 ${findP50.toFixed(1)} ms, p95 ${percentileOf(allFindTimes, 95).toFixed(1)} ms (target p50 < 20 ms: ${findP50 < 20 ? 'met' : 'NOT met'})`);

  console.log('\nthe county edge over a capped link (npm run bench:edge) …');
  const edge = execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'edge.ts')], { cwd: root, encoding: 'utf8', env: { ...process.env, YINGYUN_LOG_LEVEL: 'silent' } });
  const edgeLines = edge.trim().split('\n');
  for (const line of edgeLines.slice(-4)) console.log(`  ${line}`);

  }
  console.log('\nsummary:');
  for (const line of ratios) console.log(`  ${line}`);
  if (!retrievalOnly) console.log(`  C-FIND p50 ${findP50.toFixed(1)} ms on ${Number(studyCount!.count).toLocaleString('en')} studies (target < 20 ms: ${findP50 < 20 ? 'met' : 'NOT met'})`);
} finally {
  await orthanc.stop();
  await destination.stop();
  await system.shutdown();
  await fs.rm(work, { recursive: true, force: true });
}

/**
 * Study-level C-FIND response times on one association, as a hospital PACS would ask them: the
 * time from one query's final response to the next one's, the first (which carries the association
 * set-up) left out.
 */
async function studyFindTimes(port: number, calledAeTitle: string): Promise<Array<{ kind: string; ms: number; matches: number }>> {
  const { Client, requests, constants } = dimse;
  const client = new Client();
  const answered: Array<{ kind: string; at: number; matches: number }> = [];
  // Values the querying hospital (SYNH7) holds: its patients are those with n ≡ 7 (mod 40), their
  // studies those with n ≡ 6 (mod 40) (bench/synthetic-index.ts); 张敏 is a name among them (167 patients), 王 a surname none of them has.
  for (let n = 0; n < FIND_QUERIES; n++) {
    const patient = 7 + 40 * ((n * 97) % 2400);
    const study = 6 + 40 * ((n * 89) % 4900);
    const year = 2016 + (n % 9);
    const [kind, query]: [string, Record<string, string>] = [
      ['PatientID (one patient)', { PatientID: `P${String(patient).padStart(8, '0')}` }],
      ['PatientName=张敏* (a common full name)', { PatientName: '张敏*', SpecificCharacterSet: 'ISO_IR 192' }],
      ['StudyDate one month + ModalitiesInStudy=CT', { StudyDate: `${year}0101-${year}0131`, ModalitiesInStudy: 'CT' }],
      ['AccessionNumber', { AccessionNumber: `SYN${String(study).padStart(9, '0')}` }],
      ['PatientName=王* (no 王 in this hospital)', { PatientName: '王*', SpecificCharacterSet: 'ISO_IR 192' }],
    ][n % 5] as [string, Record<string, string>];
    const request = requests.CFindRequest.createStudyFindRequest({ PatientName: '', PatientID: '', StudyInstanceUID: '', StudyDate: '', AccessionNumber: '', ModalitiesInStudy: '', ...query });
    let matches = 0;
    request.on('response', (response: dimse.responses.CFindResponse) => {
      if (response.getStatus() === constants.Status.Pending) matches++;
      else answered.push({ kind, at: performance.now(), matches });
    });
    client.addRequest(request);
  }
  await new Promise<void>((resolve, reject) => {
    client.on('associationReleased', () => resolve());
    client.on('networkError', (error: Error) => reject(error));
    client.on('associationRejected', () => reject(new Error('C-FIND association rejected')));
    client.send('127.0.0.1', port, 'BENCH_FIND', calledAeTitle, { associationTimeout: 30_000, pduTimeout: 600_000 });
    watchConnection(client, (abort) => reject(new Error(`C-FIND association aborted: ${abort}`)));
  });
  if (answered.length !== FIND_QUERIES) throw new Error(`${answered.length} of ${FIND_QUERIES} C-FINDs answered`);
  return answered.slice(1).map((find, index) => ({ kind: find.kind, ms: find.at - answered[index]!.at, matches: find.matches }));
}
