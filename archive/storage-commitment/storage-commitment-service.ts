import { createHash } from 'node:crypto';
import type { InstitutionsRepository } from '../db/institutions-repository.ts';
import type { ReceiptsRepository } from '../db/receipts-repository.ts';
import type { CommitmentRequest, StorageCommitmentRepository } from '../db/storage-commitment-repository.ts';
import type { Logger } from '../log.ts';
import { ObjectNotFound, type ObjectStore } from '../storage/object-store.ts';
import { FAILURE_REASON, failureReasonOf, retryDelayMs, type CommitmentReport, type FailedInstance, type ReferencedInstance } from './commitment.ts';

/** Where a report goes when it goes on an association Yingyun opens: a registered peer's address. */
export interface ReportDestination {
  aeTitle: string;
  host: string;
  port: number;
}

/** Opens an association to the requestor and delivers the N-EVENT-REPORT on it (gateway/dimse/event-report-scu.ts). */
export type NewAssociationDelivery = (destination: ReportDestination, report: CommitmentReport) => Promise<void>;

export interface RetryPolicy {
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
}

export interface StorageCommitmentDependencies {
  repository: StorageCommitmentRepository;
  receipts: Pick<ReceiptsRepository, 'currentVersionsOf'>;
  store: Pick<ObjectStore, 'stream'>;
  institutions: Pick<InstitutionsRepository, 'findPeerByAeTitle'>;
  deliverOnNewAssociation: NewAssociationDelivery;
  /** Schedules `deliverDue(requestId)` after `delayMs` (a job: workers/jobs/deliver-commitment-report.ts). */
  wakeLater(requestId: string, delayMs: number): Promise<void>;
  isStorageSopClass(sopClassUid: string): boolean;
  policy: RetryPolicy;
  log: Logger;
}

/**
 * How long one process may hold a request while it verifies and delivers its report: hashing a
 * large study's objects and a slow peer fit in it; after it, another process may take the request over.
 */
const CLAIM_LEASE_MS = 10 * 60_000;
const FORGOTTEN_BATCH = 1000;

/**
 * Storage Commitment Push Model SCP (PS3.4 Annex J): a PACS asks Yingyun to take responsibility for
 * instances it sent, and deletes its own copy once Yingyun says it has. So an instance is reported
 * committed only when its receipt exists, it belongs to the caller's institution, its SOP class is
 * the one referenced and its object, read back from the object store, still hashes to the SHA-256
 * taken when it was received. Every request is kept in PostgreSQL until its report is delivered: on
 * the N-ACTION's own association when that is still open, otherwise on an association Yingyun opens
 * to the requestor, retried with back-off across restarts.
 */
export class StorageCommitmentService {
  constructor(private readonly deps: StorageCommitmentDependencies) {}

  /** Records an accepted N-ACTION, claimed by this process for its first delivery. */
  accept(caller: { callingAeTitle: string; institutionId: string }, action: { transactionUid: string; references: ReferencedInstance[] }): Promise<CommitmentRequest> {
    return this.deps.repository.insert({ ...action, ...caller }, CLAIM_LEASE_MS);
  }

  /**
   * After the N-ACTION-RSP: verifies, then reports through `onSameAssociation` (the N-ACTION's
   * association, if it takes it: resolves once the requestor answered Success) or else on a new
   * association. What is not delivered now is retried; it throws only when PostgreSQL fails.
   */
  async report(request: CommitmentRequest, onSameAssociation: (report: CommitmentReport) => Promise<void>): Promise<void> {
    const log = this.logFor(request);
    const report = await this.verifiedOrRetried(request, log);
    if (!report) return;
    try {
      await onSameAssociation(report);
    } catch (error) {
      log.debug({ err: error }, 'the request\'s association did not take the storage commitment report: delivering it on a new association');
      if (await this.deps.repository.claim(request.id, CLAIM_LEASE_MS, { due: false })) await this.deliver(request, report, log);
      return;
    }
    await this.deps.repository.delivered(request.id, report, 'same-association');
    log.info({ committed: report.committed.length, failed: report.failed.length }, 'storage commitment report delivered on the request\'s association');
  }

  /** A scheduled delivery on a new association (the job's handler); nothing when it is not due or another process holds it. */
  async deliverDue(requestId: string): Promise<void> {
    const request = await this.deps.repository.claim(requestId, CLAIM_LEASE_MS, { due: true });
    if (!request) return;
    const log = this.logFor(request);
    // Verified again at each attempt: "committed" is about the objects as they are when reported.
    const report = await this.verifiedOrRetried(request, log);
    if (report) await this.deliver(request, report, log);
  }

