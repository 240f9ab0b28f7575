import { formatDicomDate } from '../dicom/dataset.ts';
import { isImageSeries, patientDisplayName, seriesKind, type SeriesSummary, type StudySummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { MessageKey } from '../i18n/messages.ts';
import type { Route } from '../logic/route.ts';
import { EMPTY_CRITERIA, MODALITIES, pageInfo, type SearchCriteria, type SortKey } from '../logic/study-query.ts';
import type { AppState, Loadable } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { PAGE_SIZE } from '../state/controller.ts';
import { h, replaceChildren } from './dom.ts';
import { problemText } from './problem-text.ts';
import { purposeNotice } from './purpose-dialog.ts';
import { hrMarkBadge, hrMarkShownOf } from './hr-mark-badge.ts';
import { reportStatusBadge } from './report-badge.ts';
import { thumbnailImage, type ThumbnailSource } from './thumbnail.ts';

interface Column {
  key: SortKey;
  label: MessageKey;
  cell: (study: StudySummary, locale: string) => string;
  numeric?: boolean;
}

const COLUMNS: readonly Column[] = [
  { key: 'PatientName', label: 'column.patientName', cell: (study, locale) => patientDisplayName(study, locale) },
  { key: 'PatientID', label: 'column.patientId', cell: (study) => study.patientId },
  { key: 'StudyDate', label: 'column.studyDate', cell: (study) => formatDicomDate(study.studyDate) },
  { key: 'ModalitiesInStudy', label: 'column.modality', cell: (study) => study.modalities.join(' ') },
  { key: 'StudyDescription', label: 'column.description', cell: (study) => study.description },
  { key: 'InstitutionName', label: 'column.institution', cell: (study) => study.institution },
  { key: 'AccessionNumber', label: 'column.accessionNumber', cell: (study) => study.accessionNumber },
  { key: 'NumberOfStudyRelatedSeries', label: 'column.series', cell: (study) => String(study.seriesCount ?? ''), numeric: true },
  { key: 'NumberOfStudyRelatedInstances', label: 'column.instances', cell: (study) => String(study.instanceCount ?? ''), numeric: true },
];

type TextField = Exclude<keyof SearchCriteria, 'modality'>;

/** Something else a row offers beside 打开 (the remote reading request), or nothing for this user. */
export type RowAction = (study: StudySummary, state: AppState, t: Translate) => HTMLElement | null;

/**
 * The study browser: the search form, the sortable result table one page at a time, and a
 * study's series with thumbnails when its row is expanded.
 */
export class StudyListView {
  readonly element = h('section', { class: 'study-list' });
  private readonly form = h('form', { class: 'search', role: 'search' });
  /** Whose studies the list covers: the reader's institution, or with a stated purpose also linked patients' elsewhere. */
  private readonly scope = h('div', { class: 'scope' });
  private readonly results = h('div', { class: 'results' });
  private readonly rowActions: RowAction[] = [];

  constructor(
    private readonly controller: Controller,
    private readonly thumbnails: ThumbnailSource,
  ) {
    this.element.append(this.form, this.scope, this.results);
    this.form.addEventListener('submit', (event) => {
      event.preventDefault();
      void this.controller.search(this.readForm());
    });
  }

  /** Adds an action to every row, after 打开 (as ReadingView.besideImages adds a panel). */
  addRowAction(action: RowAction): void {
    this.rowActions.push(action);
  }

  render(state: AppState, t: Translate, languageChanged: boolean): void {
    const route = state.route;
    if (route.page !== 'studies') return;
    if (languageChanged || this.form.childElementCount === 0 || this.form.dataset.route !== JSON.stringify(route.criteria)) this.renderForm(route.criteria, t);
    replaceChildren(this.scope, purposeNotice(state, t, this.controller));
    this.renderResults(state, route, t);
  }

  private renderForm(criteria: SearchCriteria, t: Translate): void {
    this.form.dataset.route = JSON.stringify(criteria);
    const field = (name: TextField, label: MessageKey, type = 'search', placeholder?: string) =>
      h('label', { class: `field field-${name}` }, h('span', {}, t(label)), h('input', { name, type, value: criteria[name], placeholder, autocomplete: 'off' }));
    const modality = h(
      'select',
      { name: 'modality' },
      h('option', { value: '' }, t('search.anyModality')),
      MODALITIES.map((code) => h('option', { value: code, selected: criteria.modality === code }, code)),
    );
    replaceChildren(
      this.form,
      field('patientName', 'search.patientName', 'search', t('search.namePlaceholder')),
      field('patientId', 'search.patientId'),
      field('accessionNumber', 'search.accessionNumber'),
      h('label', { class: 'field field-modality' }, h('span', {}, t('search.modality')), modality),
      field('dateFrom', 'search.dateFrom', 'date'),
      field('dateTo', 'search.dateTo', 'date'),
      field('institution', 'search.institution'),
      field('description', 'search.description'),
      h(
        'div',
        { class: 'search-buttons' },
        h('button', { type: 'submit', class: 'primary' }, t('search.submit')),
        h('button', { type: 'button', onclick: () => void this.controller.search({ ...EMPTY_CRITERIA }) }, t('search.clear')),
      ),
    );
  }

  private readForm(): SearchCriteria {
    const data = new FormData(this.form);
    const value = (name: keyof SearchCriteria) => String(data.get(name) ?? '').trim();
    return {
      patientName: value('patientName'),
      patientId: value('patientId'),
      accessionNumber: value('accessionNumber'),
      modality: value('modality'),
      dateFrom: value('dateFrom'),
      dateTo: value('dateTo'),
      institution: value('institution'),
      description: value('description'),
    };
  }

  private renderResults(state: AppState, route: Extract<Route, { page: 'studies' }>, t: Translate): void {
    const results = state.list.results;
    if (!results || results.status === 'loading') {
      replaceChildren(this.results, h('p', { class: 'status loading', role: 'status' }, t('list.loading')));
      return;
    }
    if (results.status === 'error') {
      replaceChildren(this.results, h('p', { class: 'status error', role: 'alert' }, t('list.error', { reason: problemText(results.problem, t) })));
      return;
    }
    const { studies, remaining } = results.value;
    if (studies.length === 0) {
      replaceChildren(this.results, h('p', { class: 'status empty' }, t('list.empty')));
      return;
    }
    const header = h(
      'tr',
      {},
      h('th', { class: 'expand-column' }),
      COLUMNS.map((column) => {
        const sorted = route.sort.key === column.key;
        return h(
          'th',
          { 'aria-sort': sorted ? (route.sort.descending ? 'descending' : 'ascending') : 'none', class: column.numeric ? 'numeric' : undefined },
          h(
            'button',
            { type: 'button', class: 'sort', title: t('column.sortBy', { column: t(column.label) }), onclick: () => void this.controller.sortBy(column.key) },
            t(column.label),
            sorted ? h('span', { class: 'sort-mark' }, route.sort.descending ? ' ▼' : ' ▲') : null,
          ),
        );
      }),
      h('th', { class: 'col-report' }, t('column.report')),
      h('th', { class: 'col-hr-mark' }, t('column.hrMark')),
      h('th'),
    );
    const rows = studies.flatMap((study) => this.studyRows(study, state, t));
    const page = pageInfo(route.offset, studies.length, remaining);
    replaceChildren(
      this.results,
      h('table', { class: 'studies' }, h('thead', {}, header), h('tbody', {}, rows)),
      h(
        'nav',
        { class: 'pager' },
        h('button', { type: 'button', disabled: !page.hasPrevious, onclick: () => void this.controller.showPage(route.offset - PAGE_SIZE) }, t('list.previous')),
        h('span', { class: 'range' }, t(page.totalAtLeast ? 'list.rangeAtLeast' : 'list.range', { first: page.first, last: page.last, total: page.total })),
        h('button', { type: 'button', disabled: !page.hasNext, onclick: () => void this.controller.showPage(route.offset + PAGE_SIZE) }, t('list.next')),
      ),
    );
  }

  private studyRows(study: StudySummary, state: AppState, t: Translate): HTMLTableRowElement[] {
    const expanded = state.list.expandedStudy === study.studyInstanceUid;
    const open = () => void this.controller.openStudy(study.studyInstanceUid);
    const row = h(
      'tr',
      { class: expanded ? 'study expanded' : 'study', 'data-study': study.studyInstanceUid, ondblclick: open },
      h(
        'td',
        { class: 'expand-column' },
        h(
          'button',
          {
            type: 'button',
            class: 'expand',
            'aria-expanded': String(expanded),
            title: t(expanded ? 'list.hideSeries' : 'list.showSeries'),
            onclick: () => void this.controller.toggleSeries(study.studyInstanceUid),
          },
          expanded ? '▾' : '▸',
        ),
      ),
      COLUMNS.map((column) => h('td', { class: column.numeric ? `numeric col-${column.key}` : `col-${column.key}` }, column.cell(study, state.locale))),
      h('td', { class: 'col-report' }, reportStatusBadge(state.list.reports, study.studyInstanceUid, t, open)),
      h('td', { class: 'col-hr-mark' }, hrMarkBadge(hrMarkShownOf(study.hr, state.locale) ?? { text: null, absence: [] }, t)),
      h('td', { class: 'study-actions' }, h('button', { type: 'button', class: 'open primary', onclick: open }, t('list.open')), this.rowActions.map((action) => action(study, state, t))),
    );
    if (!expanded) return [row];
    const detail = h('td', { colspan: COLUMNS.length + 4 }, this.seriesStrip(study, state.list.seriesOf[study.studyInstanceUid], t));
    return [row, h('tr', { class: 'series-row' }, detail)];
  }

  private seriesStrip(study: StudySummary, series: Loadable<SeriesSummary[]> | undefined, t: Translate): HTMLElement {
    if (!series || series.status === 'loading') return h('p', { class: 'status loading' }, t('list.seriesLoading'));
    if (series.status === 'error') return h('p', { class: 'status error' }, t('list.seriesError', { reason: problemText(series.problem, t) }));
    if (series.value.length === 0) return h('p', { class: 'status empty' }, t('list.noSeries'));
    return h(
      'ul',
      { class: 'series-strip' },
      series.value.map((item) =>
        h(
          'li',
          {},
          h(
            'button',
            // A document (report, key images, PDF) has no image to show: it opens the study at its images.
            isImageSeries(item)
              ? { type: 'button', class: 'series-card', onclick: () => void this.controller.openStudy(study.studyInstanceUid, item.seriesInstanceUid) }
              : { type: 'button', class: 'series-card document', 'data-kind': seriesKind(item), onclick: () => void this.controller.openStudy(study.studyInstanceUid) },
            isImageSeries(item)
              ? thumbnailImage(this.thumbnails, study.studyInstanceUid, item.seriesInstanceUid, 96)
              : h('span', { class: 'document-icon', title: t(`seriesKind.${seriesKind(item)}` as MessageKey) }, item.modality),
            h('span', {}, t('list.seriesItem', { number: item.seriesNumber ?? '', description: item.description || item.modality, count: item.instanceCount ?? '' })),
          ),
        ),
      ),
    );
  }
}
