import type { ReportStatusSummary } from '../../../archive/reading/report.ts';
import type { AuthClient } from '../api/auth-client.ts';
import { ApiError } from '../api/http.ts';
import type { ReportClient } from '../api/report-client.ts';
import type { DicomWebClient } from '../dicomweb/client.ts';
import { text } from '../dicom/dataset.ts';
import { isImageSeries, matchingSeries, seriesKind, type PriorStudy, type SeriesSummary, type StudySummary } from '../dicomweb/models.ts';
import { LOCALE_STORAGE_KEY, type LocaleStorage } from '../i18n/i18n.ts';
import type { Locale } from '../i18n/messages.ts';
import type { ImagingEngine, PrimaryTool } from '../imaging/engine.ts';
import { seriesStack } from '../imaging/series-stack.ts';
import { adminTabsFor, type AdminTab } from '../logic/admin.ts';
import { activate, assignSeries, changeLayout, compareWithPrior, initialLayout, type LayoutId, type LayoutState, type SeriesRef } from '../logic/layout.ts';
import { PURPOSE_STORAGE_KEY, purposeToRemember, rememberedPurpose, type PurposeStorage } from '../logic/purpose.ts';
import { currentDocuments, imageKey, keyObjectSelection, type KeyImage } from '../measurements/structured-report.ts';
import { statusesByStudy } from '../logic/report-status.ts';
import { DEFAULT_SORT, parseRoute, permittedRoute, routeUrl, type Route } from '../logic/route.ts';
import { canStatePurpose, type SignedInUser } from '../logic/session.ts';
import type { SearchCriteria, SortKey } from '../logic/study-query.ts';
import type { AdminController } from './admin-controller.ts';
import { emptyList, emptyReading, failed, seriesKey, signedInUserOf, type AppState, type Loadable, type OpenStudy, type Problem } from './app-state.ts';
import type { Store } from './store.ts';

/** Rows per page of the study list: one screen, so the archive is asked for a page at a time. */
export const PAGE_SIZE = 25;

/** The browser's history and location, behind an interface so the controller does not reach for globals. */
export interface Navigation {
  push(url: string): void;
  replace(url: string): void;
  /** Loads the app afresh (at `url`, or where it is): nothing of the session before stays in memory. */
  reload(url?: string): void;
}

/**
 * Every action the UI can take, and the only place that fetches: components call these and
 * render the store; the controller asks the clients and writes results into the store.
 * Administration's actions are the AdminController's.
 */
export class Controller {
  constructor(
    private readonly store: Store<AppState>,
    private readonly client: DicomWebClient,
    private readonly auth: AuthClient,
    readonly admin: AdminController,
    readonly engine: ImagingEngine,
    private readonly navigation: Navigation,
    private readonly storage: LocaleStorage,
    private readonly sessionStorage: PurposeStorage,
    private readonly reports: Pick<ReportClient, 'statuses'>,
  ) {}

  /** Asks who is signed in, then shows where the address points, or the sign-in screen. */
  async start(): Promise<void> {
    let user: SignedInUser | undefined;
    try {
      user = await this.auth.me();
    } catch (error) {
      this.signedOut(false, failed(error).problem);
      return;
    }
    if (!user) return this.signedOut(false);
    this.signedIn(user);
    await this.enter(this.store.get().route);
  }

  /** Follows the URL the page was opened at (or returned to with the back button). */
  async followLocation(pathname: string, search: string): Promise<void> {
    await this.enter(parseRoute(pathname, search));
  }

  private async go(route: Route): Promise<void> {
    this.navigation.push(routeUrl(route));
    await this.enter(route);
  }

  /** Shows a route, once someone is signed in; until then only remembers it, to continue there. */
  private async enter(requested: Route): Promise<void> {
    const user = signedInUserOf(this.store.get());
    if (!user) {
      this.store.update((state) => ({ ...state, route: requested }));
      return;
    }
    const adminTabs = adminTabsFor(user.permissions);
    const redirect = permittedRoute(requested, user.permissions, adminTabs);
    if (redirect) this.navigation.replace(routeUrl(redirect));
    const route = redirect ?? requested;
    this.store.update((state) => ({ ...state, route }));
    if (route.page === 'studies') await this.loadList(route);
    else if (route.page === 'viewer') await this.loadReading(route);
    else if (route.page === 'admin') await this.admin.enter(route.tab);
  }

