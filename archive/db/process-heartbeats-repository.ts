import type pg from 'pg';
import type { ProcessRole } from '../metrics/metrics.ts';
import type { MetricsSnapshot } from '../metrics/snapshot.ts';
import type { ProcessRecord, SampleRecord } from '../metrics/status.ts';

export interface ProcessIdentity {
  processId: string;
  role: ProcessRole;
  host: string;
  pid: number;
  startedAt: Date;
}

/** Samples older than this go; the status page shows the last 15 minutes. */
const SAMPLES_KEPT_SECONDS = 3600;
/** Processes not heard from for this long leave the process table (stopped or crashed long ago). */
const PROCESSES_KEPT_SECONDS = 3600;

/** The process heartbeat tables (migration 030): each process's latest snapshot and the recent samples. */
export class ProcessHeartbeatsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** One heartbeat: the process's row brought up to date and a sample added, in one round trip. */
  async beat(identity: ProcessIdentity, snapshot: MetricsSnapshot, stopped = false): Promise<void> {
    await this.pool.query(
      `WITH upsert AS (
         INSERT INTO process_heartbeats (process_id, role, host, pid, started_at, seen_at, stopped_at, snapshot)
         VALUES ($1, $2, $3, $4, $5, now(), CASE WHEN $7 THEN now() END, $6)
         ON CONFLICT (process_id) DO UPDATE SET seen_at = now(), stopped_at = EXCLUDED.stopped_at, snapshot = EXCLUDED.snapshot
       )
       INSERT INTO process_metric_samples (sampled_at, process_id, snapshot) VALUES (now(), $1, $6)
       ON CONFLICT DO NOTHING`,
      [identity.processId, identity.role, identity.host, identity.pid, identity.startedAt, JSON.stringify(snapshot), stopped],
    );
  }

  /** Old samples and long-gone processes go (every process prunes; the deletes are cheap and idempotent). */
  async prune(): Promise<void> {
    await this.pool.query(`DELETE FROM process_metric_samples WHERE sampled_at < now() - make_interval(secs => $1)`, [SAMPLES_KEPT_SECONDS]);
    await this.pool.query(`DELETE FROM process_heartbeats WHERE seen_at < now() - make_interval(secs => $1)`, [PROCESSES_KEPT_SECONDS]);
  }

  /** Every process still in the table, and the samples of the last `windowSeconds`, with the database's clock. */
  async recent(windowSeconds: number): Promise<{ now: Date; processes: ProcessRecord[]; samples: SampleRecord[] }> {
    const [clock, processes, samples] = await Promise.all([
      this.pool.query<{ now: Date }>('SELECT now() AS now'),
      this.pool.query<{ process_id: string; role: ProcessRole; host: string; pid: number; started_at: Date; seen_at: Date; stopped_at: Date | null; snapshot: MetricsSnapshot }>(
        'SELECT process_id, role, host, pid, started_at, seen_at, stopped_at, snapshot FROM process_heartbeats',
      ),
      this.pool.query<{ process_id: string; sampled_at: Date; snapshot: MetricsSnapshot }>(
        'SELECT process_id, sampled_at, snapshot FROM process_metric_samples WHERE sampled_at >= now() - make_interval(secs => $1) ORDER BY sampled_at',
        [windowSeconds],
      ),
    ]);
    return {
      now: clock.rows[0]!.now,
      processes: processes.rows.map((row) => ({
        processId: row.process_id,
        role: row.role,
        host: row.host,
        pid: row.pid,
        startedAt: row.started_at.toISOString(),
        seenAt: row.seen_at.toISOString(),
        stoppedAt: row.stopped_at?.toISOString() ?? null,
        snapshot: row.snapshot,
      })),
      samples: samples.rows.map((row) => ({ processId: row.process_id, sampledAt: row.sampled_at.toISOString(), snapshot: row.snapshot })),
    };
  }
}
