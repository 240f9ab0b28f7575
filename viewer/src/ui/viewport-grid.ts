import { formatDicomDate } from '../dicom/dataset.ts';
import { studyLabel } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { ImagingEngine, ViewportReport } from '../imaging/engine.ts';
import type { SeriesStack } from '../imaging/series-stack.ts';
import { cellCount, gridShape, type SeriesRef } from '../logic/layout.ts';
import { overlayText } from '../logic/overlay.ts';
import { seriesKey, type AppState } from '../state/app-state.ts';
import { viewportIdOf, type Controller } from '../state/controller.ts';
import { h, replaceChildren } from './dom.ts';
import { hrMarkLine, hrMarkShownOf } from './hr-mark-badge.ts';
import { problemText } from './problem-text.ts';

const PROGRESS_INTERVAL_MS = 250;

/** MIME type of a dragged series card. */
export const SERIES_DRAG_TYPE = 'application/x-yingyun-series';

interface Cell {
  root: HTMLElement;
  element: HTMLDivElement;
  label: HTMLElement;
  corners: Record<'topLeft' | 'topRight' | 'bottomLeft' | 'bottomRight', HTMLElement>;
  status: HTMLElement;
  progress: HTMLElement;
  notice: HTMLElement;
  /** seriesKey of what the viewport shows (or is being given), '' when empty. */
  showing: string;
  stack: SeriesStack | undefined;
  report: ViewportReport | undefined;
  loaded: number;
  total: number;
  progressTimer: number | undefined;
  /** Images that could not be fetched or decoded, by stack index, with what the loader said. */
  failures: Map<number, unknown>;
}

/**
 * The viewports: one Cornerstone stack viewport per cell, with the corner overlays, a label saying
 * whose study it is (institution and date, for comparing with priors), progress while the series
 * loads and the reason when it cannot be shown. Cells take series dropped from the series panel.
 */
export class ViewportGrid {
  readonly element = h('div', { class: 'viewport-grid' });
  private readonly cells: Cell[] = [];
  private state: AppState | undefined;
  private t: Translate = (key) => key;

  constructor(
    private readonly controller: Controller,
    private readonly engine: ImagingEngine,
  ) {
    new ResizeObserver(() => this.engine.resize()).observe(this.element);
  }

  render(state: AppState, t: Translate): void {
    this.state = state;
    this.t = t;
    const { layout, stacks, studies } = state.reading;
    const count = cellCount(layout.layout);
    const { rows, columns } = gridShape(layout.layout);
    this.element.style.gridTemplateRows = `repeat(${rows}, minmax(0, 1fr))`;
    this.element.style.gridTemplateColumns = `repeat(${columns}, minmax(0, 1fr))`;
    while (this.cells.length > count) {
      const cell = this.cells.pop()!;
      this.engine.disable(viewportIdOf(this.cells.length));
      cell.root.remove();
    }
    while (this.cells.length < count) this.addCell(this.cells.length);
    this.engine.resize();

    layout.cells.forEach((ref, index) => {
      const cell = this.cells[index]!;
      cell.root.classList.toggle('active', index === layout.active);
      const key = ref ? seriesKey(ref) : '';
      const stack = ref ? stacks[key] : undefined;
      const study = ref ? studies[ref.studyInstanceUid] : undefined;
      cell.label.textContent = study?.status === 'ready' ? studyLabel(study.value.summary, formatDicomDate) : '';
      cell.root.classList.toggle('compare', layout.cells.filter(Boolean).some((other) => other && ref && other.studyInstanceUid !== ref.studyInstanceUid));
      if (stack?.status === 'ready' && cell.showing !== key) {
        cell.showing = key;
        cell.stack = stack.value;
        cell.report = undefined;
        cell.loaded = 0;
        cell.failures = new Map();
        const viewportId = viewportIdOf(index);
        // The first image failing rejects; the engine's failure report has already said why.
        this.engine.show(viewportId, stack.value).catch(() => undefined);
      }
      this.renderStatus(cell, ref, stack);
    });
  }

