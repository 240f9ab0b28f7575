import type pg from 'pg';
import type { BulkDataLocation, CharacterSetReport, DicomJsonDataset, PixelDescription } from '../dicom/types.ts';
import type { UnconfirmedGrace } from './receipt-committer.ts';

export interface NewReceipt {
  sopInstanceUid: string;
  sopClassUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  transferSyntaxUid: string;
  objectKey: string;
  objectSha256: string;
  datasetSha256: string;
  sizeBytes: number;
  sourceId: string;
  remoteAddress?: string;
  calledAeTitle?: string;
  metadata: DicomJsonDataset;
  bulkData: BulkDataLocation[];
  pixel?: PixelDescription;
  datasetOffset: number;
  deflated: boolean;
  characterSet: CharacterSetReport;
}

export interface StoredReceipt extends Omit<NewReceipt, 'remoteAddress' | 'calledAeTitle' | 'pixel'> {
  id: string;
  receivedAt: string;
  pixel: PixelDescription | null;
  indexedAt: string | null;
}

const RECEIPT_COLUMNS = `
  id, sop_instance_uid AS "sopInstanceUid", sop_class_uid AS "sopClassUid",
  study_instance_uid AS "studyInstanceUid", series_instance_uid AS "seriesInstanceUid",
  transfer_syntax_uid AS "transferSyntaxUid", object_key AS "objectKey", object_sha256 AS "objectSha256",
  dataset_sha256 AS "datasetSha256", size_bytes::float8 AS "sizeBytes", source_id AS "sourceId",
  received_at AS "receivedAt", metadata, bulk_data AS "bulkData", pixel, dataset_offset AS "datasetOffset",
  deflated, character_set AS "characterSet", indexed_at AS "indexedAt"`;

/** A receipt's object is confirmed durable when no row of receipt_object_pending names it (migration 037). */
const OBJECT_CONFIRMED = 'NOT EXISTS (SELECT 1 FROM receipt_object_pending pending WHERE pending.receipt_id = receipts.id)';

/** What inserting a receipt found (ReceiptsRepository.insertUnconfirmed). */
export interface InsertedReceipt {
  /** True when the study, series or instance belongs to an institution outside the writable ones: nothing was inserted. */
  refused: boolean;
  /** The study the receipt's series is filed under, when it is not the one the receipt names: nothing was inserted. */
  seriesStudyInstanceUid: string | null;
  /** Null when an identical receipt exists (or won a race with this one), or nothing was inserted. */
  receiptId: string | null;
  previousReceiptId: string | null;
}

/** A connection, or a client holding a transaction open (the receipt committer's). */
export type Queryable = Pick<pg.PoolClient, 'query'>;

/** The only place with SQL for sources, receipts and instance events. */
export class ReceiptsRepository {
  private readonly sourceIds = new Map<string, string>();

  constructor(private readonly pool: pg.Pool) {}

  async sourceId(via: string, name: string, institutionId: string): Promise<string> {
    const cacheKey = `${via}\u0000${name}\u0000${institutionId}`;
    const cached = this.sourceIds.get(cacheKey);
    if (cached) return cached;
    const result = await this.pool.query<{ id: string }>(
      `INSERT INTO sources (via, name, institution_id) VALUES ($1, $2, $3)
       ON CONFLICT (via, name, institution_id) DO UPDATE SET name = EXCLUDED.name
       RETURNING id`,
      [via, name, institutionId],
    );
    const id = result.rows[0]!.id;
    this.sourceIds.set(cacheKey, id);
    return id;
  }

  /** The receipt already holding this dataset of the instance, if any (the dataset names the study: one partition). */
  async findByContent(sopInstanceUid: string, datasetSha256: string, studyInstanceUid: string): Promise<{ receiptId: string; objectKey: string; objectConfirmed: boolean } | null> {
    const result = await this.pool.query<{ receiptId: string; objectKey: string; objectConfirmed: boolean }>(
      `SELECT id AS "receiptId", object_key AS "objectKey", ${OBJECT_CONFIRMED} AS "objectConfirmed"
       FROM receipts WHERE sop_instance_uid = $1 AND dataset_sha256 = $2 AND study_instance_uid = $3`,
      [sopInstanceUid, datasetSha256, studyInstanceUid],
    );
    return result.rows[0] ?? null;
  }

