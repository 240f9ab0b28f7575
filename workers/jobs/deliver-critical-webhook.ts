import { z } from 'zod';
import type { CriticalFindingsService } from '../../archive/reading/critical-findings.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const DELIVER_CRITICAL_WEBHOOK = 'deliver-critical-webhook';

const payload = z.object({ stepId: z.string().regex(/^[0-9]{1,18}$/) });
type DeliverCriticalWebhookPayload = z.infer<typeof payload>;

/** One delivery per step (notified, or each escalation): enqueuing it again while it waits does nothing. */
export function enqueueCriticalWebhook(queue: JobQueue, stepId: string): Promise<void> {
  return queue.enqueue(DELIVER_CRITICAL_WEBHOOK, { stepId } satisfies DeliverCriticalWebhookPayload, { jobId: `critical-webhook-${stepId}` });
}

/**
 * A critical finding's webhook (SMS or WeChat gateways) to the hospital: a failed attempt throws,
 * so the queue retries it with back-off; one already delivered is not sent again.
 */
export function deliverCriticalWebhookJob(criticalFindings: CriticalFindingsService): JobDefinition<DeliverCriticalWebhookPayload> {
  return {
    name: DELIVER_CRITICAL_WEBHOOK,
    payload,
    handle: ({ stepId }) => criticalFindings.deliverWebhook(stepId),
  };
}
