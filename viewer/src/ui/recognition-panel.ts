import type { ReasonChoice, RecognitionDecisionEntry } from '../../../archive/recognition/recognition-wire.ts';
import type { DecisionOrder, DecisionRequest } from '../api/recognition-client.ts';
import { formatDicomDate } from '../dicom/dataset.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale, MessageKey } from '../i18n/messages.ts';
import type { AppState } from '../state/app-state.ts';
import { RecognitionController, type DecisionChoice, type RecognitionState } from '../state/recognition-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

const ORDER_KINDS: readonly { kind: DecisionOrder['kind']; maxLength: number }[] = [
  { kind: 'accession-number', maxLength: 16 },
  { kind: 'order-number', maxLength: 64 },
  { kind: 'text', maxLength: 200 },
];

/**
 * Recognition (互认) beside the reading screen, out of the way of reading: a header button opens a
 * side panel. For another institution's study opened with a purpose of use: 互认 / 不予互认, and the
 * decision form (reason from the province's list, its text when required, "已告知患者重新检查的目的",
 * the order it concerns). For the study's own institution: what other institutions decided about
 * it. Rebuilt only when what it shows changes, so a form half filled survives image loading.
 */
export class RecognitionPanel {
  readonly toggle = h('button', { type: 'button', class: 'recognition-toggle', 'data-action': 'recognition', hidden: true });
  readonly element = h('aside', { class: 'recognition-panel', hidden: true, 'aria-labelledby': 'recognition-title' });
  private shows: readonly unknown[] | undefined;

  constructor(private readonly recognition: RecognitionController) {
    this.toggle.addEventListener('click', () => recognition.togglePanel());
  }

  render(app: AppState, state: RecognitionState, t: Translate): void {
    const decidable = Object.keys(state.studies).filter((uid) => RecognitionController.decides(app, state.studies[uid]));
    const feedback = Object.keys(state.studies).filter((uid) => {
      const answer = state.studies[uid];
      return answer?.status === 'ready' && !answer.value.otherInstitution && answer.value.decisions.length > 0;
    });
    const shown = app.route.page === 'viewer' && decidable.length + feedback.length > 0;
    this.toggle.hidden = !shown;
    this.element.hidden = !shown || !state.panelOpen;
    if (!shown) return;
    const decided = decidable.filter((uid) => (state.studies[uid]?.status === 'ready' ? state.studies[uid].value.decisions.length > 0 : false));
    this.toggle.textContent = decidable.length ? t('recognition.toggle', { count: String(decidable.length - decided.length) }) : t('recognition.feedbackToggle', { count: String(feedback.length) });
    this.toggle.classList.toggle('pending', decided.length < decidable.length);
    this.toggle.setAttribute('aria-expanded', String(state.panelOpen));
    if (this.element.hidden) return;
    const shows = [app.locale, app.reading.studies, state];
    if (this.shows?.length === shows.length && shows.every((input, index) => input === this.shows![index])) return;
    this.shows = shows;
    replaceChildren(
      this.element,
      h('h2', { id: 'recognition-title' }, t('recognition.title')),
      state.outcome?.kind === 'saved' ? h('p', { class: 'status saved', role: 'status' }, t('recognition.saved')) : null,
      decidable.map((uid) => this.decisionSection(uid, app, state, t)),
      feedback.length ? h('h3', {}, t('recognition.feedback')) : null,
      feedback.map((uid) => this.decisionList(state.studies[uid]?.status === 'ready' ? state.studies[uid].value.decisions : [], state, app.locale, t, this.studyLabel(app, uid))),
    );
  }

  private studyLabel(app: AppState, uid: string): string {
    const open = app.reading.studies[uid];
    return open?.status === 'ready' ? `${formatDicomDate(open.value.summary.studyDate)} ${open.value.summary.modalities.join(' ')} ${open.value.summary.description}` : uid;
  }

  private decisionSection(uid: string, app: AppState, state: RecognitionState, t: Translate): HTMLElement {
    const answer = state.studies[uid];
    if (answer?.status !== 'ready') return h('div');
    const deciding = state.deciding?.studyInstanceUid === uid ? state.deciding : undefined;
    const choose = (decision: DecisionChoice) => this.recognition.openDecision(uid, decision);
    return h(
      'section',
      { class: 'recognition-study', 'data-study': uid },
      h('p', {}, t('recognition.decideIntro', { institution: answer.value.studyInstitution.name })),
      h('p', { class: 'muted' }, this.studyLabel(app, uid)),
      h(
        'div',
        { class: 'recognition-buttons' },
        h('button', { type: 'button', 'data-action': 'recognise', class: deciding?.decision === 'recognised' ? 'primary' : '', onclick: () => choose('recognised') }, t('recognition.recognise')),
        h('button', { type: 'button', 'data-action': 'not-recognise', class: deciding?.decision === 'not-recognised' ? 'primary' : '', onclick: () => choose('not-recognised') }, t('recognition.notRecognise')),
      ),
      deciding ? this.form(uid, deciding.decision, state, t, app.locale) : null,
      answer.value.decisions.length ? h('h3', {}, t('recognition.yourDecisions')) : null,
      answer.value.decisions.length ? this.decisionList(answer.value.decisions, state, app.locale, t) : null,
    );
  }