  /**
   * Inserts a receipt whose object is not yet confirmed durable (migrations 029, 037: a row in
   * receipt_object_pending) on `on`, and confirms the receipts `confirmIds` in the same statement: the receipt committer's confirmations
   * ride on the next receipt's commit instead of costing one of their own. When another version of the
   * instance already exists in the study, the new-version event is written with it.
   *
   * The study and the instance belong to the institution of their first receipt's source, the
   * series to the institution it was indexed under: when one of them belongs to an institution not
   * in `writableInstitutionIds` ('all': any), nothing is inserted and `refused` is true. Nor is
   * anything inserted when the series is filed under another study than the receipt names
   * (`seriesStudyInstanceUid`): a series keeps the study it was first indexed in, and an instance's
   * receipt is in the instance's study (migration 035). Checked in the same statement as the insert,
   * so ownership costs no round trip of its own.
   *
   * Receipts are partitioned by study (migration 035): every look-up here names the receipt's study
   * and reads one partition, except the instance's owner when the study has no receipt of it yet (a
   * new instance, or one new to this study), which is looked for in every partition.
   */
  async insertUnconfirmed(on: Queryable, receipt: NewReceipt, writableInstitutionIds: readonly string[] | 'all', confirmIds: readonly string[]): Promise<InsertedReceipt> {
    const result = await on.query<InsertedReceipt>({
      // Prepared once per connection: planning this statement cost about as much as running it
      // (0.3-0.9 ms against 0.4 ms, EXPLAIN ANALYZE on PostgreSQL 15), once per instance received.
      name: 'insert-unconfirmed-receipt',
      // No ORDER BY … LIMIT on a scan of receipts by instance: with stale statistics the planner
      // walked an index in id order for it and read every receipt (migration 033). Reading all of an
      // instance's receipts (a handful) and ordering them is one index descent whatever the statistics.
      text: `WITH confirmed AS (
         -- a row deleted from a small table: the receipts themselves are not written again (migration 037)
         DELETE FROM receipt_object_pending WHERE receipt_id = ANY ($20::bigint[])
       ), here AS MATERIALIZED (
           SELECT id, source_id, dataset_sha256 FROM receipts WHERE study_instance_uid = $3 AND sop_instance_uid = $1
         ), earliest AS (
           SELECT id, source_id FROM here
           UNION ALL
           SELECT id, source_id FROM receipts WHERE sop_instance_uid = $1 AND NOT EXISTS (SELECT 1 FROM here)
         ), series_filed AS (
           SELECT institution_id, study_instance_uid FROM series WHERE series_instance_uid = $4 ORDER BY id LIMIT 1
         ), owners AS (
           SELECT (SELECT s.institution_id FROM receipts r JOIN sources s ON s.id = r.source_id
                   WHERE r.study_instance_uid = $3 ORDER BY r.id LIMIT 1) AS study_owner,
                  (SELECT s.institution_id FROM earliest e JOIN sources s ON s.id = e.source_id ORDER BY e.id LIMIT 1) AS instance_owner,
                  (SELECT institution_id FROM series_filed) AS series_owner
         ), refused AS (
           SELECT 1 FROM owners
           WHERE $19::bigint[] IS NOT NULL
             AND (study_owner <> ALL ($19::bigint[]) OR instance_owner <> ALL ($19::bigint[]) OR series_owner <> ALL ($19::bigint[]))
         ), elsewhere AS (
           SELECT study_instance_uid FROM series_filed WHERE study_instance_uid <> $3
         ), previous AS (
           SELECT id FROM here WHERE dataset_sha256 <> $8 ORDER BY id DESC LIMIT 1
         ), inserted AS (
           INSERT INTO receipts (sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid,
             transfer_syntax_uid, object_key, object_sha256, dataset_sha256, size_bytes, source_id,
             remote_address, called_ae_title, metadata, bulk_data, pixel, dataset_offset, deflated, character_set)
           SELECT $1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18
           WHERE NOT EXISTS (SELECT 1 FROM refused) AND NOT EXISTS (SELECT 1 FROM elsewhere)
           ON CONFLICT (sop_instance_uid, dataset_sha256, study_instance_uid) DO NOTHING
           RETURNING id, received_at
         ), pending AS (
           INSERT INTO receipt_object_pending (receipt_id, study_instance_uid, received_at, size_bytes)
           SELECT id, $3, received_at, $9 FROM inserted
         ), event AS (
           INSERT INTO instance_events (sop_instance_uid, study_instance_uid, kind, receipt_id, previous_receipt_id, detail)
           SELECT $1, $3, 'new-version', inserted.id, previous.id,
                  jsonb_build_object('datasetSha256', $8::text, 'sourceId', $10::bigint)
           FROM inserted, previous
         )
         SELECT EXISTS (SELECT 1 FROM refused) AS refused, (SELECT study_instance_uid FROM elsewhere) AS "seriesStudyInstanceUid",
                (SELECT id FROM inserted) AS "receiptId", (SELECT id FROM previous) AS "previousReceiptId"`,
      values: [
        receipt.sopInstanceUid,
        receipt.sopClassUid,
        receipt.studyInstanceUid,
        receipt.seriesInstanceUid,
        receipt.transferSyntaxUid,
        receipt.objectKey,
        receipt.objectSha256,
        receipt.datasetSha256,
        receipt.sizeBytes,
        receipt.sourceId,
        receipt.remoteAddress ?? null,
        receipt.calledAeTitle ?? null,
        JSON.stringify(receipt.metadata),
        JSON.stringify(receipt.bulkData),
        receipt.pixel ? JSON.stringify(receipt.pixel) : null,
        receipt.datasetOffset,
        receipt.deflated,
        JSON.stringify(receipt.characterSet),
        writableInstitutionIds === 'all' ? null : writableInstitutionIds,
        confirmIds,
      ],
    });
    return result.rows[0]!;
  }

