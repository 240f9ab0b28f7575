import type { AdminClient } from '../api/admin-client.ts';
import type { SeriesSummary, StudySummary } from '../dicomweb/models.ts';
import { destinationBody, destinationOptions, sendFinished, type DestinationOption, type SendProgress } from '../logic/routing.ts';
import { failed, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface SendState {
  /** The study the dialog is open for; none: closed. */
  study: StudySummary | undefined;
  /** Its series when the study list had them (the row was opened); else only the whole study is offered. */
  series: SeriesSummary[];
  destinations: DestinationOption[] | undefined;
  sending: boolean;
  progress: SendProgress | undefined;
  problem: Problem | undefined;
}

const CLOSED: SendState = { study: undefined, series: [], destinations: undefined, sending: false, progress: undefined, problem: undefined };
/** How often an open dialog asks how far a send has come. */
const PROGRESS_EVERY_MS = 1000;

/**
 * 发送: an administrator sends a study or one of its series to a registered node (docs/routing.md).
 * The archive queues it and answers at once; the dialog follows the progress until every instance
 * is sent or given up, or until it is closed (the send goes on without it).
 */
export class SendController {
  readonly store: Store<SendState> = createStore<SendState>(CLOSED);
  private timer: ReturnType<typeof setTimeout> | undefined;

  constructor(private readonly client: AdminClient) {}

  async open(study: StudySummary, series: SeriesSummary[], systemAdministrator: boolean): Promise<void> {
    this.stopFollowing();
    this.store.update(() => ({ ...CLOSED, study, series }));
    try {
      // DICOMweb nodes are a system administrator's to use (the archive refuses the others).
      const [peers, nodes] = await Promise.all([this.client.peers(), systemAdministrator ? this.client.dicomwebNodes() : Promise.resolve([])]);
      this.store.update((state) => (state.study === study ? { ...state, destinations: destinationOptions(peers, nodes) } : state));
    } catch (error) {
      this.store.update((state) => (state.study === study ? { ...state, destinations: [], problem: failed(error).problem } : state));
    }
  }

  close(): void {
    this.stopFollowing();
    this.store.update(() => CLOSED);
  }

  async send(destinationChoice: string, seriesInstanceUid: string): Promise<void> {
    const { study } = this.store.get();
    const destination = destinationBody(destinationChoice);
    if (!study || !destination) return;
    this.store.update((state) => ({ ...state, sending: true, problem: undefined }));
    try {
      const progress = await this.client.sendStudy(study.studyInstanceUid, { destination, ...(seriesInstanceUid ? { seriesInstanceUid } : {}) });
      this.store.update((state) => ({ ...state, sending: false, progress }));
      this.follow(study, progress);
    } catch (error) {
      this.store.update((state) => ({ ...state, sending: false, problem: failed(error).problem }));
    }
  }

  private follow(study: StudySummary, progress: SendProgress): void {
    if (sendFinished(progress)) return;
    this.timer = setTimeout(async () => {
      try {
        const next = await this.client.sendProgress(progress.id);
        if (this.store.get().study !== study) return;
        this.store.update((state) => ({ ...state, progress: next }));
        this.follow(study, next);
      } catch (error) {
        if (this.store.get().study === study) this.store.update((state) => ({ ...state, problem: failed(error).problem }));
      }
    }, PROGRESS_EVERY_MS);
  }

  private stopFollowing(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }
}