  /** Re-wakes owed requests whose wake-up was lost (the reconciler calls this); returns how many. */
  async wakeForgotten(graceSeconds: number): Promise<number> {
    const ids = await this.deps.repository.forgotten(graceSeconds, FORGOTTEN_BATCH);
    for (const id of ids) await this.deps.wakeLater(id, 0);
    return ids.length;
  }

  /** The report as of now: each reference committed or failed with its Failure Reason. */
  async verify(request: Pick<CommitmentRequest, 'transactionUid' | 'institutionId' | 'references' | 'duplicateTransaction'>): Promise<CommitmentReport> {
    const { transactionUid, references } = request;
    if (request.duplicateTransaction) {
      return { transactionUid, committed: [], failed: references.map((reference) => ({ ...reference, failureReason: FAILURE_REASON.duplicateTransactionUid })) };
    }
    const current = await this.deps.receipts.currentVersionsOf([...new Set(references.map((reference) => reference.sopInstanceUid))], request.institutionId);
    const held = new Map(current.map((version) => [version.sopInstanceUid, version]));
    const committed: ReferencedInstance[] = [];
    const failed: FailedInstance[] = [];
    for (const reference of references) {
      const version = held.get(reference.sopInstanceUid);
      const heldInstance = version && { sopClassUid: version.sopClassUid, verifies: () => this.objectVerifies(version.objectKey, version.objectSha256) };
      const failureReason = await failureReasonOf(reference, heldInstance, this.deps.isStorageSopClass);
      if (failureReason === null) committed.push(reference);
      else failed.push({ ...reference, failureReason });
    }
    return { transactionUid, committed, failed };
  }

  private logFor(request: CommitmentRequest): Logger {
    return this.deps.log.child({ requestId: request.id, transactionUid: request.transactionUid, callingAeTitle: request.callingAeTitle });
  }

  /** The report, or null when it could not be built now (the object store or database failing): then retried later. */
  private async verifiedOrRetried(request: CommitmentRequest, log: Logger): Promise<CommitmentReport | null> {
    try {
      return await this.verify(request);
    } catch (error) {
      await this.attemptFailed(request, null, `verification failed: ${(error as Error).message}`, false, log);
      return null;
    }
  }

  /** Reads the object whole from the store and compares its SHA-256 with the receipt's; a missing object does not verify. */
  private async objectVerifies(objectKey: string, objectSha256: string): Promise<boolean> {
    const hash = createHash('sha256');
    try {
      for await (const chunk of await this.deps.store.stream(objectKey)) hash.update(chunk as Buffer);
    } catch (error) {
      if (error instanceof ObjectNotFound || (error as NodeJS.ErrnoException).code === 'ENOENT') return false;
      throw error;
    }
    return hash.digest('hex') === objectSha256;
  }

  private async deliver(request: CommitmentRequest, report: CommitmentReport, log: Logger): Promise<void> {
    const peer = await this.deps.institutions.findPeerByAeTitle(request.callingAeTitle);
    if (!peer?.host || !peer.port) {
      await this.attemptFailed(request, report, `peer ${request.callingAeTitle} has no host and port in the peer registry to send the report to`, true, log);
      return;
    }
    if (peer.tlsRequired) {
      await this.attemptFailed(request, report, `peer ${request.callingAeTitle} requires TLS, and Yingyun has no client TLS settings to call peers with`, true, log);
      return;
    }
    try {
      await this.deps.deliverOnNewAssociation({ aeTitle: peer.aeTitle, host: peer.host, port: peer.port }, report);
    } catch (error) {
      await this.attemptFailed(request, report, (error as Error).message, true, log);
      return;
    }
    await this.deps.repository.delivered(request.id, report, 'new-association');
    log.info({ committed: report.committed.length, failed: report.failed.length, attempts: request.attempts + 1 }, 'storage commitment report delivered on a new association');
  }

  /** Records a failed attempt and schedules the next, or gives up after the policy's attempts (logged for the administrator). */
  private async attemptFailed(request: CommitmentRequest, report: CommitmentReport | null, error: string, countsAsAttempt: boolean, log: Logger): Promise<void> {
    const attempts = request.attempts + (countsAsAttempt ? 1 : 0);
    const abandon = attempts >= this.deps.policy.maxAttempts;
    const delayMs = retryDelayMs(Math.max(1, attempts), this.deps.policy);
    await this.deps.repository.failed(request.id, { report, error, countsAsAttempt, delayMs, abandon });
    if (abandon) {
      log.error({ attempts, error }, 'storage commitment report could not be delivered: given up');
      return;
    }
    log.warn({ attempts, error, retryInMs: delayMs }, 'storage commitment report not delivered: will retry');
    await this.deps.wakeLater(request.id, delayMs);
  }
}
