/**
 * `npm run soak`: Yingyun under steady load for SOAK_MINUTES (default 30) on the real PostgreSQL at
 * SOAK_POSTGRES_URL (default the local server), run as `npm start` runs it (one all-in-one process,
 * objects in a local folder, jobs in-process). DCMTK storescu sends over SOAK_ASSOCIATIONS parallel
 * loops (default 2) at SOAK_RATE instances/s in all (default 40), mostly small instances with some CT
 * slices from bench/corpus.ts, each batch with UIDs of its own so every instance is new; a reader asks
 * QIDO-RS and WADO-RS once a second. Every 10 s it samples the server's RSS (/proc), heap (from inside,
 * bench/soak-probe.mjs), open file descriptors (/proc/<pid>/fd), database connections (pg_stat_activity)
 * and instances stored per second; at the end it prints a chart of each and a verdict: memory and
 * descriptors flat over the last two thirds, throughput steady, and every Success indexed and drawn.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import pg from 'pg';
import { ensureCorpus, root } from './corpus.ts';
import { BENCH_NETWORK, DCMTK_NETWORK_ENV, freePort, stopChild, type GatewayStats as Stats } from './peers.ts';

const MINUTES = Number(process.env.SOAK_MINUTES ?? 30);
const OFFERED_RATE = Number(process.env.SOAK_RATE ?? 40);
const ASSOCIATIONS = Number(process.env.SOAK_ASSOCIATIONS ?? 2);
const POSTGRES_URL = process.env.SOAK_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const SAMPLE_SECONDS = 10;
/** Instances per storescu run: small ones and CT slices, about one CT slice in twenty. */
const SMALL_PER_BATCH = 95;
const CT_PER_BATCH = 5;
const AE_TITLE = 'SOAK';
/** How long the work left after the last Success may take before what is still undone counts as lost. */
const SETTLE_LIMIT_MS = 300_000;

/**
 * The verdict's bounds, over the samples after the first third (the warm-up: caches, JIT, pools):
 * the fitted line's rise over that window, and the spread of the per-sample throughput.
 */
const BOUNDS = {
  rssRiseFraction: 0.05,
  heapRiseFraction: 0.1,
  fdRise: 10,
  connectionRise: 2,
  throughputCv: 0.2,
};

const run = promisify(execFile);

interface Sample {
  atSeconds: number;
  rssMiB: number;
  heapUsedMiB: number;
  fds: number;
  dbConnections: number;
  instancesPerSecond: number;
  receipts: number;
  indexed: number;
  readsOk: number;
  readsFailed: number;
  load1: number;
}

interface Counters {
  sent: number;
  successes: number;
  failures: number;
  failureSamples: string[];
  readsOk: number;
  readsFailed: number;
  readFailureSamples: string[];
}

/**
 * A copy of the instance with every 2.25 UID changed in its last six digits by the batch number: the
 * same length, so nothing else in the file moves, and within one batch still the same study and series.
 */
function withUidsOfBatch(part10: Buffer, batch: number): Buffer {
  const text = part10.toString('latin1').replace(/(2\.25\.\d{4,})(\d{6})/g, (_match, head: string, tail: string) => head + String((Number(tail) + batch) % 1_000_000).padStart(6, '0'));
  return Buffer.from(text, 'latin1');
}

async function admin(environment: NodeJS.ProcessEnv, ...args: string[]): Promise<string> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(root, 'archive', 'cli', 'admin.ts'), ...args], { cwd: root, env: environment });
  return stdout;
}

