import type { PriorFetch, TimelineStudy } from '../api/person-client.ts';
import { formatPersonName } from '../dicom/dataset.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale } from '../i18n/messages.ts';
import { fetchProgress } from '../logic/prior-fetch.ts';
import { configuredText } from '../logic/quality.ts';
import { groupTimeline } from '../logic/timeline.ts';
import { signedInUserOf, type AppState } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import type { PersonController, PersonPageState } from '../state/person-controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';
import { purposeNotice } from './purpose-dialog.ts';

/**
 * The person page (患者全部检查): a lookup by resident ID number, and the person's studies at every
 * hospital the user may see on a vertical timeline, newest first, by year and month: date, modality,
 * body part, institution (本院 / 外院), report status, QC grade and HR mark (or why it has none);
 * a study opens in the viewer.
 */
export class PersonView {
  readonly element = h('section', { class: 'person-page', hidden: true });
  private readonly lookupInput = h('input', { type: 'search', name: 'resident-id', autocomplete: 'off', spellcheck: 'false', inputmode: 'text', maxlength: 24, 'data-field': 'resident-id' });
  private readonly lookupLabel = h('span');
  private readonly lookupButton = h('button', { type: 'submit', class: 'primary', 'data-action': 'lookup-person' });
  private readonly lookupNote = h('p', { class: 'muted' });
  private readonly lookupForm = h('form', { class: 'person-lookup', role: 'search' }, h('label', {}, this.lookupLabel, this.lookupInput), this.lookupButton, this.lookupNote);
  private readonly heading = h('h1');
  private readonly purpose = h('div');
  private readonly status = h('div');
  private readonly timeline = h('div', { class: 'timeline-host' });
  private readonly fetches = h('section', { class: 'prior-fetches', hidden: true });
  /** What the page was last built from: a button replaced between press and release loses the click. */
  private shows: readonly unknown[] | undefined;

