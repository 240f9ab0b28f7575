import type { ThumbnailsRepository } from '../archive/db/index-repository.ts';
import type { ReceiptsRepository } from '../archive/db/receipts-repository.ts';
import type { Logger } from '../archive/log.ts';
import type { PersonRepository } from '../archive/db/person-repository.ts';
import type { QcWorklistRepository } from '../archive/db/qc-worklist-repository.ts';
import type { QualityRepository } from '../archive/db/quality-repository.ts';
import type { PriorFetchRepository } from '../archive/db/prior-fetch-repository.ts';
import type { ReportService } from '../archive/reading/report-service.ts';
import type { RoutingService } from '../archive/routing/routing-service.ts';
import type { StorageCommitmentService } from '../archive/storage-commitment/storage-commitment-service.ts';
import { enqueueStudyAwaitingChecks } from './jobs/check-study-quality.ts';
import { enqueueFetchPriors } from './jobs/fetch-priors.ts';
import { enqueueIndexInstance } from './jobs/index-instance.ts';
import { enqueueUnlinkedPerson } from './jobs/link-person.ts';
import { enqueueInstanceThumbnail } from './jobs/render-instance-thumbnail.ts';
import { enqueueMissingReportDocuments } from './jobs/report-documents.ts';
import { enqueueMissingRejectionKos } from './jobs/write-rejection-kos.ts';
import type { JobQueue } from './queue.ts';

const BATCH = 1000;
/** The newest studies whose technical checks a pass looks for (a lost message is a recent one). */
const RECENT_STUDIES = 10_000;

/**
 * PostgreSQL, not the queue, is the record of what still has to be done: receipts whose object's flush
 * was never confirmed (resolved from the object store), receipts not indexed,
 * current versions without a thumbnail, patient records never linked to a person, signed report
 * versions without their SR or PDF, QC rejects without their 113001 KOS and recent studies without their
 * technical checks (or checked before their last instances came), forward-queue destinations with items
 * due for longer than the grace period (or claimed by a process that stopped), and prior fetches still queued or running are re-enqueued after a grace period, so a lost message (in-process queue after a crash, Redis
 * flushed, a crash between a signature's commit and its enqueue) delays work but never loses it.
 * Each is enqueued under its job's usual id, so what is still queued or running is not doubled, and
 * a job that failed for good waits in the failed list for a person instead of looping.
 */
export class Reconciler {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly deps: {
      receipts: ReceiptsRepository;
      thumbnails: ThumbnailsRepository;
      reports: ReportService;
      persons: PersonRepository;
      quality: QualityRepository;
      qcWorklists: QcWorklistRepository;
      routing: RoutingService;
      priorFetches: Pick<PriorFetchRepository, 'unfinished'>;
      /** Storage commitment reports still owed whose next delivery attempt was due and not taken. */
      storageCommitment: Pick<StorageCommitmentService, 'wakeForgotten'>;
      queue: JobQueue;
      log: Logger;
      graceSeconds: number;
      /** Receipts committed beside a flush that a crash cut off: kept if their object is there, else removed (archive/ingest.ts). */
      resolveUnconfirmedReceipts: () => Promise<number>;
      /** Told after each pass how much unfinished work it found (the metrics' reconciler backlog). */
      reportBacklog?: (count: number) => void;
    },
  ) {}

  start(): void {
    const everyMs = Math.max(1000, Math.min(30_000, (this.deps.graceSeconds * 1000) / 2));
    this.timer = setInterval(() => void this.runOnce(), everyMs);
    this.timer.unref();
    void this.runOnce();
  }

  /** One pass; returns how many jobs were re-enqueued. Overlapping calls share one pass. */
  async runOnce(): Promise<number> {
    if (this.running) {
      await this.running;
      return 0;
    }
    let requeued = 0;
    this.running = (async () => {
      try {
        // First: a receipt confirmed here is indexed in the same pass.
        await this.deps.resolveUnconfirmedReceipts();
        for (const receipt of await this.deps.receipts.awaitingIndex(this.deps.graceSeconds, BATCH)) {
          await enqueueIndexInstance(this.deps.queue, receipt.id, receipt.studyInstanceUid);
          requeued++;
        }
        for (const { receiptId, studyInstanceUid } of await this.deps.thumbnails.awaitingThumbnail(this.deps.graceSeconds, BATCH)) {
          await enqueueInstanceThumbnail(this.deps.queue, receiptId, studyInstanceUid);
          requeued++;
        }
        for (const patientPk of await this.deps.persons.awaitingLink(this.deps.graceSeconds, BATCH)) {
          await enqueueUnlinkedPerson(this.deps.queue, patientPk);
          requeued++;
        }
        requeued += await enqueueMissingReportDocuments(this.deps.queue, this.deps.reports, this.deps.graceSeconds);
        requeued += await enqueueMissingRejectionKos(this.deps.queue, this.deps.quality, this.deps.graceSeconds);
        for (const studyInstanceUid of await this.deps.qcWorklists.studiesAwaitingChecks(this.deps.graceSeconds, RECENT_STUDIES, BATCH)) {
          await enqueueStudyAwaitingChecks(this.deps.queue, studyInstanceUid);
          requeued++;
        }
        requeued += await this.deps.routing.wakeForgotten(this.deps.graceSeconds);
        requeued += await this.deps.storageCommitment.wakeForgotten(this.deps.graceSeconds);
        for (const fetchId of await this.deps.priorFetches.unfinished(this.deps.graceSeconds, BATCH)) {
          await enqueueFetchPriors(this.deps.queue, fetchId);
          requeued++;
        }
        if (requeued > 0) this.deps.log.info({ requeued }, 'reconciler re-enqueued unfinished work');
        this.deps.reportBacklog?.(requeued);
      } catch (error) {
        this.deps.log.warn({ err: error }, 'reconciler pass failed; will try again');
      }
    })();
    await this.running;
    this.running = undefined;
    return requeued;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
