import { Queue, UnrecoverableError, Worker, type Job } from 'bullmq';
import { redactPassword } from '../archive/config.ts';
import type { Logger } from '../archive/log.ts';
import { JOB_ATTEMPTS, JOB_TYPES_COUNTED, retryDelayMs, type EnqueueOptions, type QueueOptions, type FailedJob, type JobDefinition, type JobQueue, type QueueCounts } from './queue.ts';

const DEFAULT_QUEUE_NAME = 'yingyun';
const FAILED_JOBS_KEPT = 5000;

/** Jobs in Redis through BullMQ, so gateways and workers can run as separate, scaled-out processes. */
export class BullMqQueue implements JobQueue {
  readonly description: string;
  private readonly queue: Queue;
  private worker?: Worker;
  private readonly connection: { url: string; maxRetriesPerRequest: null };

  private readonly queueName: string;

  /** `queueName` keeps several archives (or test runs) on one Redis apart. */
  constructor(
    redisUrl: string,
    private readonly log: Logger,
    private readonly options: QueueOptions & { queueName?: string } = {},
  ) {
    this.queueName = options.queueName ?? DEFAULT_QUEUE_NAME;
    this.description = `BullMQ on ${redactPassword(redisUrl)}`;
    // BullMQ's blocking commands need maxRetriesPerRequest null on the worker connection.
    this.connection = { url: redisUrl, maxRetriesPerRequest: null };
    this.queue = new Queue(this.queueName, { connection: this.connection });
    this.queue.on('error', (error) => this.log.warn({ err: error }, 'job queue connection problem'));
  }

  async enqueue(name: string, payload: unknown, options: EnqueueOptions = {}): Promise<void> {
    await this.queue.add(name, payload, {
      jobId: options.jobId,
      delay: options.delayMs,
      deduplication: options.debounceId
        ? { id: options.debounceId, ttl: options.delayMs ?? 1, extend: true, replace: true }
        : undefined,
      attempts: JOB_ATTEMPTS,
      backoff: { type: 'yingyun' },
      removeOnComplete: true,
      removeOnFail: { count: FAILED_JOBS_KEPT },
    });
  }

  startWorkers(definitions: JobDefinition<any>[], concurrency: number): void {
    const byName = new Map(definitions.map((definition) => [definition.name, definition]));
    this.worker = new Worker(
      this.queueName,
      async (job: Job) => {
        const definition = byName.get(job.name);
        if (!definition) throw new Error(`no handler for job type ${job.name}`);
        const parsed = definition.payload.safeParse(job.data);
        // A payload that fails its schema will fail the same way every time: no retries.
        if (!parsed.success) throw new UnrecoverableError(parsed.error.message);
        await definition.handle(parsed.data);
      },
      {
        connection: this.connection,
        concurrency,
        settings: { backoffStrategy: (attemptsMade: number) => retryDelayMs(attemptsMade, this.options.retryBaseMs) },
      },
    );
    this.worker.on('failed', (job, error) =>
      this.log.warn({ job: job?.name, jobId: job?.id, attempt: job?.attemptsMade, reason: error.message }, 'job failed'),
    );
    this.worker.on('error', (error) => this.log.warn({ err: error }, 'job worker connection problem'));
  }

  async listFailed(limit: number): Promise<FailedJob[]> {
    const jobs = await this.queue.getFailed(0, Math.max(0, limit - 1));
    return jobs.map((job) => ({
      id: String(job.id),
      name: job.name,
      payload: job.data,
      reason: job.failedReason,
      attempts: job.attemptsMade,
      failedAt: new Date(job.finishedOn ?? job.timestamp).toISOString(),
    }));
  }

  async retryFailed(): Promise<number> {
    const jobs = await this.queue.getFailed();
    await Promise.all(jobs.map((job) => job.retry('failed')));
    return jobs.length;
  }

  async counts(): Promise<QueueCounts> {
    const counts = await this.queue.getJobCounts('waiting', 'active', 'delayed', 'failed', 'prioritized');
    return {
      waiting: (counts.waiting ?? 0) + (counts.prioritized ?? 0),
      active: counts.active ?? 0,
      delayed: counts.delayed ?? 0,
      failed: counts.failed ?? 0,
    };
  }

  async countsByType(): Promise<Record<string, QueueCounts>> {
    const [totals, client] = await Promise.all([this.counts(), this.queue.getBackend().client]);
    const byType: Record<string, QueueCounts> = {};
    const states = ['waiting', 'active', 'delayed', 'failed'] as const;
    for (const state of states) {
      // Ids from the state's list, then each job's hash in one pipeline, rather than Queue.getJobs's
      // round trip per job.
      const ids = await this.queue.getRanges(state === 'waiting' ? ['waiting', 'prioritized'] : [state], 0, JOB_TYPES_COUNTED - 1);
      const pipeline = client.pipeline();
      for (const id of ids) pipeline.hgetall(this.queue.toKey(id));
      const names = ((await pipeline.exec()) ?? []).map(([, job]: [Error | null, unknown]) => (job as { name?: string } | null)?.name ?? 'other');
      for (const name of names) (byType[name] ??= { waiting: 0, active: 0, delayed: 0, failed: 0 })[state]++;
      const uncounted = totals[state] - names.length;
      if (uncounted > 0) (byType.other ??= { waiting: 0, active: 0, delayed: 0, failed: 0 })[state] += uncounted;
    }
    return byType;
  }

  async whenIdle(): Promise<void> {
    for (;;) {
      const counts = await this.counts();
      if (counts.waiting + counts.active + counts.delayed === 0) return;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
  }

  async checkAvailable(): Promise<void> {
    // One round trip to Redis through the queue's own connection, whichever client BullMQ uses.
    await this.queue.getJobCounts('waiting');
  }

  async close(): Promise<void> {
    await this.worker?.close();
    await this.queue.close();
  }
}

