import type { StudySummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { QcFlagController, QcFlagState } from '../state/qc-flag-controller.ts';
import { h } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * 申请质控: a clinician who doubts a study's images asks the QC centre to look at it, with a reason;
 * the study goes on the QC work list as 临床反馈. Offered on each row of the study list to those who
 * read images with the patient's identity (QC staff are the ones asked). Its textarea is built once,
 * so what is typed survives every redraw.
 */
export class QcFlagDialog {
  readonly element = h('div', { class: 'modal-backdrop', hidden: true });
  private readonly title = h('h2', { id: 'qc-flag-title' });
  private readonly studyLine = h('p', { class: 'muted' });
  private readonly label = h('span');
  private readonly reason = h('textarea', { name: 'qc-flag-reason', rows: 3, maxlength: 500, required: true });
  private readonly note = h('p', { role: 'status' });
  private readonly cancelButton = h('button', { type: 'button', 'data-action': 'cancel-qc-flag' });
  private readonly sendButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'send-qc-flag' });
  private readonly form = h('form', { class: 'modal', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'qc-flag-title' });
  private openFor: string | undefined;

  constructor(private readonly controller: QcFlagController) {
    this.form.append(this.title, this.studyLine, h('label', { class: 'field' }, this.label, this.reason), this.note, h('div', { class: 'dialog-buttons' }, this.cancelButton, this.sendButton));
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void controller.send(this.reason.value);
    });
    this.cancelButton.addEventListener('click', () => controller.close());
    this.element.addEventListener('click', (event) => event.target === this.element && controller.close());
  }

  /** The study list's row action. */
  rowAction = (study: StudySummary, app: AppState, t: Translate): HTMLElement | null =>
    mayFlag(app) ? h('button', { type: 'button', 'data-action': 'qc-flag', onclick: () => this.controller.open(study) }, t('qcFlag.open')) : null;

  render(state: QcFlagState, t: Translate): void {
    const { study } = state;
    this.element.hidden = !study;
    if (!study) return void (this.element.replaceChildren(), (this.openFor = undefined));
    if (!this.form.isConnected) this.element.append(this.form);
    if (this.openFor !== study.studyInstanceUid) {
      this.openFor = study.studyInstanceUid;
      this.reason.value = '';
      this.reason.focus();
    }
    this.title.textContent = t('qcFlag.title');
    this.studyLine.textContent = [study.studyDate, study.modalities.join('/'), study.description, study.institution].filter(Boolean).join(' · ');
    this.label.textContent = t('qcFlag.reason');
    this.reason.readOnly = state.sent;
    this.note.className = state.problem ? 'form-error' : 'muted';
    this.note.textContent = state.problem ? problemText(state.problem, t) : state.sent ? t('qcFlag.sent') : t('qcFlag.hint');
    this.cancelButton.textContent = state.sent ? t('app.close') : t('qcFlag.cancel');
    this.sendButton.textContent = state.sending ? t('qcFlag.sending') : t('qcFlag.send');
    this.sendButton.hidden = state.sent;
    this.sendButton.disabled = state.sending;
  }
}

function mayFlag(app: AppState): boolean {
  const user = signedInUserOf(app);
  return !!user?.permissions.includes('read-images') && !user.maskIdentity;
}