  // Signing in and out.

  async signIn(username: string, password: string): Promise<void> {
    const session = this.store.get().session;
    if (session.status !== 'signed-out' || session.signingIn) return;
    this.store.update((state) => ({ ...state, session: { ...session, signingIn: true, problem: undefined } }));
    let user: SignedInUser | undefined;
    try {
      await this.auth.login(username, password);
      user = await this.auth.me();
      if (!user) throw new ApiError(401, 'the session did not start', '/api/auth/me');
    } catch (error) {
      this.store.update((state) => (state.session.status === 'signed-out' ? { ...state, session: { ...state.session, signingIn: false, problem: failed(error).problem } } : state));
      return;
    }
    // After an expired session the page starts afresh at the same address: whatever the reader
    // had open is fetched again under the new session, and nothing of the old one lingers.
    if (session.expired) return this.navigation.reload();
    this.signedIn(user);
    await this.enter(this.store.get().route);
  }

  /** Ends the session at the archive, then starts the app afresh at the study list (and so at the sign-in screen). */
  async signOut(): Promise<void> {
    this.engine.stopLoading();
    await this.auth.logout().catch(() => undefined);
    this.sessionStorage.removeItem(PURPOSE_STORAGE_KEY);
    this.navigation.reload('/');
  }

  /** A request was refused for want of a session: back to the sign-in screen, keeping the address. */
  sessionLost(): void {
    if (this.store.get().session.status !== 'signed-in') return;
    this.engine.stopLoading();
    this.signedOut(true);
  }

  /** The user is known: the route becomes one they may see in the same change, so no other screen flashes by. */
  private signedIn(user: SignedInUser): void {
    const purpose = canStatePurpose(user) ? rememberedPurpose(this.sessionStorage.getItem(PURPOSE_STORAGE_KEY), user.username) : undefined;
    const redirect = permittedRoute(this.store.get().route, user.permissions, adminTabsFor(user.permissions));
    if (redirect) this.navigation.replace(routeUrl(redirect));
    this.store.update((state) => ({ ...state, route: redirect ?? state.route, session: { status: 'signed-in', user }, purpose: { text: purpose, dialogOpen: false } }));
  }

  private signedOut(expired: boolean, problem?: Problem): void {
    this.store.update((state) => ({
      ...state,
      helpOpen: false,
      session: { status: 'signed-out', expired, providers: undefined, signingIn: false, problem },
      purpose: { text: undefined, dialogOpen: false },
    }));
    void this.auth.providers().then(
      (providers) => this.store.update((state) => (state.session.status === 'signed-out' ? { ...state, session: { ...state.session, providers } } : state)),
      () => undefined,
    );
  }

  // Purpose of use (检查检验结果互认).

  setPurposeDialogOpen(dialogOpen: boolean): void {
    this.store.update((state) => ({ ...state, purpose: { ...state.purpose, dialogOpen } }));
  }

  /** Remembers the purpose for this browser session and asks again for what it widens: the list or the priors. */
  async statePurpose(purpose: string): Promise<void> {
    const user = signedInUserOf(this.store.get());
    if (!user) return;
    this.sessionStorage.setItem(PURPOSE_STORAGE_KEY, purposeToRemember(user.username, purpose));
    this.store.update((state) => ({ ...state, purpose: { text: purpose, dialogOpen: false } }));
    await this.refreshForPurpose();
  }

  async withdrawPurpose(): Promise<void> {
    this.sessionStorage.removeItem(PURPOSE_STORAGE_KEY);
    this.store.update((state) => ({ ...state, purpose: { text: undefined, dialogOpen: false } }));
    await this.refreshForPurpose();
  }

