import { AUDIT_EVENT_TYPES } from '../../api/admin-models.ts';
import type { Translate } from '../../i18n/i18n.ts';
import { auditExportUrl, auditRows } from '../../logic/admin.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { problemText } from '../problem-text.ts';
import { adminForm, formFields, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * The auditor's view of the audit trail: who did what with whose data, when, from where and why;
 * a search, the chain's verification, and exports of the same search (CSV for spreadsheets, XML
 * as DICOM audit messages).
 */
export class AuditTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly verification = h('div', { class: 'audit-verification' });
  private readonly exports = h('div', { class: 'audit-exports' });
  private readonly results = h('div', { class: 'audit-results' });

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
  ) {
    const typeSelect = h('select', {}, h('option', { value: '' }, t('audit.anyType')), AUDIT_EVENT_TYPES.map((type) => h('option', { value: type }, t(`audit.type.${type}`))));
    const form = adminForm(
      'audit',
      t('audit.search'),
      (element) => void this.admin.searchAudit(formFields(element)),
      textField(t, 'patientId', 'audit.field.patientId', { maxlength: 128 }),
      textField(t, 'user', 'audit.field.user', { maxlength: 128 }),
      textField(t, 'study', 'audit.field.study', { maxlength: 64 }),
      selectField(t, 'type', 'audit.field.type', typeSelect),
      textField(t, 'from', 'audit.field.from', { type: 'date' }),
      textField(t, 'to', 'audit.field.to', { type: 'date' }),
      submitButton(t('audit.search'), 'search-audit'),
    );
    const tools = h(
      'div',
      { class: 'audit-tools' },
      h('button', { type: 'button', 'data-action': 'verify-audit', onclick: () => void this.admin.verifyAudit() }, t('audit.verify')),
      this.verification,
      h('span', { class: 'spacer' }),
      this.exports,
    );
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'audit' }, section(t('admin.tab.audit'), form, tools, this.results));
  }

  render(state: AppState): void {
    const t = this.t;
    const { audit } = state.admin;
    replaceChildren(
      this.exports,
      h('a', { class: 'button', href: auditExportUrl('csv', audit.search), download: 'yingyun-audit.csv', 'data-action': 'export-csv' }, t('audit.exportCsv')),
      h('a', { class: 'button', href: auditExportUrl('xml', audit.search), download: 'yingyun-audit.xml', 'data-action': 'export-xml' }, t('audit.exportXml')),
    );
    const verification = audit.verification;
    replaceChildren(
      this.verification,
      !verification
        ? null
        : verification.status === 'loading'
          ? h('span', { class: 'status loading', role: 'status' }, t('audit.verifying'))
          : verification.status === 'error'
            ? h('span', { class: 'status error', role: 'alert' }, t('audit.verifyError', { reason: problemText(verification.problem, t) }))
            : verification.value.intact
              ? h('span', { class: 'chain intact', role: 'status', 'data-chain': 'intact' }, `✓ ${t('audit.intact', { events: verification.value.events })}`)
              : h(
                  'span',
                  { class: 'chain broken', role: 'alert', 'data-chain': 'broken', title: verification.value.breaks.map((entry) => `#${entry.id}: ${entry.reason}`).join('\n') },
                  `✗ ${t('audit.broken', { events: verification.value.events, breaks: verification.value.breaks.length })}`,
                ),
    );
    const events = audit.events;
    if (!events || events.status === 'loading') return replaceChildren(this.results, h('p', { class: 'status loading' }, t('admin.loading')));
    if (events.status === 'error') return replaceChildren(this.results, h('p', { class: 'status error', role: 'alert' }, t('admin.loadError', { reason: problemText(events.problem, t) })));
    if (events.value.length === 0) return replaceChildren(this.results, h('p', { class: 'status empty' }, t('audit.none')));
    replaceChildren(
      this.results,
      h('p', { class: 'muted' }, t('audit.count', { count: events.value.length })),
      table(
        'audit',
        [
          t('audit.column.time'),
          t('audit.column.event'),
          t('audit.column.outcome'),
          t('audit.column.user'),
          t('audit.column.source'),
          t('audit.column.patient'),
          t('audit.column.studies'),
          t('audit.column.purpose'),
          t('audit.column.detail'),
        ],
        auditRows(events.value).map((row) => [
          row.time,
          `${t(`audit.type.${row.eventType}`)} (${row.action})`,
          h('span', { class: `outcome-${row.outcome}` }, t(`audit.outcome.${row.outcome}`)),
          row.role ? `${row.user} (${t(`role.${row.role}`)})` : row.user,
          row.source,
          row.patient,
          h('span', { class: 'uids' }, row.studies),
          row.purpose,
          h('span', { class: 'detail', title: row.detail }, row.detail),
        ]),
      ),
      audit.olderThan ? h('button', { type: 'button', 'data-action': 'older-audit', disabled: audit.loadingOlder, onclick: () => void this.admin.olderAudit() }, t('audit.older')) : null,
    );
  }
}
