import type { ReadingCentre } from '../../../archive/reading/reading-wire.ts';
import type { ReadingClient } from '../api/reading-client.ts';
import type { StudySummary } from '../dicomweb/models.ts';
import { readingRequest, type RequestField, type RequestForm } from '../logic/reading-request.ts';
import { failed, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface RequestState {
  /** The study the form (远程诊断申请) is open for; undefined while it is closed. */
  study: StudySummary | undefined;
  /** The reading centres covering the hospital, to choose from; undefined until the archive said. */
  centres: ReadingCentre[] | undefined;
  sending: boolean;
  /** Fields the form itself refused, before anything was sent. */
  invalid: { field: RequestField; problem: 'required' | 'tooLong' | 'invalid' }[];
  /** The archive's refusal (no centre covers the hospital, the task is finished, …). */
  problem: Problem | undefined;
  /** The request the archive took: a new task, or clinical information added to the study's task. */
  sent: { workitemUid: string; created: boolean } | undefined;
}

const CLOSED: RequestState = { study: undefined, centres: undefined, sending: false, invalid: [], problem: undefined, sent: undefined };

/**
 * A hospital's request for remote reading of one of its studies, from the study list or the
 * reading screen: the form's state and its one action. What becomes of the request (assigned,
 * returned with the centre's reason, answered) is followed on the worklist screen.
 */
export class RequestController {
  readonly store: Store<RequestState> = createStore<RequestState>(CLOSED);

  constructor(
    private readonly client: Pick<ReadingClient, 'centres' | 'request'>,
    private readonly showWorklist: () => Promise<void>,
  ) {}

  /** Opens the form for a study and asks which centres may read it, each time: a centre added since counts. */
  async open(study: StudySummary): Promise<void> {
    this.store.update(() => ({ ...CLOSED, study }));
    try {
      const centres = await this.client.centres();
      if (this.store.get().study === study) this.update({ centres });
    } catch (error) {
      if (this.store.get().study === study) this.update({ problem: failed(error).problem });
    }
  }

  close(): void {
    this.store.update(() => CLOSED);
  }

  /** Something was typed: what the form refused before is no longer what it says. */
  edited(): void {
    const { invalid, problem } = this.store.get();
    if (invalid.length || problem) this.update({ invalid: [], problem: undefined });
  }

  async send(form: RequestForm): Promise<void> {
    const { study, centres, sending } = this.store.get();
    if (!study || !centres || sending) return;
    const checked = readingRequest(study.studyInstanceUid, form, centres);
    if ('problems' in checked) return this.update({ invalid: checked.problems, problem: undefined });
    this.update({ sending: true, invalid: [], problem: undefined });
    try {
      this.update({ sending: false, sent: await this.client.request(checked.request) });
    } catch (error) {
      this.update({ sending: false, problem: failed(error).problem });
    }
  }

  /** From the sent request to the worklist, where the hospital follows its requests. */
  async followUp(): Promise<void> {
    this.close();
    await this.showWorklist();
  }

  private update(change: Partial<RequestState>): void {
    this.store.update((state) => ({ ...state, ...change }));
  }
}
