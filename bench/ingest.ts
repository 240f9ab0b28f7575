/**
 * `npm run bench:ingest`: C-STORE throughput of Yingyun against DCMTK storescp (and Orthanc when
 * installed), measured in the same run on the same corpus with DCMTK's storescu as the sender.
 * Prints instances/s, MB/s, Yingyun's ratio to each peer, and the time from the last Success until
 * every instance is indexed and every thumbnail exists, and the CPU each receiver used per instance
 * during the send (the whole machine's, less the senders'). Every receiver and the sender get the same network
 * settings (bench/peers.ts, BENCH_NETWORK); each receiver's settings are printed with the results.
 */
import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { INGEST_STAGES, type IngestStage } from '../archive/ingest-stages.ts';
import { ensureCorpus, root, type Corpus } from './corpus.ts';
import {
  type GatewayStats as Stats,
  BENCH_NETWORK,
  DCMTK_NETWORK_ENV,
  freePort,
  networkSettings,
  startOrthanc,
  startStorescp,
  stopChild,
  waitForPort,
  type Receiver,
} from './peers.ts';

const SENDER_ARGUMENTS = ['--max-send-pdu', String(BENCH_NETWORK.maxPduLength)];
const SENDER_SETTINGS = `storescu ${SENDER_ARGUMENTS.join(' ')}, ${networkSettings('environment TCP_NODELAY=1')}`;

/** The network settings of our own receivers: the same as the peers', through our configuration. */
const YINGYUN_NETWORK_ENV = { YINGYUN_MAX_PDU_LENGTH: String(BENCH_NETWORK.maxPduLength) };
const YINGYUN_NETWORK_SETTINGS = networkSettings('socket.setNoDelay(true) on each accepted connection');

/** A receiver that may listen on several ports (several gateway processes): associations are split over them. */
type Target = Receiver & { ports?: number[] };

/** Clock ticks per second of /proc's CPU times (USER_HZ: 100 on Linux for every architecture it runs on here). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time, in seconds, of the whole machine (every core busy: user, system, interrupts; not idle,
 * I/O wait or time stolen by the hypervisor) and of this process's children that have ended and been
 * waited for. Around a send, the second is the storescu senders' own CPU (nothing else of ours ends
 * meanwhile), so the first less the second is what the receiver cost, with the kernel's work for its
 * sockets and files and whatever background work it did meanwhile (Linux only: elsewhere, null).
 */
async function cpuSeconds(): Promise<{ machine: number; endedChildren: number } | null> {
  try {
    const [machine, self] = await Promise.all([fs.readFile('/proc/stat', 'utf8'), fs.readFile('/proc/self/stat', 'utf8')]);
    const [user, nice, system, , , irq, softirq] = machine.split('\n')[0]!.trim().split(/\s+/).slice(1).map(Number);
    // Fields after the command name (which may hold spaces): cutime and cstime are the 16th and 17th of stat(5).
    const afterName = self.slice(self.lastIndexOf(')') + 2).split(' ').map(Number);
    return { machine: (user! + nice! + system! + irq! + softirq!) / TICKS_PER_SECOND, endedChildren: (afterName[13]! + afterName[14]!) / TICKS_PER_SECOND };
  } catch {
    return null;
  }
}

/**
 * Sends the files over `associations` parallel storescu processes; resolves with the wall time and,
 * where /proc tells, the CPU seconds the receiver and the senders used meanwhile.
 */
