import { createHash } from 'node:crypto';
import type pg from 'pg';
import { parseInstance } from './dicom/parse.ts';
import { IngestRejection, type ParsedInstance } from './dicom/types.ts';
import { graceSecondsFor, ReceiptCommitter, UNCONFIRMED_RECEIPT_GRACE, type UnconfirmedGrace } from './db/receipt-committer.ts';
import { ReceiptsRepository } from './db/receipts-repository.ts';
import { IngestStageTimes, timed } from './ingest-stages.ts';
import type { Logger } from './log.ts';
import type { ForegroundActivity } from './foreground-activity.ts';
import type { IncomingObject, ObjectStore } from './storage/object-store.ts';
import type { IngestMetrics } from './metrics/metrics.ts';

export interface InstanceSource {
  via: 'dimse' | 'stow' | 'import';
  /** Calling AE title (DIMSE), HTTP user (STOW-RS) or import label. */
  name: string;
  remoteAddress?: string;
  calledAeTitle?: string;
  /** The institution the instance belongs to: the registered peer's, the STOW-RS user's, or the one an import names. */
  institutionId: string;
  /**
   * The institutions whose studies, series and instances the sender may add to or replace ('all': any);
   * `[institutionId]` when absent. A STOW-RS user's scope (a reading centre's region); a DIMSE peer
   * and an import write into their own institution only.
   */
  writableInstitutionIds?: readonly string[] | 'all';
  /**
   * When set, only objects of these SOP classes go into the other institutions' studies that
   * `writableInstitutionIds` names; anything else only into the sender's own. A reading centre's
   * readers add their documents (measurements, key images) to the region's studies, never images.
   */
  foreignWritableSopClasses?: readonly string[];
  /** A registered peer's character set override: decode text with it whatever the dataset declares. */
  characterSetOverride?: string;
}

/**
 * What the sender said the dataset is, which the dataset must agree with: the DIMSE command's
 * Affected SOP Class/Instance UIDs, or the study named in a STOW-RS URL.
 */
export interface IngestExpectations {
  affectedSopClassUid?: string;
  affectedSopInstanceUid?: string;
  studyInstanceUid?: string;
}

/** An object received whole, in memory (STOW-RS, import). */
export interface WholeObject {
  /** The object as it will be stored: a DICOM Part 10 file. */
  part10: Buffer;
}

/**
 * An object written to the object store as it arrived (a C-STORE, IngestService.openUpload), of
 * which only the beginning is in memory: storing it is its upload's `finish`; refused, it is discarded.
 */
export interface StreamedObject {
  /** The object's first bytes: everything before the Pixel Data value at least, all of it when it has none. */
  beginning: Buffer;
  sizeBytes: number;
  /** Computed while the bytes arrived. */
  objectSha256: string;
  datasetSha256: string;
  upload: IncomingObject;
}

export type ReceivedObject = WholeObject | StreamedObject;

export interface IngestOutcome {
  result: 'stored' | 'duplicate' | 'new-version';
  receiptId: string;
  objectKey: string;
  parsed: ParsedInstance;
}

/**
 * The recovery rule for receipts committed beside their object's flush (ReceiptCommitter): one left
 * unconfirmed for longer than any flush takes was cut off by a crash. Its object is renamed into place
 * only once its data is flushed, so an object under its key is whole: the receipt is confirmed (its
 * sender may have had a Success). No object: the flush never finished, so no Success was sent, and the
 * receipt goes. Returns how many receipts were resolved.
 */
export async function resolveUnconfirmedReceipts(
  deps: { receipts: ReceiptsRepository; store: Pick<ObjectStore, 'exists'>; log: Logger },
  grace: UnconfirmedGrace = UNCONFIRMED_RECEIPT_GRACE,
): Promise<number> {
  const unconfirmed = await deps.receipts.unconfirmed(grace, 1000);
  for (const { receiptId, objectKey } of unconfirmed) {
    if (await deps.store.exists(objectKey)) await deps.receipts.confirmObjects([receiptId]);
    else if (await deps.receipts.removeUnconfirmed(receiptId)) deps.log.warn({ receiptId, objectKey }, 'receipt removed: its object never became durable (never acknowledged)');
  }
  return unconfirmed.length;
}

