import { z } from 'zod';
import type { QcWorklistService } from '../../archive/quality/qc-worklist-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const CHECK_STUDY_QUALITY = 'check-study-quality';
/** A study arrives as a burst of instances; its checks run once the burst has paused (a pause mid-study only means a rerun later). */
const QUIET_PERIOD_MS = 1000;

const payload = z.object({ studyInstanceUid: z.string().min(1).max(64) });
type CheckStudyQualityPayload = z.infer<typeof payload>;

/** Enqueued by the index job for each instance that becomes current: debounced per study, so a study is checked once after its last instance. */
export function enqueueCheckStudyQuality(queue: JobQueue, studyInstanceUid: string): Promise<void> {
  return queue.enqueue(CHECK_STUDY_QUALITY, { studyInstanceUid } satisfies CheckStudyQualityPayload, { debounceId: `check-study-quality-${studyInstanceUid}`, delayMs: QUIET_PERIOD_MS });
}

/** The reconciler's form: under a fixed id, so a study whose checks failed for good waits in the failed list. */
export function enqueueStudyAwaitingChecks(queue: JobQueue, studyInstanceUid: string): Promise<void> {
  return queue.enqueue(CHECK_STUDY_QUALITY, { studyInstanceUid } satisfies CheckStudyQualityPayload, { jobId: `check-study-quality-${studyInstanceUid}` });
}

/** Runs the automatic technical checks of a study (archive/quality/technical-checks.ts) and stores their results; idempotent. */
export function checkStudyQualityJob(worklists: QcWorklistService): JobDefinition<CheckStudyQualityPayload> {
  return {
    name: CHECK_STUDY_QUALITY,
    payload,
    async handle({ studyInstanceUid }) {
      await worklists.checkStudy(studyInstanceUid);
    },
  };
}
