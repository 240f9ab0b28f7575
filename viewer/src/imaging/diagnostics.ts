/**
 * Timings and render counts on `window.__yingyun`, read by `npm run bench:viewer` and the
 * end-to-end tests (what is on screen is asserted from pixels and text; how fast it got there
 * from these). Times are milliseconds since navigation start (performance.now()).
 */
export interface ViewportDiagnostics {
  total: number;
  loaded: number;
  stackStartedAt: number;
  firstImageAt: number | undefined;
  fullyLoadedAt: number | undefined;
  renderedFrames: number;
}

export interface Diagnostics {
  renderer: 'cpu' | 'gpu' | undefined;
  viewports: Record<string, ViewportDiagnostics>;
}

const state: Diagnostics = { renderer: undefined, viewports: {} };
(globalThis as { __yingyun?: Diagnostics }).__yingyun = state;

export const diagnostics = {
  renderer(cpu: boolean): void {
    state.renderer = cpu ? 'cpu' : 'gpu';
  },
  stackStarted(viewportId: string, total: number): void {
    state.viewports[viewportId] = { total, loaded: 0, stackStartedAt: performance.now(), firstImageAt: undefined, fullyLoadedAt: undefined, renderedFrames: 0 };
  },
  firstImage(viewportId: string): void {
    const entry = state.viewports[viewportId];
    if (entry && entry.firstImageAt === undefined) entry.firstImageAt = performance.now();
  },
  /** A viewport taken off screen: its figures no longer describe anything shown. */
  forget(viewportId: string): void {
    delete state.viewports[viewportId];
  },
  loaded(viewportId: string, loaded: number): void {
    const entry = state.viewports[viewportId];
    if (!entry) return;
    entry.loaded = loaded;
    if (loaded >= entry.total && entry.fullyLoadedAt === undefined) entry.fullyLoadedAt = performance.now();
  },
  rendered(viewportId: string): void {
    const entry = state.viewports[viewportId];
    if (entry) entry.renderedFrames++;
  },
};
