import { randomBytes } from 'node:crypto';
import os from 'node:os';
import type { ProcessHeartbeatsRepository, ProcessIdentity } from '../db/process-heartbeats-repository.ts';
import type { Logger } from '../log.ts';
import type { Metrics } from './metrics.ts';
import { takeSnapshot } from './snapshot.ts';
import { HEARTBEAT_INTERVAL_SECONDS, summariseStatus, type SystemStatus } from './status.ts';

/** Prune old samples every this many beats (about once a minute per process). */
const PRUNE_EVERY_BEATS = 6;
/** What the status page charts by default. */
export const STATUS_WINDOW_SECONDS = 15 * 60;

/**
 * This process's heartbeat: a snapshot of its metrics written to PostgreSQL every interval, so the
 * admin UI's status page, whichever gateway serves it, sees every gateway and worker. A failed write
 * is logged and the next interval tries again: monitoring never stops the process's real work.
 */
export class ProcessHeartbeat {
  readonly identity: ProcessIdentity;
  private timer?: NodeJS.Timeout;
  private beats = 0;
  private running?: Promise<void>;

  constructor(
    private readonly deps: { repository: ProcessHeartbeatsRepository; metrics: Metrics; runsReconciler: boolean; log: Logger; intervalSeconds?: number },
  ) {
    this.identity = {
      // New at every start: a restarted process is a new row, and its counters start again from zero.
      processId: `${os.hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
      role: deps.metrics.role,
      host: os.hostname(),
      pid: process.pid,
      startedAt: new Date(),
    };
  }

  start(): void {
    void this.beat();
    this.timer = setInterval(() => void this.beat(), (this.deps.intervalSeconds ?? HEARTBEAT_INTERVAL_SECONDS) * 1000);
    this.timer.unref();
  }

  /** One heartbeat now (also what a test calls instead of waiting for the interval), after any still being written. */
  beat(stopped = false): Promise<void> {
    const next = (this.running ?? Promise.resolve()).then(() => this.write(stopped));
    this.running = next;
    return next;
  }

  /** The last heartbeat, saying the process stopped on purpose (the status page then shows it stopped, not silent). */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.beat(true);
  }

  private async write(stopped: boolean): Promise<void> {
    try {
      const snapshot = await takeSnapshot(this.deps.metrics, { runsReconciler: this.deps.runsReconciler });
      await this.deps.repository.beat(this.identity, snapshot, stopped);
      if (++this.beats % PRUNE_EVERY_BEATS === 0) await this.deps.repository.prune();
    } catch (error) {
      this.deps.log.warn({ err: error }, 'process heartbeat not written; trying again at the next interval');
    }
  }
}

/** GET /api/admin/status: every process and the figures of the last `windowSeconds`, on the database's clock. */
export async function systemStatus(repository: ProcessHeartbeatsRepository, windowSeconds = STATUS_WINDOW_SECONDS): Promise<SystemStatus> {
  const { now, processes, samples } = await repository.recent(windowSeconds);
  return summariseStatus(processes, samples, now);
}
