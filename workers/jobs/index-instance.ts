import { z } from 'zod';
import { buildIndexRecord } from '../../archive/index/index-record.ts';
import { claimsTid2000 } from '../../archive/reading/tid2000.ts';
import type { StoredReceipt } from '../../archive/db/receipts-repository.ts';
import type { JobQueue, JobDefinition } from '../queue.ts';
import { enqueueCheckSrTemplate } from './check-sr-template.ts';
import { enqueueCheckStudyQuality } from './check-study-quality.ts';
import type { JobContext } from './context.ts';
import { enqueueLinkPerson } from './link-person.ts';
import { enqueueInstanceThumbnail } from './render-instance-thumbnail.ts';
import { enqueueSeriesThumbnail } from './render-series-thumbnail.ts';

export const INDEX_INSTANCE = 'index-instance';

// The receipt's study names the partition to read (migration 035); jobs queued before it have none.
const payload = z.object({ receiptId: z.string().regex(/^\d+$/), studyInstanceUid: z.string().optional() });
type IndexInstancePayload = z.infer<typeof payload>;

export function enqueueIndexInstance(queue: JobQueue, receiptId: string, studyInstanceUid: string): Promise<void> {
  return queue.enqueue(INDEX_INSTANCE, { receiptId, studyInstanceUid } satisfies IndexInstancePayload, { jobId: `index-${receiptId}` });
}

/** What happens once a study is known or grows: reading rules make its tasks (archive/reading/reading-service.ts). */
export interface StudyIntake {
  studyArrived(studyInstanceUid: string): Promise<void>;
}

/** Routing rules (archive/routing/routing-service.ts): what arrives may have to be forwarded. */
export interface ArrivalRouting {
  routeArrived(receipt: { id: string; studyInstanceUid: string; sourceId: string; metadata: StoredReceipt['metadata'] }): Promise<void>;
}

/**
 * Has the receipt's instance forwarded where routing rules send it, turns the receipt into
 * patient/study/series/instance rows, from the metadata parsed at receipt (the object is not read
 * again), hands the study to the reading intake, has a new or changed patient record linked to a
 * person, has the study's technical checks run, then asks for thumbnails.
 */
export function indexInstanceJob(context: JobContext, intake: StudyIntake, routing: ArrivalRouting): JobDefinition<IndexInstancePayload> {
  return {
    name: INDEX_INSTANCE,
    payload,
    async handle({ receiptId, studyInstanceUid }) {
      const receipt = await context.receipts.get(receiptId, studyInstanceUid);
      if (!receipt) throw new Error(`receipt ${receiptId} does not exist`);
      // Before the index commit, which ends the reconciler's interest in this receipt: a crash in
      // between redoes both, and routing queues an instance for a destination once however often it runs.
      await routing.routeArrived(receipt);
      const record = buildIndexRecord(receipt);
      const indexed = await context.index.indexReceipt(receipt.id, receipt.sourceId, record);
      if (indexed.seriesInAnotherStudy) {
        context.log.warn(
          { receiptId, sopInstanceUid: record.instance.sopInstanceUid, seriesInstanceUid: record.series.seriesInstanceUid, seriesStudyInstanceUid: indexed.seriesInAnotherStudy },
          'instance not indexed: its series is filed under another study than it names',
        );
      }
      // After the index commit, so the intake sees the study; a failure retries the whole job, which
      // is idempotent on both sides (upserts, and one task per study and centre by its UID).
      await intake.studyArrived(record.study.studyInstanceUid);
      // Only for a new patient record or changed patient attributes: the other instances of a study add no work.
      if (indexed.patientToLink) await enqueueLinkPerson(context.queue, indexed.patientToLink);
      if (!indexed.becameCurrent) return;
      // The study's technical checks, once its burst of instances has paused (debounced per study).
      await enqueueCheckStudyQuality(context.queue, record.study.studyInstanceUid);
      // An SR claiming TID 2000 is checked against the template (flagged, never refused).
      if (claimsTid2000(receipt.metadata)) await enqueueCheckSrTemplate(context.queue, receipt.id);
      await enqueueInstanceThumbnail(context.queue, receipt.id, record.study.studyInstanceUid);
      await enqueueSeriesThumbnail(context.queue, indexed.seriesInstanceUid);
    },
  };
}
