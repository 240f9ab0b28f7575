import { translator, type Translate } from '../i18n/i18n.ts';
import { LOCALE_NAMES, LOCALES, type Locale } from '../i18n/messages.ts';
import { adminTabsFor } from '../logic/admin.ts';
import { seesPersons, signedInUserOf, type AppState } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { AdminView } from './admin/admin-view.ts';
import { h, replaceChildren } from './dom.ts';
import { helpDialog } from './help-dialog.ts';
import { purposeDialog } from './purpose-dialog.ts';
import { ReadingView } from './reading-view.ts';
import { SignInView } from './sign-in-view.ts';
import { StudyListView } from './study-list.ts';
import type { ThumbnailSource } from './thumbnail.ts';

/**
 * The page: header (title, the places the user may go, who is signed in, language, help) and
 * whichever screen the route names, or the sign-in screen while nobody is signed in.
 */
export class AppView {
  readonly element = h('div', { class: 'app' });
  readonly reading: ReadingView;
  private readonly header = h('header', { class: 'app-header' });
  /** Buttons of the panels every screen offers (critical findings, share, consultation): in the header, where they cover nothing. */
  readonly headerTools = h('span', { class: 'header-tools' });
  private readonly signIn: SignInView;
  readonly studyList: StudyListView;
  private readonly admin: AdminView;
  private readonly dialogHost = h('div');
  private previous: AppState | undefined;

  constructor(
    private readonly controller: Controller,
    thumbnails: ThumbnailSource,
  ) {
    this.signIn = new SignInView(controller);
    this.studyList = new StudyListView(controller, thumbnails);
    this.reading = new ReadingView(controller, thumbnails);
    this.admin = new AdminView(controller);
    this.element.append(this.header, this.signIn.element, this.studyList.element, this.reading.element, this.admin.element, this.dialogHost);
    document.addEventListener('keydown', (event) => {
      if (event.key !== 'Escape') return;
      if (this.previous?.helpOpen) this.controller.setHelpOpen(false);
      else if (this.previous?.purpose.dialogOpen) this.controller.setPurposeDialogOpen(false);
    });
  }

  render(state: AppState): void {
    const t = translator(state.locale);
    const previous = this.previous;
    const languageChanged = previous?.locale !== state.locale;
    if (languageChanged) {
      this.controller.engine.setTranslator(t);
      document.documentElement.lang = state.locale;
      document.title = t('app.title');
    }
    if (languageChanged || previous?.cpuRendering !== state.cpuRendering || previous?.session !== state.session) this.renderHeader(state, t);
    const signedIn = state.session.status === 'signed-in';
    const page = signedIn ? state.route.page : undefined;
    this.signIn.element.hidden = signedIn;
    this.studyList.element.hidden = page !== 'studies';
    this.reading.element.hidden = page !== 'viewer';
    this.admin.element.hidden = page !== 'admin';
    if (!signedIn) this.signIn.render(state, t);
    else if (page === 'studies') this.studyList.render(state, t, languageChanged);
    else if (page === 'viewer') this.reading.render(state, t);
    else if (page === 'admin') this.admin.render(state, t);
    if (languageChanged || previous?.helpOpen !== state.helpOpen || previous?.purpose.dialogOpen !== state.purpose.dialogOpen) {
      replaceChildren(
        this.dialogHost,
        state.helpOpen ? helpDialog(t, () => this.controller.setHelpOpen(false)) : null,
        signedIn && state.purpose.dialogOpen ? purposeDialog(state, t, this.controller) : null,
      );
    }
    this.previous = state;
  }

  private renderHeader(state: AppState, t: Translate): void {
    const user = signedInUserOf(state);
    const link = (label: string, href: string, go: () => void, name: string) =>
      h(
        'a',
        {
          href,
          class: name === 'brand' ? 'brand' : undefined,
          'data-nav': name,
          onclick: (event: Event) => {
            event.preventDefault();
            go();
          },
        },
        label,
      );
    const readsImages = !!user?.permissions.includes('read-images');
    const administers = !!user && adminTabsFor(user.permissions).length > 0;
    replaceChildren(
      this.header,
      readsImages ? link(t('app.title'), '/', () => void this.controller.showStudyList(), 'brand') : h('span', { class: 'brand' }, t('app.title')),
      h(
        'nav',
        {},
        readsImages ? link(t('app.studies'), '/', () => void this.controller.showStudyList(), 'studies') : null,
        readsImages ? link(t('app.worklist'), '/worklist', () => void this.controller.showWorklist(), 'worklist') : null,
        user?.permissions.includes('grade-quality') ? link(t('app.qcList'), '/qc', () => void this.controller.showQcList(), 'qc') : null,
        seesPersons(state) ? link(t('app.persons'), '/persons', () => void this.controller.showPerson(), 'persons') : null,
        user?.permissions.includes('view-statistics') ? link(t('app.statistics'), '/statistics', () => void this.controller.showStatistics(), 'statistics') : null,
        administers ? link(t('app.admin'), '/admin', () => void this.controller.showAdmin(), 'admin') : null,
      ),
      state.cpuRendering && readsImages ? h('span', { class: 'badge', title: t('app.renderingCpu') }, 'CPU') : null,
      h('span', { class: 'spacer' }),
      this.headerTools,
      user
        ? h(
            'span',
            { class: 'user', title: t('app.signedInAs', { username: user.username }) },
            h('span', { class: 'user-name' }, user.displayName),
            h('span', { class: 'user-role' }, t(`role.${user.role}`)),
          )
        : null,
      user ? h('button', { type: 'button', 'data-action': 'sign-out', onclick: () => void this.controller.signOut() }, t('app.signOut')) : null,
      h(
        'label',
        { class: 'language' },
        h('span', {}, t('app.language')),
        h(
          'select',
          { 'data-action': 'language', onchange: (event: Event) => this.controller.setLocale((event.target as HTMLSelectElement).value as Locale) },
          LOCALES.map((locale) => h('option', { value: locale, selected: locale === state.locale }, LOCALE_NAMES[locale])),
        ),
      ),
      readsImages ? h('button', { type: 'button', 'data-action': 'help', onclick: () => this.controller.setHelpOpen(true) }, `? ${t('app.help')}`) : null,
    );
  }
}
