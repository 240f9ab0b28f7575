import { formatDicomDate, numbers, text, texts } from '../dicom/dataset.ts';
import { patientDisplayName, seriesKind, studyLabel, type PriorStudy, type SeriesSummary, type StudySummary } from '../dicomweb/models.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale, MessageKey } from '../i18n/messages.ts';
import { PRIMARY_TOOLS } from '../imaging/engine.ts';
import { LAYOUTS, sameSeries } from '../logic/layout.ts';
import { actionForKey, type ShortcutAction } from '../logic/shortcuts.ts';
import { presetsFor, type VoiPreset } from '../logic/voi-presets.ts';
import { seriesKey, type AppState, type OpenStudy, type SaveOutcome } from '../state/app-state.ts';
import type { Controller } from '../state/controller.ts';
import { h, replaceChildren } from './dom.ts';
import { hrMarkBadge } from './hr-mark-badge.ts';
import { problemText } from './problem-text.ts';
import { purposeNotice } from './purpose-dialog.ts';
import { reportStatusBadge } from './report-badge.ts';
import { thumbnailImage, type ThumbnailSource } from './thumbnail.ts';
import { SERIES_DRAG_TYPE, ViewportGrid } from './viewport-grid.ts';

/** Images moved by PageUp/PageDown. */
const PAGE_STEP = 10;

/**
 * The reading screen: toolbar, the series of the open studies and the priors panel on the left,
 * the viewport grid on the right. Keyboard shortcuts act on the selected viewport.
 */
export class ReadingView {
  readonly element = h('section', { class: 'reading' });
  readonly grid: ViewportGrid;
  private readonly toolbar = h('div', { class: 'toolbar', role: 'toolbar' });
  private readonly sidebar = h('aside', { class: 'sidebar' });
  private readonly body = h('div', { class: 'reading-body' });
  private readonly message = h('div', { class: 'reading-message', hidden: true });
  private state: AppState | undefined;
  private presets: VoiPreset[] = [];
  /** The parts of the state the sidebar was last built from. */
  private sidebarShows: readonly unknown[] | undefined;

  constructor(
    private readonly controller: Controller,
    private readonly thumbnails: ThumbnailSource,
  ) {
    this.grid = new ViewportGrid(controller, controller.engine);
    const main = h('div', { class: 'reading-main' }, this.message, this.grid.element);
    this.element.append(this.toolbar, this.body);
    this.body.append(this.sidebar, main);
    document.addEventListener('keydown', (event) => this.onKey(event));
  }

  /** A panel shown to the right of the images (the report editor). */
  besideImages(panel: HTMLElement): void {
    this.body.append(panel);
  }

  render(state: AppState, t: Translate): void {
    this.state = state;
    const route = state.route;
    if (route.page !== 'viewer') return;
    const primary = route.studyInstanceUids[0];
    const primaryStudy = primary ? state.reading.studies[primary] : undefined;
    let message = '';
    if (!primary) message = t('viewer.noStudyInLink');
    else if (primaryStudy?.status === 'error') message = t('viewer.studyError', { uid: primary, reason: problemText(primaryStudy.problem, t) });
    else if (!primaryStudy || primaryStudy.status === 'loading') message = t('viewer.loadingStudy');
    this.message.textContent = message;
    this.message.hidden = message === '';
    this.message.className = primaryStudy?.status === 'error' || !primary ? 'reading-message error' : 'reading-message';
    this.message.setAttribute('role', primaryStudy?.status === 'error' || !primary ? 'alert' : 'status');
    this.renderToolbar(state, t);
    this.renderSidebar(state, t);
    this.grid.render(state, t);
  }