async function startServer(environment: NodeJS.ProcessEnv): Promise<{ child: ChildProcess; httpUrl: string; dicomPort: number }> {
  const child = spawn(process.execPath, ['--import', 'tsx', '--import', path.join(root, 'bench', 'soak-probe.mjs'), path.join(root, 'gateway', 'main.ts'), '--role=all'], {
    cwd: root,
    env: environment,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`Yingyun not ready after 120 s:\n${output}`)), 120_000);
    child.stdout!.on('data', (chunk: Buffer) => {
      output += chunk.toString();
      const ready = /Yingyun ready: web (http:\/\/\S+?)\/ +DICOM \S+@[\d.]+:(\d+)/.exec(output);
      if (ready) {
        clearTimeout(timer);
        resolve({ child, httpUrl: ready[1]!, dicomPort: Number(ready[2]) });
      }
    });
    child.once('exit', (code) => reject(new Error(`Yingyun exited ${code} before it was ready:\n${output}`)));
  });
}

/** The server's heap used, as bench/soak-probe.mjs last wrote it from inside (at most a second ago). */
async function heapUsed(probeFile: string): Promise<number> {
  return (JSON.parse(await fs.readFile(probeFile, 'utf8')) as NodeJS.MemoryUsage).heapUsed;
}

async function residentMiB(pid: number): Promise<number> {
  const status = await fs.readFile(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+) kB/.exec(status)![1]) / 1024;
}