  /** Engine reports (slice, window, zoom) go straight to the overlay: they change at scrolling speed. */
  viewChanged(viewportId: string, report: ViewportReport): void {
    const cell = this.cellOf(viewportId);
    if (!cell) return;
    cell.report = report;
    this.renderOverlay(cell);
  }

  /**
   * Progress arrives once per image; the bar is redrawn at most a few times a second, since each
   * redraw over the canvas costs the browser a layout and a paint that loading needs more.
   */
  loadProgress(viewportId: string, loaded: number, total: number): void {
    const cell = this.cellOf(viewportId);
    if (!cell) return;
    cell.loaded = loaded;
    cell.total = total;
    if (loaded >= total) this.drawProgress(cell);
    else cell.progressTimer ??= window.setTimeout(() => this.drawProgress(cell), PROGRESS_INTERVAL_MS);
  }

  private drawProgress(cell: Cell): void {
    window.clearTimeout(cell.progressTimer);
    cell.progressTimer = undefined;
    cell.progress.hidden = cell.loaded >= cell.total;
    cell.progress.textContent = this.t('viewport.loading', { loaded: cell.loaded, total: cell.total });
    cell.progress.style.setProperty('--done', `${(100 * cell.loaded) / Math.max(1, cell.total)}%`);
  }

  imageFailed(viewportId: string, index: number, error: unknown): void {
    const cell = this.cellOf(viewportId);
    if (!cell) return;
    cell.failures.set(index, error);
    this.renderNotice(cell);
  }

  private cellOf(viewportId: string): Cell | undefined {
    return this.cells[Number(viewportId.replace('viewport-', ''))];
  }

  private addCell(index: number): void {
    const element = h('div', { class: 'viewport-canvas-host', 'data-viewport': viewportIdOf(index) }) as HTMLDivElement;
    // Right-drag zooms; the browser's menu would interrupt it.
    element.addEventListener('contextmenu', (event) => event.preventDefault());
    const corner = (name: string) => h('div', { class: `corner ${name}` });
    const corners = { topLeft: corner('top-left'), topRight: corner('top-right'), bottomLeft: corner('bottom-left'), bottomRight: corner('bottom-right') };
    const cell: Cell = {
      root: h('div', { class: 'viewport', 'data-cell': index }),
      element,
      label: h('div', { class: 'study-label' }),
      corners,
      status: h('div', { class: 'viewport-status' }),
      progress: h('div', { class: 'viewport-progress', hidden: true, role: 'status' }),
      notice: h('div', { class: 'viewport-notice', hidden: true, role: 'alert' }),
      showing: '',
      stack: undefined,
      report: undefined,
      loaded: 0,
      total: 0,
      progressTimer: undefined,
      failures: new Map(),
    };
    cell.root.append(element, cell.label, ...Object.values(corners), cell.status, cell.progress, cell.notice);
    cell.root.addEventListener('pointerdown', () => this.controller.activateCell(index), { capture: true });
    cell.root.addEventListener('dragover', (event) => {
      if (!event.dataTransfer?.types.includes(SERIES_DRAG_TYPE)) return;
      event.preventDefault();
      cell.root.classList.add('drop-target');
    });
    cell.root.addEventListener('dragleave', () => cell.root.classList.remove('drop-target'));
    cell.root.addEventListener('drop', (event) => {
      cell.root.classList.remove('drop-target');
      const data = event.dataTransfer?.getData(SERIES_DRAG_TYPE);
      if (!data) return;
      event.preventDefault();
      this.controller.showSeries(index, JSON.parse(data) as SeriesRef);
    });
    this.element.append(cell.root);
    this.cells.push(cell);
    this.engine.enable(viewportIdOf(index), element);
  }