  private renderToolbar(state: AppState, t: Translate): void {
    const { reading } = state;
    const engine = this.controller.engine;
    const viewportId = this.controller.activeViewportId();
    this.presets = this.activePresets(state);
    const button = (label: string, onclick: () => void, options: { pressed?: boolean; title?: string; name?: string } = {}) =>
      h(
        'button',
        { type: 'button', title: options.title ?? label, 'aria-pressed': options.pressed === undefined ? undefined : String(options.pressed), 'data-action': options.name, onclick },
        label,
      );
    const group = (label: MessageKey, ...children: HTMLElement[]) => h('div', { class: 'tool-group', role: 'group', 'aria-label': t(label) }, children);
    const presetSelect = h(
      'select',
      {
        'aria-label': t('viewer.presets'),
        'data-action': 'presets',
        onchange: (event: Event) => {
          const select = event.target as HTMLSelectElement;
          const preset = this.presets[Number(select.value)];
          if (preset) engine.applyWindow(viewportId, preset);
          select.value = '';
        },
      },
      h('option', { value: '' }, t('viewer.presetsDefault')),
      this.presets.map((preset, index) => h('option', { value: index }, `${index < 9 ? `${index + 1} ` : ''}${presetLabel(preset, t)} (${preset.width}/${preset.center})`)),
    );
    const fps = h('input', {
      type: 'number',
      min: 1,
      max: 60,
      value: reading.cineFps,
      'aria-label': t('viewer.fps'),
      'data-action': 'fps',
      onchange: (event: Event) => {
        const value = Number((event.target as HTMLInputElement).value);
        if (value >= 1 && value <= 60) this.controller.setCineFps(value);
      },
    });
    replaceChildren(
      this.toolbar,
      h('button', { type: 'button', class: 'back', onclick: () => void this.controller.showStudyList() }, `← ${t('viewer.back')}`),
      group('viewer.layout', ...LAYOUTS.map((layout) => button(layout.replace('x', '×'), () => this.controller.setLayout(layout), { pressed: reading.layout.layout === layout, title: t(`layout.${layout}`), name: `layout-${layout}` }))),
      group('viewer.tools', ...PRIMARY_TOOLS.map((tool) => button(t(`tool.${tool}`), () => this.controller.setTool(tool), { pressed: reading.tool === tool, name: `tool-${tool}` }))),
      group(
        'viewer.tools',
        button('⟳', () => engine.rotate(viewportId), { title: t('action.rotate'), name: 'rotate' }),
        button('⇋', () => engine.flip(viewportId, 'horizontal'), { title: t('action.flipHorizontal'), name: 'flip-horizontal' }),
        button('⇵', () => engine.flip(viewportId, 'vertical'), { title: t('action.flipVertical'), name: 'flip-vertical' }),
        button('◐', () => engine.invert(viewportId), { title: t('action.invert'), name: 'invert' }),
        button('↺', () => engine.reset(viewportId), { title: t('action.reset'), name: 'reset' }),
        button('✕', () => engine.deleteMeasurements(viewportId), { title: t('action.deleteMeasurements'), name: 'delete-measurements' }),
        button(t('action.calibrate'), () => void this.calibrate(t), { title: t('action.calibrateTitle'), name: 'calibrate' }),
      ),
      group('viewer.presets', presetSelect),
      group('action.cine', button(engine.isCinePlaying(viewportId) ? '⏸' : '▶', () => this.controller.toggleCine(), { title: t('action.cine'), name: 'cine', pressed: engine.isCinePlaying(viewportId) }), fps, h('span', {}, t('viewer.fps'))),
      button(t('viewer.link'), () => this.controller.setLinked(!reading.linked), { pressed: reading.linked, title: t('viewer.linkTitle'), name: 'link' }),
      group(
        'viewer.measurements',
        button(`★ ${t('action.keyImage')}`, () => this.controller.toggleKeyImage(), { title: t('action.keyImageTitle'), name: 'key-image' }),
        button(t('action.saveMeasurements'), () => void this.controller.saveMeasurements(), { title: t('action.saveMeasurementsTitle'), name: 'save-measurements' }),
        h('span', { class: `save-status ${reading.save?.status ?? ''}`, role: 'status', 'data-save': reading.save?.status ?? '' }, saveText(reading.save, t)),
      ),
    );
  }

  /** Window presets for the selected viewport's series: its images' own windows, then the CT conventions. */
  private activePresets(state: AppState): VoiPreset[] {
    const ref = state.reading.layout.cells[state.reading.layout.active];
    const stack = ref ? state.reading.stacks[seriesKey(ref)] : undefined;
    const first = stack?.status === 'ready' ? stack.value.frames[0]?.instance : undefined;
    if (!first || !text(first, 'PhotometricInterpretation').startsWith('MONOCHROME')) return [];
    return presetsFor(text(first, 'Modality'), {
      centers: numbers(first, 'WindowCenter'),
      widths: numbers(first, 'WindowWidth'),
      explanations: texts(first, 'WindowCenterWidthExplanation'),
    });
  }

  private async calibrate(t: Translate): Promise<void> {
    const answer = window.prompt(t('action.calibratePrompt'));
    if (answer === null) return;
    const length = Number(answer.replace(',', '.'));
    if (!(await this.controller.engine.calibrateFromLastLength(this.controller.activeViewportId(), length))) window.alert(t('action.calibrateNeedsLine'));
  }

