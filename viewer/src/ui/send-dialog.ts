import type { StudySummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import { sendFinished } from '../logic/routing.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { SendController, SendState } from '../state/send-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * 发送: on each row of the study list, for administrators who may export: the study or one of its
 * series to a registered DICOM peer or DICOMweb node, with the count sent and failed of the total as
 * the archive works through it. Its selects are built once, so a choice survives every redraw.
 */
export class SendDialog {
  readonly element = h('div', { class: 'modal-backdrop', hidden: true });
  private readonly title = h('h2', { id: 'send-title' });
  private readonly studyLine = h('p', { class: 'muted' });
  private readonly destinationLabel = h('span');
  private readonly destination = h('select', { name: 'send-destination' });
  private readonly scopeLabel = h('span');
  private readonly scope = h('select', { name: 'send-scope' });
  private readonly note = h('p', { role: 'status', 'data-field': 'send-progress' });
  private readonly closeButton = h('button', { type: 'button', 'data-action': 'close-send' });
  private readonly sendButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'send-study' });
  private readonly form = h('form', { class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'send-title' });
  private shown: SendState | undefined;

  constructor(private readonly controller: SendController) {
    this.form.append(
      this.title,
      this.studyLine,
      h('label', { class: 'field' }, this.destinationLabel, this.destination),
      h('label', { class: 'field' }, this.scopeLabel, this.scope),
      this.note,
      h('div', { class: 'dialog-buttons' }, this.closeButton, this.sendButton),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void controller.send(this.destination.value, this.scope.value);
    });
    this.closeButton.addEventListener('click', () => controller.close());
    this.element.addEventListener('click', (event) => event.target === this.element && controller.close());
  }

  /** The study list's row action. */
  rowAction = (study: StudySummary, app: AppState, t: Translate): HTMLElement | null => {
    const user = signedInUserOf(app);
    if (!user?.permissions.includes('export') || !user.permissions.includes('manage-institution')) return null;
    const series = app.list.seriesOf[study.studyInstanceUid];
    return h('button', { type: 'button', 'data-action': 'send', onclick: () => void this.controller.open(study, series?.status === 'ready' ? series.value : [], user.permissions.includes('manage-system')) }, t('send.action'));
  };

  render(state: SendState, t: Translate): void {
    const { study } = state;
    this.element.hidden = !study;
    if (!study) return void (this.element.replaceChildren(), (this.shown = undefined));
    if (!this.form.isConnected) this.element.append(this.form);
    if (this.shown?.study !== study || this.shown.destinations !== state.destinations) {
      replaceChildren(this.destination, (state.destinations ?? []).map((option) => h('option', { value: option.value }, option.label)));
      replaceChildren(
        this.scope,
        h('option', { value: '' }, t('send.wholeStudy')),
        state.series.map((series) => h('option', { value: series.seriesInstanceUid }, [series.seriesNumber ?? '', series.modality, series.description].filter((part) => part !== '').join(' · '))),
      );
    }
    this.shown = state;
    this.title.textContent = t('send.title');
    this.studyLine.textContent = [study.studyDate, study.modalities.join('/'), study.description, study.institution].filter(Boolean).join(' · ');
    this.destinationLabel.textContent = t('send.destination');
    this.scopeLabel.textContent = t('send.scope');
    const progress = state.progress;
    const noDestinations = state.destinations !== undefined && state.destinations.length === 0;
    this.note.className = state.problem || noDestinations ? 'form-error' : 'muted';
    this.note.textContent = state.problem
      ? t('send.failed', { reason: problemText(state.problem, t) })
      : progress
        ? t(sendFinished(progress) ? 'send.finished' : 'send.progress', { sent: String(progress.sent), failed: String(progress.failed), total: String(progress.total) })
        : noDestinations
          ? t('send.noDestinations')
          : '';
    this.closeButton.textContent = t('send.close');
    this.sendButton.textContent = t('send.submit');
    this.sendButton.hidden = progress !== undefined;
    this.sendButton.disabled = state.sending || !state.destinations?.length;
    this.destination.disabled = this.scope.disabled = progress !== undefined;
  }
}