  private renderStatus(cell: Cell, ref: SeriesRef | null, stack: AppState['reading']['stacks'][string] | undefined): void {
    const t = this.t;
    let message = '';
    let kind = '';
    if (!ref) [message, kind] = [t('viewport.empty'), 'empty'];
    else if (!stack || stack.status === 'loading') [message, kind] = [t('viewport.metadataLoading'), 'loading'];
    else if (stack.status === 'error') [message, kind] = [t('viewport.error', { reason: problemText(stack.problem, t) }), 'error'];
    cell.status.textContent = message;
    cell.status.className = `viewport-status ${kind}`;
    cell.status.hidden = message === '';
    if (kind === 'empty' || kind === 'error') {
      cell.showing = '';
      cell.stack = undefined;
      for (const corner of Object.values(cell.corners)) corner.replaceChildren();
    }
    this.renderOverlay(cell);
  }

  private renderOverlay(cell: Cell): void {
    this.renderNotice(cell);
    if (!cell.stack || !cell.report || !this.state) return;
    const frame = cell.stack.frames[cell.report.imageIndex];
    if (!frame) return;
    const frames = cell.stack.frames.filter((other) => other.sopInstanceUid === frame.sopInstanceUid).length;
    const text = overlayText(
      frame.instance,
      { index: cell.report.imageIndex, total: cell.report.total, frameNumber: frame.frameNumber, frames, window: cell.report.window, zoomPercent: cell.report.zoomPercent, calibrated: cell.report.calibrated },
      this.state.locale,
      this.t,
    );
    for (const [corner, lines] of Object.entries(text) as [keyof Cell['corners'], string[]][]) {
      replaceChildren(cell.corners[corner], lines.map((line) => h('div', {}, line)));
    }
    const isKey = this.state.reading.keyImages.some((image) => image.sopInstanceUid === frame.sopInstanceUid && (image.frameNumber ?? frame.frameNumber) === frame.frameNumber);
    if (isKey) cell.corners.topRight.prepend(h('div', { class: 'key-image-mark' }, `★ ${this.t('viewport.keyImage')}`));
    // The study's HR mark closes its block (institution, date, description): the mark belongs to the images.
    const study = this.state.reading.studies[cell.showing.split('/')[0] ?? ''];
    const mark = study?.status === 'ready' ? hrMarkShownOf(study.value.summary.hr, this.state.locale) : null;
    if (mark) cell.corners.topRight.append(h('div', { class: mark.text ? 'hr-mark-line' : 'hr-mark-line absent', 'data-hr-mark': mark.text ?? 'none' }, hrMarkLine(mark, this.t)));
  }

  /**
   * Says why the image on screen is not what was asked for: the image at the current position
   * failed, or (before any image could be drawn) the first one did — never a silently blank viewport.
   */
  private renderNotice(cell: Cell): void {
    const index = cell.report?.imageIndex ?? cell.stack?.initialIndex ?? 0;
    const failed = cell.failures.has(index) || (!cell.report && cell.failures.size > 0);
    cell.notice.hidden = !failed;
    if (failed) {
      const error = cell.failures.get(index) ?? cell.failures.values().next().value;
      cell.notice.textContent = this.t('viewport.decodeError', { index: index + 1, reason: imageErrorText(error, this.t) });
    }
  }
}

/**
 * Why an image could not be shown, in words: the archive's HTTP answer, or the decoder's complaint
 * (the WASM codecs throw a bare error number, which at least tells a support engineer which one).
 */
function imageErrorText(error: unknown, t: Translate): string {
  if (typeof error === 'number') return t('error.decode', { detail: t('error.codec', { code: error }) });
  if (error && typeof error === 'object') {
    const { status, statusText, message } = error as { status?: number; statusText?: string; message?: string };
    if (status) return t('error.http', { status, detail: statusText ?? '' });
    if (message) return t('error.decode', { detail: message });
  }
  return t('error.decode', { detail: String(error) });
}