  private renderSidebar(state: AppState, t: Translate): void {
    const { reading } = state;
    const route = state.route;
    if (route.page !== 'viewer') return;
    // Rebuilt only when what it shows has changed: replacing a button between a press and its release
    // loses the click, and the state changes many times a second while images load and scroll.
    const shows = [state.locale, route, state.session, state.purpose, reading.studies, reading.layout, reading.keyImages, reading.priors, reading.priorReports];
    if (this.sidebarShows?.length === shows.length && shows.every((input, index) => input === this.sidebarShows![index])) return;
    this.sidebarShows = shows;
    const studies = Object.entries(reading.studies).flatMap(([, study]) => (study.status === 'ready' ? [study.value] : []));
    const primary = studies.find((study) => study.summary.studyInstanceUid === route.studyInstanceUids[0]);
    replaceChildren(
      this.sidebar,
      primary
        ? h(
            'header',
            { class: 'patient' },
            h('div', { class: 'patient-name' }, patientDisplayName(primary.summary, state.locale)),
            h('div', { class: 'patient-id' }, [primary.summary.patientId, primary.summary.patientSex && t(`sex.${primary.summary.patientSex}` as MessageKey), formatDicomDate(primary.summary.patientBirthDate)].filter(Boolean).join(' · ')),
          )
        : null,
      h('h2', {}, t('viewer.series')),
      h('p', { class: 'hint' }, t('viewer.dragHint')),
      studies.map((study) => this.seriesList(study, state, t)),
      h('h2', {}, t('viewer.priors')),
      purposeNotice(state, t, this.controller, 'priors'),
      this.priorsPanel(state, t),
    );
  }

  private seriesList(study: OpenStudy, state: AppState, t: Translate): HTMLElement {
    const { layout } = state.reading;
    const isCurrent = study.summary.studyInstanceUid === (state.route.page === 'viewer' ? state.route.studyInstanceUids[0] : '');
    return h(
      'section',
      { class: 'study-series', 'data-study': study.summary.studyInstanceUid },
      h('h3', {}, isCurrent ? `${t('viewer.current')} · ` : '', studyLabel(study.summary, formatDicomDate), ' ', h('span', { class: 'muted' }, study.summary.description)),
      h(
        'ul',
        { class: 'series-cards' },
        study.series.map((series) => {
          if (seriesKind(series) !== 'images') return this.documentCard(series, t);
          const keyImages = state.reading.keyImages.filter((image) => image.seriesInstanceUid === series.seriesInstanceUid).length;
          const ref = { studyInstanceUid: series.studyInstanceUid, seriesInstanceUid: series.seriesInstanceUid };
          const shownIn = layout.cells.findIndex((cell) => cell !== null && sameSeries(cell, ref));
          const card = h(
            'li',
            {
              class: shownIn >= 0 ? 'series-card shown' : 'series-card',
              draggable: 'true',
              tabindex: 0,
              'data-series': series.seriesInstanceUid,
              onclick: () => this.controller.showSeries(layout.active, ref),
              onkeydown: (event: Event) => (event as KeyboardEvent).key === 'Enter' && this.controller.showSeries(layout.active, ref),
              ondragstart: (event: Event) => {
                const transfer = (event as DragEvent).dataTransfer;
                transfer?.setData(SERIES_DRAG_TYPE, JSON.stringify(ref));
                if (transfer) transfer.effectAllowed = 'copy';
              },
            },
            thumbnailImage(this.thumbnails, series.studyInstanceUid, series.seriesInstanceUid, 64, false),
            h(
              'div',
              { class: 'series-text' },
              h('div', {}, `#${series.seriesNumber ?? ''} ${series.modality}`),
              h('div', { class: 'muted' }, series.description),
              h('div', { class: 'muted' }, t('viewer.seriesImages', { count: series.instanceCount ?? '' })),
              keyImages ? h('div', { class: 'key-images', 'data-key-images': keyImages }, `★ ${t('viewer.keyImagesInSeries', { count: keyImages })}`) : null,
            ),
          );
          return card;
        }),
      ),
    );
  }

  /**
   * A series that is a document of the study (a measurement or diagnostic report, key images, a PDF
   * report): listed with what it is, not offered as images to hang in a viewport.
   */
  private documentCard(series: SeriesSummary, t: Translate): HTMLElement {
    return h(
      'li',
      { class: 'series-card document', 'data-series': series.seriesInstanceUid, 'data-kind': seriesKind(series) },
      h('div', { class: 'document-icon', 'aria-hidden': 'true' }, series.modality),
      h(
        'div',
        { class: 'series-text' },
        h('div', {}, `#${series.seriesNumber ?? ''} ${t(`seriesKind.${seriesKind(series)}` as MessageKey)}`),
        h('div', { class: 'muted' }, series.description),
      ),
    );
  }

