import { z } from 'zod';
import type { ReceiptsRepository } from '../../archive/db/receipts-repository.ts';
import type { ReportService } from '../../archive/reading/report-service.ts';
import { checkTid2000 } from '../../archive/reading/tid2000.ts';
import type { JobDefinition, JobQueue } from '../queue.ts';

export const CHECK_SR_TEMPLATE = 'check-sr-template';

const payload = z.object({ receiptId: z.string().regex(/^\d+$/) });
type CheckSrTemplatePayload = z.infer<typeof payload>;

/** Enqueued by the index job for a received object whose content claims TID 2000. */
export function enqueueCheckSrTemplate(queue: JobQueue, receiptId: string): Promise<void> {
  return queue.enqueue(CHECK_SR_TEMPLATE, { receiptId } satisfies CheckSrTemplatePayload, { jobId: `sr-template-${receiptId}` });
}

/**
 * Checks a received SR claiming TID 2000 against the template, from the metadata parsed at
 * receipt (an SR has no pixel data, so that is all of it): no DICOM tool checks SR content against
 * its template. Departures are logged and flagged (sr_template_problems); the SR stays stored as sent.
 */
export function checkSrTemplateJob(deps: { receipts: ReceiptsRepository; reports: ReportService }): JobDefinition<CheckSrTemplatePayload> {
  return {
    name: CHECK_SR_TEMPLATE,
    payload,
    async handle({ receiptId }) {
      const receipt = await deps.receipts.get(receiptId);
      if (!receipt) throw new Error(`receipt ${receiptId} does not exist`);
      const problems = checkTid2000(receipt.metadata);
      if (problems.length) await deps.reports.flagTemplateProblems(receipt.sopInstanceUid, receipt.studyInstanceUid, problems);
    },
  };
}
