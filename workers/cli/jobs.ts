/**
 * `npm run jobs -- [failed|retry] [--url http://host:port]`: lists failed background jobs with
 * their reasons, or retries them, through the running gateway's /api/jobs (the in-process queue of
 * the embedded default lives inside that process, so asking it is the one way that always works).
 */
const args = process.argv.slice(2);
const command = args.find((argument) => !argument.startsWith('--')) ?? 'failed';
const urlArgument = args.find((argument) => argument.startsWith('--url='))?.slice('--url='.length);
const base =
  urlArgument ?? `http://${process.env.YINGYUN_HTTP_HOST ?? '127.0.0.1'}:${process.env.YINGYUN_HTTP_PORT ?? '8080'}`;

interface JobsResponse {
  queue: string;
  counts: Record<string, number>;
  failed: Array<{ id: string; name: string; reason: string; attempts: number; failedAt: string; payload: unknown }>;
}

try {
  if (command === 'retry') {
    const response = await fetch(`${base}/api/jobs/retry`, { method: 'POST' });
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    const { retried } = (await response.json()) as { retried: number };
    console.log(`retried ${retried} failed job(s)`);
  } else if (command === 'failed') {
    const response = await fetch(`${base}/api/jobs?limit=1000`);
    if (!response.ok) throw new Error(`${response.status} ${await response.text()}`);
    const jobs = (await response.json()) as JobsResponse;
    const { waiting = 0, active = 0, delayed = 0, failed = 0 } = jobs.counts;
    console.log(`${jobs.queue}: ${waiting} waiting, ${active} running, ${delayed} delayed, ${failed} failed`);
    for (const job of jobs.failed) {
      console.log(`${job.failedAt}  ${job.name}  ${JSON.stringify(job.payload)}  after ${job.attempts} attempt(s): ${job.reason}`);
    }
  } else {
    console.error('usage: npm run jobs -- [failed|retry] [--url=http://127.0.0.1:8080]');
    process.exit(2);
  }
} catch (error) {
  console.error(`cannot reach Yingyun at ${base}: ${(error as Error).message}`);
  process.exit(1);
}
