import {
  cache,
  Enums,
  eventTarget,
  getRenderingCapabilities,
  getShouldUseCPURendering,
  imageLoader,
  init as initCore,
  metaData,
  RenderingEngine,
  setUseCPURendering,
  utilities as coreUtilities,
  type StackViewport,
  type Types,
} from '@cornerstonejs/core';
import { init as initImageLoader } from '@cornerstonejs/dicom-image-loader';
import {
  addTool,
  AngleTool,
  annotation,
  EllipticalROITool,
  Enums as ToolEnums,
  init as initTools,
  LengthTool,
  PanTool,
  ProbeTool,
  RectangleROITool,
  StackScrollTool,
  synchronizers,
  SynchronizerManager,
  ToolGroupManager,
  utilities as toolUtilities,
  WindowLevelTool,
  ZoomTool,
  type Types as ToolTypes,
} from '@cornerstonejs/tools';
import { translator, type Translate } from '../i18n/i18n.ts';
import { planLinks, translationMatrix, type ViewportGeometry } from '../logic/linking.ts';
import { lengthTextLines, roiTextLines, type RoiStats } from '../logic/measurement-text.ts';
import { reprioritise } from '../logic/prefetch.ts';
import { rangeToWindow, windowToRange, type Window } from '../logic/voi-presets.ts';
import { measurementReport, measurementsOf, REPORTED_TOOLS, type DocumentContext, type SavedReport, type StoredDocument } from '../measurements/structured-report.ts';
import { diagnostics } from './diagnostics.ts';

/** The tools a reader picks for the left mouse button. */
export const PRIMARY_TOOLS = ['WindowLevel', 'Pan', 'Zoom', 'StackScroll', 'Length', 'Angle', 'RectangleROI', 'EllipticalROI', 'Probe'] as const;
export type PrimaryTool = (typeof PRIMARY_TOOLS)[number];

const TOOL_CLASSES = {
  WindowLevel: WindowLevelTool,
  Pan: PanTool,
  Zoom: ZoomTool,
  StackScroll: StackScrollTool,
  Length: LengthTool,
  Angle: AngleTool,
  RectangleROI: RectangleROITool,
  EllipticalROI: EllipticalROITool,
  Probe: ProbeTool,
} as const;
const toolName = (tool: PrimaryTool): string => TOOL_CLASSES[tool].toolName as string;
const MEASUREMENT_TOOLS: readonly PrimaryTool[] = ['Length', 'Angle', 'RectangleROI', 'EllipticalROI', 'Probe'];

const ENGINE_ID = 'yingyun';
const FRAME_MEDIA_TYPE = 'application/octet-stream; transfer-syntax=*';
const TOOL_GROUP_ID = 'yingyun-tools';
/** Images fetched at once per viewport beyond the one on screen: enough to fill the connection pool, few enough to re-order quickly when the reader jumps. */
const PREFETCH_IN_FLIGHT = 12;

/** What a viewport is given to show. */
export interface StackInput {
  imageIds: string[];
  initialIndex: number;
  /** Millimetres per pixel at the detector, for images with no Pixel Spacing but an Imager Pixel Spacing. */
  detectorSpacing?: number;
  geometry: Omit<ViewportGeometry, 'viewportId' | 'slices'>;
}

export interface ViewportReport {
  imageIndex: number;
  total: number;
  window: Window | undefined;
  zoomPercent: number | undefined;
  calibrated: boolean;
}

type Point3 = [number, number, number];

/** The part of a viewport's view that another screen can show the same way (engine.viewOf / followView). */
export interface FollowedView {
  imageIndex: number;
  window: Window | undefined;
  camera: { parallelScale: number; focalPoint: Point3; position: Point3 } | undefined;
}

/** What the engine tells the UI; it never touches the DOM outside the elements it is given. */
export interface EngineListener {
  viewChanged(viewportId: string, report: ViewportReport): void;
  loadProgress(viewportId: string, loaded: number, total: number): void;
  /** `error` as the loader gave it: an Error, an HTTP failure, or a codec's bare error number. */
  imageFailed(viewportId: string, imageIndex: number, error: unknown): void;
}

interface ViewportEntry {
  element: HTMLDivElement;
  input: StackInput;
  /** The stack's first image is in place: until then the viewport has no view to share or follow. */
  shown: boolean;
  prefetch: Prefetch | undefined;
  cinePlaying: boolean;
  /** The window last set on this stack (by the reader, a preset or a linked viewport); undefined: each image's own. */
  window: { lower: number; upper: number } | undefined;
}

