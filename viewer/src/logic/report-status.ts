import type { ReportStatusSummary } from '../../../archive/reading/report.ts';
import { REPORT_STATUS_BATCH } from '../../../archive/reading/report-wire.ts';

/** 未报告 / 初诊 / 已审核 / 已修订: what the study list and the priors panel say of a study's report. */
export type ReportBadge = 'unreported' | 'preliminary' | 'final' | 'amended';

/** The statuses the archive answered, by study: a study it did not name has no signed report. */
export function statusesByStudy(summaries: readonly ReportStatusSummary[]): Record<string, ReportStatusSummary> {
  return Object.fromEntries(summaries.map((summary) => [summary.studyInstanceUid, summary]));
}

/** The badge of one study, and whether its report carries a critical finding (危急值). */
export function reportBadge(summary: ReportStatusSummary | undefined): { badge: ReportBadge; critical: boolean } {
  return summary ? { badge: summary.status, critical: summary.critical } : { badge: 'unreported', critical: false };
}

/**
 * The queries (?study=…&study=…) that ask for these studies' statuses: the archive answers at most
 * REPORT_STATUS_BATCH a request, and a patient's priors reach 200, so more are asked in batches.
 */
export function reportStatusQueries(studyInstanceUids: readonly string[]): string[] {
  const studies = [...new Set(studyInstanceUids)];
  const queries: string[] = [];
  for (let start = 0; start < studies.length; start += REPORT_STATUS_BATCH) {
    queries.push(new URLSearchParams(studies.slice(start, start + REPORT_STATUS_BATCH).map((study): [string, string] => ['study', study])).toString());
  }
  return queries;
}
