import './styles.css';
import { config as zodConfig } from 'zod';
import { AdminClient } from './api/admin-client.ts';
import { AuthClient } from './api/auth-client.ts';
import { ConsultationClient } from './api/consultation-client.ts';
import { CriticalClient } from './api/critical-client.ts';
import { RecognitionClient } from './api/recognition-client.ts';
import { Connection } from './api/http.ts';
import { PersonClient } from './api/person-client.ts';
import { QcWorklistClient } from './api/qc-worklist-client.ts';
import { QualityClient } from './api/quality-client.ts';
import { ReportClient } from './api/report-client.ts';
import { ShareLinkClient } from './api/share-link-client.ts';
import { ReadingClient } from './api/reading-client.ts';
import { DicomWebClient } from './dicomweb/client.ts';
import { chooseLocale, LOCALE_STORAGE_KEY, translator } from './i18n/i18n.ts';
import { ImagingEngine, startImaging } from './imaging/engine.ts';
import { parseRoute, rendererFlag } from './logic/route.ts';
import { imageRequestHeaders } from './logic/session.ts';
import { AdminController } from './state/admin-controller.ts';
import { emptyAdmin, emptyList, emptyReading, seesPersons, signedInUserOf, type AppState } from './state/app-state.ts';
import { ConsultationController } from './state/consultation-controller.ts';
import { CriticalController } from './state/critical-controller.ts';
import { RecognitionController } from './state/recognition-controller.ts';
import { Controller } from './state/controller.ts';
import { PersonController } from './state/person-controller.ts';
import { QcFlagController } from './state/qc-flag-controller.ts';
import { SendController } from './state/send-controller.ts';
import { QcWorklistController } from './state/qc-worklist-controller.ts';
import { QualityController } from './state/quality-controller.ts';
import { ReportController } from './state/report-controller.ts';
import { RequestController } from './state/request-controller.ts';
import { ShareController } from './state/share-controller.ts';
import { WorklistController } from './state/worklist-controller.ts';
import { createStore } from './state/store.ts';
import { StatisticsClient } from './api/statistics-client.ts';
import { StatisticsController } from './state/statistics-controller.ts';
import { AppView } from './ui/app-view.ts';
import { h } from './ui/dom.ts';
import { ConsultationPanel } from './ui/consultation-panel.ts';
import { CriticalPanel } from './ui/critical-panel.ts';
import { RecognitionPanel } from './ui/recognition-panel.ts';
import { PersonView } from './ui/person-view.ts';
import { QcFlagDialog } from './ui/qc-flag-dialog.ts';
import { SendDialog } from './ui/send-dialog.ts';
import { QcWorklistView } from './ui/qc-worklist-view.ts';
import { StatisticsView } from './ui/statistics-view.ts';
import { QualityPanel } from './ui/quality-panel.ts';
import { ReportPanel } from './ui/report-panel.ts';
import { RequestDialog } from './ui/request-dialog.ts';
import { SharePanel } from './ui/share-panel.ts';
import { WorklistView } from './ui/worklist-view.ts';

// The wire schemas shared with the server (zod) would otherwise probe `new Function` once, which the
// gateway's Content-Security-Policy (no 'unsafe-eval') reports as a violation.
zodConfig({ jitless: true });

// Requests and the image loader report a lost session to the controller, which exists only once
// everything it uses does: they reach it through this.
let controller: Controller | undefined;
const sessionLost = () => controller?.sessionLost();

const { cpu } = startImaging(rendererFlag(location.search), {
  headers: () => imageRequestHeaders(store.get().purpose.text),
  unauthorized: sessionLost,
});
const store = createStore<AppState>({
  locale: chooseLocale(localStorage.getItem(LOCALE_STORAGE_KEY), navigator.languages ?? [navigator.language]),
  route: parseRoute(location.pathname, location.search),
  cpuRendering: cpu,
  helpOpen: false,
  session: { status: 'checking' },
  purpose: { text: undefined, dialogOpen: false },
  list: emptyList(),
  reading: emptyReading(),
  admin: emptyAdmin(),
});
const connection = new Connection({
  cookies: () => document.cookie,
  locale: () => store.get().locale,
  purpose: () => store.get().purpose.text,
  unauthorized: sessionLost,
});
const client = new DicomWebClient(connection);
const reportClient = new ReportClient(connection);
const personClient = new PersonClient(connection);
const qualityClient = new QualityClient(connection);