/** What the image loader's frame requests need from the app. */
export interface ImageRequests {
  /** Headers to add to each frame request (the stated purpose of use). */
  headers(): Record<string, string>;
  /** A frame was refused for want of a session. */
  unauthorized(): void;
}

/**
 * Starts Cornerstone (rendering, decoding in web workers, tools). Draws with CPU rendering when
 * WebGL is missing (Cornerstone's own fallback) and also when WebGL is only a software rasteriser
 * (SwiftShader, llvmpipe: no GPU), where drawing a 512×512 slice on the CPU directly is more than
 * twice as fast as emulating the GPU (docs/benchmarks.md). `renderer` overrides the choice.
 */
export function startImaging(renderer: 'auto' | 'cpu' | 'webgl', requests: ImageRequests): { cpu: boolean } {
  initCore();
  const { softwareRasterizer } = getRenderingCapabilities();
  if (renderer === 'cpu' || (renderer === 'auto' && softwareRasterizer)) setUseCPURendering(true);
  initImageLoader({
    // Decoding runs in these workers, off the thread that draws and scrolls: one per core.
    maxWebWorkers: Math.max(2, navigator.hardwareConcurrency || 2),
    // One frame per request, so ask for it single-part (PS3.18 8.7.3.5): Cornerstone otherwise
    // scans every byte of a multipart body for the closing boundary on the main thread, which for
    // a 512×512 CT costs more than decoding it. Stored form (`*`): compressed frames stay compressed.
    // The session cookie goes by itself (same origin); the purpose of use must be added.
    beforeSend: () => ({ ...requests.headers(), Accept: FRAME_MEDIA_TYPE }),
    errorInterceptor: (error) => {
      if (error.status === 401) requests.unauthorized();
    },
  });
  initTools();
  for (const tool of Object.values(TOOL_CLASSES)) addTool(tool);
  // Cornerstone's image cache re-throws a failed load on a promise nobody holds, so every image
  // that cannot be decoded would also surface as an unhandled rejection. Those failures are shown
  // in the viewport (IMAGE_LOAD_FAILED, imageFailed below); only they are kept out of the console.
  const reportedFailures = new Set<unknown>();
  eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_FAILED, ((event: CustomEvent<{ error: unknown }>) => {
    reportedFailures.add(event.detail.error);
  }) as EventListener);
  addEventListener('unhandledrejection', (event) => {
    if (reportedFailures.has(event.reason)) event.preventDefault();
  });
  const cpu = getShouldUseCPURendering();
  diagnostics.renderer(cpu);
  return { cpu };
}

/**
 * Cornerstone behind one interface for the viewport grid: one rendering engine, one tool group,
 * stack viewports with progressive loading, linking (slice and window synchronisers) and the
 * reader's view actions.
 */
export class ImagingEngine {
  private readonly renderingEngine = new RenderingEngine(ENGINE_ID);
  private readonly toolGroup: ToolTypes.IToolGroup;
  private readonly viewports = new Map<string, ViewportEntry>();
  private primaryTool: PrimaryTool = 'WindowLevel';
  private linked = true;
  private readonly synchronizerIds: string[] = [];
  private translate: Translate = translator('en');
  /**
   * Saved reports whose measurements are drawn: `report` (all of it: the reader saved what is on
   * screen) or `report|stack`. Annotation state outlives the page's screens, so each is drawn once.
   */
  private readonly drawnReports = new Set<string>();
  /** Saved measurements read back, waiting for a viewport to show their image. */
  private savedMeasurementsWaiting: ToolTypes.Annotation[] = [];
  /** Another screen's measurements (replaceMeasurements), waiting likewise: a consultation's view can come before its series is shown here. */
  private followedMeasurementsWaiting: ToolTypes.Annotation[] = [];
  /** Images measured other than at Pixel Spacing (detector spacing, or the reader's calibration), as given to Cornerstone. */
  private readonly calibrations = new Map<string, { type: string; scale: number }>();

