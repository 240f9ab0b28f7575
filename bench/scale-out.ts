import os from 'node:os';
import pg from 'pg';
import { sendWithStorescu, type SentInstance } from '../test/support/faults.ts';
import { startScaledStack } from '../test/support/scaled-stack.ts';
import { ensureCorpus } from './corpus.ts';
import { BENCH_NETWORK } from './peers.ts';

/**
 * `npm run bench:scale`: the same small-instance corpus sent over 4 associations (storescu,
 * TCP_NODELAY=1) to 1 gateway + 1 worker, then to 2 gateways + 2 workers (separate processes on one
 * PostgreSQL, Redis and S3-compatible server, as docker-compose.yml runs them; the associations split
 * across the gateways), printing acknowledged instances per second (ingest) and indexed-and-thumbnailed
 * instances per second (end to end) for each, and the ratio. On one machine the ratio is bounded by
 * its cores: every process, PostgreSQL, Redis, the S3 server and the senders share them.
 */

const INSTANCES = Number(process.env.BENCH_SCALE_INSTANCES ?? 600);
const ASSOCIATIONS = 4;
const THUMBNAIL_RUNS = 'yingyun_job_duration_seconds_count{job_type="render-instance-thumbnail",outcome="completed"}';

interface Run {
  shape: string;
  ingestPerSecond: number;
  endToEndPerSecond: number;
}

async function measure(files: string[], gateways: number, workers: number): Promise<Run> {
  const shape = `${gateways} gateway${gateways > 1 ? 's' : ''} + ${workers} worker${workers > 1 ? 's' : ''}`;
  console.log(`starting ${shape} …`);
  const stack = await startScaledStack({ gateways, workers, environment: { YINGYUN_MAX_PDU_LENGTH: String(BENCH_NETWORK.maxPduLength) } });
  try {
    // Only the file matters to the sender; the bench counts acknowledgements, it does not check contents.
    const instances: SentInstance[] = files.map((file) => ({ file, studyInstanceUid: '', seriesInstanceUid: '', sopInstanceUid: '', datasetSha256: '' }));
    const shares = stack.gateways.map((_, index) => instances.filter((_, position) => position % gateways === index));
    const started = performance.now();
    const outcomes = await Promise.all(
      stack.gateways.map((gateway, index) =>
        sendWithStorescu(gateway.dicomPort, shares[index]!, { callingAeTitle: 'BENCH', associations: ASSOCIATIONS / gateways, extraArguments: ['--max-send-pdu', String(BENCH_NETWORK.maxPduLength)], timeoutMs: 600_000 }),
      ),
    );
    const acknowledgedAfter = (performance.now() - started) / 1000;
    const acknowledged = outcomes.reduce((total, outcome) => total + outcome.acknowledged.length, 0);
    if (acknowledged !== files.length) throw new Error(`${shape}: ${acknowledged} of ${files.length} acknowledged:\n${outcomes.map((outcome) => outcome.output).join('\n').slice(0, 2000)}`);
    const client = new pg.Client({ connectionString: stack.databaseUrl });
    await client.connect();
    try {
      for (;;) {
        const { rows } = await client.query<{ indexed: number }>('SELECT count(*)::int AS indexed FROM receipts WHERE indexed_at IS NOT NULL');
        const thumbnails = (await stack.workerFigure(THUMBNAIL_RUNS)).reduce((total, runs) => total + runs, 0);
        if (rows[0]!.indexed >= files.length && thumbnails >= files.length) break;
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
    } finally {
      await client.end();
    }
    const doneAfter = (performance.now() - started) / 1000;
    const run = { shape, ingestPerSecond: files.length / acknowledgedAfter, endToEndPerSecond: files.length / doneAfter };
    console.log(`${shape}: ${files.length} acknowledged in ${acknowledgedAfter.toFixed(1)} s (${run.ingestPerSecond.toFixed(0)}/s), indexed and thumbnailed in ${doneAfter.toFixed(1)} s (${run.endToEndPerSecond.toFixed(0)}/s)`);
    return run;
  } finally {
    await stack.stop();
  }
}

const corpora = await ensureCorpus();
const small = corpora.find((corpus) => corpus.name.includes('small'))!;
const files = small.files.slice(0, INSTANCES);
console.log(`bench:scale — ${files.length} small instances over ${ASSOCIATIONS} associations (storescu, TCP_NODELAY=1); ${os.availableParallelism()} cores, load average ${os.loadavg()[0]!.toFixed(1)} at start`);
const one = await measure(files, 1, 1);
const two = await measure(files, 2, 2);
console.log('');
console.log('| stack | acknowledged/s | indexed + thumbnailed/s |');
console.log('|---|---|---|');
for (const run of [one, two]) console.log(`| ${run.shape} | ${run.ingestPerSecond.toFixed(0)} | ${run.endToEndPerSecond.toFixed(0)} |`);
console.log(`| ratio (2+2 / 1+1) | ${(two.ingestPerSecond / one.ingestPerSecond).toFixed(2)}x | ${(two.endToEndPerSecond / one.endToEndPerSecond).toFixed(2)}x |`);
console.log(
  `\nOn ${os.availableParallelism()} cores the second gateway and worker add processes, not cores: they share the CPU with PostgreSQL, Redis, the S3 server and the four storescu senders, so the ratio shows the stack does not serialise (nothing in a gateway is a single point), not what two machines would give. Load average at the end: ${os.loadavg()[0]!.toFixed(1)}.`,
);
