import type { DicomPeer } from '../../api/admin-models.ts';
import type { Translate } from '../../i18n/i18n.ts';
import { peerFormFields, peerRows } from '../../logic/admin.ts';
import type { SignedInUser } from '../../logic/session.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, checkboxField, fillSelect, formFields, loadable, readyValue, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * The DICOM peers (modalities, PACS) allowed to send and query: AE title, the networks they may
 * call from, where to reach them, TLS and a character-set override. Registered here, changed by
 * loading one into the form.
 */
export class PeersTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly list = h('div');
  private readonly form: HTMLFormElement;
  private readonly heading: HTMLElement;
  private readonly institutionSelect = h('select');
  private readonly institutionField: HTMLElement;
  private readonly cancel: HTMLButtonElement;
  /** The peer being changed; undefined: the form registers a new one. */
  private editing: DicomPeer | undefined;
  private readonly systemAdministrator: boolean;

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    user: SignedInUser,
  ) {
    this.systemAdministrator = user.permissions.includes('manage-system');
    this.institutionField = selectField(t, 'institutionCode', 'admin.field.institution', this.institutionSelect);
    this.institutionField.hidden = !this.systemAdministrator;
    this.cancel = h('button', { type: 'button', hidden: true, onclick: () => this.edit(undefined) }, t('admin.cancel'));
    this.form = adminForm(
      'peer',
      t('admin.newPeer'),
      (form) => {
        const editing = this.editing;
        void this.admin.savePeer(formFields(form), editing?.id).then((done) => done && this.edit(undefined));
      },
      this.institutionField,
      textField(t, 'aeTitle', 'admin.field.aeTitle', { required: true, maxlength: 16 }),
      h('label', { class: 'field field-allowedNetworks' }, h('span', {}, t('admin.field.networks')), h('textarea', { name: 'allowedNetworks', rows: 3, spellcheck: 'false' })),
      textField(t, 'host', 'admin.field.host', { maxlength: 253 }),
      textField(t, 'port', 'admin.field.port', { inputmode: 'numeric', maxlength: 5 }),
      textField(t, 'characterSet', 'admin.field.characterSet', { maxlength: 64, placeholder: 'GB18030' }),
      checkboxField(t, 'tlsRequired', 'admin.field.tls'),
      h('div', { class: 'form-buttons' }, submitButton(t('admin.save'), 'save-peer'), this.cancel),
    );
    this.heading = this.form.querySelector('h3')!;
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'peers' }, section(t('admin.tab.peers'), this.list, this.form));
  }

  /** Loads a peer into the form to change it, or (undefined) empties the form for a new one. */
  private edit(peer: DicomPeer | undefined): void {
    this.editing = peer;
    this.form.reset();
    this.heading.textContent = peer ? this.t('admin.editPeer', { aeTitle: peer.aeTitle }) : this.t('admin.newPeer');
    this.cancel.hidden = !peer;
    this.institutionField.hidden = !this.systemAdministrator || !!peer;
    if (!peer) return;
    for (const [name, value] of Object.entries(peerFormFields(peer))) {
      const field = this.form.elements.namedItem(name);
      if (field instanceof HTMLInputElement && field.type === 'checkbox') field.checked = value === 'on';
      else if (field instanceof HTMLInputElement || field instanceof HTMLTextAreaElement) field.value = value ?? '';
    }
    this.form.scrollIntoView({ block: 'nearest' });
  }

  render(state: AppState): void {
    const t = this.t;
    const institutions = readyValue(state.admin.institutions);
    if (this.systemAdministrator) fillSelect(this.institutionSelect, institutions.filter((institution) => institution.kind !== 'quarantine').map((institution) => ({ value: institution.code, label: `${institution.name} (${institution.code})` })));
    const peers = state.admin.peers;
    replaceChildren(
      this.list,
      loadable(t, peers, (value) =>
        table(
          'peers',
          [t('admin.field.aeTitle'), ...(this.systemAdministrator ? [t('admin.field.institution')] : []), t('admin.column.networks'), t('admin.column.address'), t('admin.column.tls'), t('admin.field.characterSet'), t('admin.actions')],
          peerRows(value, institutions).map((row) => {
            const peer = value.find((candidate) => candidate.id === row.id)!;
            return [
              row.aeTitle,
              ...(this.systemAdministrator ? [row.institution ?? row.institutionId] : []),
              row.networks.length ? row.networks.join(', ') : t('admin.anyNetwork'),
              row.address,
              t(row.tlsRequired ? 'admin.yes' : 'admin.no'),
              row.characterSet,
              h(
                'span',
                { class: 'row-actions' },
                h('button', { type: 'button', 'data-action': 'edit-peer', onclick: () => this.edit(peer) }, t('admin.edit')),
                h(
                  'button',
                  {
                    type: 'button',
                    'data-action': 'delete-peer',
                    onclick: () => {
                      if (window.confirm(t('admin.confirmDeletePeer', { aeTitle: row.aeTitle }))) void this.admin.deletePeer(row.id, row.aeTitle);
                    },
                  },
                  t('admin.delete'),
                ),
              ),
            ];
          }),
        ),
      ),
    );
  }
}