async function send(receiver: Target, corpus: Corpus, associations: number): Promise<{ seconds: number; receiverCpuSeconds?: number; senderCpuSeconds?: number }> {
  const cpuBefore = await cpuSeconds();
  const ports = receiver.ports ?? [receiver.port];
  const groups: string[][] = Array.from({ length: associations }, () => []);
  corpus.files.forEach((file, index) => groups[index % associations]!.push(file));
  const started = process.hrtime.bigint();
  await Promise.all(
    groups.map(
      (files, group) =>
        new Promise<void>((resolve, reject) => {
          // One association per process carrying all of its files.
          const child = spawn('storescu', ['-aec', receiver.aeTitle, '-aet', 'BENCH', ...SENDER_ARGUMENTS, '127.0.0.1', String(ports[group % ports.length]), ...files], {
            stdio: ['ignore', 'ignore', 'pipe'],
            env: { ...process.env, ...DCMTK_NETWORK_ENV },
          });
          let errors = '';
          child.stderr.on('data', (chunk: Buffer) => (errors += chunk.toString()));
          child.once('exit', (code) =>
            code === 0 ? resolve() : reject(new Error(`storescu to ${receiver.name} exited ${code}: ${errors.slice(0, 500)}`)),
          );
        }),
    ),
  );
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  const cpuAfter = await cpuSeconds();
  if (!cpuBefore || !cpuAfter) return { seconds };
  const senderCpuSeconds = cpuAfter.endedChildren - cpuBefore.endedChildren;
  return { seconds, senderCpuSeconds, receiverCpuSeconds: cpuAfter.machine - cpuBefore.machine - senderCpuSeconds };
}

type YingyunReceiver = Target & { stats(): Promise<Stats[]>; httpUrl: string; headers: Record<string, string>; databaseUrl?: string };

const BENCH_ADMIN_PASSWORD = 'bench-admin-password';
/** Each corpus is sent over one association, then over this many in parallel. */
const ASSOCIATION_COUNTS = [1, 4] as const;

/** Signs in as the first administrator: the headers of the session. */
async function signIn(httpUrl: string): Promise<Record<string, string>> {
  const login = await fetch(`${httpUrl}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'admin', password: BENCH_ADMIN_PASSWORD }) });
  if (!login.ok) throw new Error(`bench sign-in failed: ${login.status} ${await login.text()}`);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const session = login.headers.getSetCookie().map((cookie) => cookie.split(';')[0]).join('; ');
  return { cookie: session, 'x-csrf-token': csrfToken };
}

/**
 * Registers the benchmark's sender (AE title BENCH) for an institution, as a PACS administrator would
 * before pointing a PACS at Yingyun.
 */
async function registerBenchSender(httpUrl: string, headers: Record<string, string>): Promise<void> {
  const post = async (route: string, body: unknown) => {
    const response = await fetch(`${httpUrl}${route}`, { method: 'POST', headers: { ...headers, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
    if (!response.ok) throw new Error(`${route}: ${response.status} ${await response.text()}`);
  };
  await post('/api/admin/institutions', { code: 'BENCH_HOSPITAL', name: 'Benchmark hospital', kind: 'hospital' });
  await post('/api/admin/peers', { institutionCode: 'BENCH_HOSPITAL', aeTitle: 'BENCH', allowedNetworks: ['127.0.0.1/32'] });
}

/** One gateway process (`gateway/main.ts`, as `npm start` runs it) on a data folder, optionally on a shared PostgreSQL. */
async function startGateway(dataDir: string, databaseUrl?: string, localStore?: 'segments') {
  const httpPort = await freePort();
  const dicomPort = await freePort();
  // BENCH_INGEST_CPU_PROFILES=<folder>: each gateway writes a V8 CPU profile there when it stops
  // (open in Chrome DevTools), to see where a case's CPU time went beyond the stage times printed.
  const profiling = process.env.BENCH_INGEST_CPU_PROFILES ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(process.env.BENCH_INGEST_CPU_PROFILES)}`] : [];
  const child = spawn(process.execPath, [...profiling, '--import', 'tsx', path.join(root, 'gateway', 'main.ts')], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'inherit'],
    env: {
      ...process.env,
      YINGYUN_DATA_DIR: dataDir,
      YINGYUN_HTTP_PORT: String(httpPort),
      YINGYUN_DICOM_PORT: String(dicomPort),
      YINGYUN_DICOM_HOST: '127.0.0.1',
      YINGYUN_LOG_LEVEL: 'warn',
      YINGYUN_ADMIN_PASSWORD: BENCH_ADMIN_PASSWORD,
      ...(databaseUrl ? { DATABASE_URL: databaseUrl } : {}),
      ...(localStore ? { YINGYUN_LOCAL_STORE: localStore } : {}),
      ...YINGYUN_NETWORK_ENV,
    },
  });
  child.stdout!.resume();
  await waitForPort(dicomPort, 120_000);
  await waitForPort(httpPort, 120_000);
  return { httpUrl: `http://127.0.0.1:${httpPort}`, dicomPort, child };
}

