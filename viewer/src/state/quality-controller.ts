import type { GradeRequest, QcCatalogue } from '../../../archive/quality/quality-service.ts';
import type { QualityClient, ReportQualityOnWire, StudyQualityOnWire } from '../api/quality-client.ts';
import { isImageSeries } from '../dicomweb/models.ts';
import { failed, signedInUserOf, type AppState, type Loadable, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface QualityPanelState {
  /** The study the panel grades: the reading screen's primary study, for a user who may grade. */
  studyInstanceUid: string | undefined;
  quality: Loadable<StudyQualityOnWire> | undefined;
  /** The scale and defects of each modality of the study's image series, by modality. */
  catalogues: Record<string, Loadable<QcCatalogue>>;
  /** The series being graded now. */
  grading: string | undefined;
  outcome: { kind: 'graded'; seriesInstanceUid: string } | { kind: 'refused'; seriesInstanceUid: string; problem: Problem } | undefined;
  /** Report QC (报告质控): the signed versions' text, the report's grades and the choices. */
  report: Loadable<ReportQualityOnWire> | undefined;
  gradingReport: boolean;
  reportOutcome: { kind: 'graded' } | { kind: 'refused'; problem: Problem } | undefined;
}

/**
 * Image QC grading (质控评级) beside the images, for a user with the grade-quality permission: follows
 * the reading screen's primary study, fetches its grades and the scale of each of its modalities,
 * and grades a series (the archive applies the vetoes, supersedes the series' grade, and writes the
 * 113001 KOS of a reject).
 */
export class QualityController {
  readonly store: Store<QualityPanelState> = createStore<QualityPanelState>({ studyInstanceUid: undefined, quality: undefined, catalogues: {}, grading: undefined, outcome: undefined, report: undefined, gradingReport: false, reportOutcome: undefined });

  constructor(
    private readonly client: QualityClient,
    private readonly app: Store<AppState>,
  ) {
    app.subscribe((state) => this.follow(state));
    this.follow(app.get());
  }

  private follow(state: AppState): void {
    const grades = signedInUserOf(state)?.permissions.includes('grade-quality') ?? false;
    const study = grades && state.route.page === 'viewer' ? state.route.studyInstanceUids[0] : undefined;
    if (study !== this.store.get().studyInstanceUid) {
      const loading = study ? ({ status: 'loading' } as const) : undefined;
      this.store.update(() => ({ studyInstanceUid: study, quality: loading, catalogues: {}, grading: undefined, outcome: undefined, report: loading, gradingReport: false, reportOutcome: undefined }));
      if (study) void this.loadQuality(study);
      if (study) void this.loadReport(study);
    }
    const open = study ? state.reading.studies[study] : undefined;
    if (open?.status !== 'ready') return;
    const modalities = new Set(open.value.series.filter(isImageSeries).map((series) => series.modality.trim().toUpperCase()));
    for (const modality of modalities) if (!this.store.get().catalogues[modality]) void this.loadCatalogue(modality);
  }

  private async loadQuality(study: string): Promise<void> {
    try {
      const quality = await this.client.studyQuality(study);
      this.ifCurrent(study, (state) => ({ ...state, quality: { status: 'ready', value: quality } }));
    } catch (error) {
      this.ifCurrent(study, (state) => ({ ...state, quality: failed(error) }));
    }
  }

  private async loadReport(study: string): Promise<void> {
    try {
      const report = await this.client.reportQuality(study);
      this.ifCurrent(study, (state) => ({ ...state, report: { status: 'ready', value: report } }));
    } catch (error) {
      this.ifCurrent(study, (state) => ({ ...state, report: failed(error) }));
    }
  }

  /** Grades the report's newest signed version (the archive supersedes its current grade). */
  async gradeReport(request: { grade: string; errors: string[]; comment: string }): Promise<void> {
    const study = this.store.get().studyInstanceUid;
    if (!study || this.store.get().gradingReport) return;
    this.store.update((state) => ({ ...state, gradingReport: true, reportOutcome: undefined }));
    try {
      await this.client.gradeReport(study, request);
      const report = await this.client.reportQuality(study);
      this.ifCurrent(study, (state) => ({ ...state, gradingReport: false, report: { status: 'ready', value: report }, reportOutcome: { kind: 'graded' } }));
    } catch (error) {
      this.ifCurrent(study, (state) => ({ ...state, gradingReport: false, reportOutcome: { kind: 'refused', problem: failed(error).problem } }));
    }
  }

  private async loadCatalogue(modality: string): Promise<void> {
    const set = (catalogue: Loadable<QcCatalogue>) => this.store.update((state) => ({ ...state, catalogues: { ...state.catalogues, [modality]: catalogue } }));
    set({ status: 'loading' });
    try {
      set({ status: 'ready', value: await this.client.catalogue(modality) });
    } catch (error) {
      // 404: no scale grades this modality (US): the panel says so for its series.
      set(failed(error));
    }
  }

  async grade(seriesInstanceUid: string, request: GradeRequest): Promise<void> {
    const study = this.store.get().studyInstanceUid;
    if (!study || this.store.get().grading) return;
    this.store.update((state) => ({ ...state, grading: seriesInstanceUid, outcome: undefined }));
    try {
      await this.client.grade(study, seriesInstanceUid, request);
      const quality = await this.client.studyQuality(study);
      this.ifCurrent(study, (state) => ({ ...state, grading: undefined, quality: { status: 'ready', value: quality }, outcome: { kind: 'graded', seriesInstanceUid } }));
    } catch (error) {
      this.ifCurrent(study, (state) => ({ ...state, grading: undefined, outcome: { kind: 'refused', seriesInstanceUid, problem: failed(error).problem } }));
    }
  }

  private ifCurrent(study: string, change: (state: QualityPanelState) => QualityPanelState): void {
    this.store.update((state) => (state.studyInstanceUid === study ? change(state) : state));
  }
}
