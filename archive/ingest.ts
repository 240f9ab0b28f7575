import { createHash } from 'node:crypto';
import type pg from 'pg';
import { parseInstance } from './dicom/parse.ts';
import { IngestRejection, type ParsedInstance } from './dicom/types.ts';
import { ReceiptsRepository } from './db/receipts-repository.ts';
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
 * The one ingest path for DIMSE C-STORE, STOW-RS and bulk import. It returns only after the object
 * is durable in the object store and its receipt is committed in PostgreSQL; every failure before
 * that throws an IngestRejection, which each edge turns into its own failure status.
 */
export class IngestService {
  private readonly receipts: ReceiptsRepository;

  constructor(
    private readonly deps: {
      pool: pg.Pool;
      store: ObjectStore;
      log: Logger;
      /** Called after the commit (index job); a failure here is recovered by the reconciler. */
      afterCommit: (receiptId: string) => Promise<void>;
      /** Told while an instance is being ingested, so in-process background work can give way. */
      foreground?: ForegroundActivity;
      /** Counts each instance by source and outcome, with its size and its time to Success. */
      metrics?: Pick<IngestMetrics, 'observe'>;
    },
  ) {
    this.receipts = new ReceiptsRepository(deps.pool);
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
      const outcome = await this.ingestNow(received, source, expected);
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
    const parsed =
      'part10' in received
        ? parseInstance(received.part10, { characterSetOverride })
        : parseInstance(received.beginning, { characterSetOverride, objectLength: received.sizeBytes });
    assertAsExpected(expected, parsed);
    const { sizeBytes, objectSha256, datasetSha256, storeAs } =
      'part10' in received
        ? {
            sizeBytes: received.part10.length,
            objectSha256: sha256(received.part10),
            datasetSha256: sha256(received.part10.subarray(parsed.datasetOffset)),
            storeAs: (key: string) => this.deps.store.put(key, received.part10, 'application/dicom'),
          }
        : { ...received, storeAs: (key: string) => received.upload.finish(key) };
    // Named by the object's own digest: two different objects never share a key (not even the same
    // dataset under another File Meta header, racing in from two senders), and the same object
    // always lands on the same key with the same bytes.
    const objectKey = `instances/${parsed.studyInstanceUid}/${parsed.seriesInstanceUid}/${parsed.sopInstanceUid}.${objectSha256.slice(0, 16)}.dcm`;

    // No look-up first: a re-sent object writes the same bytes under the same key, and the receipt's
    // uniqueness (instance + dataset digest) turns it into a duplicate below; whose the study, series
    // and instance are is checked by the same insert, for every edge alike. The receipt is inserted
    // while the object is flushed, and committed only once the object is durable; if either fails,
    // nothing is committed. An object flushed for a receipt that then fails to commit stays
    // unreferenced (invisible, and rewritten by the sender's retry) rather than being deleted: a
    // concurrent identical store may reference the same key.
    const sourceId = await this.databaseStep('register the source', () => this.receipts.sourceId(source.via, source.name, source.institutionId));
    const [recording, storing] = await Promise.allSettled([
      this.receipts.begin({
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
      storeAs(objectKey),
    ]);
    if (storing.status === 'rejected') {
      if (recording.status === 'fulfilled') await recording.value.rollback().catch(() => undefined);
      throw new IngestRejection('out-of-resources', `object store unavailable: ${describe(storing.reason)}`, { cause: storing.reason });
    }
    if (recording.status === 'rejected') throw databaseRejection('record the receipt', recording.reason);
    const { refused, receiptId, previousReceiptId } = recording.value;
    if (refused) {
      await recording.value.rollback().catch(() => undefined);
      // Another institution's record. An identical copy is refused too: were it a success, the answer
      // would tell the sender whether its guess of the other hospital's content is right. Our object
      // goes, unless it is the very object the owner stored (same bytes, same key) or that cannot be told.
      const ownersKey = await this.receipts.findByContent(parsed.sopInstanceUid, datasetSha256).then((owners) => owners?.objectKey, () => objectKey);
      if (ownersKey !== objectKey) await this.deps.store.delete(objectKey).catch(() => undefined);
      throw new IngestRejection(
        'not-authorized',
        `study ${parsed.studyInstanceUid}, series ${parsed.seriesInstanceUid} or instance ${parsed.sopInstanceUid} belongs to another institution`,
      );
    }
    await this.databaseStep('commit the receipt', () => recording.value.commit());
    if (receiptId === null) {
      // The same dataset was received before (or concurrently, and committed first). The same object
      // wrote the same bytes under the same key, which must stay; under another File Meta header ours
      // is surplus.
      const winner = (await this.databaseStep('look up earlier versions', () =>
        this.receipts.findByContent(parsed.sopInstanceUid, datasetSha256),
      ))!;
      if (winner.objectKey !== objectKey) await this.deps.store.delete(objectKey).catch(() => undefined);
      return { result: 'duplicate', ...winner, parsed };
    }
    if (parsed.characterSet.detected || parsed.characterSet.note) {
      this.deps.log.warn(
        { sopInstanceUid: parsed.sopInstanceUid, source: source.name, characterSet: parsed.characterSet },
        'character set repaired or questionable',
      );
    }
    try {
      await this.deps.afterCommit(receiptId);
    } catch (error) {
      this.deps.log.warn({ receiptId, err: error }, 'could not enqueue indexing; the reconciler will retry it');
    }
    return { result: previousReceiptId ? 'new-version' : 'stored', receiptId, objectKey, parsed };
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
