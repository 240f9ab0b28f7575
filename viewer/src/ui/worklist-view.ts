import { READING_STATUSES, RETURN_REASONS, type ReturnReason } from '../../../archive/reading/reading-wire.ts';
import { turnaroundClock } from '../../../archive/reading/turnaround.ts';
import type { ReadingContext, RequestedTask } from '../api/reading-client.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import { visibleTasks } from '../logic/worklist.ts';
import type { WorklistController, WorklistState } from '../state/worklist-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';

const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'MG', 'US', 'XA', 'NM', 'PT'];

/**
 * The worklist screen: for a reading centre, its tasks with status, urgency, waiting time and the
 * turnaround clock (amber, red), filters, and assign / claim / return; for a hospital, its requests
 * with their status, why one was returned, and a reply. Opening a task opens its study.
 */
export class WorklistView {
  readonly element = h('section', { class: 'worklist', hidden: true });

  private username: string | undefined;

  constructor(private readonly controller: WorklistController) {}

  render(state: WorklistState, t: Translate, username: string): void {
    this.username = username;
    // The list is redrawn as it changes (events, polling, the clocks): what the user is typing stays.
    const typed = this.typed();
    const context = state.context;
    if (!context || context.status === 'loading') return replaceChildren(this.element, h('p', { class: 'muted' }, t('worklist.loading')));
    if (context.status === 'error') return replaceChildren(this.element, h('p', { class: 'error', role: 'alert' }, problemText(context.problem, t)));
    const centre = context.value.centre;
    const tasks = state.tasks;
    replaceChildren(
      this.element,
      h(
        'header',
        { class: 'worklist-header' },
        h('h2', {}, centre ? t('worklist.titleCentre', { centre: centre.name }) : t('worklist.titleHospital')),
        h('span', { class: `worklist-live ${state.live}`, 'data-live': state.live }, state.live === 'socket' ? t('worklist.live') : t('worklist.polling')),
        centre ? this.availability(context.value, t) : null,
      ),
      this.filters(state, t),
      state.problem ? h('p', { class: 'error', role: 'alert' }, problemText(state.problem, t)) : null,
      !tasks || tasks.status === 'loading'
        ? h('p', { class: 'muted' }, t('worklist.loading'))
        : tasks.status === 'error'
          ? h('p', { class: 'error', role: 'alert' }, problemText(tasks.problem, t))
          : this.table(visibleTasks(tasks.value, state.filter), state, context.value, t),
      centre ? null : h('p', { class: 'muted' }, t('worklist.resendHint')),
    );
    this.restore(typed);
  }

  private typed(): { values: Map<string, string>; focused: string | undefined } {
    const inputs = [...this.element.querySelectorAll(TYPED)] as (HTMLInputElement | HTMLSelectElement)[];
    const active = document.activeElement;
    return { values: new Map(inputs.map((input) => [inputKey(input), input.value])), focused: active && this.element.contains(active) ? inputKey(active) : undefined };
  }

  private restore({ values, focused }: { values: Map<string, string>; focused: string | undefined }): void {
    for (const input of this.element.querySelectorAll(TYPED) as NodeListOf<HTMLInputElement | HTMLSelectElement>) {
      const value = values.get(inputKey(input));
      if (value !== undefined) input.value = value;
      if (focused === inputKey(input)) input.focus();
    }
  }

  private availability(context: ReadingContext, t: Translate): HTMLElement | null {
    const me = context.readers.find((reader) => reader.username === this.username);
    if (!me) return null;
    return h(
      'label',
      { class: 'worklist-availability' },
      h('input', { type: 'checkbox', 'data-action': 'availability', checked: me.available, onchange: (event: Event) => void this.controller.setAvailability((event.target as HTMLInputElement).checked) }),
      t('worklist.available'),
    );
  }

