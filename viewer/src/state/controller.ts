import { DicomWebError, type DicomWebClient } from '../dicomweb/client.ts';
import { matchingSeries, type SeriesSummary, type StudySummary } from '../dicomweb/models.ts';
import { LOCALE_STORAGE_KEY, type LocaleStorage } from '../i18n/i18n.ts';
import type { Locale } from '../i18n/messages.ts';
import type { ImagingEngine, PrimaryTool } from '../imaging/engine.ts';
import { seriesStack } from '../imaging/series-stack.ts';
import { activate, assignSeries, changeLayout, compareWithPrior, initialLayout, type LayoutId, type SeriesRef } from '../logic/layout.ts';
import { DEFAULT_SORT, parseRoute, routeUrl, type Route } from '../logic/route.ts';
import type { SearchCriteria, SortKey } from '../logic/study-query.ts';
import { emptyList, emptyReading, seriesKey, type AppState, type Loadable, type OpenStudy, type Problem } from './app-state.ts';
import type { Store } from './store.ts';

/** Rows per page of the study list: one screen, so the archive is asked for a page at a time. */
export const PAGE_SIZE = 25;

/** The browser's history, behind an interface so the controller does not reach for globals. */
export interface Navigation {
  push(url: string): void;
}

/**
 * Every action the UI can take, and the only place that fetches: components call these and
 * render the store; the controller asks the DICOMweb client and writes results into the store.
 */
export class Controller {
  constructor(
    private readonly store: Store<AppState>,
    private readonly client: DicomWebClient,
    readonly engine: ImagingEngine,
    private readonly navigation: Navigation,
    private readonly storage: LocaleStorage,
  ) {}

  /** Follows the URL the page was opened at (or returned to with the back button). */
  async followLocation(pathname: string, search: string): Promise<void> {
    await this.enter(parseRoute(pathname, search));
  }

  private async go(route: Route): Promise<void> {
    this.navigation.push(routeUrl(route));
    await this.enter(route);
  }

  private async enter(route: Route): Promise<void> {
    this.store.update((state) => ({ ...state, route }));
    if (route.page === 'studies') await this.loadList(route);
    else await this.loadReading(route);
  }

  // The study list.

  search(criteria: SearchCriteria): Promise<void> {
    const route = this.store.get().route;
    return this.go({ page: 'studies', criteria, sort: route.page === 'studies' ? route.sort : DEFAULT_SORT, offset: 0 });
  }

  sortBy(key: SortKey): Promise<void> {
    const route = this.store.get().route;
    if (route.page !== 'studies') return Promise.resolve();
    // A new column starts in the order readers usually want it: dates and counts largest first, text A to Z.
    const descending = route.sort.key === key ? !route.sort.descending : key === 'StudyDate' || key.startsWith('NumberOf');
    return this.go({ ...route, sort: { key, descending }, offset: 0 });
  }

  showPage(offset: number): Promise<void> {
    const route = this.store.get().route;
    if (route.page !== 'studies') return Promise.resolve();
    return this.go({ ...route, offset: Math.max(0, offset) });
  }

  showStudyList(): Promise<void> {
    return this.go(parseRoute('/', ''));
  }

  private async loadList(route: Extract<Route, { page: 'studies' }>): Promise<void> {
    const key = routeUrl(route);
    this.store.update((state) => ({ ...state, list: { ...emptyList(), resultsFor: key, results: { status: 'loading' } } }));
    const setResults = (results: AppState['list']['results']) =>
      this.store.update((state) => (state.list.resultsFor === key ? { ...state, list: { ...state.list, results } } : state));
    const ownOrder = route.sort.key === DEFAULT_SORT.key && route.sort.descending === DEFAULT_SORT.descending;
    const search = { criteria: route.criteria, offset: route.offset, limit: PAGE_SIZE, ...(ownOrder ? {} : { orderBy: route.sort }) };
    try {
      setResults({ status: 'ready', value: await this.client.searchStudies(search) });
    } catch (error) {
      setResults(failed(error));
    }
  }

