import type pg from 'pg';
import type { ObjectStore } from './storage/object-store.ts';
import type { JobQueue } from '../workers/queue.ts';

/** Long enough for a loaded PostgreSQL or a distant S3 endpoint, short enough for a health check's own timeout. */
export const READINESS_TIMEOUT_MS = 2_000;

export interface BackendState {
  ready: boolean;
  /** Why not, when not: the backend's error, or that it did not answer in time. */
  reason?: string;
  ms: number;
}

export interface Readiness {
  ready: boolean;
  database: BackendState;
  objectStore: BackendState;
  queue: BackendState;
}

export interface ReadinessBackends {
  pool: Pick<pg.Pool, 'query'>;
  store: Pick<ObjectStore, 'checkAvailable'>;
  queue: Pick<JobQueue, 'checkAvailable'>;
}

/**
 * Whether the backends an instance needs to be received answer right now: PostgreSQL, the object
 * store and the job queue, each within `timeoutMs` (a hung backend is not ready, not a hung probe).
 * Checks asked for while some are running share them, so a probe every second against a dead
 * backend does not pile up connections.
 */
export class ReadinessCheck {
  private running?: Promise<Readiness>;

  constructor(
    private readonly backends: ReadinessBackends,
    private readonly timeoutMs = READINESS_TIMEOUT_MS,
  ) {}

  check(): Promise<Readiness> {
    this.running ??= this.checkAll().finally(() => (this.running = undefined));
    return this.running;
  }

  private async checkAll(): Promise<Readiness> {
    const [database, objectStore, queue] = await Promise.all([
      this.probe(async () => {
        await this.backends.pool.query('SELECT 1');
      }),
      this.probe(() => this.backends.store.checkAvailable()),
      this.probe(() => this.backends.queue.checkAvailable()),
    ]);
    return { ready: database.ready && objectStore.ready && queue.ready, database, objectStore, queue };
  }

  private async probe(check: () => Promise<void>): Promise<BackendState> {
    const started = performance.now();
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer within ${this.timeoutMs} ms`)), this.timeoutMs);
    });
    try {
      await Promise.race([check(), timedOut]);
      return { ready: true, ms: elapsed(started) };
    } catch (error) {
      return { ready: false, reason: error instanceof Error ? error.message || error.name : String(error), ms: elapsed(started) };
    } finally {
      clearTimeout(timer);
    }
  }
}

function elapsed(started: number): number {
  return Math.round(performance.now() - started);
}
