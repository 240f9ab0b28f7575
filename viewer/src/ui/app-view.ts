import { translator } from '../i18n/i18n.ts';
import { LOCALE_NAMES, LOCALES, type Locale } from '../i18n/messages.ts';
import type { AppState } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { h, replaceChildren } from './dom.ts';
import { helpDialog } from './help-dialog.ts';
import { ReadingView } from './reading-view.ts';
import { StudyListView } from './study-list.ts';

/** The page: header (title, language, help) and whichever screen the route names. */
export class AppView {
  readonly element = h('div', { class: 'app' });
  readonly reading: ReadingView;
  private readonly header = h('header', { class: 'app-header' });
  private readonly studyList: StudyListView;
  private readonly dialogHost = h('div');
  private previous: AppState | undefined;

  constructor(
    private readonly controller: Controller,
    thumbnailUrl: (studyInstanceUid: string, seriesInstanceUid: string) => string,
  ) {
    this.studyList = new StudyListView(controller, thumbnailUrl);
    this.reading = new ReadingView(controller, thumbnailUrl);
    this.element.append(this.header, this.studyList.element, this.reading.element, this.dialogHost);
    document.addEventListener('keydown', (event) => {
      if (event.key === 'Escape' && this.previous?.helpOpen) this.controller.setHelpOpen(false);
    });
  }

  render(state: AppState): void {
    const t = translator(state.locale);
    const languageChanged = this.previous?.locale !== state.locale;
    if (languageChanged) {
      this.controller.engine.setTranslator(t);
      document.documentElement.lang = state.locale;
      document.title = t('app.title');
    }
    if (languageChanged || this.previous?.cpuRendering !== state.cpuRendering) {
      replaceChildren(
        this.header,
        h('a', { class: 'brand', href: '/', onclick: (event: Event) => { event.preventDefault(); void this.controller.showStudyList(); } }, t('app.title')),
        h('nav', {}, h('a', { href: '/', onclick: (event: Event) => { event.preventDefault(); void this.controller.showStudyList(); } }, t('app.studies'))),
        state.cpuRendering ? h('span', { class: 'badge', title: t('app.renderingCpu') }, 'CPU') : null,
        h('span', { class: 'spacer' }),
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
        h('button', { type: 'button', 'data-action': 'help', onclick: () => this.controller.setHelpOpen(true) }, `? ${t('app.help')}`),
      );
    }
    const onList = state.route.page === 'studies';
    this.studyList.element.hidden = !onList;
    this.reading.element.hidden = onList;
    if (onList) this.studyList.render(state, t, languageChanged);
    else this.reading.render(state, t);
    if (languageChanged || this.previous?.helpOpen !== state.helpOpen) {
      replaceChildren(this.dialogHost, state.helpOpen ? helpDialog(t, () => this.controller.setHelpOpen(false)) : null);
    }
    this.previous = state;
  }
}
