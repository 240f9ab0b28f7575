import type { CriticalNotice } from '../../../archive/reading/critical-finding-wire.ts';
import { readBackMatches } from '../../../archive/reading/critical-read-back.ts';
import { formatPersonName, parsePersonName } from '../dicom/dataset.ts';
import type { Translate } from '../i18n/i18n.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { CriticalController, CriticalState } from '../state/critical-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * Critical findings (危急值) beside every screen: a button that shows how many notices are open, the
 * open notices with the read-back dialog (复述确认) for the hospital that must acknowledge them, and
 * the register (危急值登记本) for a period with its CSV export. The read-back form is built once, so
 * what is typed survives the polls' redraws.
 */
export class CriticalPanel {
  readonly toggle = h('button', { type: 'button', class: 'critical-toggle', 'data-action': 'critical' });
  readonly element = h('aside', { class: 'critical-panel', hidden: true, 'aria-live': 'polite' });
  private readonly openHeading = h('h3');
  private readonly openList = h('div', { class: 'critical-open' });
  private readonly problem = h('p', { class: 'form-error', role: 'alert', hidden: true });
  private readonly readBackLabel = h('span');
  private readonly readBackInput = h('textarea', { name: 'readBack', required: true, rows: 3, maxlength: 2000 });
  private readonly readBackHint = h('p', { class: 'critical-hint' });
  private readonly takerNote = h('p', { class: 'critical-hint' });
  private readonly nameLabel = h('span');
  private readonly nameInput = h('input', { name: 'name', maxlength: 100, autocomplete: 'off' });
  private readonly roleLabel = h('span');
  private readonly roleInput = h('input', { name: 'role', maxlength: 100, autocomplete: 'off' });
  private readonly phoneLabel = h('span');
  private readonly phoneInput = h('input', { name: 'phone', maxlength: 40, autocomplete: 'off', inputmode: 'tel' });
  private readonly submitButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'acknowledge-critical' });
  private readonly cancelButton = h('button', { type: 'button', 'data-action': 'cancel-acknowledge' });
  private readonly form = h(
    'form',
    { class: 'critical-acknowledge' },
    h('label', {}, this.readBackLabel, this.readBackInput),
    this.readBackHint,
    this.takerNote,
    h('label', {}, this.nameLabel, this.nameInput),
    h('label', {}, this.roleLabel, this.roleInput),
    h('label', {}, this.phoneLabel, this.phoneInput),
    h('div', { class: 'critical-actions' }, this.submitButton, this.cancelButton),
  );
  private readonly registerHeading = h('h3');
  private readonly fromLabel = h('span');
  private readonly fromInput = h('input', { name: 'from', type: 'date' });
  private readonly toLabel = h('span');
  private readonly toInput = h('input', { name: 'to', type: 'date' });
  private readonly registerButton = h('button', { type: 'submit', 'data-action': 'load-register' });
  private readonly csvLink = h('a', { class: 'critical-csv', 'data-action': 'register-csv', download: 'critical-findings-register.csv' });
  private readonly registerForm = h(
    'form',
    { class: 'critical-register-form' },
    this.registerHeading,
    h('label', {}, this.fromLabel, this.fromInput),
    h('label', {}, this.toLabel, this.toInput),
    h('div', { class: 'critical-actions' }, this.registerButton, this.csvLink),
  );
  private readonly registerList = h('div', { class: 'critical-register' });
  private lastState: CriticalState | undefined;
  private translate: Translate | undefined;

  constructor(private readonly critical: CriticalController) {
    this.toggle.addEventListener('click', () => critical.togglePanel());
    this.cancelButton.addEventListener('click', () => critical.startAcknowledging(undefined));
    this.readBackInput.addEventListener('input', () => this.showHint());
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const noticeId = critical.store.get().acknowledging;
      if (!noticeId) return;
      const optional = (input: HTMLInputElement) => input.value.trim() || undefined;
      void critical
        .acknowledge(noticeId, { readBack: this.readBackInput.value.trim(), name: optional(this.nameInput), role: optional(this.roleInput), phone: optional(this.phoneInput) })
        .then((done) => {
          if (done) this.form.reset();
        });
    });
    this.registerForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void critical.loadRegister({ from: this.fromInput.value, to: this.toInput.value });
    });
    this.element.append(this.openHeading, this.problem, this.openList, this.registerForm, this.registerList);
  }

  render(app: AppState, state: CriticalState, t: Translate): void {
    this.lastState = state;
    this.translate = t;
    const user = signedInUserOf(app);
    const follows = !!user?.permissions.includes('read-images');
    this.toggle.hidden = !follows;
    this.toggle.textContent = t('critical.toggle', { count: String(state.open.length) });
    this.toggle.classList.toggle('has-open', state.open.length > 0);
    this.toggle.setAttribute('aria-expanded', String(state.panelOpen));
    this.element.hidden = !follows || !state.panelOpen;
    if (this.element.hidden) return;

    this.openHeading.textContent = t('critical.openHeading');
    this.problem.hidden = !state.problem;
    // 422 is the archive refusing the read-back: said in the reader's language, as the hint says it.
    this.problem.textContent = !state.problem ? '' : state.problem.status === 422 ? t('critical.readBackMismatch') : problemText(state.problem, t);
    this.readBackLabel.textContent = t('critical.readBack');
    this.takerNote.textContent = t('critical.takerNote');
    this.nameLabel.textContent = t('critical.takerName');
    this.roleLabel.textContent = t('critical.takerRole');
    this.phoneLabel.textContent = t('critical.takerPhone');
    this.submitButton.textContent = t('critical.acknowledge');
    this.cancelButton.textContent = t('critical.cancel');
    this.registerHeading.textContent = t('critical.registerHeading');
    this.fromLabel.textContent = t('critical.from');
    this.toLabel.textContent = t('critical.to');
    this.registerButton.textContent = t('critical.showRegister');
    this.csvLink.textContent = t('critical.exportCsv');
    this.csvLink.setAttribute('href', this.critical.registerCsvUrl());

    const ownInstitution = user?.institutionId ?? null;
    replaceChildren(
      this.openList,
      state.open.length === 0
        ? h('p', { class: 'status empty' }, t('critical.none'))
        : h(
            'ul',
            { class: 'critical-list' },
            state.open.map((notice) => {
              // Only the hospital that sent the study acknowledges; a centre follows its notices here.
              const mayAcknowledge = notice.institutionId === ownInstitution || user?.role === 'system_admin';
              const acknowledging = state.acknowledging === notice.id;
              return h(
                'li',
                { 'data-notice': notice.id, class: notice.escalationLevel > 0 ? 'escalated' : undefined },
                this.describe(notice, app.locale, t),
                mayAcknowledge && !acknowledging
                  ? h('button', { type: 'button', class: 'primary', 'data-action': 'start-acknowledge', onclick: () => this.critical.startAcknowledging(notice.id) }, t('critical.acknowledge'))
                  : null,
                acknowledging ? this.form : null,
              );
            }),
          ),
    );
    this.showHint();
    replaceChildren(this.registerList, this.registerView(state, app.locale, t));
  }

  private describe(notice: CriticalNotice, locale: string, t: Translate): HTMLElement {
    const category = locale === 'zh-CN' ? notice.category.nameZh : notice.category.nameEn;
    return h(
      'div',
      { class: 'critical-notice' },
      h('strong', { class: 'critical-category' }, category),
      h('p', { class: 'critical-text' }, notice.text),
      h('p', {}, t('critical.patient', { name: formatPersonName(parsePersonName(notice.patientName ?? ''), locale), id: notice.patientId })),
      h('p', {}, t('critical.raised', { by: notice.raisedBy, centre: notice.raisingInstitutionName ?? '', at: notice.raisedAt.slice(0, 16).replace('T', ' '), hospital: notice.institutionName })),
      notice.escalationLevel > 0 ? h('p', { class: 'critical-escalated' }, t('critical.escalated', { level: String(notice.escalationLevel) })) : null,
    );
  }

  private registerView(state: CriticalState, locale: string, t: Translate): HTMLElement | null {
    const register = state.register;
    if (!register) return null;
    if (register.status === 'loading') return h('p', { class: 'status loading' }, t('critical.loading'));
    if (register.status === 'error') return h('p', { class: 'status error' }, problemText(register.problem, t));
    if (register.value.length === 0) return h('p', { class: 'status empty' }, t('critical.registerEmpty'));
    return h(
      'ul',
      { class: 'critical-list' },
      register.value.map((notice) =>
        h(
          'li',
          { 'data-notice': notice.id },
          this.describe(notice, locale, t),
          h(
            'p',
            { class: notice.acknowledged ? 'critical-acknowledged' : 'critical-escalated' },
            notice.acknowledged
              ? t('critical.acknowledgedBy', { name: notice.acknowledged.name, at: notice.acknowledged.at.slice(0, 16).replace('T', ' '), readBack: notice.acknowledged.readBack })
              : t('critical.unacknowledged'),
          ),
          h('ol', { class: 'critical-steps' }, notice.steps.map((step) => h('li', {}, `${step.occurredAt.slice(11, 19)} ${t(`critical.step.${step.step}`)} · ${step.actor}${step.recipients ? ` → ${step.recipients}` : ''}`))),
        ),
      ),
    );
  }

  /** Whether what is typed names the finding, as the archive will judge it: said before sending. */
  private showHint(): void {
    const notice = this.lastState?.open.find((candidate) => candidate.id === this.lastState?.acknowledging);
    const t = this.translate;
    if (!notice || !t) return;
    const typed = this.readBackInput.value;
    this.readBackHint.textContent = typed.trim() === '' ? t('critical.readBackHelp') : readBackMatches(notice, typed) ? t('critical.readBackMatches') : t('critical.readBackMismatch');
    this.readBackHint.dataset.matches = String(typed.trim() !== '' && readBackMatches(notice, typed));
  }
}