  private form(uid: string, decision: DecisionChoice, state: RecognitionState, t: Translate, locale: Locale): HTMLElement {
    const reasons = state.reasons?.status === 'ready' ? state.reasons.value : [];
    const notRecognised = decision === 'not-recognised';
    const reasonSelect = h(
      'select',
      { name: 'reasonCode', required: true },
      h('option', { value: '' }, t('recognition.chooseReason')),
      reasons.map((reason) => h('option', { value: reason.code }, labelOf(reason, locale))),
    );
    const text = h('textarea', { name: 'text', rows: 2, maxlength: 500 });
    const textLabel = h('span', {}, t('recognition.text'));
    reasonSelect.addEventListener('change', () => {
      const required = reasons.find((reason) => reason.code === reasonSelect.value)?.requiresText ?? false;
      text.required = required;
      textLabel.textContent = t(required ? 'recognition.textRequired' : 'recognition.text');
    });
    const informed = h('input', { type: 'checkbox', name: 'patientInformed', required: true });
    const orderKind = h('select', { name: 'orderKind' }, ORDER_KINDS.map((order) => h('option', { value: order.kind }, t(`recognition.order.${order.kind}` as MessageKey))));
    const orderValue = h('input', { name: 'orderValue', required: true, maxlength: ORDER_KINDS[0]!.maxLength, autocomplete: 'off' });
    orderKind.addEventListener('change', () => {
      orderValue.maxLength = ORDER_KINDS.find((order) => order.kind === orderKind.value)?.maxLength ?? 200;
    });
    const submit = (event: Event) => {
      event.preventDefault();
      const order = { kind: orderKind.value as DecisionOrder['kind'], value: orderValue.value.trim() };
      const request: DecisionRequest = notRecognised
        ? { decision: 'not-recognised', reasonCode: reasonSelect.value, ...(text.value.trim() ? { text: text.value.trim() } : {}), patientInformed: true, order }
        : { decision: 'recognised', order };
      void this.recognition.decide(uid, request);
    };
    return h(
      'form',
      { class: 'recognition-form', 'data-decision': decision, onsubmit: submit },
      notRecognised ? h('label', {}, h('span', {}, t('recognition.reason')), reasonSelect) : null,
      notRecognised ? h('label', {}, textLabel, text) : null,
      notRecognised ? h('label', { class: 'choice' }, informed, h('span', {}, t('recognition.patientInformed'))) : null,
      h('label', {}, h('span', {}, t('recognition.orderKind')), orderKind),
      h('label', {}, h('span', {}, t('recognition.orderValue')), orderValue),
      state.outcome?.kind === 'refused' ? h('p', { class: 'form-error', role: 'alert' }, problemText(state.outcome.problem, t)) : null,
      h(
        'div',
        { class: 'dialog-buttons' },
        h('button', { type: 'button', onclick: () => this.recognition.closeDecision() }, t('recognition.cancel')),
        h('button', { type: 'submit', class: 'primary', 'data-action': 'record-decision', disabled: state.saving }, t('recognition.submit')),
      ),
    );
  }

  private decisionList(decisions: readonly RecognitionDecisionEntry[], state: RecognitionState, locale: Locale, t: Translate, heading?: string): HTMLElement {
    const reasons = state.reasons?.status === 'ready' ? state.reasons.value : [];
    return h(
      'ul',
      { class: 'recognition-decisions' },
      heading ? h('li', { class: 'muted' }, heading) : null,
      decisions.map((decision) => {
        const reason = reasons.find((candidate) => candidate.code === decision.reasonCode);
        return h(
          'li',
          { 'data-decision': decision.decision, 'data-decision-id': decision.id },
          h('strong', {}, t(`recognition.decision.${decision.decision}` as MessageKey)),
          decision.reasonCode ? h('span', {}, reason ? labelOf(reason, locale) : decision.reasonCode) : null,
          decision.reasonText ? h('span', { class: 'muted' }, decision.reasonText) : null,
          h('span', { class: 'muted' }, t('recognition.decidedBy', { name: decision.decidedByName, institution: decision.decidingInstitutionName, time: new Date(decision.decidedAt).toLocaleString(locale) })),
        );
      }),
    );
  }
}

function labelOf(reason: ReasonChoice, locale: Locale): string {
  return locale === 'zh-CN' ? reason.label.zh : reason.label.en;
}