/** One storescu association carrying `files`; resolves with how many got a Success response. */
function storescu(dicomPort: number, files: string[]): Promise<{ successes: number; failures: string[] }> {
  return new Promise((resolve) => {
    const child = spawn('storescu', ['-v', '-aec', 'YINGYUN', '-aet', AE_TITLE, '--max-send-pdu', String(BENCH_NETWORK.maxPduLength), '127.0.0.1', String(dicomPort), ...files], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ...DCMTK_NETWORK_ENV },
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.once('exit', (code) => {
      const successes = output.match(/Received Store Response \(Success\)/g)?.length ?? 0;
      const failures = output.split('\n').filter((line) => /^[EF]:|Store Response \((?!Success)/.test(line));
      if (code !== 0 && failures.length === 0) failures.push(`storescu exited ${code}`);
      resolve({ successes, failures });
    });
  });
}

async function sendLoop(loop: number, dicomPort: number, corpus: { small: string[]; ct: string[] }, batchDir: string, counters: Counters, until: () => boolean): Promise<void> {
  const perLoopRate = OFFERED_RATE / ASSOCIATIONS;
  for (let batch = loop; !until(); batch += ASSOCIATIONS) {
    const started = performance.now();
    const directory = path.join(batchDir, String(batch));
    await fs.mkdir(directory, { recursive: true });
    const sources = [
      ...Array.from({ length: SMALL_PER_BATCH }, (_, index) => corpus.small[(batch * SMALL_PER_BATCH + index) % corpus.small.length]!),
      ...Array.from({ length: CT_PER_BATCH }, (_, index) => corpus.ct[(batch * CT_PER_BATCH + index) % corpus.ct.length]!),
    ];
    const files = await Promise.all(
      sources.map(async (source, index) => {
        const file = path.join(directory, `${index}.dcm`);
        await fs.writeFile(file, withUidsOfBatch(await fs.readFile(source), batch));
        return file;
      }),
    );
    const result = await storescu(dicomPort, files);
    await fs.rm(directory, { recursive: true, force: true });
    counters.sent += files.length;
    counters.successes += result.successes;
    counters.failures += files.length - result.successes;
    if (counters.failureSamples.length < 5) counters.failureSamples.push(...result.failures.slice(0, 5 - counters.failureSamples.length));
    const dueMs = (files.length / perLoopRate) * 1000 - (performance.now() - started);
    if (dueMs > 0) await new Promise((resolve) => setTimeout(resolve, dueMs));
  }
}

/** Once a second: a QIDO-RS study search, then WADO-RS of one instance of a study it found. */
async function readLoop(httpUrl: string, token: string, counters: Counters, until: () => boolean): Promise<void> {
  const headers = { authorization: `Bearer ${token}` };
  const note = (problem: string) => {
    counters.readsFailed++;
    if (counters.readFailureSamples.length < 5) counters.readFailureSamples.push(problem);
  };
  while (!until()) {
    try {
      const studies = await fetch(`${httpUrl}/dicom-web/studies?limit=50`, { headers: { ...headers, accept: 'application/dicom+json' } });
      if (studies.status === 204) {
        await studies.arrayBuffer();
      } else if (!studies.ok) {
        note(`QIDO-RS ${studies.status}`);
      } else {
        counters.readsOk++;
        const found = (await studies.json()) as Array<Record<string, { Value?: string[] }>>;
        const study = found[Math.floor(Math.random() * found.length)]?.['0020000D']?.Value?.[0];
        if (study) {
          const instances = await fetch(`${httpUrl}/dicom-web/studies/${study}/instances?limit=1`, { headers: { ...headers, accept: 'application/dicom+json' } });
          const instance = instances.ok ? ((await instances.json()) as Array<Record<string, { Value?: string[] }>>)[0] : undefined;
          const series = instance?.['0020000E']?.Value?.[0];
          const sop = instance?.['00080018']?.Value?.[0];
          if (!series || !sop) {
            note(`QIDO-RS instances of ${study}: ${instances.status}`);
          } else {
            const retrieved = await fetch(`${httpUrl}/dicom-web/studies/${study}/series/${series}/instances/${sop}`, {
              headers: { ...headers, accept: 'multipart/related; type="application/dicom"' },
            });
            const body = await retrieved.arrayBuffer();
            if (retrieved.ok && body.byteLength > 0) counters.readsOk += 2;
            else note(`WADO-RS ${retrieved.status}`);
          }
        }
      }
    } catch (error) {
      note(`read: ${(error as Error).message}${(error as Error).cause ? ` (${String((error as Error).cause)})` : ''}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 1000));
  }
}

/** Least-squares slope of y over x. */
function slope(xs: number[], ys: number[]): number {
  const n = xs.length;
  const meanX = xs.reduce((a, b) => a + b, 0) / n;
  const meanY = ys.reduce((a, b) => a + b, 0) / n;
  let numerator = 0;
  let denominator = 0;
  for (let index = 0; index < n; index++) {
    numerator += (xs[index]! - meanX) * (ys[index]! - meanY);
    denominator += (xs[index]! - meanX) ** 2;
  }
  return denominator === 0 ? 0 : numerator / denominator;
}

const mean = (values: number[]) => values.reduce((a, b) => a + b, 0) / values.length;

/** One character per column (samples averaged into at most 60 columns), scaled from the minimum to the maximum. */
function sparkline(values: number[]): string {
  const bars = '▁▂▃▄▅▆▇█';
  const columns = Math.min(60, values.length);
  const averaged = Array.from({ length: columns }, (_, column) => {
    const from = Math.floor((column * values.length) / columns);
    const to = Math.max(from + 1, Math.floor(((column + 1) * values.length) / columns));
    return mean(values.slice(from, to));
  });
  const low = Math.min(...averaged);
  const high = Math.max(...averaged);
  return averaged.map((value) => bars[high === low ? 0 : Math.round(((value - low) / (high - low)) * (bars.length - 1))]).join('');
}

function printChart(samples: Sample[]): void {
  const rows: Array<[string, (sample: Sample) => number, number]> = [
    ['RSS MiB', (s) => s.rssMiB, 0],
    ['heap used MiB', (s) => s.heapUsedMiB, 0],
    ['open fds', (s) => s.fds, 0],
    ['DB connections', (s) => s.dbConnections, 0],
    ['instances/s', (s) => s.instancesPerSecond, 1],
    ['load (1 min)', (s) => s.load1, 2],
  ];
  console.log(`\nover ${(samples.at(-1)!.atSeconds / 60).toFixed(1)} min, one column ≈ ${((samples.at(-1)!.atSeconds / Math.min(60, samples.length)) || SAMPLE_SECONDS).toFixed(0)} s (▁ = min, █ = max of the row)`);
  for (const [label, of, digits] of rows) {
    const values = samples.map(of);
    console.log(`${label.padEnd(15)} ${Math.min(...values).toFixed(digits).padStart(7)} … ${Math.max(...values).toFixed(digits).padEnd(7)} ${sparkline(values)}`);
  }
}

interface Verdict {
  name: string;
  passed: boolean;
  detail: string;
}

function verdicts(samples: Sample[], counters: Counters, final: Stats): Verdict[] {
  const start = samples.at(-1)!.atSeconds / 3;
  const window = samples.filter((sample) => sample.atSeconds >= start);
  const minutes = window.map((sample) => sample.atSeconds / 60);
  const windowMinutes = minutes.at(-1)! - minutes[0]!;
  const rise = (of: (sample: Sample) => number) => slope(minutes, window.map(of)) * windowMinutes;
  const rss = rise((s) => s.rssMiB);
  const heap = rise((s) => s.heapUsedMiB);
  const fds = rise((s) => s.fds);
  const connections = rise((s) => s.dbConnections);
  const rates = window.map((sample) => sample.instancesPerSecond);
  const rateMean = mean(rates);
  const cv = Math.sqrt(mean(rates.map((rate) => (rate - rateMean) ** 2))) / rateMean;
  const meanRss = mean(window.map((s) => s.rssMiB));
  const meanHeap = mean(window.map((s) => s.heapUsedMiB));
  const span = `over the last ${windowMinutes.toFixed(1)} min`;
  return [
    { name: 'RSS flat', passed: rss <= BOUNDS.rssRiseFraction * meanRss, detail: `fitted rise ${rss.toFixed(1)} MiB ${span} (bound ${(BOUNDS.rssRiseFraction * 100).toFixed(0)} % of the mean ${meanRss.toFixed(0)} MiB)` },
    { name: 'heap flat', passed: heap <= BOUNDS.heapRiseFraction * meanHeap, detail: `fitted rise ${heap.toFixed(1)} MiB ${span} (bound ${(BOUNDS.heapRiseFraction * 100).toFixed(0)} % of the mean ${meanHeap.toFixed(0)} MiB)` },
    { name: 'file descriptors flat', passed: fds <= BOUNDS.fdRise, detail: `fitted rise ${fds.toFixed(1)} ${span} (bound ${BOUNDS.fdRise}); max ${Math.max(...samples.map((s) => s.fds))}` },
    { name: 'DB connections flat', passed: connections <= BOUNDS.connectionRise, detail: `fitted rise ${connections.toFixed(1)} ${span} (bound ${BOUNDS.connectionRise}); max ${Math.max(...samples.map((s) => s.dbConnections))}` },
    {
      name: 'throughput steady',
      passed: cv <= BOUNDS.throughputCv,
      detail: `${rateMean.toFixed(1)} instances/s (offered ${OFFERED_RATE}), coefficient of variation ${cv.toFixed(3)} ${span} (bound ${BOUNDS.throughputCv})`,
    },
    {
      name: 'nothing lost',
      passed: counters.successes === final.receipts && final.awaitingIndex === 0 && final.awaitingThumbnail === 0 && final.queue.failed === 0,
      detail:
        `${counters.sent} sent, ${counters.successes} Success, ${counters.failures} not Success; ${final.receipts} receipts, ` +
        `${final.receipts - final.awaitingIndex} indexed, ${final.awaitingThumbnail} without thumbnail, ${final.queue.failed} failed jobs`,
    },
    { name: 'reads answered', passed: counters.readsFailed === 0, detail: `${counters.readsOk} QIDO-RS/WADO-RS answers, ${counters.readsFailed} failed` },
  ];
}

async function main(): Promise<void> {
  try {
    await run('sh', ['-c', 'command -v storescu']);
  } catch {
    console.error('storescu (DCMTK) is needed: apt-get install dcmtk');
    process.exit(2);
  }
  const [ctCorpus, smallCorpus] = await ensureCorpus();
  const corpus = { ct: ctCorpus!.files, small: smallCorpus!.files };
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-soak-'));
  const databaseName = `yingyun_soak_${process.pid}`;
  const adminPool = new pg.Pool({ connectionString: POSTGRES_URL, max: 1 });
  await adminPool.query(`CREATE DATABASE ${databaseName}`);
  const databaseUrl = new URL(POSTGRES_URL);
  databaseUrl.pathname = `/${databaseName}`;
  const probe = new pg.Pool({ connectionString: databaseUrl.toString(), max: 1 });
  const environment: NodeJS.ProcessEnv = {
    ...process.env,
    DATABASE_URL: databaseUrl.toString(),
    YINGYUN_DATA_DIR: path.join(workDir, 'data'),
    YINGYUN_HTTP_PORT: String(await freePort()),
    YINGYUN_DICOM_PORT: String(await freePort()),
    YINGYUN_DICOM_HOST: '127.0.0.1',
    YINGYUN_LOG_LEVEL: process.env.YINGYUN_LOG_LEVEL ?? 'warn',
    YINGYUN_MAX_PDU_LENGTH: String(BENCH_NETWORK.maxPduLength),
    SOAK_PROBE_FILE: path.join(workDir, 'memory.json'),
  };
  // The reader signs in with an API token; its account's password is generated and never used.
  for (const name of ['REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET', 'YINGYUN_NEW_PASSWORD']) delete environment[name];
  let server: ChildProcess | undefined;
  try {
    // As an operator sets up a sender and a reading client: on the console, before the server starts.
    await admin(environment, 'institution', 'add', '--code', 'SOAK_HOSPITAL', '--name', '压力测试医院', '--kind', 'hospital');
    await admin(environment, 'peer', 'add', '--institution', 'SOAK_HOSPITAL', '--ae', AE_TITLE, '--network', '127.0.0.1/32');
    await admin(environment, 'user', 'add', '--username', 'soak', '--name', 'Soak reader', '--role', 'system_admin');
    const { token } = JSON.parse(await admin(environment, 'token', 'create', '--user', 'soak', '--label', 'soak')) as { token: string };
    const started = await startServer(environment);
    server = started.child;
    const pid = server.pid!;
    console.log(
      `soak: ${MINUTES} min, ${OFFERED_RATE} instances/s offered over ${ASSOCIATIONS} storescu loops (${SMALL_PER_BATCH} small + ${CT_PER_BATCH} CT per association), ` +
        `QIDO-RS + WADO-RS once a second; Yingyun all-in-one (pid ${pid}) on PostgreSQL ${POSTGRES_URL.replace(/\/[^/]*$/, '')}/${databaseName}, local object folder, in-process jobs`,
    );
    console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? 'cpu'}, ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB; load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the start`);

    const counters: Counters = { sent: 0, successes: 0, failures: 0, failureSamples: [], readsOk: 0, readsFailed: 0, readFailureSamples: [] };
    let endAt = Date.now() + MINUTES * 60_000;
    let interrupted = false;
    // Ctrl-C ends the load early; the server is still stopped and the database dropped below.
    const interrupt = () => {
      interrupted = true;
      endAt = Date.now();
    };
    process.once('SIGINT', interrupt);
    process.once('SIGTERM', interrupt);
    const over = () => Date.now() >= endAt;
    const batchDir = path.join(workDir, 'batches');
    const load = Promise.all([
      ...Array.from({ length: ASSOCIATIONS }, (_, loop) => sendLoop(loop, started.dicomPort, corpus, batchDir, counters, over)),
      readLoop(started.httpUrl, token, counters, over),
    ]);

    const samples: Sample[] = [];
    const t0 = Date.now();
    let previous = { at: t0, receipts: 0, readsOk: 0, readsFailed: 0 };
    console.log('\n   min  RSS MiB  heap MiB  fds  DB conn  inst/s  receipts  indexed  reads ok/failed  load');
    while (!over()) {
      await new Promise((resolve) => setTimeout(resolve, Math.min(SAMPLE_SECONDS * 1000, Math.max(0, endAt - Date.now()))));
      const now = Date.now();
      const [rssMiB, heap, fds, connections, counts] = await Promise.all([
        residentMiB(pid),
        heapUsed(environment.SOAK_PROBE_FILE!),
        fs.readdir(`/proc/${pid}/fd`).then((entries) => entries.length),
        probe.query<{ count: number }>('SELECT count(*)::int AS count FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()'),
        probe.query<{ receipts: number; indexed: number }>('SELECT count(*)::int AS receipts, count(indexed_at)::int AS indexed FROM receipts'),
      ]);
      const { receipts, indexed } = counts.rows[0]!;
      const sample: Sample = {
        atSeconds: (now - t0) / 1000,
        rssMiB,
        heapUsedMiB: heap / 2 ** 20,
        fds,
        dbConnections: connections.rows[0]!.count,
        instancesPerSecond: (receipts - previous.receipts) / ((now - previous.at) / 1000),
        receipts,
        indexed,
        readsOk: counters.readsOk - previous.readsOk,
        readsFailed: counters.readsFailed - previous.readsFailed,
        load1: os.loadavg()[0]!,
      };
      samples.push(sample);
      previous = { at: now, receipts, readsOk: counters.readsOk, readsFailed: counters.readsFailed };
      console.log(
        `${(sample.atSeconds / 60).toFixed(1).padStart(6)} ${sample.rssMiB.toFixed(0).padStart(8)} ${sample.heapUsedMiB.toFixed(0).padStart(9)} ${String(sample.fds).padStart(4)} ` +
          `${String(sample.dbConnections).padStart(8)} ${sample.instancesPerSecond.toFixed(1).padStart(7)} ${String(receipts).padStart(9)} ${String(indexed).padStart(8)} ` +
          `${`${sample.readsOk}/${sample.readsFailed}`.padStart(16)} ${sample.load1.toFixed(2).padStart(5)}`,
      );
    }
    await load;

    // Everything sent has had its answer; now everything acknowledged must come out indexed and drawn.
    const headers = { authorization: `Bearer ${token}` };
    const settleStarted = Date.now();
    let final: Stats;
    for (;;) {
      final = (await (await fetch(`${started.httpUrl}/api/stats`, { headers })).json()) as Stats;
      const busy = final.queue.waiting + final.queue.active + final.queue.delayed;
      if ((final.awaitingIndex === 0 && final.awaitingThumbnail === 0 && busy === 0) || interrupted || Date.now() - settleStarted > SETTLE_LIMIT_MS) break;
      if ((Date.now() - settleStarted) % 10_000 < 1000) console.log(`settling: ${JSON.stringify(final)}`);
      await new Promise((resolve) => setTimeout(resolve, 1000));
    }
    console.log(`settled ${((Date.now() - settleStarted) / 1000).toFixed(1)} s after the last Success`);
    printChart(samples);
    const results = verdicts(samples, counters, final);
    console.log('\nverdict:');
    for (const result of results) console.log(`- ${result.name}: ${result.passed ? 'yes' : 'NO'} — ${result.detail}`);
    for (const failure of counters.failureSamples) console.log(`  storescu: ${failure}`);
    for (const failure of counters.readFailureSamples) console.log(`  reader: ${failure}`);
    console.log(`load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')} at the end`);
    if (results.some((result) => !result.passed)) process.exitCode = 1;
  } finally {
    if (server) await stopChild(server);
    await probe.end();
    await adminPool.query(`DROP DATABASE IF EXISTS ${databaseName} WITH (FORCE)`);
    await adminPool.end();
    await fs.rm(workDir, { recursive: true, force: true });
  }
}

await main();
