import type pg from 'pg';
import type { DicomJsonDataset } from '../dicom/types.ts';

/** One instance in the edge's forward queue (migration 024). */
export interface EdgeForward {
  receiptId: string;
  sopInstanceUid: string;
  objectKey: string;
  objectSha256: string;
  sizeBytes: number;
  /** Times it was put on the wire, this one included (takeBatch): after one, the region may hold it already (a cut, a crash mid-request). */
  attempts: number;
}

export interface EdgeBacklog {
  /** Not yet verified at the region (pending or sent). */
  count: number;
  bytes: number;
  /** When the oldest of them was received, or null when there is none. */
  oldestReceivedAt: string | null;
  /** Verified at the region, local copy kept for the retention period. */
  verifiedKept: number;
  /** Verified and deleted here. */
  deleted: number;
}

/** The columns of an EdgeForward, of the edge_forwards row named `f`. */
const FORWARD_COLUMNS = `f.receipt_id AS "receiptId", f.sop_instance_uid AS "sopInstanceUid", f.object_key AS "objectKey",
  f.object_sha256 AS "objectSha256", f.size_bytes::float8 AS "sizeBytes", f.attempts`;

/** The only place with SQL for the edge's forward queue (edge_forwards, edge_forwarding_enabled). */
export class EdgeForwardingRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Marks this database as an edge's, so the receipts trigger queues every new receipt, and queues
   * those received before (the first start, or a receipt of a process that ran without the edge role).
   */
  async enable(): Promise<number> {
    await this.pool.query('INSERT INTO edge_forwarding_enabled DEFAULT VALUES ON CONFLICT DO NOTHING');
    const result = await this.pool.query(
      `INSERT INTO edge_forwards (receipt_id, study_instance_uid, sop_instance_uid, object_key, object_sha256, size_bytes, received_at)
       SELECT r.id, r.study_instance_uid, r.sop_instance_uid, r.object_key, r.object_sha256, r.size_bytes, r.received_at
       FROM receipts r WHERE NOT EXISTS (SELECT 1 FROM edge_forwards f WHERE f.receipt_id = r.id)
       ON CONFLICT DO NOTHING`,
    );
    return result.rowCount ?? 0;
  }

  /** Queued receipts whose urgency is not known yet, with the metadata it is read from. */
  async unclassified(limit: number): Promise<Array<{ receiptId: string; metadata: DicomJsonDataset }>> {
    const result = await this.pool.query(
      `SELECT f.receipt_id AS "receiptId", r.metadata
       FROM edge_forwards f JOIN receipts r ON r.study_instance_uid = f.study_instance_uid AND r.id = f.receipt_id
       WHERE f.urgency IS NULL ORDER BY f.receipt_id LIMIT $1`,
      [limit],
    );
    return result.rows;
  }

  async setUrgencies(urgencies: ReadonlyArray<{ receiptId: string; urgency: number }>): Promise<void> {
    if (!urgencies.length) return;
    await this.pool.query(
      `UPDATE edge_forwards f SET urgency = u.urgency
       FROM unnest($1::bigint[], $2::smallint[]) AS u(receipt_id, urgency) WHERE f.receipt_id = u.receipt_id`,
      [urgencies.map((item) => item.receiptId), urgencies.map((item) => item.urgency)],
    );
  }

  /**
   * The next instances to send, most urgent first, then oldest: as many as fit in `maxBytes` (always
   * at least one), and none whose own retry time has not come. Unclassified ones wait for their rank.
   * Each is counted as an attempt before it goes on the wire. `excluding`: already on the wire in another request.
   */
  async takeBatch(maxInstances: number, maxBytes: number, excluding: readonly string[] = []): Promise<EdgeForward[]> {
    const result = await this.pool.query<EdgeForward & { position: string }>(
      `WITH due AS (
         SELECT receipt_id, sum(size_bytes) OVER (ORDER BY urgency, received_at, receipt_id) AS running_bytes,
                row_number() OVER (ORDER BY urgency, received_at, receipt_id) AS position
         FROM (SELECT receipt_id, size_bytes, urgency, received_at FROM edge_forwards
               WHERE state = 'pending' AND urgency IS NOT NULL AND next_attempt_at <= now() AND receipt_id <> ALL ($3::bigint[])
               ORDER BY urgency, received_at, receipt_id LIMIT $1) candidates
       )
       UPDATE edge_forwards f SET attempts = f.attempts + 1
       FROM due WHERE f.receipt_id = due.receipt_id AND (due.position = 1 OR due.running_bytes <= $2)
       RETURNING ${FORWARD_COLUMNS}, due.position`,
      [maxInstances, maxBytes, excluding],
    );
    // RETURNING keeps no order: the queue's is restored here.
    return result.rows.sort((a, b) => Number(a.position) - Number(b.position)).map(({ position: _position, ...forward }) => forward);
  }

  /** Answered Success by the region; verified by its SHA-256 next. */
  async markSent(receiptIds: readonly string[]): Promise<void> {
    if (!receiptIds.length) return;
    await this.pool.query(`UPDATE edge_forwards SET state = 'sent', sent_at = now(), last_error = NULL WHERE receipt_id = ANY ($1::bigint[]) AND state = 'pending'`, [receiptIds]);
  }

  /** The region holds exactly these bytes: the local copy may go once the retention has passed. Returns how many were not verified before. */
  async markVerified(receiptIds: readonly string[]): Promise<number> {
    if (!receiptIds.length) return 0;
    const result = await this.pool.query(
      `UPDATE edge_forwards SET state = 'verified', verified_at = now(), last_error = NULL WHERE receipt_id = ANY ($1::bigint[]) AND state IN ('pending', 'sent')`,
      [receiptIds],
    );
    return result.rowCount ?? 0;
  }

  /** To send again after `delaySeconds` (each its own), saying why. */
  async retryLater(items: ReadonlyArray<{ receiptId: string; delaySeconds: number; error: string }>): Promise<void> {
    if (!items.length) return;
    await this.pool.query(
      `UPDATE edge_forwards f SET state = 'pending', next_attempt_at = now() + make_interval(secs => u.delay), last_error = u.error
       FROM unnest($1::bigint[], $2::float8[], $3::text[]) AS u(receipt_id, delay, error)
       WHERE f.receipt_id = u.receipt_id AND f.state IN ('pending', 'sent')`,
      [items.map((item) => item.receiptId), items.map((item) => item.delaySeconds), items.map((item) => item.error)],
    );
  }

  /** Sent and answered Success, SHA-256 at the region not compared yet (also after a restart). */
  async awaitingVerification(limit: number): Promise<EdgeForward[]> {
    const result = await this.pool.query<EdgeForward>(`SELECT ${FORWARD_COLUMNS} FROM edge_forwards f WHERE f.state = 'sent' ORDER BY f.receipt_id LIMIT $1`, [limit]);
    return result.rows;
  }

  /**
   * Verified at least `retentionSeconds` ago and no longer needed by the edge's own jobs (indexed,
   * thumbnail drawn or given up on): their local objects may be deleted.
   */
  async pastRetention(retentionSeconds: number, limit: number): Promise<EdgeForward[]> {
    const result = await this.pool.query<EdgeForward>(
      `SELECT ${FORWARD_COLUMNS}
       FROM edge_forwards f JOIN receipts r ON r.study_instance_uid = f.study_instance_uid AND r.id = f.receipt_id
       WHERE f.state = 'verified' AND f.verified_at <= now() - make_interval(secs => $1) AND r.indexed_at IS NOT NULL
         AND NOT EXISTS (SELECT 1 FROM instances i WHERE i.study_instance_uid = f.study_instance_uid AND i.receipt_id = f.receipt_id
                         AND i.thumbnail_receipt_id IS DISTINCT FROM i.receipt_id AND i.thumbnail_error IS NULL)
       ORDER BY f.verified_at LIMIT $2`,
      [retentionSeconds, limit],
    );
    return result.rows;
  }

  async markDeleted(receiptIds: readonly string[]): Promise<void> {
    if (!receiptIds.length) return;
    await this.pool.query(`UPDATE edge_forwards SET state = 'deleted', deleted_at = now() WHERE receipt_id = ANY ($1::bigint[]) AND state = 'verified'`, [receiptIds]);
  }

  async backlog(): Promise<EdgeBacklog> {
    const result = await this.pool.query<EdgeBacklog>(
      `SELECT count(*) FILTER (WHERE state IN ('pending', 'sent'))::int AS count,
              coalesce(sum(size_bytes) FILTER (WHERE state IN ('pending', 'sent')), 0)::float8 AS bytes,
              min(received_at) FILTER (WHERE state IN ('pending', 'sent')) AS "oldestReceivedAt",
              count(*) FILTER (WHERE state = 'verified')::int AS "verifiedKept",
              count(*) FILTER (WHERE state = 'deleted')::int AS deleted
       FROM edge_forwards`,
    );
    const row = result.rows[0]!;
    return { ...row, oldestReceivedAt: row.oldestReceivedAt === null ? null : new Date(row.oldestReceivedAt).toISOString() };
  }
}