/** The PostgreSQL server two gateway processes share (a fresh database on it per case). */
const SHARED_POSTGRES_URL = process.env.BENCH_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

/**
 * Yingyun as `npm start` runs it (embedded PostgreSQL); or, with `gateways`, that many gateway
 * processes on one machine sharing one PostgreSQL server (SHARED_POSTGRES_URL) and one object store
 * folder, each with its in-process jobs, storescu's associations split between them.
 */
async function startYingyun(workDir: string, gateways?: number, localStore?: 'segments'): Promise<YingyunReceiver> {
  const dataDir = path.join(workDir, `yingyun-${randomBytes(4).toString('hex')}`);
  let databaseUrl: string | undefined;
  let dropDatabase = async () => undefined as unknown;
  if (gateways) {
    const name = `yingyun_bench_${process.pid}_${randomBytes(4).toString('hex')}`;
    await withClient(SHARED_POSTGRES_URL, (client) => client.query(`CREATE DATABASE ${name}`));
    const url = new URL(SHARED_POSTGRES_URL);
    url.pathname = `/${name}`;
    databaseUrl = url.toString();
    dropDatabase = () => withClient(SHARED_POSTGRES_URL, (client) => client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`));
  }
  // One after the other: the first applies the migrations.
  const processes: Array<Awaited<ReturnType<typeof startGateway>>> = [];
  for (let index = 0; index < (gateways ?? 1); index++) processes.push(await startGateway(dataDir, databaseUrl, localStore));
  const sessions = await Promise.all(processes.map((gateway) => signIn(gateway.httpUrl)));
  await registerBenchSender(processes[0]!.httpUrl, sessions[0]!);
  const stats = () => Promise.all(processes.map(async (gateway, index) => (await (await fetch(`${gateway.httpUrl}/api/stats`, { headers: sessions[index]! })).json()) as Stats));
  const name = gateways ? `Yingyun, ${gateways} gateway processes, shared PostgreSQL server` : localStore ? 'Yingyun, segment log (YINGYUN_LOCAL_STORE=segments)' : 'Yingyun';
  return {
    name,
    aeTitle: 'YINGYUN',
    port: processes[0]!.dicomPort,
    ports: processes.map((gateway) => gateway.dicomPort),
    settings:
      `${YINGYUN_NETWORK_SETTINGS} (gateway/dimse/server.ts); ${gateways ? `${gateways} gateway processes (gateway/main.ts), one PostgreSQL server (${new URL(SHARED_POSTGRES_URL).host}, shared with whatever else runs on it) and one object store folder` : process.env.DATABASE_URL ? 'PostgreSQL at DATABASE_URL' : 'embedded PostgreSQL'}; ` +
      `local object store ${localStore === 'segments' ? '(segment log: objects appended to segment files, one fdatasync shared by the objects written meanwhile)' : '(a file per object: fdatasync, rename, folder fsync)'}, each object durable and its receipt committed (group commit, beside the flush) before Success; index and thumbnail jobs in-process`,
    httpUrl: processes[0]!.httpUrl,
    headers: sessions[0]!,
    databaseUrl,
    stats,
    async settled() {
      for (;;) {
        const all = await stats();
        const busy = all.reduce((sum, current) => sum + current.queue.waiting + current.queue.active + current.queue.delayed, 0);
        // Receipts and instances are the database's, the same in every process's answer.
        if (all[0]!.awaitingIndex === 0 && all[0]!.awaitingThumbnail === 0 && busy === 0) return;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
    },
    async stop() {
      await Promise.all(processes.map((gateway) => stopChild(gateway.child)));
      await dropDatabase();
    },
  };
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}

/** What PostgreSQL itself counted: transactions committed in the database, WAL flushes in the whole server. */
async function commitCounters(databaseUrl: string): Promise<{ commits: number; walSyncs: number }> {
  return withClient(databaseUrl, async (client) => {
    await client.query('SELECT pg_stat_clear_snapshot()');
    const { rows } = await client.query<{ commits: string; wal_syncs: string }>(
      `SELECT (SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()) AS commits,
              (SELECT wal_sync FROM pg_stat_wal) AS wal_syncs`,
    );
    return { commits: Number(rows[0]!.commits), walSyncs: Number(rows[0]!.wal_syncs) };
  });
}

const FLOOR_NAMES = {
  flush: 'Durable floor: DIMSE layer + file flush + one commit, nothing else',
  segment: 'Best-case durable floor: DIMSE layer + flush into a preallocated file + one commit',
  'commit-only': 'Commit ceiling: DIMSE layer + one commit, no object written',
} as const;

/** bench/durable-floor.ts in one of its modes: what durability alone costs on this machine. */
async function startDurableFloor(workDir: string, mode: keyof typeof FLOOR_NAMES): Promise<Receiver> {
  const dicomPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'durable-floor.ts'), mode], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: {
      ...process.env,
      YINGYUN_DATA_DIR: path.join(workDir, `floor-${dicomPort}`),
      YINGYUN_DICOM_PORT: String(dicomPort),
      YINGYUN_DICOM_HOST: '127.0.0.1',
      ...YINGYUN_NETWORK_ENV,
    },
  });
  await waitForPort(dicomPort, 120_000);
  return { name: FLOOR_NAMES[mode], aeTitle: 'YINGYUN', port: dicomPort, settings: `${YINGYUN_NETWORK_SETTINGS} (bench/durable-floor.ts); embedded PostgreSQL`, stop: () => stopChild(child) };
}

/** The DIMSE layer alone (bench/dimse-only.ts): the ceiling that storage and indexing sit under. */
async function startDimseOnly(): Promise<Receiver> {
  const dicomPort = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', 'dimse-only.ts')], {
    cwd: root,
    stdio: ['ignore', 'ignore', 'inherit'],
    env: { ...process.env, YINGYUN_DICOM_PORT: String(dicomPort), YINGYUN_DICOM_HOST: '127.0.0.1', ...YINGYUN_NETWORK_ENV },
  });
  await waitForPort(dicomPort, 60_000);
  return { name: 'Yingyun DIMSE layer only (no storage)', aeTitle: 'YINGYUN', port: dicomPort, settings: `${YINGYUN_NETWORK_SETTINGS} (gateway/dimse/server.ts)`, stop: () => stopChild(child) };
}

/**
 * WADO-RS metadata of the largest series received, as a viewer asks for it before showing anything:
 * the median of 7 requests after one warm-up, timed to the last byte.
 */
async function seriesMetadataTiming(httpUrl: string, headers: Record<string, string>): Promise<{ instances: number; megabytes: number; medianMs: number; bestMs: number }> {
  const series = (await (await fetch(`${httpUrl}/dicom-web/series?includefield=00201209&limit=1000`, { headers })).json()) as Array<Record<string, { Value?: unknown[] }>>;
  const largest = series.sort((a, b) => Number(b['00201209']?.Value?.[0] ?? 0) - Number(a['00201209']?.Value?.[0] ?? 0))[0]!;
  const url = `${httpUrl}/dicom-web/studies/${largest['0020000D']!.Value![0]}/series/${largest['0020000E']!.Value![0]}/metadata`;
  const timings: number[] = [];
  let bytes = 0;
  for (let run = 0; run < 8; run++) {
    const started = performance.now();
    const body = await (await fetch(url, { headers: { ...headers, Accept: 'application/dicom+json' } })).arrayBuffer();
    if (run > 0) timings.push(performance.now() - started);
    bytes = body.byteLength;
  }
  timings.sort((a, b) => a - b);
  return { instances: Number(largest['00201209']!.Value![0]), megabytes: bytes / 1e6, medianMs: timings[3]!, bestMs: timings[0]! };
}

/** Where Yingyun's time went in one case: every process's stages, weighted by the instances each took. */
interface StageBreakdown {
  msPerInstance: Record<IngestStage, number>;
  receiptsPerTransaction: number;
  /** On a shared PostgreSQL server: what it counted itself during the send. */
  postgres?: { commits: number; walSyncs: number };
}

function breakdownOf(all: Stats[]): StageBreakdown {
  const instances = all.reduce((sum, stats) => sum + stats.ingest.instances, 0);
  const msPerInstance = Object.fromEntries(
    INGEST_STAGES.map((stage) => [stage, all.reduce((sum, stats) => sum + stats.ingest.msPerInstance[stage] * stats.ingest.instances, 0) / Math.max(1, instances)]),
  ) as Record<IngestStage, number>;
  const transactions = all.reduce((sum, stats) => sum + stats.ingest.groupCommits.transactions, 0);
  const receipts = all.reduce((sum, stats) => sum + stats.ingest.groupCommits.receipts, 0);
  return { msPerInstance, receiptsPerTransaction: receipts / Math.max(1, transactions) };
}

interface Row {
  corpus: string;
  associations: number;
  receiver: string;
  seconds: number;
  instancesPerSecond: number;
  megabytesPerSecond: number;
  settleSeconds?: number;
  stages?: StageBreakdown;
  /** CPU milliseconds per instance during the send: the receiver's (the machine's less the senders') and the senders'. */
  cpuMsPerInstance?: { receiver: number; sender: number };
}

/**
 * Which receivers to run (all by default): BENCH_INGEST_RECEIVERS=yingyun,orthanc,… for a quicker look
 * while working on one of them. The figures recorded in docs/benchmarks.md come from a run of all.
 */
const RECEIVER_KEYS = ['storescp', 'yingyun', 'yingyun-segments', 'dimse-only', 'floor', 'segment', 'commit-only', 'orthanc', 'two-gateways'] as const;
const chosenReceivers = new Set(process.env.BENCH_INGEST_RECEIVERS?.split(',') ?? RECEIVER_KEYS);

async function main(): Promise<void> {
  for (const tool of ['storescu', 'storescp']) {
    try {
      execFileSync('sh', ['-c', `command -v ${tool}`], { stdio: 'ignore' });
    } catch {
      console.error(`${tool} (DCMTK) is needed: apt-get install dcmtk`);
      process.exit(2);
    }
  }
  let haveOrthanc = true;
  try {
    execFileSync('sh', ['-c', 'command -v Orthanc'], { stdio: 'ignore' });
  } catch {
    haveOrthanc = false;
  }
  const corpora = await ensureCorpus();
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-bench-'));
  const rows: Row[] = [];
  /** Each receiver's settings, by name, as it printed them when first started. */
  const settings = new Map<string, string>();
  const loadAtStart = os.loadavg();
  console.log(`sender: ${SENDER_SETTINGS}`);
  let metadataLine = '';
  try {
    for (const corpus of corpora) {
      for (const associations of ASSOCIATION_COUNTS) {
        const receivers: Array<readonly [(typeof RECEIVER_KEYS)[number], () => Promise<Target>]> = [
          ['storescp', () => startStorescp(workDir, associations > 1)],
          ['yingyun', () => startYingyun(workDir)],
          ['yingyun-segments', () => startYingyun(workDir, undefined, 'segments')],
          ['dimse-only', startDimseOnly],
          ['floor', () => startDurableFloor(workDir, 'flush')],
          ['segment', () => startDurableFloor(workDir, 'segment')],
          ['commit-only', () => startDurableFloor(workDir, 'commit-only')],
          ...(haveOrthanc ? [['orthanc', () => startOrthanc(workDir)] as const] : []),
          // Scale-out on one machine: the associations split between two gateway processes.
          ...(associations > 1 ? [['two-gateways', () => startYingyun(workDir, 2)] as const] : []),
        ];
        for (const [key, start] of receivers) {
          if (!chosenReceivers.has(key)) continue;
          const receiver = await start();
          if (!settings.has(receiver.name)) {
            settings.set(receiver.name, receiver.settings);
            console.log(`${receiver.name}: ${receiver.settings}`);
          }
          try {
            const yingyun = 'stats' in receiver ? (receiver as YingyunReceiver) : undefined;
            const countedBefore = yingyun?.databaseUrl ? await commitCounters(yingyun.databaseUrl) : undefined;
            let sent: Awaited<ReturnType<typeof send>>;
            try {
              sent = await send(receiver, corpus, associations);
            } catch (error) {
              // One receiver's failure (a refused association on an overloaded machine) is printed, not the end of the run.
              console.log(`${corpus.name}, ${associations} association(s), ${receiver.name}: FAILED (${error instanceof Error ? error.message : String(error)})`);
              continue;
            }
            const { seconds } = sent;
            const cpuMsPerInstance =
              sent.receiverCpuSeconds !== undefined ? { receiver: (sent.receiverCpuSeconds * 1000) / corpus.files.length, sender: (sent.senderCpuSeconds! * 1000) / corpus.files.length } : undefined;
            const countedAfter = yingyun?.databaseUrl ? await commitCounters(yingyun.databaseUrl) : undefined;
            const settleStarted = process.hrtime.bigint();
            await receiver.settled?.();
            const settleSeconds = receiver.settled ? Number(process.hrtime.bigint() - settleStarted) / 1e9 : undefined;
            const stages = yingyun ? breakdownOf(await yingyun.stats()) : undefined;
            if (stages && countedBefore && countedAfter) {
              stages.postgres = { commits: countedAfter.commits - countedBefore.commits, walSyncs: countedAfter.walSyncs - countedBefore.walSyncs };
            }
            rows.push({
              corpus: corpus.name,
              associations,
              receiver: receiver.name,
              seconds,
              instancesPerSecond: corpus.files.length / seconds,
              megabytesPerSecond: corpus.bytes / 1e6 / seconds,
              settleSeconds,
              stages,
              ...(cpuMsPerInstance ? { cpuMsPerInstance } : {}),
            });
            console.log(
              `${corpus.name}, ${associations} association(s), ${receiver.name}: ${(corpus.files.length / seconds).toFixed(1)} inst/s` +
                (settleSeconds !== undefined ? `, settled ${settleSeconds.toFixed(2)} s after the last Success` : '') +
                (cpuMsPerInstance ? `, receiver CPU ${cpuMsPerInstance.receiver.toFixed(2)} ms per instance` : ''),
            );
            if (yingyun && !yingyun.databaseUrl && associations === 1 && corpus === corpora[0]) {
              const metadata = await seriesMetadataTiming((receiver as YingyunReceiver).httpUrl, (receiver as YingyunReceiver).headers);
              metadataLine = `WADO-RS series metadata, ${metadata.instances} instances (${metadata.megabytes.toFixed(1)} MB of DICOM JSON): median ${metadata.medianMs.toFixed(0)} ms, best ${metadata.bestMs.toFixed(0)} ms`;
              console.log(metadataLine);
            }
          } finally {
            await receiver.stop();
          }
        }
      }
    }
  } finally {
    await fs.rm(workDir, { recursive: true, force: true });
  }
  printTable(rows, loadAtStart);
  printStages(rows, new Map(corpora.map((corpus) => [corpus.name, corpus.files.length])));
  console.log(`\nsender: ${SENDER_SETTINGS}`);
  for (const [name, setting] of settings) console.log(`- ${name}: ${setting}`);
  if (metadataLine) console.log(metadataLine);
  printTargets(rows, corpora.map((corpus) => corpus.name));
}

/**
 * Issue 18's targets, case by case: ahead of Orthanc with the durable acknowledgement; over several
 * associations at least half of storescp's throughput; over one association at least 0.9× the
 * best-case durable floor (a preallocated file's flush and one commit, nothing else). The two gateway
 * processes' aggregate is printed beside the one gateway's; the CT's thumbnails within 10 s (issue 3).
 */
function printTargets(rows: Row[], corpusNames: string[]): void {
  console.log('\ntargets:');
  const [ctCorpus] = corpusNames;
  const verdict = (met: boolean) => (met ? 'met' : 'not met');
  for (const corpus of corpusNames) {
    for (const associations of ASSOCIATION_COUNTS) {
      const of = (receiver: string) => rows.find((row) => row.corpus === corpus && row.associations === associations && row.receiver === receiver);
      const yingyun = of('Yingyun');
      if (!yingyun) continue;
      const parts: string[] = [];
      const orthanc = of('Orthanc');
      if (orthanc) parts.push(`${(yingyun.instancesPerSecond / orthanc.instancesPerSecond).toFixed(2)}× Orthanc (> 1: ${verdict(yingyun.instancesPerSecond > orthanc.instancesPerSecond)})`);
      const storescp = of('DCMTK storescp');
      if (storescp && associations > 1) {
        const ratio = yingyun.instancesPerSecond / storescp.instancesPerSecond;
        parts.push(`${ratio.toFixed(2)}× storescp (≥ 0.50: ${verdict(ratio >= 0.5)})`);
      }
      const floor = of(FLOOR_NAMES.segment);
      if (floor && associations === 1) {
        const ratio = yingyun.instancesPerSecond / floor.instancesPerSecond;
        parts.push(`${ratio.toFixed(2)}× the best-case durable floor (≥ 0.90: ${verdict(ratio >= 0.9)})`);
      }
      const twoGateways = rows.find((row) => row.corpus === corpus && row.associations === associations && row.receiver.startsWith('Yingyun, 2 gateway'));
      if (twoGateways) parts.push(`two gateway processes together ${twoGateways.instancesPerSecond.toFixed(1)} inst/s (${(twoGateways.instancesPerSecond / yingyun.instancesPerSecond).toFixed(2)}× one)`);
      if (orthanc?.cpuMsPerInstance && yingyun.cpuMsPerInstance) {
        // What the machine's cores can carry at most, each instance costing its receiver's and its sender's CPU.
        const ceiling = (row: Row) => (os.cpus().length * 1000) / (row.cpuMsPerInstance!.receiver + row.cpuMsPerInstance!.sender);
        parts.push(
          `CPU per instance ${yingyun.cpuMsPerInstance.receiver.toFixed(2)} ms against Orthanc's ${orthanc.cpuMsPerInstance.receiver.toFixed(2)} ms ` +
            `(${(yingyun.cpuMsPerInstance.receiver / orthanc.cpuMsPerInstance.receiver).toFixed(2)}×): ${os.cpus().length} cores fully used carry at most ` +
            `${ceiling(yingyun).toFixed(0)} inst/s of Yingyun with its senders, ${ceiling(orthanc).toFixed(0)} of Orthanc`,
        );
      }
      if (corpus === ctCorpus && yingyun.settleSeconds !== undefined) {
        parts.push(`thumbnails ${yingyun.settleSeconds.toFixed(2)} s after the last Success (≤ 10 s: ${verdict(yingyun.settleSeconds <= 10)})`);
      }
      console.log(`- ${corpus}, ${associations} association(s): ${parts.join('; ')}`);
    }
  }
}

