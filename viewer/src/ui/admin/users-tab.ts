import type { Translate } from '../../i18n/i18n.ts';
import { grantableRoles, PASSWORD_MIN_LENGTH, userRows, type UserRow } from '../../logic/admin.ts';
import type { Role, SignedInUser } from '../../logic/session.ts';
import type { AppState } from '../../state/app-state.ts';
import type { AdminController } from '../../state/admin-controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { adminForm, fillSelect, formFields, loadable, readyValue, section, selectField, submitButton, table, textField, type AdminTabView } from './parts.ts';

/**
 * The users an administrator manages (a system administrator: everyone; an institution
 * administrator: their institution's): create, change role, disable or enable, reset a password.
 * A changed role, a disabled account or a new password ends the user's sessions (the archive's rule).
 */
export class UsersTab implements AdminTabView {
  readonly element: HTMLElement;
  private readonly list = h('div');
  private readonly institutionSelect = h('select');
  private readonly passwordForm: HTMLFormElement;
  private readonly passwordHeading: HTMLElement;
  private readonly roles: Role[];
  private readonly systemAdministrator: boolean;
  /** Whose password the reset form sets; undefined: the form is hidden. */
  private resettingFor: string | undefined;

  constructor(
    private readonly admin: AdminController,
    private readonly t: Translate,
    private readonly user: SignedInUser,
  ) {
    this.roles = grantableRoles(user.permissions);
    this.systemAdministrator = user.permissions.includes('manage-system');
    const roleSelect = h('select', {}, this.roles.map((role) => h('option', { value: role, selected: role === 'radiologist' }, t(`role.${role}`))));
    const institutionField = selectField(t, 'institutionCode', 'admin.field.institution', this.institutionSelect);
    institutionField.hidden = !this.systemAdministrator;
    const createForm = adminForm(
      'user',
      t('admin.newUser'),
      (form) => void this.admin.createUser(formFields(form)).then((done) => done && form.reset()),
      textField(t, 'username', 'admin.field.username', { required: true, maxlength: 128, autocapitalize: 'none', spellcheck: 'false' }),
      textField(t, 'displayName', 'admin.field.displayName', { required: true, maxlength: 128 }),
      selectField(t, 'role', 'admin.field.role', roleSelect),
      institutionField,
      textField(t, 'password', 'admin.field.password', { type: 'password', autocomplete: 'new-password', minlength: PASSWORD_MIN_LENGTH, maxlength: 256 }),
      submitButton(t('admin.create'), 'create-user'),
    );
    this.passwordForm = adminForm(
      'password',
      '',
      (form) => {
        const username = this.resettingFor;
        if (!username) return;
        void this.admin.resetPassword(username, formFields(form).password ?? '').then((done) => done && this.resetPasswordOf(undefined));
      },
      textField(t, 'password', 'admin.newPassword', { type: 'password', autocomplete: 'new-password', minlength: PASSWORD_MIN_LENGTH, maxlength: 256 }),
      h('div', { class: 'form-buttons' }, submitButton(t('admin.save'), 'save-password'), h('button', { type: 'button', onclick: () => this.resetPasswordOf(undefined) }, t('admin.cancel'))),
    );
    this.passwordHeading = this.passwordForm.querySelector('h3')!;
    this.passwordForm.hidden = true;
    this.element = h('div', { class: 'admin-tab', 'data-tab': 'users' }, section(t('admin.tab.users'), this.list, this.passwordForm, createForm));
  }

  private resetPasswordOf(username: string | undefined): void {
    this.resettingFor = username;
    this.passwordForm.reset();
    this.passwordForm.hidden = !username;
    if (!username) return;
    this.passwordHeading.textContent = this.t('admin.resetPasswordFor', { username });
    this.passwordForm.querySelector<HTMLInputElement>('input[name=password]')?.focus();
  }

  render(state: AppState): void {
    const t = this.t;
    const institutions = readyValue(state.admin.institutions);
    if (this.systemAdministrator) {
      fillSelect(
        this.institutionSelect,
        [{ value: '', label: t('admin.noneOption') }, ...institutions.filter((institution) => institution.kind !== 'quarantine').map((institution) => ({ value: institution.code, label: `${institution.name} (${institution.code})` }))],
      );
    }
    replaceChildren(
      this.list,
      loadable(t, state.admin.users, (users) =>
        table(
          'users',
          [t('admin.field.username'), t('admin.field.displayName'), t('admin.field.role'), t('admin.field.institution'), t('admin.column.status'), t('admin.actions')],
          userRows(users, institutions, new Date()).map((row) => [
            row.username,
            row.displayName,
            this.roleCell(row),
            row.institution ?? (row.institutionId && row.institutionId === this.user.institutionId ? t('admin.ownInstitution') : (row.institutionId ?? '')),
            [t(`admin.status.${row.status}`), row.oidc ? ` · ${t('admin.sso')}` : ''].join(''),
            this.actions(row),
          ]),
          { 'aria-label': t('admin.tab.users') },
        ),
      ),
    );
  }

  /** Another user's role can be changed to any role this administrator may give; one's own cannot (no locking oneself out). */
  private roleCell(row: UserRow): Node | string {
    const t = this.t;
    if (row.username === this.user.username || !this.roles.includes(row.role)) return t(`role.${row.role}`);
    return h(
      'select',
      {
        'aria-label': `${t('admin.field.role')}: ${row.username}`,
        'data-action': 'change-role',
        'data-user': row.username,
        onchange: (event: Event) => {
          const select = event.target as HTMLSelectElement;
          const role = select.value as Role;
          if (window.confirm(t('admin.confirmRole', { username: row.username, role: t(`role.${role}`) }))) void this.admin.setUserRole(row.username, role);
          else select.value = row.role;
        },
      },
      this.roles.map((role) => h('option', { value: role, selected: role === row.role }, t(`role.${role}`))),
    );
  }

  private actions(row: UserRow): Node {
    const t = this.t;
    if (row.username === this.user.username) return h('span');
    return h(
      'span',
      { class: 'row-actions' },
      row.disabled
        ? h('button', { type: 'button', 'data-action': 'enable-user', onclick: () => void this.admin.setUserDisabled(row.username, false) }, t('admin.enable'))
        : h(
            'button',
            {
              type: 'button',
              'data-action': 'disable-user',
              onclick: () => {
                if (window.confirm(t('admin.confirmDisable', { username: row.username }))) void this.admin.setUserDisabled(row.username, true);
              },
            },
            t('admin.disable'),
          ),
      h('button', { type: 'button', 'data-action': 'reset-password', onclick: () => this.resetPasswordOf(row.username) }, t('admin.resetPassword')),
    );
  }
}