// The engine reports to the viewport grid, which exists only once the view is built: forward through it.
let view: AppView | undefined;
let consultations: ConsultationController | undefined;
const engine = new ImagingEngine({
  viewChanged: (viewportId, report) => {
    view?.reading.grid.viewChanged(viewportId, report);
    consultations?.viewChanged();
  },
  loadProgress: (viewportId, loaded, total) => view?.reading.grid.loadProgress(viewportId, loaded, total),
  imageFailed: (viewportId, index, reason) => view?.reading.grid.imageFailed(viewportId, index, reason),
});
controller = new Controller(
  store,
  client,
  new AuthClient(connection),
  new AdminController(store, new AdminClient(connection), personClient, qualityClient),
  engine,
  {
    push: (url) => history.pushState(null, '', url),
    replace: (url) => history.replaceState(null, '', url),
    reload: (url) => (url ? location.assign(url) : location.reload()),
  },
  localStorage,
  sessionStorage,
  reportClient,
);
view = new AppView(controller, (study, series) => client.seriesThumbnail(study, series));
document.getElementById('app')!.replaceChildren(view.element);
store.subscribe((state) => view?.render(state));
view.render(store.get());
// Live consultation sits beside every screen (its own state: the session outlives a change of page).
consultations = new ConsultationController(new ConsultationClient(connection), store, controller, engine);
const consultationPanel = new ConsultationPanel(consultations, view.reading.grid.element);
view.headerTools.append(consultationPanel.toggle);
view.element.append(consultationPanel.element);
const renderConsultation = () => consultationPanel.render(store.get(), consultations!.store.get(), translator(store.get().locale));
store.subscribe(renderConsultation);
consultations.store.subscribe(renderConsultation);
renderConsultation();
// The report editor beside the images of the study the reading screen opened.
const reports = new ReportController(reportClient, store);
const reportPanel = new ReportPanel(reports);
view.reading.besideImages(reportPanel.element);
// QC staff see the images with the patient masked, and no report: the grading panel stands there instead.
const renderReport = () => reportPanel.render(reports.store.get(), translator(store.get().locale), store.get().route.page === 'viewer' && !signedInUserOf(store.get())?.maskIdentity);
store.subscribe(renderReport);
reports.store.subscribe(renderReport);
renderReport();
// Image QC grading (质控评级) beside the images, for QC staff.
const quality = new QualityController(qualityClient, store);
const qualityPanel = new QualityPanel(quality);
view.reading.besideImages(qualityPanel.element);
const renderQuality = () => qualityPanel.render(store.get(), quality.store.get(), translator(store.get().locale));
store.subscribe(renderQuality);
quality.store.subscribe(renderQuality);
renderQuality();
// The person page (患者全部检查): a person's studies at every hospital on a timeline, by ID number or from a study's row.
const persons = new PersonController(personClient, store, controller);
const personView = new PersonView(persons, controller);
view.element.append(personView.element);
view.studyList.addRowAction((study, app, t) =>
  seesPersons(app) ? h('button', { type: 'button', 'data-action': 'person-studies', onclick: () => void persons.openForStudy(study.studyInstanceUid) }, t('person.rowAction')) : null,
);
const renderPerson = () => personView.render(store.get(), persons.store.get(), translator(store.get().locale));
store.subscribe(renderPerson);
persons.store.subscribe(renderPerson);
renderPerson();
// Share links of the open study (云胶片 for the patient, shares with other institutions' doctors).
const shares = new ShareController(new ShareLinkClient(connection), store);
const sharePanel = new SharePanel(shares);
view.headerTools.append(sharePanel.toggle);
view.element.append(sharePanel.element);
const renderShare = () => sharePanel.render(store.get(), shares.store.get(), translator(store.get().locale));
store.subscribe(renderShare);
shares.store.subscribe(renderShare);
renderShare();
// The reading worklist (its own state): entered when the route goes there, left when it goes away.
const readingClient = new ReadingClient(connection, () => location.href);
const worklist = new WorklistController(readingClient, (studyInstanceUid) => void controller?.openStudy(studyInstanceUid));
const worklistView = new WorklistView(worklist);
view.element.append(worklistView.element);
const renderWorklist = () => {
  const state = store.get();
  const user = signedInUserOf(state);
  worklistView.element.hidden = !user || state.route.page !== 'worklist';
  if (!user || state.route.page !== 'worklist') return worklist.leave();
  void worklist.enter(user.username);
  worklistView.render(worklist.store.get(), translator(state.locale), user.username);
};
store.subscribe(renderWorklist);
worklist.store.subscribe(renderWorklist);
renderWorklist();
// A hospital's request for remote reading (远程诊断申请): on each row of the study list, and in the header of the reading screen.
const requests = new RequestController(readingClient, () => controller!.showWorklist());
const requestDialog = new RequestDialog(requests);
view.studyList.addRowAction(requestDialog.rowAction);
view.headerTools.append(requestDialog.toggle);
view.element.append(requestDialog.element);
const renderRequest = () => requestDialog.render(store.get(), requests.store.get(), translator(store.get().locale));
store.subscribe(renderRequest);
requests.store.subscribe(renderRequest);
renderRequest();
// Recognition (互认): a decision on another institution's study opened with a purpose, and the feedback to the study's own institution.
const recognition = new RecognitionController(new RecognitionClient(connection), store);
const recognitionPanel = new RecognitionPanel(recognition);
view.headerTools.append(recognitionPanel.toggle);
view.element.append(recognitionPanel.element);
const renderRecognition = () => recognitionPanel.render(store.get(), recognition.store.get(), translator(store.get().locale));
store.subscribe(renderRecognition);
recognition.store.subscribe(renderRecognition);
renderRecognition();
// Critical findings (危急值) beside every screen, polled while someone who reads images is signed in.
const critical = new CriticalController(new CriticalClient(connection));
const criticalPanel = new CriticalPanel(critical);
view.headerTools.append(criticalPanel.toggle);
view.element.append(criticalPanel.element);
const renderCritical = () => {
  const state = store.get();
  if (signedInUserOf(state)?.permissions.includes('read-images')) critical.follow();
  else critical.stop();
  criticalPanel.render(state, critical.store.get(), translator(state.locale));
};
store.subscribe(renderCritical);
critical.store.subscribe(renderCritical);
renderCritical();
// The QC work list (质控工作列表, its own state): entered when the route goes there; a row opens its study beside the grading panel.
const qcWorklistClient = new QcWorklistClient(connection);
const qcWorklist = new QcWorklistController(qcWorklistClient, (studyInstanceUid) => void controller?.openStudy(studyInstanceUid));
const qcWorklistView = new QcWorklistView(qcWorklist);
view.element.append(qcWorklistView.element);
const renderQcWorklist = () => {
  const state = store.get();
  const shown = !!signedInUserOf(state) && state.route.page === 'qc';
  qcWorklistView.element.hidden = !shown;
  if (!shown) return qcWorklist.leave();
  void qcWorklist.enter();
  qcWorklistView.render(qcWorklist.store.get(), translator(state.locale), state.locale);
};
store.subscribe(renderQcWorklist);
qcWorklist.store.subscribe(renderQcWorklist);
renderQcWorklist();
// 申请质控: a clinician's flag that puts a study on the QC work list, on each row of the study list.
const qcFlags = new QcFlagController(qcWorklistClient);
const qcFlagDialog = new QcFlagDialog(qcFlags);
view.studyList.addRowAction(qcFlagDialog.rowAction);
view.element.append(qcFlagDialog.element);
const renderQcFlag = () => qcFlagDialog.render(qcFlags.store.get(), translator(store.get().locale));
qcFlags.store.subscribe(renderQcFlag);
renderQcFlag();
// 发送: an administrator sends a study or series to a registered node, with its progress (docs/routing.md).
const sends = new SendController(new AdminClient(connection));
const sendDialog = new SendDialog(sends);
view.studyList.addRowAction(sendDialog.rowAction);
view.element.append(sendDialog.element);
const renderSend = () => sendDialog.render(sends.store.get(), translator(store.get().locale));
sends.store.subscribe(renderSend);
renderSend();
// The statistics dashboard (统计看板, its own state): entered when the route goes there; a study in a drill-down opens in the viewer.
const statistics = new StatisticsController(new StatisticsClient(connection), (studyInstanceUid) => void controller?.openStudy(studyInstanceUid));
const statisticsView = new StatisticsView(statistics);
view.element.append(statisticsView.element);
const renderStatistics = () => {
  const state = store.get();
  const shown = !!signedInUserOf(state) && state.route.page === 'statistics';
  statisticsView.element.hidden = !shown;
  if (!shown) return statistics.leave();
  void statistics.enter();
  statisticsView.render(statistics.store.get(), translator(state.locale));
};
store.subscribe(renderStatistics);
statistics.store.subscribe(renderStatistics);
renderStatistics();
addEventListener('popstate', () => void controller?.followLocation(location.pathname, location.search));
void controller.start();
