import { PATIENT_CLASSES } from '../../../archive/reading/reading-wire.ts';
import { formatDicomDate } from '../dicom/dataset.ts';
import { patientDisplayName, type StudySummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import { chosenCentre, emptyRequestForm, REQUEST_FIELD_LIMITS, type RequestField, type RequestForm } from '../logic/reading-request.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { RequestController, RequestState } from '../state/request-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

type TextField = keyof typeof REQUEST_FIELD_LIMITS;

/**
 * The form of a request for remote reading (远程诊断申请): the study, the reading centre (chosen for
 * the hospital when only one covers it), 检查目的 and 申请医生 (required), 病史, 临床诊断, 申请科室 and
 * the urgency (急诊 / 住院 / 门诊 / 体检). Offered on each row of the study
 * list and, on the reading screen, in the header, to users who may request reading. Its inputs are
 * built once, so what is typed survives every redraw; opened for another study, it starts afresh.
 */
export class RequestDialog {
  readonly toggle = h('button', { type: 'button', class: 'request-toggle', 'data-action': 'request-reading', hidden: true });
  readonly element = h('div', { class: 'modal-backdrop request-backdrop', hidden: true });
  private readonly title = h('h2', { id: 'request-title' });
  private readonly studyLine = h('p', { class: 'request-study' });
  private readonly labels = new Map<RequestField, HTMLSpanElement>();
  private readonly inputs: Record<TextField, HTMLInputElement | HTMLTextAreaElement> = {
    clinicalQuestion: h('input', { name: 'clinicalQuestion', maxlength: REQUEST_FIELD_LIMITS.clinicalQuestion, autocomplete: 'off' }),
    history: h('textarea', { name: 'history', rows: 4, maxlength: REQUEST_FIELD_LIMITS.history }),
    clinicalDiagnosis: h('input', { name: 'clinicalDiagnosis', maxlength: REQUEST_FIELD_LIMITS.clinicalDiagnosis, autocomplete: 'off' }),
    orderingDoctor: h('input', { name: 'orderingDoctor', maxlength: REQUEST_FIELD_LIMITS.orderingDoctor, autocomplete: 'off' }),
    department: h('input', { name: 'department', maxlength: REQUEST_FIELD_LIMITS.department, autocomplete: 'off' }),
  };
  private readonly patientClass = h('select', { name: 'patientClass' });
  private readonly readingCentre = h('select', { name: 'readingCentreId' });
  private readonly error = h('p', { class: 'form-error', role: 'alert' });
  private readonly sentNote = h('p', { class: 'request-sent', role: 'status', hidden: true });
  private readonly cancelButton = h('button', { type: 'button', 'data-action': 'cancel-request' });
  private readonly sendButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'send-request' });
  private readonly followButton = h('button', { type: 'button', class: 'primary', 'data-action': 'follow-request', hidden: true });
  private readonly form = h('form', { class: 'modal request-dialog', role: 'dialog', 'aria-modal': 'true', 'aria-labelledby': 'request-title' });
  private openFor: string | undefined;

  constructor(private readonly controller: RequestController) {
    const field = (name: RequestField, control: HTMLElement) => {
      const label = h('span');
      this.labels.set(name, label);
      return h('label', { class: `field request-${name}` }, label, control);
    };
    this.form.append(
      this.title,
      this.studyLine,
      field('readingCentreId', this.readingCentre),
      field('clinicalQuestion', this.inputs.clinicalQuestion),
      field('history', this.inputs.history),
      field('clinicalDiagnosis', this.inputs.clinicalDiagnosis),
      h('div', { class: 'request-row' }, field('orderingDoctor', this.inputs.orderingDoctor), field('department', this.inputs.department), field('patientClass', this.patientClass)),
      this.error,
      this.sentNote,
      h('div', { class: 'dialog-buttons' }, this.cancelButton, this.sendButton, this.followButton),
    );
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void controller.send(this.read());
    });
    this.form.addEventListener('input', () => controller.edited());
    this.cancelButton.addEventListener('click', () => controller.close());
    this.followButton.addEventListener('click', () => void controller.followUp());
    this.element.addEventListener('click', (event) => event.target === this.element && controller.close());
  }

  /** The study list's row action: 远程诊断申请 for that study, for those who may request reading. */
  rowAction = (study: StudySummary, app: AppState, t: Translate): HTMLElement | null =>
    mayRequest(app) ? h('button', { type: 'button', 'data-action': 'request-reading', onclick: () => void this.controller.open(study) }, t('request.open')) : null;

  render(app: AppState, state: RequestState, t: Translate): void {
    const onScreen = readingStudy(app);
    this.toggle.hidden = !(onScreen && mayRequest(app));
    this.toggle.textContent = t('request.open');
    this.toggle.onclick = onScreen ? () => void this.controller.open(onScreen) : null;
    const study = state.study;
    this.element.hidden = !study;
    // Closed, the dialog leaves the page: only an open dialog is a [role=dialog] to find.
    if (!study) return void (this.element.replaceChildren(), (this.openFor = undefined));
    if (!this.form.isConnected) this.element.append(this.form);
    if (this.openFor !== study.studyInstanceUid) {
      this.openFor = study.studyInstanceUid;
      this.fill(emptyRequestForm(signedInUserOf(app)?.displayName ?? ''));
      queueMicrotask(() => this.inputs.clinicalQuestion.focus());
    }
    this.title.textContent = t('request.title');
    this.studyLine.textContent = [patientDisplayName(study, app.locale), study.patientId, formatDicomDate(study.studyDate), study.modalities.join(' '), study.description, study.institution].filter(Boolean).join(' · ');
    for (const [name, label] of this.labels) label.textContent = t(`request.field.${name}` as MessageKey) + (name === 'clinicalQuestion' || name === 'orderingDoctor' || name === 'readingCentreId' ? ' *' : '');
    const chosen = this.patientClass.value || 'outpatient';
    replaceChildren(this.patientClass, PATIENT_CLASSES.map((value) => h('option', { value, selected: value === chosen }, t(`worklist.class.${value}` as MessageKey))));
    const centres = state.centres ?? [];
    const centre = chosenCentre(centres, this.readingCentre.value);
    const placeholder = t(!state.centres ? 'request.loadingCentres' : centres.length ? 'request.chooseCentre' : 'request.noCentre');
    replaceChildren(this.readingCentre, [...(centre ? [] : [h('option', { value: '', selected: true, disabled: true }, placeholder)]), ...centres.map(({ id, name }) => h('option', { value: id, selected: id === centre }, name))]);
    this.inputs.history.placeholder = t('request.historyPlaceholder');
    for (const [name, input] of [...Object.entries(this.inputs), ['readingCentreId', this.readingCentre] as const]) input.setAttribute('aria-invalid', String(state.invalid.some((problem) => problem.field === name)));
    this.error.textContent = state.problem
      ? t('request.refused', { reason: problemText(state.problem, t) })
      : state.invalid.map((problem) => t(`request.${problem.problem}`, { field: t(`request.field.${problem.field}` as MessageKey) })).join(' ');
    this.sentNote.hidden = !state.sent;
    this.sentNote.textContent = state.sent ? t(state.sent.created ? 'request.sent' : 'request.sentToExisting') : '';
    for (const input of [...Object.values(this.inputs), this.patientClass, this.readingCentre]) input.disabled = !!state.sent;
    this.sendButton.hidden = !!state.sent;
    this.sendButton.disabled = state.sending || !state.centres;
    this.sendButton.textContent = t(state.sending ? 'request.sending' : 'request.send');
    this.followButton.hidden = !state.sent;
    this.followButton.textContent = t('request.follow');
    this.cancelButton.textContent = t(state.sent ? 'app.close' : 'request.cancel');
  }

  private fill(form: RequestForm): void {
    for (const [name, input] of Object.entries(this.inputs) as [TextField, HTMLInputElement | HTMLTextAreaElement][]) input.value = form[name];
    this.patientClass.value = form.patientClass;
    this.readingCentre.value = form.readingCentreId;
  }

  private read(): RequestForm {
    const value = (name: TextField) => this.inputs[name].value;
    return {
      clinicalQuestion: value('clinicalQuestion'),
      history: value('history'),
      clinicalDiagnosis: value('clinicalDiagnosis'),
      orderingDoctor: value('orderingDoctor'),
      department: value('department'),
      patientClass: this.patientClass.value,
      readingCentreId: this.readingCentre.value,
    };
  }
}

function mayRequest(app: AppState): boolean {
  return !!signedInUserOf(app)?.permissions.includes('request-reading');
}

/** The study the reading screen shows, once it is loaded. */
function readingStudy(app: AppState): StudySummary | undefined {
  if (app.route.page !== 'viewer') return undefined;
  const primary = app.route.studyInstanceUids[0];
  const study = primary ? app.reading.studies[primary] : undefined;
  return study?.status === 'ready' ? study.value.summary : undefined;
}