  /**
   * Confirms receipts' objects durable in a statement of their own (when no receipt comes to carry
   * them). Returns those of `receiptIds` that exist and are confirmed now, by this call or before: one
   * the reconciler removed meanwhile (its pending row locked, then gone with it) is not among them.
   */
  async confirmObjects(receiptIds: readonly string[], on: Queryable = this.pool): Promise<string[]> {
    const { rows: deleted } = await on.query<{ id: string }>(
      'DELETE FROM receipt_object_pending WHERE receipt_id = ANY ($1::bigint[]) RETURNING receipt_id::text AS id',
      [receiptIds],
    );
    const confirmedNow = new Set(deleted.map((row) => row.id));
    const others = receiptIds.filter((id) => !confirmedNow.has(id));
    if (others.length === 0) return [...confirmedNow];
    // Confirmed before, or by a transaction the DELETE waited for: a statement of its own, so that its
    // snapshot sees what that transaction committed (one snapshot would still show the row it deleted).
    const { rows: earlier } = await on.query<{ id: string }>(
      `SELECT id::text FROM receipts WHERE id = ANY ($1::bigint[]) AND ${OBJECT_CONFIRMED}`,
      [others],
    );
    return [...confirmedNow, ...earlier.map((row) => row.id)];
  }

  /** Receipts whose object was never confirmed durable, inserted longer ago than their grace (graceSecondsFor). */
  async unconfirmed(grace: UnconfirmedGrace, limit: number): Promise<Array<{ receiptId: string; objectKey: string }>> {
    const result = await this.pool.query<{ receiptId: string; objectKey: string }>(
      `SELECT r.id AS "receiptId", r.object_key AS "objectKey"
       FROM receipt_object_pending p JOIN receipts r ON r.study_instance_uid = p.study_instance_uid AND r.id = p.receipt_id
       WHERE p.received_at < now() - make_interval(secs => $1 + p.size_bytes / $2::float8)
       ORDER BY p.received_at LIMIT $3`,
      [grace.seconds, grace.flushBytesPerSecond, limit],
    );
    return result.rows;
  }

  /**
   * Removes a receipt whose object never became durable, with what its insert wrote beside it (the
   * new-version event, the edge's forward). Only while unconfirmed: a confirmed receipt was
   * acknowledged, and is never removed here. Returns whether it was removed.
   */
  async removeUnconfirmed(receiptId: string): Promise<boolean> {
    const result = await this.pool.query<{ removed: boolean }>(
      `WITH target AS (
         SELECT r.id FROM receipt_object_pending p JOIN receipts r ON r.study_instance_uid = p.study_instance_uid AND r.id = p.receipt_id
         WHERE p.receipt_id = $1 FOR UPDATE
       ),
       events AS (DELETE FROM instance_events WHERE receipt_id IN (SELECT id FROM target)),
       forwards AS (DELETE FROM edge_forwards WHERE receipt_id IN (SELECT id FROM target)),
       removed AS (DELETE FROM receipts WHERE id IN (SELECT id FROM target) RETURNING id)
       SELECT EXISTS (SELECT 1 FROM removed) AS removed`,
      [receiptId],
    );
    return result.rows[0]!.removed;
  }

  /** With the receipt's study one partition is read; without it, each partition's receipts_by_id is probed. */
  async get(receiptId: string, studyInstanceUid?: string): Promise<StoredReceipt | null> {
    const result = await this.pool.query<StoredReceipt>(
      `SELECT ${RECEIPT_COLUMNS} FROM receipts WHERE id = $1 ${studyInstanceUid === undefined ? '' : 'AND study_instance_uid = $2'}`,
      studyInstanceUid === undefined ? [receiptId] : [receiptId, studyInstanceUid],
    );
    return result.rows[0] ?? null;
  }

