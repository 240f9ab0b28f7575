import type { Logger } from '../archive/log.ts';
import { ZodError } from 'zod';
import { JOB_ATTEMPTS, retryDelayMs, type EnqueueOptions, type QueueOptions, type FailedJob, type JobDefinition, type JobQueue, type QueueCounts } from './queue.ts';

interface PendingJob {
  id: string;
  name: string;
  payload: unknown;
  attemptsMade: number;
  debounceId?: string;
  timer?: NodeJS.Timeout;
  /** performance.now() when it became ready to run. */
  readySince?: number;
}

const MAX_FAILED_KEPT = 1000;
/**
 * While instances keep arriving, background jobs wait at most this long; then they run one at a time
 * even so, so that a sender that never pauses delays new studies' index and thumbnails but never
 * starves them.
 */
const MAX_WAIT_WHILE_RECEIVING_MS = 10_000;

/**
 * The queue of the embedded default (no REDIS_URL): same handlers, retries and failed list as
 * BullMQ, held in memory. Nothing is lost with it on a crash because the reconciler rebuilds the
 * work from PostgreSQL (receipts not yet indexed, instances without a current thumbnail).
 */
export class InProcessQueue implements JobQueue {
  readonly description = 'in-process jobs (no REDIS_URL)';
  private readonly definitions = new Map<string, JobDefinition<any>>();
  private readonly ready: PendingJob[] = [];
  private readonly delayed = new Set<PendingJob>();
  private readonly byId = new Map<string, PendingJob>();
  private readonly debounced = new Map<string, PendingJob>();
  private readonly failed: FailedJob[] = [];
  private readonly idleWaiters: Array<() => void> = [];
  private active = 0;
  private readonly activeByName = new Map<string, number>();
  private concurrency = 0;
  private closed = false;
  private sequence = 0;
  /** Set while jobs wait for the receivers to go quiet. */
  private resumeTimer?: NodeJS.Timeout;

  constructor(
    private readonly log: Logger,
    private readonly options: QueueOptions = {},
  ) {}

