import type { SecondFactorKind, ShareLinkSummary } from '../../../archive/reading/share-link-types.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { ShareController, ShareState } from '../state/share-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * Share links of the open study, beside the reading screen: the patient's cloud film (云胶片) — make a
 * link with the second factor, show it as a URL to copy into an SMS or WeChat and a QR code to scan
 * — doctors' time-limited shares, and revocation. Forms are built once, so what is typed survives
 * every redraw.
 */
export class SharePanel {
  readonly toggle = h('button', { type: 'button', class: 'share-toggle', 'data-action': 'share' });
  readonly element = h('aside', { class: 'share-panel', hidden: true, 'aria-live': 'polite' });
  private readonly problem = h('p', { class: 'form-error', role: 'alert', hidden: true });
  private readonly issued = h('div', { class: 'share-issued', hidden: true });
  private readonly list = h('div', { class: 'share-links' });
  private readonly patientHeading = h('h3');
  private readonly factorLabel = h('span');
  private readonly factorSelect = h('select', { name: 'factor' });
  private readonly phoneLabel = h('span');
  private readonly phoneInput = h('input', { name: 'phoneLast4', inputmode: 'numeric', pattern: '[0-9]{4}', maxlength: 4, autocomplete: 'off' });
  private readonly daysLabel = h('span');
  private readonly daysInput = h('input', { name: 'days', type: 'number', min: 1, max: 366, placeholder: '30' });
  private readonly patientButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'create-patient-link' });
  private readonly patientForm = h(
    'form',
    { class: 'share-patient' },
    this.patientHeading,
    h('label', {}, this.factorLabel, this.factorSelect),
    h('label', {}, this.phoneLabel, this.phoneInput),
    h('label', {}, this.daysLabel, this.daysInput),
    this.patientButton,
  );
  private readonly doctorHeading = h('h3');
  private readonly doctorLabel = h('span');
  private readonly doctorInput = h('input', { name: 'username', required: true, autocomplete: 'off' });
  private readonly reasonLabel = h('span');
  private readonly reasonInput = h('input', { name: 'reason', required: true, maxlength: 500 });
  private readonly hoursLabel = h('span');
  private readonly hoursInput = h('input', { name: 'hours', type: 'number', min: 1, max: 720, placeholder: '72' });
  private readonly doctorButton = h('button', { type: 'submit', 'data-action': 'share-with-doctor' });
  private readonly doctorForm = h(
    'form',
    { class: 'share-doctor' },
    this.doctorHeading,
    h('label', {}, this.doctorLabel, this.doctorInput),
    h('label', {}, this.reasonLabel, this.reasonInput),
    h('label', {}, this.hoursLabel, this.hoursInput),
    this.doctorButton,
  );

  /** The URL on show: drawn once, not on every redraw (a selection in it survives). */
  private shownUrl: string | undefined;

  constructor(private readonly share: ShareController) {
    this.toggle.addEventListener('click', () => share.togglePanel());
    this.patientForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const factor = this.factorSelect.value as SecondFactorKind;
      const phoneLast4 = this.phoneInput.value.trim();
      // Left empty, days and hours are the archive's configured defaults.
      const days = this.daysInput.value ? { days: Number(this.daysInput.value) } : {};
      void share.createPatientLink({ factor, ...days, ...(factor === 'phone-last4' && phoneLast4 ? { phoneLast4 } : {}) });
    });
    this.doctorForm.addEventListener('submit', (event) => {
      event.preventDefault();
      const hours = this.hoursInput.value ? { hours: Number(this.hoursInput.value) } : {};
      void share.shareWithDoctor({ username: this.doctorInput.value.trim(), reason: this.reasonInput.value.trim(), ...hours }).then(() => {
        if (share.store.get().issued) this.doctorForm.reset();
      });
    });
    this.element.append(this.problem, this.issued, this.list, this.patientForm, this.doctorForm);
  }

  render(app: AppState, state: ShareState, t: Translate): void {
    const mayShare = !!signedInUserOf(app)?.permissions.includes('export');
    this.toggle.hidden = !mayShare || !state.study;
    this.toggle.textContent = t('share.toggle');
    this.toggle.setAttribute('aria-expanded', String(state.panelOpen));
    this.element.hidden = this.toggle.hidden || !state.panelOpen;
    if (this.element.hidden) return;

    this.patientHeading.textContent = t('share.patientHeading');
    this.factorLabel.textContent = t('share.factor');
    if (this.factorSelect.options.length === 0 || this.factorSelect.dataset.locale !== app.locale) {
      const chosen = this.factorSelect.value || 'birth-date';
      replaceChildren(
        this.factorSelect,
        (['birth-date', 'phone-last4'] as const).map((kind) => h('option', { value: kind, selected: kind === chosen }, t(FACTOR_LABEL[kind]))),
      );
      this.factorSelect.dataset.locale = app.locale;
    }
    this.phoneLabel.textContent = t('share.phoneLast4');
    this.daysLabel.textContent = t('share.days');
    this.patientButton.textContent = t('share.createPatientLink');
    this.doctorHeading.textContent = t('share.doctorHeading');
    this.doctorLabel.textContent = t('share.doctor');
    this.reasonLabel.textContent = t('share.reason');
    this.hoursLabel.textContent = t('share.hours');
    this.doctorButton.textContent = t('share.shareWithDoctor');

    this.problem.hidden = !state.problem;
    this.problem.textContent = state.problem ? problemText(state.problem, t) : '';
    const newlyIssued = !!state.issued && state.issued.url !== this.shownUrl;
    this.shownUrl = state.issued?.url;
    this.issued.hidden = !state.issued;
    if (state.issued && newlyIssued) {
      const { url, qrSvg, link } = state.issued;
      const urlField = h('input', { class: 'share-url', readonly: true, value: url, 'aria-label': t('share.url') });
      replaceChildren(
        this.issued,
        h('p', {}, t(link.audience === 'patient' ? 'share.sendToPatient' : 'share.sendToDoctor', { grantee: link.grantee ?? '' })),
        urlField,
        h('button', { type: 'button', 'data-action': 'copy-share-url', onclick: () => void navigator.clipboard?.writeText(url).catch(() => urlField.select()) }, t('share.copy')),
        h('img', { class: 'share-qr', alt: t('share.qr'), src: `data:image/svg+xml;charset=utf-8,${encodeURIComponent(qrSvg)}` }),
      );
      // The panel may be scrolled down to the list the link was shown from.
      this.issued.scrollIntoView({ block: 'nearest' });
    }
    replaceChildren(this.list, this.linksView(state, t));
  }

  private linksView(state: ShareState, t: Translate): HTMLElement {
    const links = state.links;
    if (!links || links.status === 'loading') return h('p', { class: 'status loading' }, t('share.loading'));
    if (links.status === 'error') return h('p', { class: 'status error' }, problemText(links.problem, t));
    if (links.value.length === 0) return h('p', { class: 'status empty' }, t('share.none'));
    return h(
      'ul',
      { class: 'share-link-list' },
      links.value.map((link) => h('li', { 'data-link': link.id, 'data-state': link.state }, this.describe(link, t), this.actions(link, t))),
    );
  }

  private describe(link: ShareLinkSummary, t: Translate): HTMLElement {
    const who = link.audience === 'patient' ? t('share.forPatient', { factor: t(FACTOR_LABEL[link.factorKind ?? 'birth-date']) }) : t('share.forDoctor', { grantee: link.grantee ?? '' });
    return h(
      'span',
      { class: 'share-link-text' },
      h('strong', {}, who),
      ' ',
      h('span', { class: `share-state ${link.state}` }, t(STATE_LABEL[link.state])),
      ' ',
      h('span', { class: 'muted' }, t('share.until', { date: link.expiresAt.slice(0, 16).replace('T', ' ') })),
    );
  }

  private actions(link: ShareLinkSummary, t: Translate): HTMLElement[] {
    if (link.state !== 'active') return [];
    return [
      ...(link.audience === 'patient' ? [h('button', { type: 'button', 'data-action': 'show-link', onclick: () => void this.share.show(link.id) }, t('share.show'))] : []),
      h('button', { type: 'button', 'data-action': 'revoke-link', onclick: () => void this.share.revoke(link.id) }, t('share.revoke')),
    ];
  }
}

const FACTOR_LABEL: Record<SecondFactorKind, MessageKey> = { 'birth-date': 'share.factorBirthDate', 'phone-last4': 'share.factorPhone' };
const STATE_LABEL: Record<ShareLinkSummary['state'], MessageKey> = { active: 'share.active', expired: 'share.expired', revoked: 'share.revoked', locked: 'share.locked' };