  private async refreshForPurpose(): Promise<void> {
    const route = this.store.get().route;
    if (route.page === 'studies') await this.loadList(route);
    else if (route.page === 'viewer' && route.studyInstanceUids[0]) await this.loadPriors(route.studyInstanceUids[0]);
  }

  /** The reading worklist; its state and actions are the WorklistController's, which follows the route. */
  /** The statistics dashboard; its state and actions are the StatisticsController's, which follows the route. */
  showStatistics(): Promise<void> {
    return this.go({ page: 'statistics' });
  }

  showWorklist(): Promise<void> {
    return this.go({ page: 'worklist' });
  }

  /** A person's timeline (its state and actions are the PersonController's, which follows the route); no id: the lookup. */
  showPerson(personId?: string): Promise<void> {
    return this.go(personId ? { page: 'person', personId } : { page: 'person' });
  }

  /** The QC work list; its state and actions are the QcWorklistController's, which follows the route. */
  showQcList(): Promise<void> {
    return this.go({ page: 'qc' });
  }

  showAdmin(tab?: AdminTab): Promise<void> {
    return this.go(tab ? { page: 'admin', tab } : { page: 'admin' });
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
    let page: Awaited<ReturnType<DicomWebClient['searchStudies']>>;
    try {
      page = await this.client.searchStudies(search);
      setResults({ status: 'ready', value: page });
    } catch (error) {
      return setResults(failed(error));
    }
    await this.loadReportStatuses(
      page.studies.map((study) => study.studyInstanceUid),
      (reports) => this.store.update((state) => (state.list.resultsFor === key ? { ...state, list: { ...state.list, reports } } : state)),
    );
  }

  /** Where the reports of a page of studies (or of the priors) stand: one request for them all, never one per row. */
  private async loadReportStatuses(studyInstanceUids: string[], set: (reports: Loadable<Record<string, ReportStatusSummary>>) => void): Promise<void> {
    if (studyInstanceUids.length === 0) return set({ status: 'ready', value: {} });
    set({ status: 'loading' });
    try {
      set({ status: 'ready', value: statusesByStudy(await this.reports.statuses(studyInstanceUids)) });
    } catch (error) {
      set(failed(error));
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
    const wanted = first?.series.find((series) => series.seriesInstanceUid === route.seriesInstanceUid && isImageSeries(series)) ?? first?.series.find(isImageSeries);
    let layout = initialLayout(wanted && ref(wanted));
    // Two studies in one link are a comparison: current on the left, the other beside it.
    const counterpart = second && matchingSeries(wanted, second.series.filter(isImageSeries));
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
      if (!summary) throw new ApiError(404, `no study ${studyInstanceUid} is stored here`, '');
      const study = { summary, series };
      setStudy({ status: 'ready', value: study });
      void this.loadDocuments(studyInstanceUid, series);
      return study;
    } catch (error) {
      setStudy(failed(error));
      return undefined;
    }
  }

  private async loadPriors(studyInstanceUid: string): Promise<void> {
    const setPriors = (priors: Loadable<PriorStudy[]>, priorReports?: Loadable<Record<string, ReportStatusSummary>>) =>
      this.store.update((state) => ({ ...state, reading: { ...state.reading, priors, priorReports: priorReports ?? state.reading.priorReports } }));
    setPriors({ status: 'loading' });
    try {
      const priors = await this.client.priors(studyInstanceUid);
      // The priors come with their report statuses: no second request.
      setPriors({ status: 'ready', value: priors }, { status: 'ready', value: statusesByStudy(priors.flatMap((prior) => (prior.reportStatus ? [prior.reportStatus] : []))) });
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
    const counterpart = matchingSeries(currentSeries, opened.series.filter(isImageSeries));
    if (counterpart) this.setLayoutState(compareWithPrior(layout, ref(counterpart)));
  }

  setLayout(layout: LayoutId): void {
    const { reading } = this.store.get();
    const available = Object.values(reading.studies).flatMap((study) => (study.status === 'ready' ? study.value.series.filter(isImageSeries).map(ref) : []));
    this.setLayoutState(changeLayout(reading.layout, layout, available));
  }

  showSeries(cell: number, series: SeriesRef): void {
    this.setLayoutState(assignSeries(this.store.get().reading.layout, cell, series));
  }

  /** A consultation's presenter chose this layout, these series and this cell: shown as they are. */
  followLayout(layout: LayoutState): void {
    this.setLayoutState(layout);
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
      return;
    }
    this.showSavedMeasurements(series);
  }