  constructor(
    private readonly persons: PersonController,
    private readonly controller: Controller,
  ) {
    this.lookupForm.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.persons.lookup(this.lookupInput.value).then(() => {
        // The number is not kept on screen once the person is found either.
        if (this.persons.store.get().lookup.status === 'idle') this.lookupInput.value = '';
      });
    });
    this.element.append(this.heading, this.lookupForm, this.purpose, this.status, this.fetches, this.timeline);
  }

  render(app: AppState, state: PersonPageState, t: Translate): void {
    this.element.hidden = app.route.page !== 'person' || app.session.status !== 'signed-in';
    if (this.element.hidden) return;
    const shows = [app.locale, app.session, app.purpose, state];
    if (this.shows?.length === shows.length && shows.every((input, index) => input === this.shows![index])) return;
    this.shows = shows;
    this.heading.textContent = t('person.title');
    this.lookupLabel.textContent = t('person.lookupLabel');
    this.lookupInput.placeholder = t('person.lookupPlaceholder');
    this.lookupButton.textContent = state.lookup.status === 'searching' ? t('person.searching') : t('person.lookup');
    this.lookupNote.textContent = t('person.lookupNote');
    replaceChildren(this.purpose, purposeNotice(app, t, this.controller, 'person'));
    replaceChildren(this.status, this.statusText(state, t));
    replaceChildren(this.timeline, this.timelineView(app, state, t));
    this.fetches.hidden = state.person?.status !== 'ready';
    replaceChildren(this.fetches, this.fetchesView(state, t));
  }

  /** 调取既往检查: the button, and each fetch with its progress bar and counts. */
  private fetchesView(state: PersonPageState, t: Translate): Array<HTMLElement | null> {
    const sending = state.fetchRequest.status === 'sending';
    const fetches = state.fetches?.status === 'ready' ? state.fetches.value : [];
    return [
      h('div', { class: 'prior-fetches-head' },
        h('h2', {}, t('person.fetch.title')),
        h('button', { type: 'button', 'data-action': 'fetch-priors', disabled: sending, onclick: () => void this.persons.requestPriorFetch() }, sending ? t('person.fetch.sending') : t('person.fetch.request')),
      ),
      h('p', { class: 'muted' }, t('person.fetch.note')),
      state.fetchRequest.status === 'error' ? h('p', { class: 'status error', role: 'alert' }, problemText(state.fetchRequest.problem, t)) : null,
      state.fetches?.status === 'error' ? h('p', { class: 'status error', role: 'alert' }, problemText(state.fetches.problem, t)) : null,
      fetches.length === 0 ? h('p', { class: 'muted' }, t('person.fetch.none')) : h('ul', { class: 'prior-fetch-list' }, fetches.slice(0, 5).map((fetch) => this.fetchRow(fetch, t))),
    ];
  }

  private fetchRow(fetch: PriorFetch, t: Translate): HTMLElement {
    const progress = fetchProgress(fetch);
    return h(
      'li',
      { class: `prior-fetch ${fetch.state}`, 'data-fetch': fetch.id, 'data-state': fetch.state },
      h('span', { class: 'prior-fetch-source' }, fetch.aeTitle),
      h('span', { class: 'prior-fetch-state' }, t(`person.fetch.state.${fetch.state}`)),
      progress ? h('progress', { value: progress.value, max: progress.max }) : h('progress', {}),
      h('span', { class: 'prior-fetch-counts' }, t('person.fetch.summary', { found: fetch.studiesFound, held: fetch.studiesHeld, retrieved: fetch.studiesRetrieved, completed: fetch.instancesCompleted, failed: fetch.instancesFailed })),
      fetch.error ? h('span', { class: 'prior-fetch-error muted' }, fetch.error) : null,
    );
  }

  private statusText(state: PersonPageState, t: Translate): HTMLElement | null {
    if (state.notice) return h('p', { class: 'status error', role: 'alert' }, state.notice.status === 404 ? t('person.notLinked') : problemText(state.notice, t));
    const lookup = state.lookup;
    if (lookup.status === 'none') return h('p', { class: 'status empty', role: 'status' }, t('person.noneFound'));
    if (lookup.status === 'error') return h('p', { class: 'status error', role: 'alert' }, problemText(lookup.problem, t));
    if (lookup.status === 'several') {
      return h(
        'div',
        { class: 'person-choices', role: 'status' },
        h('p', {}, t('person.several')),
        lookup.personIds.map((personId) => h('button', { type: 'button', 'data-person': personId, onclick: () => void this.controller.showPerson(personId) }, t('person.personNumber', { id: personId }))),
      );
    }
    return null;
  }

  private timelineView(app: AppState, state: PersonPageState, t: Translate): HTMLElement | null {
    const person = state.person;
    if (!person) return null;
    if (person.status === 'loading') return h('p', { class: 'status loading' }, t('person.loading'));
    if (person.status === 'error') return h('p', { class: 'status error', role: 'alert' }, person.problem.status === 404 ? t('person.notVisible') : problemText(person.problem, t));
    const { studies, identifiers } = person.value;
    const institutions = new Set(studies.map((study) => study.institutionId));
    const own = signedInUserOf(app)?.institutionId ?? null;
    // Who: as the newest record that names the patient says (records of one person may spell it differently).
    const named = studies.find((study) => study.patientName);
    const sex = named?.patientSex === 'M' || named?.patientSex === 'F' || named?.patientSex === 'O' ? t(`sex.${named.patientSex}`) : '';
    return h(
      'div',
      { class: 'timeline', 'data-person': state.personId },
      named?.patientName
        ? h('p', { class: 'person-identity' }, h('strong', { class: 'person-name' }, formatPersonName(named.patientName, app.locale)), ' ', [sex, named.patientBirthDate, t('person.personNumber', { id: state.personId ?? '' })].filter(Boolean).join(' · '))
        : null,
      identifiers.length
        ? h('p', { class: 'person-identifiers' }, identifiers.map((identifier) => h('span', { class: 'person-identifier', 'data-kind': identifier.kind }, `${t(`person.identifier.${identifier.kind}`)} ${identifier.value}`)))
        : null,
      h('p', { class: 'timeline-summary' }, t('person.summary', { studies: studies.length, institutions: institutions.size })),
      groupTimeline(studies).map((year) =>
        h(
          'section',
          { class: 'timeline-year', 'data-year': year.year ?? 'unknown' },
          h('h2', { class: 'timeline-year-label' }, year.year ? t('person.year', { year: year.year }) : t('person.dateUnknown')),
          year.months.map((month) =>
            h(
              'section',
              { class: 'timeline-month' },
              month.month ? h('h3', { class: 'timeline-month-label' }, t(`person.month.${month.month}` as 'person.month.1')) : null,
              h('ol', { class: 'timeline-studies' }, month.studies.map((study) => this.studyCard(study, own, app.locale, t))),
            ),
          ),
        ),
      ),
    );
  }

  private studyCard(study: TimelineStudy, ownInstitution: string | null, locale: Locale, t: Translate): HTMLElement {
    const elsewhere = study.institutionId !== ownInstitution;
    const grade = study.qcGrade?.grade;
    const open = () => void this.controller.openStudy(study.studyInstanceUid);
    return h(
      'li',
      { class: `timeline-study${elsewhere ? ' elsewhere' : ''}`, 'data-study': study.studyInstanceUid, 'data-institution-id': study.institutionId, 'data-modality': study.modalities[0] ?? '' },
      h('span', { class: 'timeline-dot', 'aria-hidden': 'true' }),
      h(
        'div',
        { class: 'timeline-card' },
        h(
          'div',
          { class: 'timeline-card-head' },
          h('time', { datetime: study.studyDate ?? '' }, study.studyDate ?? t('person.dateUnknown')),
          h('span', { class: 'modality' }, study.modalities.join(' ')),
          study.bodyParts.length ? h('span', { class: 'body-part' }, study.bodyParts.join('、')) : null,
        ),
        h('div', { class: 'timeline-description' }, study.description ?? ''),
        h('div', { class: 'timeline-institution' }, study.institutionName, ' ', h('span', { class: elsewhere ? 'badge elsewhere' : 'badge own' }, t(elsewhere ? 'person.elsewhere' : 'person.own'))),
        h(
          'div',
          { class: 'timeline-badges' },
          h('span', { class: `report-status ${study.reportStatus ?? 'unreported'}`, 'data-report-status': study.reportStatus ?? 'unreported' }, t(`reportStatus.${(study.reportStatus ?? 'unreported') as 'unreported'}`)),
          h('span', { class: `qc-grade${grade?.reject ? ' reject' : ''}`, 'data-qc-grade': grade?.code ?? '' }, grade ? t('person.qcGrade', { grade: configuredText(grade.label, locale) }) : t('person.qcNotGraded')),
          study.hrMark?.carries
            ? h('span', { class: 'hr-mark', 'data-hr-mark': study.hrMark.text, title: t('person.hrMarkTitle', { until: study.hrMark.validUntil }) }, study.hrMark.text)
            : h('span', { class: 'hr-absent', 'data-hr-mark': '' }, t('person.noHrMark')),
        ),
        study.hrMarkAbsence.length ? h('div', { class: 'hr-absence muted' }, study.hrMarkAbsence.map((reason) => (locale === 'zh-CN' ? reason.zh : reason.en)).join(locale === 'zh-CN' ? '；' : '; ')) : null,
        h('button', { type: 'button', class: 'open', 'data-action': 'open-study', onclick: open }, t('list.open')),
      ),
    );
  }
}
