import type { ReasonChoice, RecognitionDecisionsAnswer } from '../../../archive/recognition/recognition-wire.ts';
import type { DecisionRequest, RecognitionClient } from '../api/recognition-client.ts';
import { failed, signedInUserOf, type AppState, type Loadable, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export type DecisionChoice = 'recognised' | 'not-recognised';

export interface RecognitionState {
  panelOpen: boolean;
  /** The purpose the studies below were asked with: another one may see other studies. */
  purpose: string | undefined;
  /** Whose each open study is, and its decisions the reader may see, by study. */
  studies: Record<string, Loadable<RecognitionDecisionsAnswer>>;
  reasons: Loadable<ReasonChoice[]> | undefined;
  /** The study whose decision form is open, and the choice it opened with. */
  deciding: { studyInstanceUid: string; decision: DecisionChoice } | undefined;
  saving: boolean;
  outcome: { kind: 'saved'; studyInstanceUid: string } | { kind: 'refused'; problem: Problem } | undefined;
}

const EMPTY: RecognitionState = { panelOpen: false, purpose: undefined, studies: {}, reasons: undefined, deciding: undefined, saving: false, outcome: undefined };

/**
 * Recognition (互认) on the reading screen. For each study open there it asks whose it is and the
 * decisions on it; another institution's study opened with a purpose of use is recorded as a prior
 * view (once per study and purpose here; the archive counts it once a day) and offered for a
 * decision; the study's own institution sees what others decided (the feedback).
 */
export class RecognitionController {
  readonly store: Store<RecognitionState> = createStore<RecognitionState>(EMPTY);
  private readonly viewsRecorded = new Set<string>();

  constructor(
    private readonly client: RecognitionClient,
    private readonly app: Store<AppState>,
  ) {
    app.subscribe((state) => this.follow(state));
    this.follow(app.get());
  }

  /** Whether the reader may decide on a study: another institution's, opened with a purpose. */
  static decides(app: AppState, answer: Loadable<RecognitionDecisionsAnswer> | undefined): boolean {
    return answer?.status === 'ready' && answer.value.otherInstitution && !!app.purpose.text && !!signedInUserOf(app)?.permissions.includes('record-recognition');
  }

  togglePanel(): void {
    this.store.update((state) => ({ ...state, panelOpen: !state.panelOpen }));
  }

  openDecision(studyInstanceUid: string, decision: DecisionChoice): void {
    this.store.update((state) => ({ ...state, panelOpen: true, deciding: { studyInstanceUid, decision }, outcome: undefined }));
  }

  closeDecision(): void {
    this.store.update((state) => ({ ...state, deciding: undefined, outcome: undefined }));
  }

  async decide(studyInstanceUid: string, request: DecisionRequest): Promise<void> {
    if (this.store.get().saving) return;
    this.store.update((state) => ({ ...state, saving: true, outcome: undefined }));
    try {
      await this.client.decide(studyInstanceUid, request);
      const answer = await this.client.decisions(studyInstanceUid);
      this.store.update((state) => ({ ...state, saving: false, deciding: undefined, studies: { ...state.studies, [studyInstanceUid]: { status: 'ready', value: answer } }, outcome: { kind: 'saved', studyInstanceUid } }));
    } catch (error) {
      this.store.update((state) => ({ ...state, saving: false, outcome: { kind: 'refused', problem: failed(error).problem } }));
    }
  }

  private follow(app: AppState): void {
    const user = signedInUserOf(app);
    if (!user?.permissions.includes('read-images') || app.route.page !== 'viewer') {
      if (this.store.get() !== EMPTY) this.store.update(() => EMPTY);
      return;
    }
    if (app.purpose.text !== this.store.get().purpose) this.store.update((state) => ({ ...state, purpose: app.purpose.text, studies: {}, deciding: undefined, outcome: undefined }));
    if (user.permissions.includes('record-recognition') && !this.store.get().reasons) void this.loadReasons();
    const open = Object.entries(app.reading.studies).filter(([, study]) => study.status === 'ready').map(([uid]) => uid);
    for (const uid of open) if (!this.store.get().studies[uid]) void this.loadStudy(uid, app.purpose.text);
  }

  private async loadReasons(): Promise<void> {
    this.store.update((state) => ({ ...state, reasons: { status: 'loading' } }));
    try {
      const reasons = await this.client.reasons();
      this.store.update((state) => ({ ...state, reasons: { status: 'ready', value: reasons } }));
    } catch (error) {
      this.store.update((state) => ({ ...state, reasons: failed(error) }));
    }
  }

  private async loadStudy(studyInstanceUid: string, purpose: string | undefined): Promise<void> {
    const set = (answer: Loadable<RecognitionDecisionsAnswer>) =>
      this.store.update((state) => (state.purpose === purpose ? { ...state, studies: { ...state.studies, [studyInstanceUid]: answer } } : state));
    set({ status: 'loading' });
    let answer: RecognitionDecisionsAnswer;
    try {
      answer = await this.client.decisions(studyInstanceUid);
      set({ status: 'ready', value: answer });
    } catch (error) {
      return set(failed(error));
    }
    const key = `${studyInstanceUid}|${purpose}`;
    if (!RecognitionController.decides(this.app.get(), { status: 'ready', value: answer }) || this.viewsRecorded.has(key)) return;
    this.viewsRecorded.add(key);
    // A view not counted is a smaller denominator, not a reason to stop the reader: nothing to show.
    await this.client.recordView(studyInstanceUid).catch(() => this.viewsRecorded.delete(key));
  }
}