/**
 * The one ingest path for DIMSE C-STORE, STOW-RS and bulk import. It returns only after the object
 * is durable in the object store and its receipt is committed in PostgreSQL; every failure before
 * that throws an IngestRejection, which each edge turns into its own failure status.
 */
export class IngestService {
  private readonly receipts: ReceiptsRepository;
  /** Receipts of every edge of this process, committed in groups. */
  readonly committer: ReceiptCommitter;
  /** Where each instance's time went (INGEST_STAGES), for GET /api/stats and the benchmark. */
  readonly stages = new IngestStageTimes();

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      store: ObjectStore;
      log: Logger;
      /** Called after the commit (index job); a failure here is recovered by the reconciler. */
      afterCommit: (receipt: { id: string; studyInstanceUid: string }) => Promise<void>;
      /** Told while an instance is being ingested, so in-process background work can give way. */
      foreground?: ForegroundActivity;
      /** Counts each instance by source and outcome, with its size and its time to Success. */
      metrics?: Pick<IngestMetrics, 'observe'>;
    },
  ) {
    this.receipts = new ReceiptsRepository(deps.pool);
    this.committer = new ReceiptCommitter(deps.pool, this.receipts);
  }

  /** Where a receiver that gets an object piece by piece writes it as it arrives (a StreamedObject's `upload`). */
  openUpload(): IncomingObject {
    return this.deps.store.openUpload();
  }

  async ingest(received: ReceivedObject, source: InstanceSource, expected: IngestExpectations = {}): Promise<IngestOutcome> {
    const ended = this.deps.foreground?.begin();
    const started = performance.now();
    const observe = (outcome: IngestOutcome['result'] | 'failed') =>
      this.deps.metrics?.observe({ source, bytes: 'part10' in received ? received.part10.length : received.sizeBytes, seconds: (performance.now() - started) / 1000, outcome });
    try {
      const outcome = await timed(this.stages.record, 'ingest', () => this.ingestNow(received, source, expected));
      observe(outcome.result);
      return outcome;
    } catch (error) {
      observe('failed');
      // A refused instance leaves no temporary file (after a finish, the object stays, as for `put`).
      if ('upload' in received) await received.upload.discard().catch(() => undefined);
      throw error;
    } finally {
      ended?.();
    }
  }

  private async ingestNow(received: ReceivedObject, source: InstanceSource, expected: IngestExpectations): Promise<IngestOutcome> {
    const characterSetOverride = source.characterSetOverride;
    const parsing = performance.now();
    const parsed =
      'part10' in received
        ? parseInstance(received.part10, { characterSetOverride })
        : parseInstance(received.beginning, { characterSetOverride, objectLength: received.sizeBytes });
    this.stages.record('parse', performance.now() - parsing);
    assertAsExpected(expected, parsed);
    const { sizeBytes, objectSha256, datasetSha256, storeAs } =
      'part10' in received
        ? {
            sizeBytes: received.part10.length,
            objectSha256: sha256(received.part10),
            datasetSha256: sha256(received.part10.subarray(parsed.datasetOffset)),
            storeAs: (key: string) => this.deps.store.put(key, received.part10, 'application/dicom', this.stages.record),
          }
        : { ...received, storeAs: (key: string) => received.upload.finish(key, this.stages.record) };
    // Named by the object's own digest: two different objects never share a key (not even the same
    // dataset under another File Meta header, racing in from two senders), and the same object
    // always lands on the same key with the same bytes.
    const objectKey = `instances/${parsed.studyInstanceUid}/${parsed.seriesInstanceUid}/${parsed.sopInstanceUid}.${objectSha256.slice(0, 16)}.dcm`;

    // No look-up first: a re-sent object writes the same bytes under the same key, and the receipt's
    // uniqueness (instance + dataset digest) turns it into a duplicate below; whose the study, series
    // and instance are is checked by the same insert, for every edge alike. The receipt is committed
    // (in a group, with whatever else is ready) while the object is flushed, so neither waits for the
    // other; until the flush is confirmed it is unconfirmed, and after a crash the reconciler keeps it
    // only if the object is there (resolveUnconfirmedReceipts). An object flushed for a receipt that
    // then fails to commit stays unreferenced (invisible, and rewritten by the sender's retry) rather
    // than being deleted: a concurrent identical store may reference the same key.
    const sourceId = await this.databaseStep('register the source', () => this.receipts.sourceId(source.via, source.name, source.institutionId));
    const record = this.stages.record;
    const submittedAt = performance.now();
    const [recording, storing] = await Promise.allSettled([
      timed(record, 'commit wait', () =>
        this.committer.commit({
          sopInstanceUid: parsed.sopInstanceUid,
          sopClassUid: parsed.sopClassUid,
          studyInstanceUid: parsed.studyInstanceUid,
          seriesInstanceUid: parsed.seriesInstanceUid,
          transferSyntaxUid: parsed.transferSyntaxUid,
          objectKey,
          objectSha256,
          datasetSha256,
          sizeBytes,
          sourceId,
          remoteAddress: source.remoteAddress,
          calledAeTitle: source.calledAeTitle,
          metadata: parsed.metadata,
          bulkData: parsed.bulkData,
          pixel: parsed.pixel,
          datasetOffset: parsed.datasetOffset,
          deflated: parsed.deflated,
          characterSet: parsed.characterSet,
        }, writableFor(source, parsed.sopClassUid)),
      ),
      storeAs(objectKey),
    ]);
    if (storing.status === 'rejected') {
      // Our receipt, committed while the flush failed, must not outlive it. Its object goes only with
      // it: a concurrent identical store that flushed the same bytes under the same key may have
      // confirmed the receipt for us (below), and then both stay.
      if (recording.status === 'fulfilled' && recording.value.receiptId !== null) {
        const removed = await this.receipts.removeUnconfirmed(recording.value.receiptId).catch(() => false);
        if (removed) await this.deps.store.delete(objectKey).catch(() => undefined);
      }
      throw new IngestRejection('out-of-resources', `object store unavailable: ${describe(storing.reason)}`, { cause: storing.reason });
    }
    if (recording.status === 'rejected') throw databaseRejection('commit the receipt', recording.reason);
    const { refused, seriesStudyInstanceUid, receiptId, previousReceiptId } = recording.value;
    if (refused || seriesStudyInstanceUid !== null) {
      // Another institution's record. An identical copy is refused too: were it a success, the answer
      // would tell the sender whether its guess of the other hospital's content is right. Or an
      // instance naming its series under another study than the series is filed under: a series keeps
      // the study it was first indexed in, and an instance's receipt is in the instance's study
      // (migration 035), so it has no place; told to the sender rather than acknowledged and left out
      // of the index. Our object goes, unless it is the very object an earlier receipt stored (same
      // bytes, same key) or that cannot be told.
      const ownersKey = await this.receipts.findByContent(parsed.sopInstanceUid, datasetSha256, parsed.studyInstanceUid).then((owners) => owners?.objectKey, () => objectKey);
      if (ownersKey !== objectKey) await this.deps.store.delete(objectKey).catch(() => undefined);
      if (refused) {
        throw new IngestRejection(
          'not-authorized',
          `study ${parsed.studyInstanceUid}, series ${parsed.seriesInstanceUid} or instance ${parsed.sopInstanceUid} belongs to another institution`,
        );
      }
      throw new IngestRejection(
        'malformed',
        `series ${parsed.seriesInstanceUid} belongs to study ${seriesStudyInstanceUid}, not to study ${parsed.studyInstanceUid} that instance ${parsed.sopInstanceUid} names`,
      );
    }
    if (receiptId === null) {
      // The same dataset was received before (or concurrently, and committed first). The same object
      // wrote the same bytes under the same key, which must stay; under another File Meta header ours
      // is surplus.
      const winner = await this.databaseStep('look up earlier versions', () => this.receipts.findByContent(parsed.sopInstanceUid, datasetSha256, parsed.studyInstanceUid));
      const stillStoring = new IngestRejection('out-of-resources', `an identical copy of instance ${parsed.sopInstanceUid} is still being stored; send it again`);
      if (!winner) throw stillStoring; // it was stored concurrently, and its flush failed
      if (winner.objectKey !== objectKey) await this.deps.store.delete(objectKey).catch(() => undefined);
      // An identical copy still being flushed may yet fail (and take its receipt with it). The same
      // bytes under the same key are durable by our own flush, so we confirm it ourselves (its failure
      // then leaves it); under another key we cannot vouch for it.
      if (!winner.objectConfirmed) {
        const vouched = winner.objectKey === objectKey && (await this.databaseStep('confirm the object', () => this.receipts.confirmObjects([winner.receiptId]))).length === 1;
        if (!vouched) throw stillStoring;
      }
      const { objectConfirmed: _confirmed, ...earlier } = winner;
      return { result: 'duplicate', ...earlier, parsed };
    }
    await this.confirm(receiptId, submittedAt, sizeBytes);
    if (parsed.characterSet.detected || parsed.characterSet.note) {
      this.deps.log.warn(
        { sopInstanceUid: parsed.sopInstanceUid, source: source.name, characterSet: parsed.characterSet },
        'character set repaired or questionable',
      );
    }
    try {
      await this.deps.afterCommit({ id: receiptId, studyInstanceUid: parsed.studyInstanceUid });
    } catch (error) {
      this.deps.log.warn({ receiptId, err: error }, 'could not enqueue indexing; the reconciler will retry it');
    }
    return { result: previousReceiptId ? 'new-version' : 'stored', receiptId, objectKey, parsed };
  }

  /**
   * The object is durable: its receipt's confirmation rides on the next group commit, off the path to
   * the answer. After a flush so slow that the reconciler may already be judging the receipt, the
   * confirmation is committed first, and only a receipt still there is answered for.
   */
  private async confirm(receiptId: string, submittedAt: number, sizeBytes: number): Promise<void> {
    if (performance.now() - submittedAt < (graceSecondsFor(sizeBytes) * 1000) / 3) {
      this.committer.confirm(receiptId);
      return;
    }
    const confirmed = await this.databaseStep('confirm the object', () => this.receipts.confirmObjects([receiptId]));
    if (confirmed.length === 0) throw new IngestRejection('out-of-resources', 'the object took so long to store that it was taken for lost; send it again');
  }

  private async databaseStep<T>(what: string, step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      throw databaseRejection(what, error);
    }
  }
}

