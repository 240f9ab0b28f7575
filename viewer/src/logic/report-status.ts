import type { ReportStatusSummary } from '../../../archive/reading/report.ts';

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
