import './styles.css';
import { DicomWebClient } from './dicomweb/client.ts';
import { chooseLocale, LOCALE_STORAGE_KEY } from './i18n/i18n.ts';
import { ImagingEngine, startImaging } from './imaging/engine.ts';
import { parseRoute, rendererFlag } from './logic/route.ts';
import { emptyList, emptyReading, type AppState } from './state/app-state.ts';
import { Controller } from './state/controller.ts';
import { createStore } from './state/store.ts';
import { AppView } from './ui/app-view.ts';

const { cpu } = startImaging(rendererFlag(location.search));
const client = new DicomWebClient();
const store = createStore<AppState>({
  locale: chooseLocale(localStorage.getItem(LOCALE_STORAGE_KEY), navigator.languages ?? [navigator.language]),
  route: parseRoute(location.pathname, location.search),
  cpuRendering: cpu,
  helpOpen: false,
  list: emptyList(),
  reading: emptyReading(),
});

// The engine reports to the viewport grid, which exists only once the view is built: forward through it.
let view: AppView | undefined;
const engine = new ImagingEngine({
  viewChanged: (viewportId, report) => view?.reading.grid.viewChanged(viewportId, report),
  loadProgress: (viewportId, loaded, total) => view?.reading.grid.loadProgress(viewportId, loaded, total),
  imageFailed: (viewportId, index, reason) => view?.reading.grid.imageFailed(viewportId, index, reason),
});
const controller = new Controller(
  store,
  client,
  engine,
  { push: (url) => history.pushState(null, '', url) },
  localStorage,
);
view = new AppView(controller, (study, series) => client.seriesThumbnailUrl(study, series));
document.getElementById('app')!.replaceChildren(view.element);
store.subscribe((state) => view?.render(state));
view.render(store.get());
addEventListener('popstate', () => void controller.followLocation(location.pathname, location.search));
void controller.followLocation(location.pathname, location.search);