function databaseRejection(what: string, error: unknown): IngestRejection {
  return new IngestRejection('out-of-resources', `database unavailable (${what}): ${describe(error)}`, { cause: error });
}

function assertAsExpected(expected: IngestExpectations, parsed: ParsedInstance): void {
  const mismatches = [
    ['Affected SOP Class UID', expected.affectedSopClassUid, "SOP Class UID", parsed.sopClassUid],
    ['Affected SOP Instance UID', expected.affectedSopInstanceUid, "SOP Instance UID", parsed.sopInstanceUid],
    ['study in the request', expected.studyInstanceUid, "Study Instance UID", parsed.studyInstanceUid],
  ] as const;
  for (const [claim, claimed, attribute, actual] of mismatches) {
    if (claimed !== undefined && claimed !== actual) {
      throw new IngestRejection('sop-class-mismatch', `${claim} ${claimed} does not match the dataset's ${attribute} ${actual}`);
    }
  }
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

/** The institutions whose records this object may join (InstanceSource.writableInstitutionIds, foreignWritableSopClasses). */
function writableFor(source: InstanceSource, sopClassUid: string): readonly string[] | 'all' {
  const own = [source.institutionId];
  if (source.foreignWritableSopClasses && !source.foreignWritableSopClasses.includes(sopClassUid)) return own;
  return source.writableInstitutionIds ?? own;
}
