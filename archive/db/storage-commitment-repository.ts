import type pg from 'pg';
import type { CommitmentReport, ReferencedInstance } from '../storage-commitment/commitment.ts';

export interface CommitmentRequest {
  id: string;
  transactionUid: string;
  callingAeTitle: string;
  institutionId: string;
  references: ReferencedInstance[];
  /** The same caller had a request of this Transaction UID still owed when this one came. */
  duplicateTransaction: boolean;
  attempts: number;
}

export type DeliveredOn = 'same-association' | 'new-association';

const REQUEST_COLUMNS = `id, transaction_uid AS "transactionUid", calling_ae_title AS "callingAeTitle",
  institution_id AS "institutionId", instance_refs AS "references",
  duplicate_transaction AS "duplicateTransaction", attempts`;

/** The only place with SQL for storage commitment requests (migration 025). */
export class StorageCommitmentRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Records an accepted request, owed a report, claimed for `leaseMs` by the process that took the
   * N-ACTION (it tries the N-ACTION's own association first). A request whose Transaction UID the
   * same caller still has owed is marked a duplicate.
   */
  async insert(request: { transactionUid: string; callingAeTitle: string; institutionId: string; references: readonly ReferencedInstance[] }, leaseMs: number): Promise<CommitmentRequest> {
    const result = await this.pool.query<CommitmentRequest>(
      `INSERT INTO storage_commitment_requests (transaction_uid, calling_ae_title, institution_id, instance_refs, duplicate_transaction, claimed_until)
       VALUES ($1, $2, $3, $4,
               EXISTS (SELECT 1 FROM storage_commitment_requests WHERE calling_ae_title = $2 AND transaction_uid = $1 AND state = 'owed'),
               now() + make_interval(secs => $5 / 1000.0))
       RETURNING ${REQUEST_COLUMNS}`,
      [request.transactionUid, request.callingAeTitle, request.institutionId, JSON.stringify(request.references), leaseMs],
    );
    return result.rows[0]!;
  }

  /**
   * Claims an owed request for one delivery attempt of `leaseMs` at most (the claim of a process
   * that stopped lapses). With `due`, only a request that is due and not claimed by anyone; without,
   * the holder of the claim extends it. Null when there is nothing to claim.
   */
  async claim(id: string, leaseMs: number, options: { due: boolean }): Promise<CommitmentRequest | null> {
    const result = await this.pool.query<CommitmentRequest>(
      `UPDATE storage_commitment_requests SET claimed_until = now() + make_interval(secs => $2 / 1000.0)
       WHERE id = $1 AND state = 'owed'
         AND (NOT $3 OR ((claimed_until IS NULL OR claimed_until < now()) AND next_attempt_at <= now()))
       RETURNING ${REQUEST_COLUMNS}`,
      [id, leaseMs, options.due],
    );
    return result.rows[0] ?? null;
  }

  async delivered(id: string, report: CommitmentReport, on: DeliveredOn): Promise<void> {
    await this.pool.query(
      `UPDATE storage_commitment_requests
       SET state = 'delivered', report = $2, delivered_on = $3, delivered_at = now(), claimed_until = NULL, last_error = NULL
       WHERE id = $1`,
      [id, JSON.stringify(report), on],
    );
  }

  /** A failed attempt: the next one falls due after `delayMs`, or none when `abandon`. */
  async failed(id: string, outcome: { report: CommitmentReport | null; error: string; countsAsAttempt: boolean; delayMs: number; abandon: boolean }): Promise<void> {
    await this.pool.query(
      `UPDATE storage_commitment_requests
       SET state = CASE WHEN $5 THEN 'abandoned' ELSE state END,
           report = COALESCE($2, report), last_error = $3,
           attempts = attempts + CASE WHEN $4 THEN 1 ELSE 0 END,
           next_attempt_at = now() + make_interval(secs => $6 / 1000.0), claimed_until = NULL
       WHERE id = $1`,
      [id, outcome.report ? JSON.stringify(outcome.report) : null, outcome.error, outcome.countsAsAttempt, outcome.abandon, outcome.delayMs],
    );
  }

  /** Owed requests due for longer than the grace period and not claimed: their wake-up was lost. */
  async forgotten(graceSeconds: number, limit: number): Promise<string[]> {
    const result = await this.pool.query<{ id: string }>(
      `SELECT id FROM storage_commitment_requests
       WHERE state = 'owed' AND next_attempt_at < now() - make_interval(secs => $1)
         AND (claimed_until IS NULL OR claimed_until < now())
       ORDER BY next_attempt_at LIMIT $2`,
      [graceSeconds, limit],
    );
    return result.rows.map((row) => row.id);
  }
}
