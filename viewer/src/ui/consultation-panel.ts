import type { Consultation, ConsultationParticipant } from '../../../archive/consultation/wire.ts';
import type { Translate } from '../i18n/i18n.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { ConsultationController, ConsultationState } from '../state/consultation-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

/**
 * Live consultation (远程会诊) beside every screen: a button opens the panel with the reader's
 * consultations (accept, decline, join), the invitation form on an open study, and, in a session,
 * who has the floor, the floor request and hand-over, the chat and the opinion form. The other
 * participant's pointer is drawn over the viewport grid. Forms are built once, so what is being
 * typed survives every redraw.
 */
export class ConsultationPanel {
  readonly toggle = h('button', { type: 'button', class: 'consultation-toggle', 'data-action': 'consultation' });
  readonly element = h('aside', { class: 'consultation-panel', hidden: true, 'aria-live': 'polite' });
  private readonly outcome = h('p', { class: 'consultation-outcome' });
  private readonly list = h('div', { class: 'consultation-list' });
  private readonly inviteHeading = h('h3');
  private readonly inviteeInput = h('input', { name: 'invitee', required: true, autocomplete: 'off' });
  private readonly reasonInput = h('input', { name: 'reason', required: true, maxlength: 500 });
  private readonly inviteButton = h('button', { type: 'submit', 'data-action': 'invite' });
  private readonly inviteeLabel = h('span');
  private readonly reasonLabel = h('span');
  private readonly inviteForm = h(
    'form',
    { class: 'consultation-invite' },
    this.inviteHeading,
    h('label', {}, this.inviteeLabel, this.inviteeInput),
    h('label', {}, this.reasonLabel, this.reasonInput),
    this.inviteButton,
  );
  private readonly sessionStatus = h('div', { class: 'consultation-session' });
  private readonly chatHeading = h('h3');
  private readonly chatLog = h('ol', { class: 'consultation-chat', 'aria-live': 'polite' });
  private readonly chatInput = h('input', { name: 'chat', autocomplete: 'off', maxlength: 2000 });
  private readonly chatButton = h('button', { type: 'submit', 'data-action': 'chat-send' });
  private readonly chatForm = h('form', { class: 'consultation-chat-form' }, this.chatInput, this.chatButton);
  private readonly opinionHeading = h('h3');
  private readonly opinionShown = h('div', { class: 'consultation-opinion' });
  private readonly opinionInput = h('textarea', { name: 'opinion', rows: 5 });
  private readonly opinionButton = h('button', { type: 'submit', 'data-action': 'save-opinion' });
  private readonly opinionForm = h('form', { class: 'consultation-opinion-form' }, this.opinionInput, this.opinionButton);
  private readonly sessionSection = h('section', { class: 'consultation-live' }, this.sessionStatus, this.chatHeading, this.chatLog, this.chatForm, this.opinionHeading, this.opinionShown, this.opinionForm);
  private readonly pointer = h('div', { class: 'consultation-pointer', hidden: true });
  private app: AppState | undefined;

