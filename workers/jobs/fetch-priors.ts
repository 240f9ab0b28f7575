import { z } from 'zod';
import type { PriorFetchService } from '../../archive/prior-fetch/prior-fetch-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const FETCH_PRIORS = 'fetch-priors';

/** Either one fetch to run, or a study whose arrival may start fetches (the on-arrival rule). */
const payload = z.union([z.object({ fetchId: z.string().regex(/^\d+$/) }), z.object({ arrivedStudyInstanceUid: z.string().min(1).max(64) })]);
type FetchPriorsPayload = z.infer<typeof payload>;

/** Under the fetch's id: a request joined by a second one, or re-queued by the reconciler, runs once. */
export function enqueueFetchPriors(queue: JobQueue, fetchId: string): Promise<void> {
  return queue.enqueue(FETCH_PRIORS, { fetchId } satisfies FetchPriorsPayload, { jobId: `fetch-priors-${fetchId}` });
}

/** Debounced per study, after the link-person job's own delay, so the study's patient record is linked when the rule runs. */
export function enqueuePriorFetchOnArrival(queue: JobQueue, studyInstanceUid: string): Promise<void> {
  return queue.enqueue(FETCH_PRIORS, { arrivedStudyInstanceUid: studyInstanceUid } satisfies FetchPriorsPayload, { debounceId: `fetch-priors-arrival-${studyInstanceUid}`, delayMs: 10_000 });
}

/** Pulls a person's earlier studies from a hospital's PACS (archive/prior-fetch/prior-fetch-service.ts). */
export function fetchPriorsJob(priorFetch: PriorFetchService): JobDefinition<FetchPriorsPayload> {
  return {
    name: FETCH_PRIORS,
    payload,
    async handle(job) {
      if ('fetchId' in job) await priorFetch.run(job.fetchId);
      else await priorFetch.studyArrived(job.arrivedStudyInstanceUid);
    },
  };
}