  private filters(state: WorklistState, t: Translate): HTMLElement {
    const { filter } = state;
    return h(
      'form',
      { class: 'worklist-filters', onsubmit: (event: Event) => event.preventDefault() },
      h(
        'label',
        {},
        t('worklist.filterStatus'),
        h(
          'select',
          { 'data-filter': 'status', onchange: (event: Event) => this.controller.setFilter({ status: (event.target as HTMLSelectElement).value as never }) },
          h('option', { value: '', selected: filter.status === '' }, t('worklist.filterAll')),
          READING_STATUSES.map((status) => h('option', { value: status, selected: filter.status === status }, t(`worklist.status.${status}` as MessageKey))),
        ),
      ),
      h(
        'label',
        {},
        t('worklist.filterModality'),
        h(
          'select',
          { 'data-filter': 'modality', onchange: (event: Event) => this.controller.setFilter({ modality: (event.target as HTMLSelectElement).value }) },
          h('option', { value: '', selected: filter.modality === '' }, t('worklist.filterAll')),
          MODALITIES.map((modality) => h('option', { value: modality, selected: filter.modality === modality }, modality)),
        ),
      ),
      h('label', {}, h('input', { type: 'checkbox', 'data-filter': 'emergency', checked: filter.emergencyOnly, onchange: (event: Event) => this.controller.setFilter({ emergencyOnly: (event.target as HTMLInputElement).checked }) }), t('worklist.filterEmergency')),
      h(
        'label',
        {},
        t('worklist.filterText'),
        h('input', { type: 'search', 'data-filter': 'text', value: filter.text, placeholder: t('worklist.filterTextPlaceholder'), onchange: (event: Event) => this.controller.setFilter({ text: (event.target as HTMLInputElement).value }) }),
      ),
    );
  }

  private table(tasks: RequestedTask[], state: WorklistState, context: ReadingContext, t: Translate): HTMLElement {
    if (tasks.length === 0) return h('p', { class: 'muted', 'data-empty': 'worklist' }, t('worklist.empty'));
    const centre = !!context.centre;
    const headings: MessageKey[] = centre
      ? ['worklist.column.status', 'worklist.column.urgency', 'worklist.column.waiting', 'worklist.column.clock', 'worklist.column.hospital', 'worklist.column.patient', 'worklist.column.modality', 'worklist.column.bodyPart', 'worklist.column.question', 'worklist.column.reader', 'worklist.column.actions']
      : ['worklist.column.status', 'worklist.column.urgency', 'worklist.column.waiting', 'worklist.column.patient', 'worklist.column.modality', 'worklist.column.question', 'worklist.column.reason', 'worklist.column.notes', 'worklist.column.actions'];
    return h(
      'table',
      { class: 'worklist-table' },
      h('thead', {}, h('tr', {}, headings.map((key) => h('th', {}, t(key))))),
      h('tbody', {}, tasks.flatMap((task) => (centre ? this.centreRow(task, state, context, t) : [this.hospitalRow(task, state, t)]))),
    );
  }

  private centreRow(task: RequestedTask, state: WorklistState, context: ReadingContext, t: Translate): HTMLElement[] {
    const now = new Date(state.now);
    const arrived = task.arrivedAt ? new Date(task.arrivedAt) : undefined;
    const open = !['published', 'cancelled'].includes(task.status);
    const clock = arrived && open ? turnaroundClock({ arrivedAt: arrived, now, modality: task.modality, patientClass: task.patientClass, limits: context.turnaroundLimits }) : undefined;
    const assignable = task.status === 'unassigned' || task.status === 'assigned' || task.status === 'registered';
    const me = context.readers.find((reader) => reader.username === this.username);
    const row = h(
      'tr',
      { 'data-workitem': task.workitemUid, 'data-status': task.status, class: task.priority === 'HIGH' ? 'emergency' : undefined },
      h('td', {}, h('span', { class: `status ${task.status}` }, t(`worklist.status.${task.status}` as MessageKey))),
      h('td', {}, t(`worklist.class.${task.patientClass}` as MessageKey)),
      h('td', { class: 'waiting' }, arrived ? duration(Math.max(0, (state.now - arrived.getTime()) / 60_000), t) : ''),
      h(
        'td',
        { class: `clock ${clock?.colour ?? ''}`, 'data-colour': clock?.colour ?? '' },
        clock ? (clock.remainingMinutes > 0 ? t('worklist.remaining', { time: duration(clock.remainingMinutes, t) }) : t('worklist.overdue', { time: duration(-clock.remainingMinutes, t) })) : '',
      ),
      h('td', {}, task.sendingInstitution),
      h('td', {}, h('span', {}, task.patientName), h('span', { class: 'muted' }, ` ${task.patientId}`)),
      h('td', {}, task.modality),
      h('td', {}, task.bodyPart),
      h('td', { class: 'question', title: task.history }, task.clinicalQuestion),
      h('td', { 'data-reader': task.performers[0]?.username ?? '' }, task.performers.map((performer) => performer.name).join(', ')),
      h(
        'td',
        { class: 'actions' },
        task.studyInstanceUid ? h('button', { type: 'button', 'data-action': 'open', onclick: () => this.controller.open(task) }, t('worklist.open')) : null,
        assignable && me ? h('button', { type: 'button', 'data-action': 'claim', onclick: () => void this.controller.assign(task, { claim: true }) }, t('worklist.claim')) : null,
        assignable ? this.assignControl(task, context, t) : null,
        assignable ? h('button', { type: 'button', 'data-action': 'round-robin', onclick: () => void this.controller.assign(task, { roundRobin: true }) }, t('worklist.roundRobin')) : null,
        assignable ? h('button', { type: 'button', 'data-action': 'return', onclick: () => this.controller.setReturning(task.workitemUid) }, t('worklist.return')) : null,
      ),
    );
    return state.returning === task.workitemUid ? [row, this.returnForm(task, t)] : [row];
  }