  constructor(private readonly listener: EngineListener) {
    const group = ToolGroupManager.createToolGroup(TOOL_GROUP_ID);
    if (!group) throw new Error('tool group exists already');
    this.toolGroup = group;
    for (const tool of Object.values(TOOL_CLASSES)) group.addTool(tool.toolName as string);
    const { MouseBindings } = ToolEnums;
    // Labels in the reader's language (Cornerstone's are English); angles and probe values are numbers and units only.
    for (const tool of ['RectangleROI', 'EllipticalROI'] as const) {
      group.setToolConfiguration(toolName(tool), {
        getTextLines: (data: { cachedStats: Record<string, RoiStats> }, targetId: string) => roiTextLines(data.cachedStats[targetId], this.translate),
      });
    }
    group.setToolConfiguration(toolName('Length'), {
      getTextLines: (data: { cachedStats: Record<string, { length?: number; unit?: string }> }, targetId: string) => lengthTextLines(data.cachedStats[targetId]),
    });
    group.setToolActive(toolName('StackScroll'), { bindings: [{ mouseButton: MouseBindings.Wheel }] });
    group.setToolActive(toolName('Zoom'), { bindings: [{ mouseButton: MouseBindings.Secondary }] });
    group.setToolActive(toolName('Pan'), { bindings: [{ mouseButton: MouseBindings.Auxiliary }] });
    this.setPrimaryTool('WindowLevel');

    eventTarget.addEventListener(Enums.Events.IMAGE_LOAD_ERROR, ((event: CustomEvent<{ imageId: string; error: unknown }>) => {
      for (const [viewportId, entry] of this.viewports) {
        const index = entry.input.imageIds.indexOf(event.detail.imageId);
        if (index >= 0) this.listener.imageFailed(viewportId, index, event.detail.error);
      }
    }) as EventListener);
  }

  /** Attaches a viewport to its element; the same id can later be given another stack. */
  enable(viewportId: string, element: HTMLDivElement): void {
    if (this.viewports.has(viewportId)) return;
    this.renderingEngine.enableElement({ viewportId, element, type: Enums.ViewportType.STACK, defaultOptions: { background: [0, 0, 0] } });
    this.toolGroup.addViewport(viewportId, ENGINE_ID);
    const report = () => this.report(viewportId);
    element.addEventListener(Enums.Events.STACK_NEW_IMAGE, () => {
      const entry = this.viewports.get(viewportId);
      entry?.prefetch?.moveTo(this.viewport(viewportId).getCurrentImageIdIndex());
      // Runs once Cornerstone has finished taking the new image, which happens right after this event.
      queueMicrotask(() => {
        this.keepWindow(viewportId);
        this.keepCalibration(viewportId);
        report();
      });
    });
    element.addEventListener(Enums.Events.VOI_MODIFIED, ((event: CustomEvent<{ range: { lower: number; upper: number } }>) => {
      const entry = this.viewports.get(viewportId);
      if (entry) entry.window = event.detail.range;
      report();
    }) as EventListener);
    element.addEventListener(Enums.Events.CAMERA_MODIFIED, report);
    // Once the image is shown with its new spacing, the measurements on it are computed again in it.
    element.addEventListener(Enums.Events.IMAGE_SPACING_CALIBRATED, ((event: CustomEvent<{ imageId: string }>) => {
      for (const drawn of this.measurementsOn(element, event.detail.imageId)) drawn.invalidated = true;
      this.viewport(viewportId).render();
    }) as EventListener);
    element.addEventListener(Enums.Events.IMAGE_RENDERED, () => {
      diagnostics.rendered(viewportId);
      // "First image" is when pixels of the stack are on the canvas, not when loading resolved.
      const imageId = this.viewports.get(viewportId)?.input.imageIds.length ? this.viewport(viewportId).getCurrentImageId() : undefined;
      if (imageId && cache.isLoaded(imageId)) diagnostics.firstImage(viewportId);
    });
    this.viewports.set(viewportId, { element, input: { imageIds: [], initialIndex: 0, geometry: emptyGeometry() }, shown: false, prefetch: undefined, cinePlaying: false, window: undefined });
  }

  disable(viewportId: string): void {
    const entry = this.viewports.get(viewportId);
    if (!entry) return;
    entry.prefetch?.stop();
    if (entry.cinePlaying) toolUtilities.cine.stopClip(entry.element);
    this.toolGroup.removeViewports(ENGINE_ID, viewportId);
    this.renderingEngine.disableElement(viewportId);
    this.viewports.delete(viewportId);
    diagnostics.forget(viewportId);
    this.relink();
  }

  /** Stops fetching images into every viewport (the session ended: each request would be refused). */
  stopLoading(): void {
    for (const entry of this.viewports.values()) entry.prefetch?.stop();
  }

