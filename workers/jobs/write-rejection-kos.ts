import { z } from 'zod';
import { keyObjectSelection, KOS_TITLES } from '../../archive/dicom/key-object-selection.ts';
import type { QualityRepository } from '../../archive/db/quality-repository.ts';
import type { IngestService } from '../../archive/ingest.ts';
import type { Logger } from '../../archive/log.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const WRITE_REJECTION_KOS = 'write-rejection-kos';

export const rejectionKosPayload = z.object({ gradeId: z.string().regex(/^\d+$/) });
export type RejectionKosPayload = z.infer<typeof rejectionKosPayload>;

/** Rejection KOS series are numbered after the acquisitions and the report documents (900 + version). */
const REJECTION_SERIES_NUMBER = 990;

/**
 * Enqueued when a grade rejects a series, and again by the reconciler while its KOS is not stored;
 * one job id per grade, so a job still waiting or retrying is not doubled.
 */
export function enqueueRejectionKos(queue: JobQueue, gradeId: string): Promise<void> {
  return queue.enqueue(WRITE_REJECTION_KOS, { gradeId } satisfies RejectionKosPayload, { jobId: `rejection-kos-${gradeId}` });
}

/** Enqueues the KOS of every reject graded more than `graceSeconds` ago that the archive still lacks. */
export async function enqueueMissingRejectionKos(queue: JobQueue, quality: QualityRepository, graceSeconds: number): Promise<number> {
  const missing = await quality.rejectsAwaitingKos(graceSeconds);
  for (const gradeId of missing) await enqueueRejectionKos(queue, gradeId);
  return missing.length;
}

/**
 * Writes a QC reject as a Key Object Selection Document titled (113001, DCM, "Rejected for Quality
 * Reasons") referencing every instance of the rejected series, and stores it into the study through
 * the one ingest path on behalf of the study's institution, as IHE IOCM has a rejection travel: other
 * PACS and viewers that read the study see which images QC rejected. Idempotent: the UIDs and the
 * time were fixed at grading, so a rerun stores the same object and ingest counts it a duplicate.
 */
export function writeRejectionKosJob(deps: { quality: QualityRepository; ingest: IngestService; log: Logger }): JobDefinition<RejectionKosPayload> {
  return {
    name: WRITE_REJECTION_KOS,
    payload: rejectionKosPayload,
    async handle({ gradeId }) {
      const grade = await deps.quality.grade(gradeId);
      if (!grade?.rejectionKos) throw new Error(`QC grade ${gradeId} is not a reject`);
      const series = await deps.quality.series(grade.studyInstanceUid, grade.seriesInstanceUid);
      const header = await deps.quality.seriesHeader(grade.studyInstanceUid, grade.seriesInstanceUid);
      const instances = await deps.quality.seriesInstances(grade.studyInstanceUid, grade.seriesInstanceUid);
      if (!series || !header || !instances.length) throw new Error(`series ${grade.seriesInstanceUid} of QC grade ${gradeId} has no indexed instances`);
      const document = keyObjectSelection(
        instances.map((instance) => ({ studyInstanceUid: grade.studyInstanceUid, seriesInstanceUid: grade.seriesInstanceUid, ...instance })),
        {
          seriesNumber: REJECTION_SERIES_NUMBER,
          seriesDescription: '质控废片 Rejected for quality reasons',
          observer: { Alphabetic: grade.gradedByName },
          studyHeader: header,
          written: { seriesInstanceUid: grade.rejectionKos.seriesInstanceUid, sopInstanceUid: grade.rejectionKos.sopInstanceUid, at: grade.gradedAt },
        },
        KOS_TITLES.rejectedForQualityReasons,
      );
      const outcome = await deps.ingest.ingest({ part10: Buffer.from(document.part10) }, { via: 'import', name: 'rejection-kos', institutionId: series.institutionId });
      await deps.quality.markRejectionKosStored(gradeId);
      deps.log.info({ gradeId, sopInstanceUid: document.sopInstanceUid, result: outcome.result }, 'rejection KOS stored');
    },
  };
}
