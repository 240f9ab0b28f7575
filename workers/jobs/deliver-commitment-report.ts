import { z } from 'zod';
import type { StorageCommitmentService } from '../../archive/storage-commitment/storage-commitment-service.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const DELIVER_COMMITMENT_REPORT = 'deliver-commitment-report';

const payload = z.object({ requestId: z.string().regex(/^[0-9]{1,18}$/) });
type DeliverCommitmentReportPayload = z.infer<typeof payload>;

/** The next delivery attempt of a storage commitment report; a later wake-up replaces an earlier one still waiting. */
export function enqueueCommitmentReport(queue: JobQueue, requestId: string, delayMs: number): Promise<void> {
  return queue.enqueue(DELIVER_COMMITMENT_REPORT, { requestId } satisfies DeliverCommitmentReportPayload, { debounceId: `commitment-report-${requestId}`, delayMs });
}

/**
 * Delivers a storage commitment report on a new association (archive/storage-commitment): the
 * request's row in PostgreSQL says whether it is still owed and due, and a failed attempt schedules
 * the next itself, with back-off, so the job never throws for a peer that is down.
 */
export function deliverCommitmentReportJob(commitment: StorageCommitmentService): JobDefinition<DeliverCommitmentReportPayload> {
  return {
    name: DELIVER_COMMITMENT_REPORT,
    payload,
    handle: ({ requestId }) => commitment.deliverDue(requestId),
  };
}
