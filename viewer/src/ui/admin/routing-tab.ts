import type { Translate } from '../../i18n/i18n.ts';
import { destinationOptions, ruleCriteria, waitedMinutes } from '../../logic/routing.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, fillSelect, formFields, loadable, readyValue, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * Routing and sending on (转发): the queue of each destination (pending, retrying, in flight, dead
 * letters, how long the oldest has waited) with a retry of its dead letters, the dead letters with
 * their last error, the routing rules with a form for a new one, and the DICOMweb nodes.
 */
export class RoutingTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly queues = h('div');
  private readonly deadLetters = h('div');
  private readonly rules = h('div');
  private readonly nodes = h('div');
  private readonly destinationSelect = h('select');
  private readonly institutionSelect = h('select');

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
  ) {
    const ruleForm = adminForm(
      'routing-rule',
      t('routing.newRule'),
      (form) => void this.admin.createRoutingRule(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'name', 'routing.field.name', { required: true, maxlength: 128 }),
      selectField(t, 'sourceInstitution', 'routing.field.sourceInstitution', this.institutionSelect),
      textField(t, 'callingAeTitle', 'routing.field.callingAeTitle', { maxlength: 128, placeholder: 'COUNTY_*' }),
      textField(t, 'modalities', 'routing.field.modalities', { maxlength: 128, placeholder: 'CT, MR' }),
      textField(t, 'studyDescription', 'routing.field.studyDescription', { maxlength: 128, placeholder: '*胸*' }),
      selectField(t, 'destination', 'routing.field.destination', this.destinationSelect),
      h('p', { class: 'hint' }, t('routing.wildcardHint')),
      h('div', { class: 'form-buttons' }, submitButton(t('admin.save'), 'save-routing-rule')),
    );
    const nodeForm = adminForm(
      'dicomweb-node',
      t('routing.newNode'),
      (form) => void this.admin.createDicomwebNode(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'name', 'routing.field.nodeName', { required: true, maxlength: 64 }),
      textField(t, 'url', 'routing.field.url', { required: true, placeholder: 'https://…/dicom-web' }),
      h('label', { class: 'field field-bearerToken' }, h('span', {}, t('routing.field.token')), h('input', { name: 'bearerToken', type: 'password', autocomplete: 'off' })),
      h('div', { class: 'form-buttons' }, submitButton(t('admin.save'), 'save-dicomweb-node')),
    );
    const refresh = h('button', { type: 'button', 'data-action': 'refresh-forwarding', onclick: () => void this.admin.refreshForwarding() }, t('routing.refresh'));
    this.element = h(
      'div',
      { class: 'admin-tab', 'data-tab': 'routing' },
      section(t('routing.queues'), refresh, this.queues),
      section(t('routing.deadLetters'), this.deadLetters),
      section(t('routing.rules'), this.rules, ruleForm),
      section(t('routing.nodes'), this.nodes, nodeForm),
    );
  }

  render(state: AppState): void {
    const t = this.t;
    const institutions = readyValue(state.admin.institutions);
    fillSelect(this.institutionSelect, [{ value: '', label: t('routing.anyInstitution') }, ...institutions.filter((institution) => institution.kind !== 'quarantine').map((institution) => ({ value: institution.code, label: `${institution.name} (${institution.code})` }))]);
    const peers = readyValue(state.admin.peers);
    const nodes = readyValue(state.admin.dicomwebNodes);
    fillSelect(this.destinationSelect, destinationOptions(peers, nodes));
    const now = new Date();
    replaceChildren(
      this.queues,
      loadable(t, state.admin.forwardQueues, (queues) =>
        table(
          'forward-queues',
          [t('routing.column.destination'), t('routing.column.pending'), t('routing.column.retrying'), t('routing.column.inFlight'), t('routing.column.dead'), t('routing.column.oldest'), t('admin.actions')],
          queues.map((queue) => [
            `${queue.name} (${queue.kind === 'dicom' ? 'DICOM' : 'DICOMweb'})`,
            String(queue.pending),
            String(queue.retrying),
            String(queue.inFlight),
            String(queue.dead),
            queue.oldestQueuedAt ? t('routing.minutes', { count: waitedMinutes(queue.oldestQueuedAt, now) }) : '—',
            queue.dead > 0 ? h('button', { type: 'button', 'data-action': 'retry-dead-letters', 'data-destination': queue.destination, onclick: () => void this.admin.retryDeadLetters(queue.destination, queue.name) }, t('routing.retry')) : '',
          ]),
        ),
      ),
    );
    const destinationName = (key: string) => readyValue(state.admin.forwardQueues).find((queue) => queue.destination === key)?.name ?? key;
    replaceChildren(
      this.deadLetters,
      loadable(t, state.admin.deadLetters, (letters) =>
        table(
          'dead-letters',
          [t('routing.column.destination'), t('routing.column.instance'), t('routing.column.attempts'), t('routing.column.lastError')],
          letters.map((letter) => [destinationName(letter.destination), letter.sopInstanceUid, String(letter.attempts), letter.lastError ?? '']),
        ),
      ),
    );
    const institutionCode = (id: string) => institutions.find((institution) => institution.id === id)?.code;
    const ruleDestination = (destination: { peerId: string } | { dicomwebNodeId: string }) =>
      'peerId' in destination ? peers.find((peer) => peer.id === destination.peerId)?.aeTitle ?? `#${destination.peerId}` : nodes.find((node) => node.id === destination.dicomwebNodeId)?.name ?? `#${destination.dicomwebNodeId}`;
    replaceChildren(
      this.rules,
      loadable(t, state.admin.routingRules, (rules) =>
        table(
          'routing-rules',
          [t('routing.field.name'), t('routing.column.criteria'), t('routing.field.destination'), t('routing.column.enabled'), t('admin.actions')],
          rules.map((rule) => [
            rule.name,
            ruleCriteria(rule, institutionCode).join(' · ') || t('routing.everything'),
            ruleDestination(rule.destination),
            t(rule.enabled ? 'admin.yes' : 'admin.no'),
            h(
              'button',
              {
                type: 'button',
                'data-action': 'delete-routing-rule',
                onclick: () => {
                  if (window.confirm(t('routing.confirmDelete', { name: rule.name }))) void this.admin.deleteRoutingRule(rule.id, rule.name);
                },
              },
              t('admin.delete'),
            ),
          ]),
        ),
      ),
    );
    replaceChildren(
      this.nodes,
      loadable(t, state.admin.dicomwebNodes, (list) => table('dicomweb-nodes', [t('routing.field.nodeName'), t('routing.field.url'), t('routing.field.token')], list.map((node) => [node.name, node.url, t(node.hasToken ? 'admin.yes' : 'admin.no')]))),
    );
  }
}
