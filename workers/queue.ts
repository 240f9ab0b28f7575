import type { ForegroundActivity } from '../archive/foreground-activity.ts';
import type { z } from 'zod';

/**
 * A named background job: its payload schema and handler live in one file under workers/jobs/.
 * Handlers must be idempotent: a job may run more than once (retries, the reconciler, a crash).
 */
export interface JobDefinition<Payload = unknown> {
  name: string;
  payload: z.ZodType<Payload>;
  handle(payload: Payload): Promise<void>;
}

export interface EnqueueOptions {
  /**
   * While a job with this id is waiting, running, waiting to be retried, or kept in the failed list,
   * enqueuing it again does nothing: a failed job runs again only through `retryFailed`, so a sweep
   * that enqueues what is still undone (the reconciler) cannot start a job that fails for good over
   * and over.
   */
  jobId?: string;
  delayMs?: number;
  /**
   * Debounce: while a job with this id is still delayed, enqueuing replaces it and restarts its delay,
   * so a burst (500 slices of one series) ends in one run shortly after the last one.
   */
  debounceId?: string;
}

export interface FailedJob {
  id: string;
  name: string;
  payload: unknown;
  reason: string;
  attempts: number;
  failedAt: string;
}

export interface QueueCounts {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

export interface JobQueue {
  readonly description: string;
  enqueue(name: string, payload: unknown, options?: EnqueueOptions): Promise<void>;
  /** Starts processing in this process. A gateway-only process enqueues but never calls this. */
  startWorkers(definitions: JobDefinition<any>[], concurrency: number): void;
  listFailed(limit: number): Promise<FailedJob[]>;
  retryFailed(): Promise<number>;
  counts(): Promise<QueueCounts>;
  /**
   * The same per job type, for the metrics' queue depth. Beyond the first JOB_TYPES_COUNTED jobs of a
   * state, jobs are counted under `other` rather than looked at one by one (a backlog of a million
   * must not make every scrape read a million jobs).
   */
  countsByType(): Promise<Record<string, QueueCounts>>;
  /** Resolves when jobs can be enqueued right now (Redis answers; the in-process queue is open). */
  checkAvailable(): Promise<void>;
  /**
   * Resolves when nothing is waiting, delayed or running (for tests and benchmarks). A job waiting
   * for its next attempt counts as delayed, so this waits for retries to succeed or give up (up to
   * about 15 s with the default backoff); jobs in the failed list do not count.
   */
  whenIdle(): Promise<void>;
  /** Stops taking new jobs and waits for running ones to finish. */
  close(): Promise<void>;
}

/** How many jobs of each state `countsByType` reads the type of. */
export const JOB_TYPES_COUNTED = 1000;

/** Attempts before a job is left in the failed list for a person to look at. */
export const JOB_ATTEMPTS = 5;

/** Exponential backoff shared by both queue implementations: 1 s, 2 s, 4 s … capped at 60 s. */
export function retryDelayMs(attemptsMade: number, baseMs = 1000): number {
  return Math.min(60_000, baseMs * 2 ** Math.max(0, attemptsMade - 1));
}

export interface QueueOptions {
  /** First retry delay; tests shorten it. */
  retryBaseMs?: number;
  /** Instances being received, which an in-process queue gives way to. */
  foreground?: ForegroundActivity;
  /** How long jobs wait for the receivers before one runs regardless (default 10 s); tests shorten it. */
  maxWaitWhileReceivingMs?: number;
}