  /**
   * Shows a stack: the image at initialIndex is fetched first and drawn as soon as it arrives;
   * the rest follow from there outward (logic/prefetch.ts), re-ordered whenever the reader moves.
   */
  async show(viewportId: string, input: StackInput): Promise<void> {
    const entry = this.viewports.get(viewportId);
    if (!entry) return;
    entry.prefetch?.stop();
    if (entry.cinePlaying) this.stopCine(viewportId);
    entry.input = input;
    entry.shown = false;
    entry.window = undefined;
    if (input.detectorSpacing) {
      for (const imageId of input.imageIds) this.calibrate(imageId, { type: Enums.CalibrationTypes.PROJECTION, scale: 1 / input.detectorSpacing });
    }
    diagnostics.stackStarted(viewportId, input.imageIds.length);
    const viewport = this.viewport(viewportId);
    // Cornerstone's setStack never settles when another image is asked for while its first one
    // loads (End pressed early, the wheel): the stack is in place once any image of it is. A late
    // new-image event of the stack shown before is not one of this stack's, so it does not count.
    const requested = new Set(input.imageIds);
    let onNewImage = (_event: Event) => {};
    const anImageShown = new Promise<void>((resolve) => {
      onNewImage = (event) => {
        if (requested.has((event as Types.EventTypes.StackNewImageEvent).detail.imageId)) resolve();
      };
      entry.element.addEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
    });
    try {
      await Promise.race([viewport.setStack(input.imageIds, input.initialIndex), anImageShown]);
    } finally {
      entry.element.removeEventListener(Enums.Events.STACK_NEW_IMAGE, onNewImage);
    }
    // Given another stack meanwhile, or taken off the grid: that one is what this viewport shows now.
    if (this.viewports.get(viewportId) !== entry || entry.input !== input) return;
    entry.shown = true;
    viewport.render();
    entry.prefetch = new Prefetch(
      input.imageIds,
      viewport.getCurrentImageIdIndex(),
      (imageId) => viewport.getLoaderImageOptions(imageId),
      (loaded) => {
        this.listener.loadProgress(viewportId, loaded, input.imageIds.length);
        diagnostics.loaded(viewportId, loaded);
      },
      (index, error) => this.listener.imageFailed(viewportId, index, error),
    );
    this.relink(viewportId);
    this.placeWaitingMeasurements();
    this.report(viewportId);
  }

  resize(): void {
    this.renderingEngine.resize(true, false);
  }

  setPrimaryTool(tool: PrimaryTool): void {
    const { MouseBindings } = ToolEnums;
    const previous = this.primaryTool;
    this.primaryTool = tool;
    // The right and middle buttons and the wheel keep zoom, pan and scroll whatever the left button does.
    const secondaryBinding: Record<string, ToolTypes.IToolBinding[]> = {
      [toolName('Zoom')]: [{ mouseButton: MouseBindings.Secondary }],
      [toolName('Pan')]: [{ mouseButton: MouseBindings.Auxiliary }],
      [toolName('StackScroll')]: [{ mouseButton: MouseBindings.Wheel }],
    };
    const previousName = toolName(previous);
    if (previous !== tool) {
      // setToolPassive takes only the left button off the previous tool: zoom, pan and scroll stay
      // active on their own buttons, and measurements already drawn stay visible and editable.
      // (Cornerstone's setToolActive adds bindings to those a tool has, so it cannot take one away:
      // zoom picked once kept the left button, and a length could no longer be drawn.)
      if (secondaryBinding[previousName] || MEASUREMENT_TOOLS.includes(previous)) this.toolGroup.setToolPassive(previousName);
      else this.toolGroup.setToolDisabled(previousName);
    }
    const name = toolName(tool);
    this.toolGroup.setToolActive(name, { bindings: [{ mouseButton: MouseBindings.Primary }, ...(secondaryBinding[name] ?? [])] });
  }

  getPrimaryTool(): PrimaryTool {
    return this.primaryTool;
  }

  scroll(viewportId: string, delta: number): void {
    const viewport = this.viewport(viewportId);
    if (viewport.getImageIds().length === 0) return;
    coreUtilities.scroll(viewport, { delta });
  }

  jumpTo(viewportId: string, index: number): void {
    const viewport = this.viewport(viewportId);
    const count = viewport.getImageIds().length;
    if (count === 0) return;
    void viewport.setImageIdIndex(Math.min(Math.max(0, index), count - 1));
  }

  applyWindow(viewportId: string, window: Window): void {
    const viewport = this.viewport(viewportId);
    viewport.setProperties({ voiRange: windowToRange(window) });
    viewport.render();
  }

  invert(viewportId: string): void {
    const viewport = this.viewport(viewportId);
    viewport.setProperties({ invert: !viewport.getProperties().invert });
    viewport.render();
  }

  rotate(viewportId: string): void {
    const viewport = this.viewport(viewportId);
    viewport.setViewPresentation({ rotation: (viewport.getRotation() + 90) % 360 });
    viewport.render();
  }

  flip(viewportId: string, direction: 'horizontal' | 'vertical'): void {
    const viewport = this.viewport(viewportId);
    const camera = viewport.getCamera();
    viewport.setCamera(direction === 'horizontal' ? { flipHorizontal: !camera.flipHorizontal } : { flipVertical: !camera.flipVertical });
    viewport.render();
  }