  private assignControl(task: RequestedTask, context: ReadingContext, t: Translate): HTMLElement {
    const select = h(
      'select',
      { 'data-action': 'assign-to', 'aria-label': t('worklist.assignTo') },
      context.readers.map((reader) => h('option', { value: reader.userId, selected: task.performers[0]?.username === reader.username }, reader.displayName)),
    );
    return h('span', { class: 'assign' }, select, h('button', { type: 'button', 'data-action': 'assign', onclick: () => void this.controller.assign(task, { userId: select.value }) }, t('worklist.assign')));
  }

  private returnForm(task: RequestedTask, t: Translate): HTMLElement {
    const reason = h('select', { 'data-field': 'return-reason' }, RETURN_REASONS.map((value) => h('option', { value }, t(`worklist.reason.${value}` as MessageKey))));
    const text = h('input', { type: 'text', 'data-field': 'return-text', maxlength: 1000, placeholder: t('worklist.returnText') });
    return h(
      'tr',
      { class: 'return-form', 'data-return-for': task.workitemUid },
      h(
        'td',
        { colspan: 11 },
        reason,
        text,
        h('button', { type: 'button', 'data-action': 'confirm-return', onclick: () => void this.controller.returnToHospital(task, reason.value as ReturnReason, text.value) }, t('worklist.returnConfirm')),
        h('button', { type: 'button', onclick: () => this.controller.setReturning(undefined) }, t('worklist.cancel')),
      ),
    );
  }

  private hospitalRow(task: RequestedTask, state: WorklistState, t: Translate): HTMLElement {
    const arrived = task.arrivedAt ? new Date(task.arrivedAt) : undefined;
    const reply = h('input', { type: 'text', 'data-field': 'reply', maxlength: 1000, placeholder: t('worklist.answerPlaceholder') });
    return h(
      'tr',
      { 'data-workitem': task.workitemUid, 'data-status': task.status },
      h('td', {}, h('span', { class: `status ${task.status}` }, t(`worklist.status.${task.status}` as MessageKey))),
      h('td', {}, t(`worklist.class.${task.patientClass}` as MessageKey)),
      h('td', {}, arrived ? duration(Math.max(0, (state.now - arrived.getTime()) / 60_000), t) : ''),
      h('td', {}, `${task.patientName} ${task.patientId}`),
      h('td', {}, task.modality),
      h('td', {}, task.clinicalQuestion),
      h('td', { 'data-reason': task.returnReason ?? '' }, task.returnReason ? t(`worklist.reason.${task.returnReason}` as MessageKey) : ''),
      h('td', { class: 'notes' }, task.notes.map((note) => h('div', { class: `note ${note.kind}` }, note.kind === 'reopened' ? t('worklist.status.unassigned') : `${note.authorUsername}: ${note.text}`))),
      h(
        'td',
        { class: 'actions' },
        task.studyInstanceUid ? h('button', { type: 'button', 'data-action': 'open', onclick: () => this.controller.open(task) }, t('worklist.open')) : null,
        task.status === 'returned' ? h('span', {}, reply, h('button', { type: 'button', 'data-action': 'reply', onclick: () => reply.value.trim() && void this.controller.answer(task, reply.value.trim()) }, t('worklist.answer'))) : null,
      ),
    );
  }
}

/** Inputs whose content survives a redraw, each known by its row and its field. */
const TYPED = 'input[type=text][data-field], input[data-filter=text], select[data-field]';

function inputKey(input: Element): string {
  const row = input.closest('[data-workitem],[data-return-for]');
  return `${row?.getAttribute('data-workitem') ?? row?.getAttribute('data-return-for') ?? ''}|${input.getAttribute('data-field') ?? input.getAttribute('data-filter')}`;
}

function duration(minutes: number, t: Translate): string {
  const whole = Math.floor(minutes);
  return whole < 60 ? t('worklist.minutes', { minutes: whole }) : t('worklist.hoursMinutes', { hours: Math.floor(whole / 60), minutes: whole % 60 });
}