  // Measurements and key images saved with the study (TID 1500 report, Key Object Selection).

  /** Finds a study's saved measurements and key images (its SR and KO series) and draws them on the series shown. */
  private async loadDocuments(studyInstanceUid: string, series: readonly SeriesSummary[]): Promise<void> {
    const setDocuments = (loadable: AppState['reading']['documents'][string]) =>
      this.store.update((state) => ({ ...state, reading: { ...state.reading, documents: { ...state.reading.documents, [studyInstanceUid]: loadable } } }));
    setDocuments({ status: 'loading' });
    try {
      const documentSeries = series.filter((candidate) => ['structured-report', 'key-images'].includes(seriesKind(candidate)));
      const headers = (await Promise.all(documentSeries.map((candidate) => this.client.seriesMetadata(studyInstanceUid, candidate.seriesInstanceUid)))).flat();
      const documents = currentDocuments(headers);
      setDocuments({ status: 'ready', value: documents });
      this.store.update((state) => ({
        ...state,
        reading: { ...state.reading, keyImages: [...state.reading.keyImages.filter((image) => image.studyInstanceUid !== studyInstanceUid), ...documents.keyImages] },
      }));
    } catch (error) {
      setDocuments(failed(error));
      return;
    }
    for (const candidate of series) this.showSavedMeasurements(ref(candidate));
  }

  /** Draws the study's saved measurements on a series once both its images and the report are here. */
  private showSavedMeasurements(series: SeriesRef): void {
    const { documents, stacks } = this.store.get().reading;
    const saved = documents[series.studyInstanceUid];
    const stack = stacks[seriesKey(series)];
    if (saved?.status !== 'ready' || !saved.value.measurementReport || stack?.status !== 'ready') return;
    const imageIdOf = new Map(stack.value.frames.map((frame, index) => [imageKey(frame.sopInstanceUid, frame.frameNumber), stack.value.imageIds[index]!]));
    this.engine.showSavedMeasurements(saved.value.measurementReport, seriesKey(series), imageIdOf);
  }

  /**
   * The study's series once the new ones are listed: the archive indexes what STOW-RS stored just
   * after answering, so the listing is asked again for a few seconds (then shown as it is).
   */
  private async seriesListing(studyInstanceUid: string, expected: readonly string[]): Promise<SeriesSummary[]> {
    for (let attempt = 1; ; attempt++) {
      const series = await this.client.series(studyInstanceUid);
      const listed = new Set(series.map((candidate) => candidate.seriesInstanceUid));
      if (expected.every((uid) => listed.has(uid)) || attempt >= LISTING_ATTEMPTS) return series;
      await new Promise((resolve) => setTimeout(resolve, LISTING_INTERVAL_MS));
    }
  }

  /** Marks the image on screen in the selected viewport as a key image, or unmarks it. */
  toggleKeyImage(): void {
    const { layout, stacks, keyImages } = this.store.get().reading;
    const cell = layout.cells[layout.active];
    const stack = cell ? stacks[seriesKey(cell)] : undefined;
    const index = this.engine.currentImageIndex(this.activeViewportId());
    const frame = stack?.status === 'ready' && index !== undefined ? stack.value.frames[index] : undefined;
    if (!cell || !frame) return;
    const multiFrame = stack?.status === 'ready' && stack.value.frames.some((other) => other.sopInstanceUid === frame.sopInstanceUid && other.frameNumber > 1);
    const image: KeyImage = {
      studyInstanceUid: cell.studyInstanceUid,
      seriesInstanceUid: cell.seriesInstanceUid,
      sopClassUid: text(frame.instance, 'SOPClassUID'),
      sopInstanceUid: frame.sopInstanceUid,
      ...(multiFrame ? { frameNumber: frame.frameNumber } : {}),
    };
    const same = (other: KeyImage) => other.sopInstanceUid === image.sopInstanceUid && (other.frameNumber ?? 1) === (image.frameNumber ?? 1);
    const marked = keyImages.some(same) ? keyImages.filter((other) => !same(other)) : [...keyImages, image];
    this.store.update((state) => ({ ...state, reading: { ...state.reading, keyImages: marked } }));
  }