/**
 * Where each Yingyun instance's time went, per association (an association carries one instance at a
 * time, so its wall time per instance is the run's time × associations ÷ instances): receiving it, then
 * the ingest path's stages (the object's flush and the receipt's commit run side by side, so those
 * overlap), and what is left — the response, storescu reading its next file and sending the next
 * command, and time the two shared cores spent elsewhere (the in-process index and thumbnail jobs).
 */
function printStages(rows: Row[], corpusSizes: Map<string, number>): void {
  const measured = rows.filter((row) => row.stages);
  if (measured.length === 0) return;
  const shown: IngestStage[] = ['receive', 'parse', 'object write', 'object flush', 'folder flush', 'commit wait', 'ingest'];
  console.log('\nwhere the time goes, ms per instance per association (mean):\n');
  console.log(`| corpus | assoc. | receiver | wall | ${shown.join(' | ')} | rest (response, sender, other work) | receipts per commit | PostgreSQL: commits / WAL flushes during the send |`);
  console.log(`|---|---|---|---|${shown.map(() => '---|').join('')}---|---|---|`);
  for (const row of measured) {
    const instances = corpusSizes.get(row.corpus)!;
    const wall = (row.seconds * row.associations * 1000) / instances;
    const ms = row.stages!.msPerInstance;
    const rest = wall - ms.receive - ms.ingest;
    const postgres = row.stages!.postgres ? `${row.stages!.postgres.commits} / ${row.stages!.postgres.walSyncs} (server-wide)` : '';
    console.log(
      `| ${row.corpus} | ${row.associations} | ${row.receiver} | ${wall.toFixed(2)} | ${shown.map((stage) => ms[stage].toFixed(2)).join(' | ')} | ${rest.toFixed(2)} | ${row.stages!.receiptsPerTransaction.toFixed(2)} | ${postgres} |`,
    );
  }
}

