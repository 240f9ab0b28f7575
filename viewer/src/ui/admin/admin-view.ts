import type { Translate } from '../../i18n/i18n.ts';
import { adminTabsFor, chooseAdminTab, type AdminTab } from '../../logic/admin.ts';
import { problemsOf } from '../../logic/recognition-admin.ts';
import { signedInUserOf, type AppState } from '../../state/app-state.ts';
import type { Controller } from '../../state/controller.ts';
import { h, replaceChildren } from '../dom.ts';
import { problemText } from '../problem-text.ts';
import { AuditTab } from './audit-tab.ts';
import { InstitutionsTab } from './institutions-tab.ts';
import type { AdminTabView } from './parts.ts';
import { PeersTab } from './peers-tab.ts';
import { PersonsTab } from './persons-tab.ts';
import { QualityTab } from './quality-tab.ts';
import { RecognitionTab } from './recognition-tab.ts';
import { RoutingTab } from './routing-tab.ts';
import { StatusTab } from './status-tab.ts';
import { TokensTab } from './tokens-tab.ts';
import { UsersTab } from './users-tab.ts';

/**
 * The administration page: the tabs the signed-in user's permissions give (institutions and
 * regions for system administrators; peers, users and API tokens for institution administrators;
 * the person index's review queue for both; a centre's QC configuration for its administrator;
 * the audit trail for auditors), and what became of the last change.
 */
export class AdminView {
  readonly element = h('section', { class: 'admin' });
  private readonly tabs = h('nav', { class: 'admin-tabs', role: 'tablist' });
  private readonly outcome = h('div', { class: 'admin-outcome' });
  private readonly panel = h('div', { class: 'admin-panel', role: 'tabpanel' });
  private current: { key: string; view: AdminTabView } | undefined;

  constructor(private readonly controller: Controller) {
    this.element.append(this.tabs, this.outcome, this.panel);
  }

  render(state: AppState, t: Translate): void {
    const user = signedInUserOf(state);
    if (!user || state.route.page !== 'admin') return;
    const tab = chooseAdminTab(state.route.tab, user.permissions);
    replaceChildren(
      this.tabs,
      adminTabsFor(user.permissions).map((candidate) =>
        h(
          'a',
          {
            href: `/admin?tab=${candidate}`,
            role: 'tab',
            'data-tab': candidate,
            'aria-selected': String(candidate === tab),
            onclick: (event: Event) => {
              event.preventDefault();
              void this.controller.showAdmin(candidate);
            },
          },
          t(`admin.tab.${candidate}`),
        ),
      ),
    );
    if (!tab) return this.renderOutcome(state, t);
    const key = `${tab}|${state.locale}|${user.username}`;
    if (this.current?.key !== key) {
      this.current = { key, view: this.tabView(tab, state, t) };
      replaceChildren(this.panel, this.current.view.element);
    }
    this.current.view.render(state);
    this.renderOutcome(state, t);
    for (const button of this.panel.querySelectorAll<HTMLButtonElement>('button[type=submit]')) button.disabled = state.admin.busy;
  }

  private tabView(tab: AdminTab, state: AppState, t: Translate): AdminTabView {
    const admin = this.controller.admin;
    const user = signedInUserOf(state)!;
    switch (tab) {
      case 'institutions':
        return new InstitutionsTab(admin, t);
      case 'peers':
        return new PeersTab(admin, t, user);
      case 'users':
        return new UsersTab(admin, t, user);
      case 'tokens':
        return new TokensTab(admin, t, user);
      case 'persons':
        return new PersonsTab(admin, t, state.locale);
      case 'quality':
        return new QualityTab(admin, t, state.locale);
      case 'recognition':
        return new RecognitionTab(admin, t, state.locale);
      case 'routing':
        return new RoutingTab(admin, t);
      case 'status':
        return new StatusTab(admin, t);
      case 'audit':
        return new AuditTab(admin, t);
    }
  }

  /** Said in the form it came from (the reader is looking there) while it is open, else above the tab. */
  private renderOutcome(state: AppState, t: Translate): void {
    const outcome = state.admin.outcome;
    for (const slot of this.panel.querySelectorAll('.form-outcome')) replaceChildren(slot);
    replaceChildren(this.outcome);
    if (!outcome) return;
    const slot = outcome.form ? this.panel.querySelector<HTMLElement>(`[data-form="${outcome.form}"]:not([hidden]) .form-outcome`) : null;
    const target = slot ?? this.outcome;
    if (outcome.kind === 'done') return replaceChildren(target, h('p', { class: 'outcome done', role: 'status' }, t(outcome.message, outcome.values)));
    // The archive's validation names each mistake ("path: message; …"): one line each.
    const problems = outcome.kind === 'failed' && outcome.problem.status === 400 ? problemsOf(outcome.problem.detail) : [];
    if (problems.some((problem) => problem.path)) {
      return replaceChildren(target, h('div', { class: 'outcome error', role: 'alert' }, h('p', {}, t('admin.invalidForm')), h('ul', { class: 'problems' }, problems.map((problem) => h('li', {}, problem.path ? `${problem.path}: ${problem.message}` : problem.message)))));
    }
    if (outcome.kind === 'failed') return replaceChildren(target, h('p', { class: 'outcome error', role: 'alert' }, t('admin.failed', { reason: problemText(outcome.problem, t) })));
    replaceChildren(
      target,
      h('div', { class: 'outcome error', role: 'alert' }, h('p', {}, t('admin.invalidForm')), h('ul', {}, [...new Set(outcome.errors.map((error) => t(error.problem)))].map((text) => h('li', {}, text)))),
    );
  }
}
