import type { Translate } from '../i18n/i18n.ts';
import { oidcSignInUrl, signInErrorText } from '../logic/session.ts';
import type { AppState } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { h, replaceChildren } from './dom.ts';

/**
 * The sign-in screen: user name and password, the archive's reason when it refuses, and single
 * sign-on when the archive offers it. It covers whatever page the address names, which opens once
 * the reader is signed in.
 */
export class SignInView {
  readonly element = h('section', { class: 'sign-in' });
  private readonly checking = h('p', { class: 'sign-in-checking', role: 'status' });
  private readonly form = h('form', { class: 'sign-in-form', 'aria-labelledby': 'sign-in-title' });
  private readonly notice = h('p', { class: 'sign-in-notice', role: 'status' });
  private readonly error = h('p', { class: 'form-error', role: 'alert' });
  private readonly submit = h('button', { type: 'submit', class: 'primary', 'data-action': 'sign-in' });
  private readonly singleSignOn = h('div', { class: 'sign-in-oidc' });
  private renderedFor: string | undefined;
  private shownProblem: unknown;
  private previousStatus: AppState['session']['status'] | undefined;

  constructor(private readonly controller: Controller) {
    this.element.append(this.checking, this.form);
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData(this.form);
      void this.controller.signIn(String(data.get('username') ?? '').trim(), String(data.get('password') ?? ''));
    });
  }

  render(state: AppState, t: Translate): void {
    const session = state.session;
    if (session.status === 'signed-in') return;
    // The fields are built once per language, so what the reader typed survives other changes.
    if (this.renderedFor !== state.locale) {
      this.renderedFor = state.locale;
      replaceChildren(
        this.form,
        h('h1', { id: 'sign-in-title' }, t('signIn.title')),
        h('p', { class: 'muted' }, t('signIn.intro')),
        this.notice,
        h('label', { class: 'field' }, h('span', {}, t('signIn.username')), h('input', { name: 'username', type: 'text', autocomplete: 'username', required: true, autocapitalize: 'none', spellcheck: 'false' })),
        h('label', { class: 'field' }, h('span', {}, t('signIn.password')), h('input', { name: 'password', type: 'password', autocomplete: 'current-password', required: true })),
        this.error,
        this.submit,
        this.singleSignOn,
      );
      this.shownProblem = undefined;
    }
    // Asking the archive takes a moment on every page load; a form flashing by meanwhile would only confuse.
    this.checking.hidden = session.status !== 'checking';
    this.form.hidden = session.status === 'checking';
    if (session.status === 'checking') {
      this.checking.textContent = t('app.checkingSession');
      this.previousStatus = session.status;
      return;
    }
    this.notice.textContent = session.expired ? t('signIn.expired') : '';
    this.notice.hidden = !session.expired;
    this.submit.disabled = session.signingIn;
    this.submit.textContent = t(session.signingIn ? 'signIn.signingIn' : 'signIn.submit');
    this.error.hidden = !session.problem;
    this.error.textContent = session.problem ? signInErrorText(session.problem, t) : '';
    if (session.problem && session.problem !== this.shownProblem) {
      // A refused password is typed again, not corrected.
      const password = this.form.querySelector<HTMLInputElement>('input[name=password]');
      if (password) {
        password.value = '';
        password.focus();
      }
    }
    this.shownProblem = session.problem;
    replaceChildren(
      this.singleSignOn,
      session.providers?.oidc
        ? [h('span', { class: 'muted' }, t('signIn.or')), h('a', { class: 'button', href: oidcSignInUrl(`${location.pathname}${location.search}`), 'data-action': 'oidc' }, t('signIn.oidc'))]
        : null,
    );
    if (this.previousStatus !== 'signed-out') this.form.querySelector<HTMLInputElement>('input[name=username]')?.focus();
    this.previousStatus = session.status;
  }
}
