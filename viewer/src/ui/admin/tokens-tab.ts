import type { Translate } from '../../i18n/i18n.ts';
import { formatLocalTime, tokenRows } from '../../logic/admin.ts';
import type { SignedInUser } from '../../logic/session.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, fillSelect, formFields, loadable, readyValue, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * API tokens for machines (a modality sending by STOW-RS, a script): created for a user, shown
 * once, listed without their secret, revoked at once when no longer wanted.
 */
export class TokensTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly created = h('div', { class: 'new-token-host' });
  private readonly list = h('div');
  private readonly userSelect = h('select');

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    private readonly user: SignedInUser,
  ) {
    const form = adminForm(
      'token',
      t('admin.newToken'),
      (element) =>
        void this.admin.createToken(formFields(element)).then((done) => {
          const label = element.querySelector<HTMLInputElement>('input[name=label]');
          if (done && label) label.value = '';
        }),
      selectField(t, 'username', 'admin.field.tokenUser', this.userSelect),
      textField(t, 'label', 'admin.field.label', { required: true, maxlength: 128, placeholder: 'CT-1 STOW' }),
      textField(t, 'days', 'admin.field.days', { type: 'number', min: 1, max: 3650, value: 365 }),
      submitButton(t('admin.create'), 'create-token'),
    );
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'tokens' }, section(t('admin.tab.tokens'), this.created, this.list, form));
  }

  render(state: AppState): void {
    const t = this.t;
    fillSelect(
      this.userSelect,
      readyValue(state.admin.users)
        .filter((user) => !user.disabled)
        .map((user) => ({ value: user.username, label: `${user.displayName} (${user.username})` })),
      this.user.username,
    );
    this.renderCreated(state);
    replaceChildren(
      this.list,
      loadable(t, state.admin.tokens, (tokens) =>
        table(
          'tokens',
          [t('admin.field.tokenUser'), t('admin.field.label'), t('admin.column.created'), t('admin.column.expires'), t('admin.column.status'), t('admin.actions')],
          tokenRows(tokens, new Date()).map((row) => [
            row.username,
            row.label,
            row.createdAt,
            row.expiresAt,
            t(`admin.tokenStatus.${row.status}`),
            row.status === 'active'
              ? h(
                  'button',
                  {
                    type: 'button',
                    'data-action': 'revoke-token',
                    onclick: () => {
                      if (window.confirm(t('admin.confirmRevoke', { label: row.label }))) void this.admin.revokeToken(row.id, row.label);
                    },
                  },
                  t('admin.revoke'),
                )
              : '',
          ]),
        ),
      ),
    );
  }

  /** The secret of the token just created: here once, with a button to copy it, gone when dismissed. */
  private renderCreated(state: AppState): void {
    const token = state.admin.newToken;
    if (!token) {
      delete this.created.dataset.token;
      return replaceChildren(this.created);
    }
    if (this.created.dataset.token === token.id) return;
    this.created.dataset.token = token.id;
    const t = this.t;
    const copy = h('button', { type: 'button', 'data-action': 'copy-token' }, t('admin.copy'));
    copy.addEventListener('click', () => {
      void navigator.clipboard?.writeText(token.token).then(() => {
        copy.textContent = t('admin.copied');
      });
    });
    replaceChildren(
      this.created,
      h(
        'div',
        { class: 'new-token', role: 'status' },
        h('p', {}, h('strong', {}, t('admin.tokenOnce'))),
        h('p', {}, t('admin.tokenFor', { label: token.label, username: token.username, expires: formatLocalTime(token.expiresAt) })),
        h('code', { class: 'token-secret' }, token.token),
        h('div', { class: 'form-buttons' }, copy, h('button', { type: 'button', 'data-action': 'dismiss-token', onclick: () => this.admin.dismissNewToken() }, t('admin.dismiss'))),
      ),
    );
  }
}