  async toggleSeries(studyInstanceUid: string): Promise<void> {
    const list = this.store.get().list;
    const expanded = list.expandedStudy === studyInstanceUid ? undefined : studyInstanceUid;
    this.store.update((state) => ({ ...state, list: { ...state.list, expandedStudy: expanded } }));
    if (!expanded || list.seriesOf[expanded]?.status === 'ready') return;
    const setSeries = (loadable: Loadable<SeriesSummary[]>) =>
      this.store.update((state) => ({ ...state, list: { ...state.list, seriesOf: { ...state.list.seriesOf, [expanded]: loadable } } }));
    setSeries({ status: 'loading' });
    try {
      setSeries({ status: 'ready', value: await this.client.series(expanded) });
    } catch (error) {
      setSeries(failed(error));
    }
  }

  openStudy(studyInstanceUid: string, seriesInstanceUid?: string): Promise<void> {
    return this.go({ page: 'viewer', studyInstanceUids: [studyInstanceUid], ...(seriesInstanceUid ? { seriesInstanceUid } : {}) });
  }

  // Reading.

  private async loadReading(route: Extract<Route, { page: 'viewer' }>): Promise<void> {
    const reading = emptyReading();
    this.store.update((state) => ({ ...state, reading: { ...reading, tool: state.reading.tool, cineFps: state.reading.cineFps } }));
    this.engine.setLinked(true);
    if (route.studyInstanceUids.length === 0) return;
    const opened = await Promise.all(route.studyInstanceUids.map((uid) => this.loadStudy(uid)));
    const [first, second] = opened;
    const wanted = first?.series.find((series) => series.seriesInstanceUid === route.seriesInstanceUid) ?? first?.series[0];
    let layout = initialLayout(wanted && ref(wanted));
    // Two studies in one link are a comparison: current on the left, the other beside it.
    const counterpart = second && matchingSeries(wanted, second.series);
    if (counterpart) layout = compareWithPrior(layout, ref(counterpart));
    this.setLayoutState(layout);
    const primary = route.studyInstanceUids[0]!;
    if (first) await this.loadPriors(primary);
  }

  private async loadStudy(studyInstanceUid: string): Promise<OpenStudy | undefined> {
    const existing = this.store.get().reading.studies[studyInstanceUid];
    if (existing?.status === 'ready') return existing.value;
    const setStudy = (loadable: Loadable<OpenStudy>) =>
      this.store.update((state) => ({ ...state, reading: { ...state.reading, studies: { ...state.reading.studies, [studyInstanceUid]: loadable } } }));
    setStudy({ status: 'loading' });
    try {
      const [summary, series] = await Promise.all([this.client.study(studyInstanceUid), this.client.series(studyInstanceUid)]);
      if (!summary) throw new DicomWebError(404, `no study ${studyInstanceUid} is stored here`, '');
      const study = { summary, series };
      setStudy({ status: 'ready', value: study });
      return study;
    } catch (error) {
      setStudy(failed(error));
      return undefined;
    }
  }

  private async loadPriors(studyInstanceUid: string): Promise<void> {
    const setPriors = (priors: Loadable<StudySummary[]>) => this.store.update((state) => ({ ...state, reading: { ...state.reading, priors } }));
    setPriors({ status: 'loading' });
    try {
      setPriors({ status: 'ready', value: await this.client.priors(studyInstanceUid) });
    } catch (error) {
      setPriors(failed(error));
    }
  }

  /** A prior beside the current study (1×2), with the prior's series that best matches the one on screen. */
  async comparePrior(prior: StudySummary): Promise<void> {
    const opened = await this.loadStudy(prior.studyInstanceUid);
    if (!opened) return;
    const { layout, studies } = this.store.get().reading;
    const onScreen = layout.cells[layout.active] ?? layout.cells[0];
    const currentStudy = onScreen ? studies[onScreen.studyInstanceUid] : undefined;
    const currentSeries = currentStudy?.status === 'ready' ? currentStudy.value.series.find((series) => onScreen && series.seriesInstanceUid === onScreen.seriesInstanceUid) : undefined;
    const counterpart = matchingSeries(currentSeries, opened.series);
    if (counterpart) this.setLayoutState(compareWithPrior(layout, ref(counterpart)));
  }

