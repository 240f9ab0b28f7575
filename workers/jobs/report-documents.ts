import { z } from 'zod';
import type { ReportService } from '../../archive/reading/report-service.ts';
import type { JobQueue } from '../queue.ts';

/**
 * The documents every signed report version gets, each written by its own job: the Enhanced SR
 * (write-report-sr.ts) and the PDF (write-report-pdf.ts).
 */
export const REPORT_DOCUMENT_JOBS = { sr: 'write-report-sr', pdf: 'write-report-pdf' } as const;
export type ReportDocumentKind = keyof typeof REPORT_DOCUMENT_JOBS;
const KINDS = Object.keys(REPORT_DOCUMENT_JOBS) as ReportDocumentKind[];

/** Both jobs' payload: one signed version. */
export const reportVersionPayload = z.object({ reportId: z.string().regex(/^\d+$/), version: z.number().int().min(1) });
export type ReportVersionPayload = z.infer<typeof reportVersionPayload>;

/**
 * Enqueued after a signature commits, and again by the reconciler while the document is missing.
 * One job id per version and kind whoever enqueues it: a job still waiting, retrying or running is
 * not doubled, and one that failed for good stays in the failed list for a person (the queue ignores
 * its id until it is retried) instead of being started again at every sweep.
 */
export function enqueueReportDocument(queue: JobQueue, kind: ReportDocumentKind, reportId: string, version: number): Promise<void> {
  return queue.enqueue(REPORT_DOCUMENT_JOBS[kind], { reportId, version } satisfies ReportVersionPayload, { jobId: `report-${kind}-${reportId}-${version}` });
}

/**
 * Enqueues the SR and PDF of every version signed more than `graceSeconds` ago (within the last
 * week) that the archive still lacks: a job lost between the signature's commit and its enqueue (a
 * crash, the queue unreachable, an in-process queue's restart). Returns how many were enqueued.
 */
export async function enqueueMissingReportDocuments(queue: JobQueue, reports: ReportService, graceSeconds: number): Promise<number> {
  let enqueued = 0;
  for (const missing of await reports.versionsAwaitingDocuments(graceSeconds)) {
    for (const kind of KINDS) {
      if (!missing[kind]) continue;
      await enqueueReportDocument(queue, kind, missing.reportId, missing.version);
      enqueued++;
    }
  }
  return enqueued;
}
