import type { ReportStatusSummary } from '../../../archive/reading/report.ts';
import type { Translate } from '../i18n/i18n.ts';
import { reportBadge } from '../logic/report-status.ts';
import type { Loadable } from '../state/app-state.ts';
import { h } from './dom.ts';

/**
 * A study's report status (未报告 / 初诊 / 已审核 / 已修订, with 危急值 when the report carries a
 * critical finding), as the study list and the priors panel show it. A signed report is a button
 * that opens the study, where the report sits beside the images; nothing shows while the statuses
 * are on their way or could not be asked.
 */
export function reportStatusBadge(reports: Loadable<Record<string, ReportStatusSummary>> | undefined, studyInstanceUid: string, t: Translate, open: () => void): HTMLElement | null {
  if (reports?.status !== 'ready') return null;
  const { badge, critical } = reportBadge(reports.value[studyInstanceUid]);
  const attributes = { class: `report-status ${badge}`, 'data-report-status': badge, 'data-critical': critical ? 'true' : undefined };
  const children = [t(`reportStatus.${badge}`), critical ? h('span', { class: 'critical-mark', title: t('reportStatus.criticalTitle') }, t('reportStatus.critical')) : null];
  if (badge === 'unreported') return h('span', attributes, ...children);
  return h('button', { type: 'button', ...attributes, 'data-action': 'open-report', title: t('reportStatus.open'), onclick: (event: Event) => (event.stopPropagation(), open()) }, ...children);
}