  setLayout(layout: LayoutId): void {
    const { reading } = this.store.get();
    const available = Object.values(reading.studies).flatMap((study) => (study.status === 'ready' ? study.value.series.map(ref) : []));
    this.setLayoutState(changeLayout(reading.layout, layout, available));
  }

  showSeries(cell: number, series: SeriesRef): void {
    this.setLayoutState(assignSeries(this.store.get().reading.layout, cell, series));
  }

  activateCell(cell: number): void {
    const { layout } = this.store.get().reading;
    if (layout.active !== cell) this.setLayoutState(activate(layout, cell));
  }

  /** Layout changes also fetch the metadata of every series now on screen (requested first, drawn after). */
  private setLayoutState(layout: AppState['reading']['layout']): void {
    for (const cell of layout.cells) if (cell) void this.loadStack(cell);
    this.store.update((state) => ({ ...state, reading: { ...state.reading, layout } }));
  }

  private async loadStack(series: SeriesRef): Promise<void> {
    const key = seriesKey(series);
    if (this.store.get().reading.stacks[key]) return;
    const setStack = (loadable: AppState['reading']['stacks'][string]) =>
      this.store.update((state) => ({ ...state, reading: { ...state.reading, stacks: { ...state.reading.stacks, [key]: loadable } } }));
    // The request goes out before the store changes: redrawing for "loading" must not delay the first image.
    const metadata = this.client.seriesMetadata(series.studyInstanceUid, series.seriesInstanceUid);
    setStack({ status: 'loading' });
    try {
      setStack({ status: 'ready', value: seriesStack(this.client, series.studyInstanceUid, series.seriesInstanceUid, await metadata) });
    } catch (error) {
      setStack(failed(error));
    }
  }

  setTool(tool: PrimaryTool): void {
    this.engine.setPrimaryTool(tool);
    this.store.update((state) => ({ ...state, reading: { ...state.reading, tool } }));
  }

  setLinked(linked: boolean): void {
    this.engine.setLinked(linked);
    this.store.update((state) => ({ ...state, reading: { ...state.reading, linked } }));
  }

  setCineFps(cineFps: number): void {
    this.store.update((state) => ({ ...state, reading: { ...state.reading, cineFps } }));
    const viewportId = this.activeViewportId();
    if (this.engine.isCinePlaying(viewportId)) this.engine.playCine(viewportId, cineFps);
  }

  toggleCine(): void {
    const viewportId = this.activeViewportId();
    if (this.engine.isCinePlaying(viewportId)) this.engine.stopCine(viewportId);
    else this.engine.playCine(viewportId, this.store.get().reading.cineFps);
    // The play button shows the state: a store change makes the toolbar redraw.
    this.store.update((state) => ({ ...state, reading: { ...state.reading } }));
  }

  activeViewportId(): string {
    return viewportIdOf(this.store.get().reading.layout.active);
  }

  // Everywhere.

  setLocale(locale: Locale): void {
    this.storage.setItem(LOCALE_STORAGE_KEY, locale);
    this.store.update((state) => ({ ...state, locale }));
  }

  setHelpOpen(helpOpen: boolean): void {
    this.store.update((state) => ({ ...state, helpOpen }));
  }
}

/** Viewport ids follow grid cells, so a cell keeps its Cornerstone viewport across layout changes. */
export function viewportIdOf(cell: number): string {
  return `viewport-${cell}`;
}

function ref(series: SeriesSummary): SeriesRef {
  return { studyInstanceUid: series.studyInstanceUid, seriesInstanceUid: series.seriesInstanceUid };
}

function failed(error: unknown): { status: 'error'; problem: Problem } {
  if (error instanceof DicomWebError) return { status: 'error', problem: { status: error.status, detail: error.detail } };
  return { status: 'error', problem: { status: 0, detail: error instanceof Error ? error.message : String(error) } };
}
