import type { QcWorklistClient } from '../api/qc-worklist-client.ts';
import type { StudySummary } from '../dicomweb/models.ts';
import { failed, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface QcFlagState {
  /** The study the form is open for; none: closed. */
  study: StudySummary | undefined;
  sending: boolean;
  sent: boolean;
  problem: Problem | undefined;
}

/** A clinician asks QC to look at a study (临床反馈 → the QC work list), with a reason. */
export class QcFlagController {
  readonly store: Store<QcFlagState> = createStore<QcFlagState>({ study: undefined, sending: false, sent: false, problem: undefined });

  constructor(private readonly client: QcWorklistClient) {}

  open(study: StudySummary): void {
    this.store.update(() => ({ study, sending: false, sent: false, problem: undefined }));
  }

  close(): void {
    this.store.update(() => ({ study: undefined, sending: false, sent: false, problem: undefined }));
  }

  async send(reason: string): Promise<void> {
    const { study } = this.store.get();
    if (!study || !reason.trim()) return;
    this.store.update((state) => ({ ...state, sending: true, problem: undefined }));
    try {
      await this.client.flag(study.studyInstanceUid, reason.trim());
      this.store.update((state) => ({ ...state, sending: false, sent: true }));
    } catch (error) {
      this.store.update((state) => ({ ...state, sending: false, problem: failed(error).problem }));
    }
  }
}
