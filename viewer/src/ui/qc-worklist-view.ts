import type { CheckResult } from '../../../archive/quality/technical-checks.ts';
import type { WorklistEntryOnWire } from '../api/qc-worklist-client.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale, MessageKey } from '../i18n/messages.ts';
import { configuredText } from '../logic/quality.ts';
import type { QcWorklistController, QcWorklistState } from '../state/qc-worklist-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'MG', 'US', 'XA', 'NM', 'PT'];

/**
 * The QC work list (质控工作列表) for QC staff: the month's studies to look at, each with its
 * hospital, modality, date, why it is listed (抽检 / 临床反馈 / 自动检查未通过), its technical
 * checks (coloured by outcome, the failed and warned ones spelled out) and its image QC grade;
 * filtered by month, institution, modality and grading status. A row opens its study.
 */
export class QcWorklistView {
  readonly element = h('section', { class: 'qc-worklist', hidden: true });

  constructor(private readonly controller: QcWorklistController) {}

  render(state: QcWorklistState, t: Translate, locale: Locale): void {
    const { list } = state;
    replaceChildren(
      this.element,
      h('header', { class: 'worklist-header' }, h('h2', {}, t('qcList.title')), list?.status === 'ready' ? h('span', { class: 'muted', 'data-sampling': String(list.value.settings.defaultRatePercent) }, t('qcList.sampling', { rate: list.value.settings.defaultRatePercent, rules: list.value.settings.rules.length })) : null),
      this.filters(state, t),
      !list || list.status === 'loading'
        ? h('p', { class: 'muted' }, t('worklist.loading'))
        : list.status === 'error'
          ? h('p', { class: 'error', role: 'alert' }, problemText(list.problem, t))
          : this.table(list.value.entries, t, locale),
    );
  }

  private filters(state: QcWorklistState, t: Translate): HTMLElement {
    const { query, institutions } = state;
    const select = (name: string, label: MessageKey, value: string | undefined, options: [string, string][], change: (value: string) => void) =>
      h(
        'label',
        {},
        t(label),
        h(
          'select',
          { 'data-filter': name, onchange: (event: Event) => change((event.target as HTMLSelectElement).value) },
          h('option', { value: '', selected: !value }, t('qcList.all')),
          options.map(([optionValue, text]) => h('option', { value: optionValue, selected: value === optionValue }, text)),
        ),
      );
    return h(
      'form',
      { class: 'worklist-filters', onsubmit: (event: Event) => event.preventDefault() },
      h('label', {}, t('qcList.month'), h('input', { type: 'month', 'data-filter': 'month', value: query.month, required: true, onchange: (event: Event) => (event.target as HTMLInputElement).value && void this.controller.setQuery({ month: (event.target as HTMLInputElement).value }) })),
      select('institution', 'qcList.institution', query.institution, Object.entries(institutions).sort((a, b) => a[1].localeCompare(b[1], 'zh-CN')), (institution) => void this.controller.setQuery({ institution })),
      select('modality', 'qcList.modality', query.modality, MODALITIES.map((modality) => [modality, modality]), (modality) => void this.controller.setQuery({ modality })),
      select('status', 'qcList.status', query.status, [['ungraded', t('qcList.status.ungraded')], ['graded', t('qcList.status.graded')]], (status) => void this.controller.setQuery({ status: (status || undefined) as 'ungraded' | 'graded' | undefined })),
    );
  }

  private table(entries: WorklistEntryOnWire[], t: Translate, locale: Locale): HTMLElement {
    if (entries.length === 0) return h('p', { class: 'muted', 'data-empty': 'qc-worklist' }, t('qcList.empty'));
    const headings: MessageKey[] = ['qcList.column.hospital', 'qcList.column.modality', 'qcList.column.date', 'qcList.column.study', 'qcList.column.why', 'qcList.column.checks', 'qcList.column.grade', 'qcList.column.actions'];
    return h(
      'table',
      { class: 'worklist-table qc-worklist-table' },
      h('thead', {}, h('tr', {}, headings.map((key) => h('th', {}, t(key))))),
      h('tbody', {}, entries.map((entry) => this.row(entry, t, locale))),
    );
  }

  private row(entry: WorklistEntryOnWire, t: Translate, locale: Locale): HTMLElement {
    const open = () => this.controller.open(entry.studyInstanceUid);
    return h(
      'tr',
      { 'data-study': entry.studyInstanceUid, 'data-reasons': entry.reasons.join(' '), ondblclick: open },
      h('td', {}, entry.institutionName),
      h('td', {}, entry.modalities.join(', ')),
      h('td', {}, entry.studyDate ?? ''),
      h('td', {}, entry.description ?? '', entry.accessionNumber ? h('span', { class: 'muted' }, ` ${entry.accessionNumber}`) : null),
      h(
        'td',
        { class: 'reasons' },
        entry.reasons.map((reason) => h('span', { class: `qc-reason ${reason}`, 'data-reason': reason }, t(`qcList.reason.${reason}` as MessageKey))),
        entry.flags.map((flag) => h('div', { class: 'muted flag-reason' }, t('qcList.flaggedBy', { name: flag.flaggedByName, reason: flag.reason }))),
      ),
      h('td', { class: 'checks', 'data-outcome': entry.checks?.outcome ?? 'none' }, this.checks(entry.checks?.results, entry.checks?.outcome, t)),
      h('td', { 'data-grade': entry.grade?.grade.code ?? '' }, entry.grade ? h('span', { class: `qc-list-grade${entry.grade.grade.reject ? ' reject' : ''}` }, configuredText(entry.grade.grade.label, locale)) : h('span', { class: 'muted' }, t('qcList.ungraded'))),
      h('td', { class: 'actions' }, h('button', { type: 'button', 'data-action': 'open', onclick: open }, t('worklist.open'))),
    );
  }

  private checks(results: CheckResult[] | undefined, outcome: string | undefined, t: Translate): (HTMLElement | string)[] {
    if (!results || !outcome) return [h('span', { class: 'muted' }, t('qcList.notChecked'))];
    const notable = results.filter((result) => result.outcome !== 'pass');
    return [
      h('span', { class: `qc-outcome ${outcome}` }, t(`qcList.outcome.${outcome}` as MessageKey)),
      ...notable.map((result) => h('div', { class: `qc-check ${result.outcome}`, 'data-check': result.code, 'data-check-outcome': result.outcome }, t(`check.${result.messageKey}` as MessageKey, result.parameters))),
    ];
  }
}