  reset(viewportId: string): void {
    const viewport = this.viewport(viewportId);
    viewport.resetCamera();
    viewport.resetProperties();
    viewport.render();
  }

  /** Cine runs until stopped; a new frame rate applies at once. */
  playCine(viewportId: string, framesPerSecond: number): void {
    const entry = this.viewports.get(viewportId);
    if (!entry || entry.input.imageIds.length < 2) return;
    toolUtilities.cine.playClip(entry.element, { framesPerSecond, loop: true });
    entry.cinePlaying = true;
  }

  stopCine(viewportId: string): void {
    const entry = this.viewports.get(viewportId);
    if (!entry?.cinePlaying) return;
    toolUtilities.cine.stopClip(entry.element);
    entry.cinePlaying = false;
  }

  isCinePlaying(viewportId: string): boolean {
    return this.viewports.get(viewportId)?.cinePlaying ?? false;
  }

  deleteMeasurements(viewportId: string): void {
    const entry = this.viewports.get(viewportId);
    if (!entry) return;
    for (const tool of MEASUREMENT_TOOLS) annotation.state.removeAnnotations(toolName(tool), entry.element);
    this.viewport(viewportId).render();
  }

  /** The index in its stack of the image on screen in a viewport, if it shows one. */
  currentImageIndex(viewportId: string): number | undefined {
    const entry = this.viewports.get(viewportId);
    return entry && entry.input.imageIds.length > 0 ? this.viewport(viewportId).getCurrentImageIdIndex() : undefined;
  }

  /**
   * The measurements drawn on a study's images as a TID 1500 report (undefined when there are
   * none); the report then counts as drawn, so reading it back does not draw its measurements twice.
   */
  measurementReport(studyInstanceUid: string, context: DocumentContext): StoredDocument | undefined {
    const onStudy = `/studies/${studyInstanceUid}/`;
    const drawn = annotation.state
      .getAllAnnotations()
      .filter((item) => (REPORTED_TOOLS as readonly string[]).includes(item.metadata?.toolName ?? '') && item.metadata?.referencedImageId?.includes(onStudy));
    if (drawn.length === 0) return undefined;
    const document = measurementReport(drawn, metaData, context);
    this.drawnReports.add(document.sopInstanceUid);
    return document;
  }

  /**
   * Draws a saved report's measurements that lie on a stack's images (`imageIdOf`: instance and
   * frame to image id), once per report and stack: each goes onto a viewport once one shows its image.
   */
  showSavedMeasurements(report: SavedReport, stackKey: string, imageIdOf: ReadonlyMap<string, string>): void {
    const key = `${report.sopInstanceUid}|${stackKey}`;
    if (this.drawnReports.has(report.sopInstanceUid) || this.drawnReports.has(key)) return;
    this.drawnReports.add(key);
    this.savedMeasurementsWaiting.push(...measurementsOf(report.metadata, imageIdOf, metaData));
    this.placeWaitingMeasurements();
  }

  /**
   * Puts waiting measurements (saved, or another screen's) on the viewports showing their images.
   * Only a viewport with its image in place can take one: Cornerstone measures it again there,
   * against that image, for this screen's viewport.
   */
  private placeWaitingMeasurements(): void {
    const waiting = this.savedMeasurementsWaiting.length + this.followedMeasurementsWaiting.length;
    this.savedMeasurementsWaiting = this.place(this.savedMeasurementsWaiting);
    this.followedMeasurementsWaiting = this.place(this.followedMeasurementsWaiting);
    if (this.savedMeasurementsWaiting.length + this.followedMeasurementsWaiting.length < waiting) this.renderingEngine.render();
  }

  /** Adds each measurement to the viewport that shows its image; returns those none shows yet. */
  private place(measurements: ToolTypes.Annotation[]): ToolTypes.Annotation[] {
    return measurements.filter((measurement) => {
      const imageId = measurement.metadata?.referencedImageId ?? '';
      const entry = [...this.viewports.values()].find((candidate) => candidate.shown && candidate.input.imageIds.includes(imageId));
      if (!entry) return true;
      measurement.invalidated = true;
      annotation.state.addAnnotation(measurement, entry.element);
      this.drawWith(measurement);
      return false;
    });
  }