  private priorsPanel(state: AppState, t: Translate): HTMLElement {
    const priors = state.reading.priors;
    if (!priors || priors.status === 'loading') return h('p', { class: 'status loading' }, t('viewer.priorsLoading'));
    if (priors.status === 'error') return h('p', { class: 'status error' }, t('viewer.priorsError', { reason: problemText(priors.problem, t) }));
    if (priors.value.length === 0) return h('p', { class: 'status empty' }, t('viewer.priorsNone'));
    const shown = new Set(state.reading.layout.cells.flatMap((cell) => (cell ? [cell.studyInstanceUid] : [])));
    return h(
      'ul',
      { class: 'priors' },
      priors.value.map((prior: PriorStudy) =>
        h(
          'li',
          { class: shown.has(prior.studyInstanceUid) ? 'prior shown' : 'prior', 'data-study': prior.studyInstanceUid },
          h(
            'div',
            { class: 'prior-date' },
            formatDicomDate(prior.studyDate),
            ' ',
            h('span', { class: 'modality' }, prior.modalities.join(' ')),
            ' ',
            reportStatusBadge(state.reading.priorReports, prior.studyInstanceUid, t, () => void this.controller.openStudy(prior.studyInstanceUid)),
          ),
          h(
            'div',
            { class: prior.otherInstitution ? 'prior-institution other' : 'prior-institution', 'data-other-institution': prior.otherInstitution ? 'true' : undefined },
            prior.institutionName,
            // What the modality wrote, when it differs from the institution the archive registers the study to.
            prior.institution && prior.institution !== prior.institutionName ? h('span', { class: 'muted', title: t('viewer.institutionInHeader') }, ` (${prior.institution})`) : null,
            ' ',
            hrMarkBadge({ text: prior.hrMark, validUntil: prior.hrMarkValidUntil, absence: prior.hrMarkAbsence.map((label) => (state.locale === 'zh-CN' ? label.zh : label.en)) }, t),
          ),
          h('div', { class: 'muted' }, prior.description),
          h('button', { type: 'button', class: 'compare', onclick: () => void this.controller.comparePrior(prior) }, t('viewer.compare')),
        ),
      ),
    );
  }

  private onKey(event: KeyboardEvent): void {
    const state = this.state;
    if (!state || state.route.page !== 'viewer' || state.helpOpen || state.purpose.dialogOpen || state.session.status !== 'signed-in') return;
    const target = event.target as HTMLElement | null;
    if (target && ['INPUT', 'SELECT', 'TEXTAREA'].includes(target.tagName)) return;
    const action = actionForKey(event);
    if (!action) return;
    event.preventDefault();
    this.perform(action, state);
  }

  private perform(action: ShortcutAction, state: AppState): void {
    const engine = this.controller.engine;
    const viewportId = this.controller.activeViewportId();
    if (action.startsWith('tool.')) return this.controller.setTool(action.slice(5) as (typeof PRIMARY_TOOLS)[number]);
    if (action.startsWith('layout.')) return this.controller.setLayout(action.slice(7) as (typeof LAYOUTS)[number]);
    if (action.startsWith('preset.')) {
      const preset = this.presets[Number(action.slice(7))];
      if (preset) engine.applyWindow(viewportId, preset);
      return;
    }
    switch (action) {
      case 'nextImage':
        return engine.scroll(viewportId, 1);
      case 'previousImage':
        return engine.scroll(viewportId, -1);
      case 'nextPage':
        return engine.scroll(viewportId, PAGE_STEP);
      case 'previousPage':
        return engine.scroll(viewportId, -PAGE_STEP);
      case 'firstImage':
        return engine.jumpTo(viewportId, 0);
      case 'lastImage':
        return engine.jumpTo(viewportId, Number.MAX_SAFE_INTEGER);
      case 'rotate':
        return engine.rotate(viewportId);
      case 'flipHorizontal':
        return engine.flip(viewportId, 'horizontal');
      case 'flipVertical':
        return engine.flip(viewportId, 'vertical');
      case 'invert':
        return engine.invert(viewportId);
      case 'reset':
        return engine.reset(viewportId);
      case 'cine':
        return this.controller.toggleCine();
      case 'deleteMeasurements':
        return engine.deleteMeasurements(viewportId);
      case 'nextViewport':
        return this.controller.activateCell((state.reading.layout.active + 1) % state.reading.layout.cells.length);
      case 'help':
        return this.controller.setHelpOpen(true);
    }
  }
}

function saveText(save: SaveOutcome | undefined, t: Translate): string {
  if (!save) return '';
  if (save.status === 'error') return t('save.failed', { reason: problemText(save.problem, t) });
  return t(`save.${save.status}`);
}

function presetLabel(preset: VoiPreset, t: Translate): string {
  return preset.label ?? t(`preset.${preset.id}` as MessageKey);
}