  /**
   * Saves the measurements drawn on the current study's images as a TID 1500 report and its key
   * images as a Key Object Selection Document, each a new series of the study (STOW-RS), written
   * by the signed-in reader; then lists the study's series again so the new ones show.
   */
  async saveMeasurements(): Promise<void> {
    const state = this.store.get();
    const route = state.route;
    const user = signedInUserOf(state);
    const studyInstanceUid = route.page === 'viewer' ? route.studyInstanceUids[0] : undefined;
    const study = studyInstanceUid ? state.reading.studies[studyInstanceUid] : undefined;
    if (!user || !studyInstanceUid || study?.status !== 'ready' || state.reading.save?.status === 'saving') return;
    const setSave = (save: AppState['reading']['save']) => this.store.update((current) => ({ ...current, reading: { ...current.reading, save } }));
    // The study's own header (patient, study) from any of its series on screen.
    const header = Object.entries(state.reading.stacks).flatMap(([key, stack]) => (key.startsWith(`${studyInstanceUid}/`) && stack.status === 'ready' ? [stack.value.frames[0]?.instance] : []))[0];
    const keyImages = state.reading.keyImages.filter((image) => image.studyInstanceUid === studyInstanceUid);
    const lastSeriesNumber = Math.max(0, ...study.value.series.map((series) => series.seriesNumber ?? 0));
    const context = (offset: number, description: string) => ({
      seriesNumber: lastSeriesNumber + offset,
      seriesDescription: description,
      observer: { Alphabetic: user.displayName },
      institutionName: study.value.summary.institution || undefined,
      studyHeader: header ?? {},
    });
    const report = header ? this.engine.measurementReport(studyInstanceUid, context(1, SERIES_DESCRIPTION.measurements)) : undefined;
    const keyDocument = header && keyImages.length ? keyObjectSelection(keyImages, context(report ? 2 : 1, SERIES_DESCRIPTION.keyImages)) : undefined;
    const documents = [report, keyDocument].flatMap((document) => (document ? [document] : []));
    if (documents.length === 0) return setSave({ status: 'nothing' });
    setSave({ status: 'saving' });
    try {
      await this.client.store(studyInstanceUid, documents.map((document) => document.part10));
      const series = await this.seriesListing(studyInstanceUid, documents.map((document) => document.seriesInstanceUid));
      this.store.update((current) => {
        const open = current.reading.studies[studyInstanceUid];
        const studies = open?.status === 'ready' ? { ...current.reading.studies, [studyInstanceUid]: { status: 'ready' as const, value: { ...open.value, series } } } : current.reading.studies;
        return { ...current, reading: { ...current.reading, studies, save: { status: 'saved' } } };
      });
    } catch (error) {
      setSave(failed(error));
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

/**
 * The saved series' descriptions, in both languages: they are stored in the study for every viewer
 * and PACS that lists it, whatever language its reader uses.
 */
const SERIES_DESCRIPTION = { measurements: '测量 Measurements', keyImages: '关键图像 Key images' };
/** How often, and how many times, the series are listed again after a save until the new ones show. */
const LISTING_INTERVAL_MS = 250;
const LISTING_ATTEMPTS = 20;

/** Viewport ids follow grid cells, so a cell keeps its Cornerstone viewport across layout changes. */
export function viewportIdOf(cell: number): string {
  return `viewport-${cell}`;
}

function ref(series: SeriesSummary): SeriesRef {
  return { studyInstanceUid: series.studyInstanceUid, seriesInstanceUid: series.seriesInstanceUid };
}