function printTable(rows: Row[], loadAtStart: number[]): void {
  console.log('\n| corpus | assoc. | receiver | inst/s | MB/s | Yingyun ÷ this | this ÷ storescp | last Success → all indexed + thumbnails | CPU ms per instance: receiver (machine less senders) | senders |');
  console.log('|---|---|---|---|---|---|---|---|---|---|');
  for (const row of rows) {
    const yingyun = rows.find((r) => r.receiver === 'Yingyun' && r.corpus === row.corpus && r.associations === row.associations);
    const storescp = rows.find((r) => r.receiver === 'DCMTK storescp' && r.corpus === row.corpus && r.associations === row.associations);
    const ratio = yingyun && row.receiver !== 'Yingyun' ? `${(yingyun.instancesPerSecond / row.instancesPerSecond).toFixed(2)}` : '';
    const ofStorescp = storescp && row !== storescp ? `${(row.instancesPerSecond / storescp.instancesPerSecond).toFixed(2)}` : '';
    console.log(
      `| ${row.corpus} | ${row.associations} | ${row.receiver} | ${row.instancesPerSecond.toFixed(1)} | ${row.megabytesPerSecond.toFixed(1)} | ${ratio} | ${ofStorescp} | ${
        row.settleSeconds !== undefined ? `${row.settleSeconds.toFixed(2)} s` : ''
      } | ${row.cpuMsPerInstance?.receiver.toFixed(2) ?? ''} | ${row.cpuMsPerInstance?.sender.toFixed(2) ?? ''} |`,
    );
  }
  const load = (averages: number[]) => averages.map((average) => average.toFixed(2)).join(' ');
  console.log(
    `\nmachine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}; ` +
      `load average (1, 5, 15 min) ${load(loadAtStart)} at the start, ${load(os.loadavg())} at the end`,
  );
}

await main();