  async enqueue(name: string, payload: unknown, options: EnqueueOptions = {}): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
    if (options.debounceId) {
      const existing = this.debounced.get(options.debounceId);
      if (existing?.timer) {
        existing.payload = payload;
        clearTimeout(existing.timer);
        this.schedule(existing, options.delayMs ?? 0);
        return;
      }
    }
    const id = options.jobId ?? options.debounceId ?? `${name}-${++this.sequence}`;
    if (this.byId.has(id) && !options.debounceId) return;
    // As BullMQ keeps a failed job under its id: it runs again when retried, not when enqueued again.
    if (options.jobId && this.failed.some((failed) => failed.id === options.jobId)) return;
    const job: PendingJob = { id, name, payload, attemptsMade: 0, debounceId: options.debounceId };
    this.byId.set(id, job);
    if (options.debounceId) this.debounced.set(options.debounceId, job);
    if (options.delayMs) this.schedule(job, options.delayMs);
    else this.makeReady(job);
  }

  startWorkers(definitions: JobDefinition<any>[], concurrency: number): void {
    for (const definition of definitions) this.definitions.set(definition.name, definition);
    this.concurrency = concurrency;
    this.pump();
  }

  async listFailed(limit: number): Promise<FailedJob[]> {
    return this.failed.slice(-limit).reverse();
  }

  async retryFailed(): Promise<number> {
    const retried = this.failed.splice(0);
    for (const job of retried) await this.enqueue(job.name, job.payload, { jobId: job.id });
    return retried.length;
  }

  async counts(): Promise<QueueCounts> {
    return { waiting: this.ready.length, active: this.active, delayed: this.delayed.size, failed: this.failed.length };
  }

  async countsByType(): Promise<Record<string, QueueCounts>> {
    const byType: Record<string, QueueCounts> = {};
    const countOf = (name: string) => (byType[name] ??= { waiting: 0, active: 0, delayed: 0, failed: 0 });
    for (const job of this.ready) countOf(job.name).waiting++;
    for (const job of this.delayed) countOf(job.name).delayed++;
    for (const job of this.failed) countOf(job.name).failed++;
    for (const [name, running] of this.activeByName) countOf(name).active += running;
    return byType;
  }

  async checkAvailable(): Promise<void> {
    if (this.closed) throw new Error('queue is closed');
  }

  whenIdle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.resumeTimer);
    for (const job of this.delayed) clearTimeout(job.timer);
    this.delayed.clear();
    this.ready.length = 0;
    if (this.active > 0) await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  private schedule(job: PendingJob, delayMs: number): void {
    this.delayed.add(job);
    job.timer = setTimeout(() => {
      job.timer = undefined;
      this.delayed.delete(job);
      this.makeReady(job);
    }, delayMs);
  }

  private makeReady(job: PendingJob): void {
    if (job.debounceId && this.debounced.get(job.debounceId) === job) this.debounced.delete(job.debounceId);
    job.readySince = performance.now();
    this.ready.push(job);
    this.pump();
  }

  private pump(): void {
    const limit = this.currentLimit();
    while (!this.closed && this.active < limit && this.ready.length > 0) {
      const job = this.ready.shift()!;
      this.active++;
      this.activeByName.set(job.name, (this.activeByName.get(job.name) ?? 0) + 1);
      void this.run(job).finally(() => {
        this.active--;
        const stillRunning = this.activeByName.get(job.name)! - 1;
        if (stillRunning > 0) this.activeByName.set(job.name, stillRunning);
        else this.activeByName.delete(job.name);
        this.pump();
        if (this.isIdle()) for (const resolve of this.idleWaiters.splice(0)) resolve();
      });
    }
  }

  /**
   * How many jobs may run now: all workers, or while instances are being received none (each
   * acknowledgement then waits only for its own disk and database work), except one once the
   * oldest job has waited MAX_WAIT_WHILE_RECEIVING_MS. A timer looks again when that may change.
   */
  private currentLimit(): number {
    const foreground = this.options.foreground;
    if (!foreground?.busy || this.ready.length === 0) return this.concurrency;
    const oldestWaitedMs = performance.now() - (this.ready[0]!.readySince ?? performance.now());
    const untilOverdueMs = (this.options.maxWaitWhileReceivingMs ?? MAX_WAIT_WHILE_RECEIVING_MS) - oldestWaitedMs;
    if (!this.resumeTimer && !this.closed) {
      this.resumeTimer = setTimeout(() => {
        this.resumeTimer = undefined;
        this.pump();
      }, Math.max(1, Math.min(foreground.quietInMs, untilOverdueMs > 0 ? untilOverdueMs : foreground.quietInMs)));
    }
    return untilOverdueMs > 0 ? 0 : Math.min(1, this.concurrency);
  }

  private async run(job: PendingJob): Promise<void> {
    const definition = this.definitions.get(job.name);
    job.attemptsMade++;
    try {
      if (!definition) throw new Error(`no handler for job type ${job.name}`);
      await definition.handle(definition.payload.parse(job.payload));
      this.byId.delete(job.id);
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      if (this.closed) {
        // Stopping: a job cut short (typically while queuing its follow-up) is not a failure to
        // report; what it left undone is found again at the next start by the reconciler.
        this.byId.delete(job.id);
        this.log.info({ job: job.name, jobId: job.id, reason }, 'job cut short by the stop; the reconciler redoes it at the next start');
        return;
      }
      // A payload that fails its schema will fail the same way every time: no retries.
      const retryable = definition && !(error instanceof ZodError) && job.attemptsMade < JOB_ATTEMPTS;
      if (retryable) {
        this.log.warn({ job: job.name, jobId: job.id, attempt: job.attemptsMade, reason }, 'job failed; will retry');
        this.schedule(job, retryDelayMs(job.attemptsMade, this.options.retryBaseMs));
        return;
      }
      this.byId.delete(job.id);
      this.log.error({ job: job.name, jobId: job.id, attempts: job.attemptsMade, reason }, 'job failed for good');
      this.failed.push({
        id: job.id,
        name: job.name,
        payload: job.payload,
        reason,
        attempts: job.attemptsMade,
        failedAt: new Date().toISOString(),
      });
      if (this.failed.length > MAX_FAILED_KEPT) this.failed.shift();
    }
  }

  private isIdle(): boolean {
    return this.active === 0 && this.ready.length === 0 && this.delayed.size === 0;
  }
}