  /**
   * Calibrates the image on screen from the last length drawn on it, for images without pixel
   * spacing (secondary captures, scanned film): the reader says how long that line really is.
   * Returns false when there is no line to calibrate from.
   */
  async calibrateFromLastLength(viewportId: string, realLengthMm: number): Promise<boolean> {
    const entry = this.viewports.get(viewportId);
    if (!entry || !(realLengthMm > 0)) return false;
    const viewport = this.viewport(viewportId);
    const imageId = viewport.getCurrentImageId();
    const last = this.measurementsOn(entry.element, imageId)
      .filter((drawn) => drawn.metadata?.toolName === toolName('Length'))
      .at(-1);
    if (!last) return false;
    // The line may have been measured before the calibration in force reached the viewport (Cornerstone
    // re-reads an image's own spacing when it displays it): measure it again under that calibration first.
    const measuredAgain = new Promise<void>((resolve) => {
      entry.element.addEventListener(ToolEnums.Events.ANNOTATION_RENDERED, () => resolve(), { once: true });
      setTimeout(resolve, 1000);
    });
    this.keepCalibration(viewportId);
    last.invalidated = true;
    viewport.render();
    await measuredAgain;
    const stats = last.data.cachedStats as Record<string, { length?: number }> | undefined;
    const measured = stats ? Object.values(stats)[0]?.length : undefined;
    if (!measured) return false;
    // Cornerstone's scale is image units per millimetre. The line was measured with the calibration
    // in force (if any), so the new scale is relative to it.
    this.calibrate(imageId, { type: Enums.CalibrationTypes.USER, scale: (this.calibrations.get(imageId)?.scale ?? 1) * (measured / realLengthMm) });
    return true;
  }

  private calibrate(imageId: string, calibration: { type: string; scale: number }): void {
    this.calibrations.set(imageId, calibration);
    toolUtilities.calibrateImageSpacing(imageId, this.renderingEngine, calibration as Parameters<typeof toolUtilities.calibrateImageSpacing>[2]);
  }

  private measurementsOn(element: HTMLDivElement, imageId: string) {
    return MEASUREMENT_TOOLS.flatMap((tool) => annotation.state.getAnnotations(toolName(tool), element) ?? []).filter(
      (drawn) => drawn.metadata?.referencedImageId === imageId,
    );
  }

  /**
   * What a consultation shares of a viewport: the slice, and the window and camera (in world
   * coordinates, so another screen of another size shows the same region). Undefined while empty.
   */
  viewOf(viewportId: string): FollowedView | undefined {
    const entry = this.viewports.get(viewportId);
    if (!entry?.shown) return undefined;
    const viewport = this.viewport(viewportId);
    const voiRange = viewport.getProperties().voiRange;
    const { parallelScale, focalPoint, position } = viewport.getCamera();
    return {
      imageIndex: viewport.getCurrentImageIdIndex(),
      window: voiRange ? rangeToWindow(voiRange) : undefined,
      camera: parallelScale && focalPoint && position ? { parallelScale, focalPoint: [...focalPoint] as Point3, position: [...position] as Point3 } : undefined,
    };
  }

  /**
   * Shows another reader's view in a viewport. Only what differs is set, so applying the same view
   * again (on every report while a stack loads) changes nothing and raises no events.
   */
  followView(viewportId: string, view: Partial<FollowedView>): void {
    const current = this.viewOf(viewportId);
    if (!current) return;
    const viewport = this.viewport(viewportId);
    let changed = false;
    if (view.window && !(current.window && near(current.window.width, view.window.width) && near(current.window.center, view.window.center))) {
      viewport.setProperties({ voiRange: windowToRange(view.window) });
      changed = true;
    }
    const camera = view.camera;
    if (camera && !(current.camera && near(current.camera.parallelScale, camera.parallelScale) && camera.focalPoint.every((value, axis) => near(value, current.camera!.focalPoint[axis]!)))) {
      viewport.setCamera({ parallelScale: camera.parallelScale, focalPoint: camera.focalPoint, position: camera.position });
      changed = true;
    }
    if (changed) viewport.render();
    if (view.imageIndex !== undefined && view.imageIndex !== current.imageIndex) this.jumpTo(viewportId, view.imageIndex);
  }

  /** The measurements drawn in every viewport, as plain data (a consultation sends them). */
  measurements(): unknown[] {
    const drawn = MEASUREMENT_TOOLS.flatMap((tool) => [...this.viewports.values()].flatMap((entry) => annotation.state.getAnnotations(toolName(tool), entry.element) ?? []));
    return JSON.parse(JSON.stringify([...new Map(drawn.map((one) => [one.annotationUID, one])).values()])) as unknown[];
  }