  constructor(
    private readonly consultations: ConsultationController,
    grid: HTMLElement,
  ) {
    this.toggle.addEventListener('click', () => consultations.togglePanel());
    this.inviteForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void consultations.invite(this.inviteeInput.value.trim(), this.reasonInput.value.trim()).then(() => {
        if (consultations.store.get().outcome?.kind === 'invited') this.inviteForm.reset();
      });
    });
    this.chatForm.addEventListener('submit', (event) => {
      event.preventDefault();
      consultations.chat(this.chatInput.value);
      this.chatInput.value = '';
    });
    this.opinionForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void consultations.writeOpinion(this.opinionInput.value);
    });
    this.element.append(this.outcome, this.sessionSection, this.inviteForm, this.list);
    grid.append(this.pointer);
    grid.addEventListener('pointermove', (event) => {
      const box = grid.getBoundingClientRect();
      if (box.width > 0 && box.height > 0) consultations.point({ x: clamp((event.clientX - box.left) / box.width), y: clamp((event.clientY - box.top) / box.height) });
    });
  }

  render(app: AppState, state: ConsultationState, t: Translate): void {
    this.app = app;
    const readsImages = !!signedInUserOf(app)?.permissions.includes('read-images');
    this.toggle.hidden = !readsImages;
    this.toggle.textContent = t('consult.title');
    this.toggle.setAttribute('aria-pressed', String(state.panelOpen));
    this.element.hidden = !readsImages || !state.panelOpen;
    this.renderOutcome(state, t);
    this.renderSession(state, t);
    this.renderInvite(app, state, t);
    this.renderList(state, t);
    this.renderPointer(state, t);
  }

  private renderOutcome(state: ConsultationState, t: Translate): void {
    const outcome = state.outcome;
    this.outcome.className = `consultation-outcome ${outcome?.kind ?? ''}`;
    this.outcome.textContent = !outcome ? '' : outcome.kind === 'invited' ? t('consult.invited', { name: outcome.name }) : t('consult.refused', { reason: problemText(outcome.problem, t) });
  }

  private renderInvite(app: AppState, state: ConsultationState, t: Translate): void {
    const study = app.route.page === 'viewer' ? app.route.studyInstanceUids[0] : undefined;
    this.inviteForm.hidden = !!state.session;
    this.inviteHeading.textContent = study ? t('consult.inviteTitle') : t('consult.openStudyFirst');
    for (const field of [this.inviteeInput, this.reasonInput, this.inviteButton]) field.disabled = !study;
    this.inviteeLabel.textContent = t('consult.invitee');
    this.reasonLabel.textContent = t('consult.reason');
    this.inviteButton.textContent = t('consult.invite');
  }

  private renderList(state: ConsultationState, t: Translate): void {
    const mine = state.mine;
    const button = (label: string, action: string, onclick: () => void) => h('button', { type: 'button', 'data-action': action, onclick }, label);
    const me = this.app ? signedInUserOf(this.app)?.username : undefined;
    replaceChildren(
      this.list,
      h('h3', {}, t('consult.mine'), ' ', button(t('consult.refresh'), 'consultations-refresh', () => void this.consultations.refresh())),
      !mine || mine.status === 'loading'
        ? h('p', { class: 'status loading' }, t('consult.loading'))
        : mine.status === 'error'
          ? h('p', { class: 'status error' }, problemText(mine.problem, t))
          : mine.value.length === 0
            ? h('p', { class: 'status empty' }, t('consult.none'))
            : h(
                'ul',
                {},
                mine.value.map((consultation) =>
                  h(
                    'li',
                    { class: `consultation ${consultation.status}`, 'data-consultation': consultation.id },
                    h('div', {}, h('strong', {}, t(`consult.status.${consultation.status}`)), ' · ', consultation.reason),
                    h('div', { class: 'muted' }, between(consultation, t)),
                    h(
                      'div',
                      { class: 'row-actions' },
                      consultation.status === 'invited' && consultation.invitee.username === me
                        ? [button(t('consult.accept'), 'consultation-accept', () => void this.consultations.accept(consultation)), button(t('consult.decline'), 'consultation-decline', () => void this.consultations.decline(consultation))]
                        : null,
                      consultation.status === 'active' && state.session?.consultation.id !== consultation.id ? button(t('consult.join'), 'consultation-join', () => void this.consultations.join(consultation)) : null,
                    ),
                  ),
                ),
              ),
    );
  }

  private renderSession(state: ConsultationState, t: Translate): void {
    const session = state.session;
    this.sessionSection.hidden = !session;
    if (!session) return;
    const { consultation, you } = session;
    const other = consultation.inviter.username === you ? consultation.invitee : consultation.inviter;
    const holdsFloor = consultation.floorHolder === you;
    const live = session.connected && consultation.status === 'active';
    let floor: string;
    if (!session.connected) floor = session.closedBecause ? t('consult.disconnected', { reason: session.closedBecause }) : t('consult.connecting');
    else if (holdsFloor) floor = t('consult.floorYou', { name: other.displayName });
    else floor = t('consult.floorOther', { name: other.displayName });
    replaceChildren(
      this.sessionStatus,
      h('h3', {}, t('consult.title'), ' · ', t(`consult.status.${consultation.status}`)),
      h('p', { class: 'muted' }, consultation.reason, ' — ', between(consultation, t)),
      h('p', { class: 'consultation-floor', 'data-floor': holdsFloor ? 'mine' : 'theirs' }, floor),
      live && holdsFloor && consultation.floorRequestedBy ? h('p', { class: 'consultation-floor-request' }, t('consult.floorRequested', { name: other.displayName })) : null,
      live && !holdsFloor && consultation.floorRequestedBy === you ? h('p', {}, t('consult.floorAsked', { name: other.displayName })) : null,
      h(
        'div',
        { class: 'row-actions' },
        live && !holdsFloor && consultation.floorRequestedBy !== you ? h('button', { type: 'button', 'data-action': 'floor-request', onclick: () => this.consultations.requestFloor() }, t('consult.requestFloor')) : null,
        live && holdsFloor && consultation.floorRequestedBy ? h('button', { type: 'button', 'data-action': 'floor-hand-over', onclick: () => this.consultations.handOver() }, t('consult.handOver')) : null,
        consultation.status === 'active' ? h('button', { type: 'button', 'data-action': 'consultation-end', onclick: () => void this.consultations.end() }, t('consult.end')) : null,
      ),
    );
    this.chatHeading.textContent = t('consult.chat');
    replaceChildren(
      this.chatLog,
      session.chat.map((message) => h('li', {}, h('span', { class: 'chat-from' }, nameOf(consultation, message.from)), ' ', message.text)),
    );
    this.chatLog.scrollTop = this.chatLog.scrollHeight;
    this.chatForm.hidden = !live;
    this.chatInput.placeholder = t('consult.chatMessage');
    this.chatButton.textContent = t('consult.send');
    this.opinionHeading.textContent = t('consult.opinion');
    const opinion = consultation.opinion;
    replaceChildren(
      this.opinionShown,
      opinion ? [h('div', { class: 'muted' }, t('consult.opinionBy', { author: nameOf(consultation, opinion.author), time: new Date(opinion.writtenAt).toLocaleString() })), h('p', { class: 'opinion-text' }, opinion.text)] : null,
    );
    this.opinionButton.textContent = t('consult.saveOpinion');
  }

  private renderPointer(state: ConsultationState, t: Translate): void {
    const pointer = state.session?.connected ? state.session.pointer : undefined;
    this.pointer.hidden = !pointer;
    if (!pointer || !state.session) return;
    this.pointer.style.left = `${pointer.x * 100}%`;
    this.pointer.style.top = `${pointer.y * 100}%`;
    this.pointer.title = t('consult.pointer', { name: nameOf(state.session.consultation, pointer.from) });
    this.pointer.textContent = nameOf(state.session.consultation, pointer.from);
  }
}

function between(consultation: Consultation, t: Translate): string {
  const place = (participant: ConsultationParticipant) => participant.institutionName ?? '—';
  return t('consult.between', { inviter: consultation.inviter.displayName, inviterInstitution: place(consultation.inviter), invitee: consultation.invitee.displayName, inviteeInstitution: place(consultation.invitee) });
}

function nameOf(consultation: Consultation, username: string): string {
  return [consultation.inviter, consultation.invitee].find((participant) => participant.username === username)?.displayName ?? username;
}

function clamp(fraction: number): number {
  return Math.min(1, Math.max(0, fraction));
}