  /** Receipts whose index job has not finished after `olderThanSeconds`: lost or failed messages. */
  async awaitingIndex(olderThanSeconds: number, limit: number): Promise<Array<{ id: string; studyInstanceUid: string }>> {
    const result = await this.pool.query<{ id: string; studyInstanceUid: string }>(
      `SELECT id, study_instance_uid AS "studyInstanceUid" FROM receipts
       WHERE indexed_at IS NULL AND ${OBJECT_CONFIRMED} AND received_at < now() - make_interval(secs => $1)
       ORDER BY received_at LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return result.rows;
  }

  /**
   * Every object key the receipts name, once, in byte order (COLLATE "C", the object stores' listing
   * order), with one receipt naming it, read through a cursor a batch at a time so that a region's
   * billion receipts stream rather than load.
   */
  async *objectKeysInKeyOrder(batch = 10_000): AsyncIterable<{ objectKey: string; receiptId: string; sopInstanceUid: string }> {
    const client = await this.pool.connect();
    let finished = false;
    try {
      await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
      await client.query(
        `DECLARE receipt_objects NO SCROLL CURSOR FOR
         SELECT object_key AS "objectKey", min(id)::text AS "receiptId", min(sop_instance_uid) AS "sopInstanceUid"
         FROM receipts GROUP BY object_key ORDER BY object_key COLLATE "C"`,
      );
      for (;;) {
        const rows = (await client.query<{ objectKey: string; receiptId: string; sopInstanceUid: string }>(`FETCH ${Number(batch)} FROM receipt_objects`)).rows;
        yield* rows;
        if (rows.length < batch) break;
      }
      await client.query('COMMIT');
      finished = true;
    } finally {
      // A reader that failed or stopped early leaves the transaction open: that connection is closed, not reused.
      client.release(finished ? undefined : new Error('receipt cursor not read to the end'));
    }
  }

  async counts(): Promise<{ receipts: number; awaitingIndex: number }> {
    const result = await this.pool.query<{ receipts: number; awaitingIndex: number }>(
      `SELECT (SELECT count(*) FROM receipts)::int AS receipts,
              (SELECT count(*) FROM receipts WHERE indexed_at IS NULL)::int AS "awaitingIndex"`,
    );
    return result.rows[0]!;
  }

  /**
   * The SHA-256 of every stored object of these instances that came from the given institutions'
   * sources ('all': any): what an edge compares its own copy with before deleting it.
   */
  async objectDigests(sopInstanceUids: readonly string[], institutionIds: readonly string[] | 'all'): Promise<Array<{ sopInstanceUid: string; objectSha256: string[] }>> {
    const result = await this.pool.query<{ sopInstanceUid: string; objectSha256: string[] }>(
      `SELECT r.sop_instance_uid AS "sopInstanceUid", array_agg(DISTINCT r.object_sha256) AS "objectSha256"
       FROM receipts r JOIN sources s ON s.id = r.source_id
       WHERE r.sop_instance_uid = ANY ($1::text[]) AND ($2::bigint[] IS NULL OR s.institution_id = ANY ($2::bigint[]))
       GROUP BY r.sop_instance_uid`,
      [sopInstanceUids, institutionIds === 'all' ? null : institutionIds],
    );
    return result.rows;
  }

  /**
   * The current version (newest receipt) of each of these instances that came from the given
   * institution's sources: its SOP class, object and the object's SHA-256 as received. What a
   * storage commitment checks before it calls an instance committed.
   */
  async currentVersionsOf(sopInstanceUids: readonly string[], institutionId: string): Promise<Array<{ sopInstanceUid: string; sopClassUid: string; objectKey: string; objectSha256: string }>> {
    const result = await this.pool.query<{ sopInstanceUid: string; sopClassUid: string; objectKey: string; objectSha256: string }>(
      `SELECT DISTINCT ON (r.sop_instance_uid) r.sop_instance_uid AS "sopInstanceUid", r.sop_class_uid AS "sopClassUid",
              r.object_key AS "objectKey", r.object_sha256 AS "objectSha256"
       FROM receipts r JOIN sources s ON s.id = r.source_id
       WHERE r.sop_instance_uid = ANY ($1::text[]) AND s.institution_id = $2
       ORDER BY r.sop_instance_uid, r.id DESC`,
      [sopInstanceUids, institutionId],
    );
    return result.rows;
  }

  async eventsFor(sopInstanceUid: string): Promise<Array<{ kind: string; receiptId: string; previousReceiptId: string | null }>> {
    const result = await this.pool.query(
      `SELECT kind, receipt_id AS "receiptId", previous_receipt_id AS "previousReceiptId"
       FROM instance_events WHERE sop_instance_uid = $1 ORDER BY id`,
      [sopInstanceUid],
    );
    return result.rows;
  }
}