  /**
   * Replaces the measurements drawn with another reader's, each in the viewport showing its image;
   * those on a series not shown here yet are drawn once it is.
   */
  replaceMeasurements(measurements: unknown[]): void {
    for (const entry of this.viewports.values()) for (const tool of MEASUREMENT_TOOLS) annotation.state.removeAnnotations(toolName(tool), entry.element);
    this.followedMeasurementsWaiting = this.place(measurements as ToolTypes.Annotation[]);
    this.renderingEngine.render();
  }

  /** A disabled tool draws nothing: a tool not used yet this page becomes passive to show a measurement saved or made elsewhere. */
  private drawWith(measurement: ToolTypes.Annotation): void {
    const tool = MEASUREMENT_TOOLS.find((candidate) => toolName(candidate) === measurement.metadata?.toolName);
    if (tool && tool !== this.primaryTool) this.toolGroup.setToolPassive(toolName(tool));
  }

  /** Calls `listener` whenever a measurement is drawn, moved or deleted. */
  onMeasurementsChanged(listener: () => void): void {
    for (const type of [ToolEnums.Events.ANNOTATION_COMPLETED, ToolEnums.Events.ANNOTATION_MODIFIED, ToolEnums.Events.ANNOTATION_REMOVED]) eventTarget.addEventListener(type, listener);
  }

  /** Measurement labels follow the reader's language; drawn ones are redrawn in it. */
  setTranslator(translate: Translate): void {
    this.translate = translate;
    this.renderingEngine.render();
  }

  setLinked(linked: boolean): void {
    this.linked = linked;
    this.relink();
  }

  isLinked(): boolean {
    return this.linked;
  }

  /**
   * Keeps the reader's window across images when drawing on the CPU. Cornerstone's CPU path keeps
   * drawing with the window in use but resets the window it reports (getProperties) to each new
   * image's own, which the overlay, the window/level tool and the synchronisers then read: put the
   * window in use back. (The WebGL path keeps both.)
   */
  private keepWindow(viewportId: string): void {
    const window = this.viewports.get(viewportId)?.window;
    if (!window || !getShouldUseCPURendering()) return;
    const viewport = this.viewport(viewportId);
    const reported = viewport.getProperties().voiRange;
    if (reported && reported.lower === window.lower && reported.upper === window.upper) return;
    viewport.setProperties({ voiRange: window }, true);
  }

  /**
   * Cornerstone's CPU path records a reader's calibration but does not apply it to the image it
   * shows (its WebGL path does): apply it as the WebGL path would, whenever a calibrated image
   * is shown, and recompute the measurements on it.
   */
  private keepCalibration(viewportId: string): void {
    const viewport = this.viewport(viewportId);
    const imageId = viewport.getCurrentImageId();
    const calibration = imageId ? this.calibrations.get(imageId) : undefined;
    const entry = this.viewports.get(viewportId);
    if (!imageId || !calibration || !entry || !getShouldUseCPURendering()) return;
    Object.assign(viewport, { calibration, hasPixelSpacing: true });
    for (const drawn of this.measurementsOn(entry.element, imageId)) drawn.invalidated = true;
    viewport.render();
  }

  /** The canvas-level state the overlays show. */
  private report(viewportId: string): void {
    const entry = this.viewports.get(viewportId);
    if (!entry || entry.input.imageIds.length === 0) return;
    const viewport = this.viewport(viewportId);
    const voiRange = viewport.getProperties().voiRange;
    this.listener.viewChanged(viewportId, {
      imageIndex: viewport.getCurrentImageIdIndex(),
      total: entry.input.imageIds.length,
      window: voiRange ? rangeToWindow(voiRange) : undefined,
      zoomPercent: zoomPercent(viewport),
      calibrated: this.calibrations.get(viewport.getCurrentImageId())?.type === Enums.CalibrationTypes.USER,
    });
  }

