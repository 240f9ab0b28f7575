import { z } from 'zod';
import type { RoutingService } from '../../archive/routing/routing-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const FORWARD_INSTANCES = 'forward-instances';
/**
 * Instances of one study arrive and are indexed one after another: waiting this long after the
 * latest one lets a batch gather, so a study goes over one association instead of one per instance.
 */
const BATCH_WINDOW_MS = 300;

const payload = z.object({ destination: z.string().regex(/^(dicom|dicomweb):[0-9]{1,18}$/) });
type ForwardInstancesPayload = z.infer<typeof payload>;

/**
 * Wakes a destination for what was just queued: one run per destination at a time (a fixed job id), after
 * a short window in which a study's other instances join the batch. Items queued while it runs are
 * claimed by the same run, which works until nothing is due.
 */
export function enqueueForward(queue: JobQueue, destination: string): Promise<void> {
  return queue.enqueue(FORWARD_INSTANCES, { destination } satisfies ForwardInstancesPayload, { jobId: jobIdOf(destination), delayMs: BATCH_WINDOW_MS });
}

/** A run asks for the next one when the destination's next retry is due; a later request replaces an earlier one. */
export function enqueueForwardRetry(queue: JobQueue, destination: string, delayMs: number): Promise<void> {
  return queue.enqueue(FORWARD_INSTANCES, { destination } satisfies ForwardInstancesPayload, { debounceId: `${jobIdOf(destination)}-retry`, delayMs });
}

/** BullMQ refuses a custom job id with a colon, which destination keys ('dicom:4') have. */
function jobIdOf(destination: string): string {
  return `forward-${destination.replace(':', '-')}`;
}

/** Sends a destination's due items (archive/routing/routing-service.ts); the items' own states make it idempotent. */
export function forwardInstancesJob(routing: RoutingService): JobDefinition<ForwardInstancesPayload> {
  return {
    name: FORWARD_INSTANCES,
    payload,
    handle: ({ destination }) => routing.forward(destination),
  };
}