  /**
   * Rebuilds the synchronisers from logic/linking.ts's plan: slices move together, with a
   * registration between different frames of reference, and windows are shared within a group.
   */
  private relink(joining?: string): void {
    for (const id of this.synchronizerIds.splice(0)) SynchronizerManager.destroySynchronizer(id);
    if (!this.linked) return;
    const geometries: ViewportGeometry[] = [...this.viewports]
      .filter(([, entry]) => entry.input.imageIds.length > 0)
      .map(([viewportId, entry]) => ({ ...entry.input.geometry, ...this.currentPosition(viewportId, entry), viewportId, slices: entry.input.imageIds.length }));
    const plan = planLinks(geometries);
    if (plan.sliceLinks.length > 0) {
      const id = 'yingyun-slices';
      const synchronizer = synchronizers.createImageSliceSynchronizer(id);
      this.synchronizerIds.push(id);
      for (const link of plan.sliceLinks) {
        coreUtilities.spatialRegistrationMetadataProvider.add([link.target, link.source], Float32Array.from(translationMatrix(link.translation)) as unknown as Parameters<typeof coreUtilities.spatialRegistrationMetadataProvider.add>[1]);
      }
      for (const viewportId of new Set(plan.sliceLinks.flatMap((link) => [link.source, link.target]))) {
        synchronizer.add({ renderingEngineId: ENGINE_ID, viewportId });
      }
    }
    plan.voiGroups.forEach((group, index) => {
      const id = `yingyun-voi-${index}`;
      const synchronizer = synchronizers.createVOISynchronizer(id, { syncInvertState: true, syncColormap: false });
      this.synchronizerIds.push(id);
      for (const viewportId of group) synchronizer.add({ renderingEngineId: ENGINE_ID, viewportId });
      // A series joining a group (a prior opened beside the current study) takes the window the reader already chose.
      const source = group.find((viewportId) => viewportId !== joining);
      if (joining && source && group.includes(joining)) {
        const { voiRange, invert } = this.viewport(source).getProperties();
        const target = this.viewport(joining);
        target.setProperties({ voiRange, invert });
        target.render();
      }
    });
  }

  /** The position of the image on screen, from which a registration between two frames of reference starts. */
  private currentPosition(viewportId: string, entry: ViewportEntry): Pick<ViewportGeometry, 'position'> {
    const imageId = this.viewport(viewportId).getCurrentImageId() ?? entry.input.imageIds[0];
    const plane = imageId ? (metaData.get('imagePlaneModule', imageId) as { imagePositionPatient?: number[] } | undefined) : undefined;
    const position = plane?.imagePositionPatient;
    return { position: position && position.length === 3 ? [position[0]!, position[1]!, position[2]!] : entry.input.geometry.position };
  }

  private viewport(viewportId: string): StackViewport {
    return this.renderingEngine.getViewport(viewportId) as StackViewport;
  }
}

/**
 * Zoom as viewers state it: screen pixels per image pixel (100% = one to one), which reads the same
 * whichever renderer (GPU or CPU, whose own zoom factors differ) draws the image.
 */
function zoomPercent(viewport: StackViewport): number | undefined {
  const { parallelScale } = viewport.getCamera();
  const rowSpacing = viewport.getImageData()?.spacing[1];
  const height = viewport.element.clientHeight;
  if (!parallelScale || !rowSpacing || !height) return undefined;
  return (height / (2 * parallelScale)) * rowSpacing * 100;
}

/**
 * Equal as far as a reader can see: a window or camera that went over the wire, and that the CPU
 * renderer may have adjusted by a rounding when it was set.
 */
function near(a: number, b: number): boolean {
  return Math.abs(a - b) <= 1e-3 * Math.max(1, Math.abs(a), Math.abs(b));
}

function emptyGeometry(): StackInput['geometry'] {
  return { frameOfReferenceUid: '', modality: '', normal: undefined, position: undefined, color: false };
}

/**
 * Progressive loading of one stack: a few images in flight, the rest waiting in order of distance
 * from the image on screen. moveTo re-orders what is still waiting; stop abandons it.
 */
class Prefetch {
  private waiting: number[];
  private inFlight = 0;
  private loaded = 0;
  private stopped = false;

  constructor(
    private readonly imageIds: string[],
    current: number,
    private readonly options: (imageId: string) => ReturnType<StackViewport['getLoaderImageOptions']>,
    private readonly progress: (loaded: number) => void,
    private readonly failed: (index: number, error: unknown) => void,
  ) {
    this.waiting = reprioritise(imageIds.map((_, index) => index), imageIds.length, current);
    this.pump();
  }

  moveTo(current: number): void {
    this.waiting = reprioritise(this.waiting, this.imageIds.length, current);
  }

  stop(): void {
    this.stopped = true;
    this.waiting = [];
  }

  private pump(): void {
    while (!this.stopped && this.inFlight < PREFETCH_IN_FLIGHT && this.waiting.length > 0) {
      const index = this.waiting.shift()!;
      const imageId = this.imageIds[index]!;
      if (cache.isLoaded(imageId)) {
        this.done();
        continue;
      }
      this.inFlight++;
      imageLoader
        .loadAndCacheImage(imageId, { ...this.options(imageId), requestType: Enums.RequestType.Prefetch, priority: 0 })
        .catch((error: unknown) => this.failed(index, error))
        .finally(() => {
          this.inFlight--;
          this.done();
          this.pump();
        });
    }
  }

  private done(): void {
    if (this.stopped) return;
    this.loaded++;
    this.progress(this.loaded);
  }
}
