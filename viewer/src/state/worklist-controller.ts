import type { ReadingClient, ReadingContext, RequestedTask } from '../api/reading-client.ts';
import { compareTasks, taskSummary, type ReturnReason, type TaskSummary } from '../../../archive/reading/reading-wire.ts';
import { EMPTY_FILTER, type WorklistFilter } from '../logic/worklist.ts';
import { failed, type Loadable, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface WorklistState {
  context: Loadable<ReadingContext> | undefined;
  /** A centre's tasks; a hospital's requests (with their notes). Emergency first, then longest waiting. */
  tasks: Loadable<RequestedTask[]> | undefined;
  filter: WorklistFilter;
  /** Live through the UPS event channel, or polling while it is not open. */
  live: 'socket' | 'polling' | 'off';
  /** The clocks' time, moved on every few seconds. */
  now: number;
  /** The task whose return form is open. */
  returning: string | undefined;
  /** The last action's refusal, shown above the list. */
  problem: Problem | undefined;
}

/** How often the list is asked for when no event channel is open, and the clocks move. */
const POLL_MS = 5_000;
const CLOCK_MS = 15_000;

/**
 * The worklist screen's state and actions, apart from the rest of the app: a reading centre's tasks
 * (UPS-RS), or a hospital's requests, kept live by the UPS event channel (a global subscription of
 * the user's own AE Title) and by polling whenever that channel is not open.
 */
export class WorklistController {
  readonly store: Store<WorklistState> = createStore<WorklistState>({ context: undefined, tasks: undefined, filter: EMPTY_FILTER, live: 'off', now: Date.now(), returning: undefined, problem: undefined });
  private socket: WebSocket | undefined;
  private poll: ReturnType<typeof setInterval> | undefined;
  private clock: ReturnType<typeof setInterval> | undefined;
  private active = false;

  constructor(
    private readonly client: ReadingClient,
    private readonly openStudy: (studyInstanceUid: string) => void,
  ) {}

  async enter(username: string): Promise<void> {
    if (this.active) return;
    this.active = true;
    this.update({ context: { status: 'loading' }, tasks: this.store.get().tasks ?? { status: 'loading' } });
    try {
      this.update({ context: { status: 'ready', value: await this.client.context() } });
    } catch (error) {
      this.update({ context: failed(error) });
      return;
    }
    await this.refresh();
    this.clock = setInterval(() => this.update({ now: Date.now() }), CLOCK_MS);
    this.startPolling();
    void this.connect(username);
  }

  leave(): void {
    if (!this.active) return;
    this.active = false;
    this.socket?.close();
    this.socket = undefined;
    clearInterval(this.poll);
    clearInterval(this.clock);
    this.update({ live: 'off' });
  }

  async refresh(): Promise<void> {
    const context = this.store.get().context;
    if (context?.status !== 'ready') return;
    try {
      const centre = context.value.centre;
      const tasks: RequestedTask[] = centre ? (await this.client.centreTasks(centre.code)).map((workitem) => ({ ...taskSummary(workitem), notes: [] })) : await this.client.requests();
      this.update({ tasks: { status: 'ready', value: tasks.sort(compareTasks) }, now: Date.now() });
    } catch (error) {
      this.update({ tasks: failed(error) });
    }
  }

  setFilter(filter: Partial<WorklistFilter>): void {
    this.update({ filter: { ...this.store.get().filter, ...filter } });
  }

  open(task: TaskSummary): void {
    if (task.studyInstanceUid) this.openStudy(task.studyInstanceUid);
  }

  assign(task: TaskSummary, how: { userId: string } | { roundRobin: true } | { claim: true }): Promise<void> {
    return this.act(() => this.client.assign(task.workitemUid, how));
  }

  setReturning(workitemUid: string | undefined): void {
    this.update({ returning: workitemUid });
  }

  returnToHospital(task: TaskSummary, reason: ReturnReason, text: string): Promise<void> {
    return this.act(async () => {
      await this.client.returnToHospital(task.workitemUid, reason, text);
      this.update({ returning: undefined });
    });
  }

  answer(task: TaskSummary, text: string): Promise<void> {
    return this.act(() => this.client.addNote(task.workitemUid, text));
  }

  async setAvailability(available: boolean): Promise<void> {
    await this.act(() => this.client.setAvailability(available));
    try {
      this.update({ context: { status: 'ready', value: await this.client.context() } });
    } catch (error) {
      this.update({ context: failed(error) });
    }
  }

  private async act(action: () => Promise<unknown>): Promise<void> {
    this.update({ problem: undefined });
    try {
      await action();
    } catch (error) {
      this.update({ problem: failed(error).problem });
    }
    await this.refresh();
  }

  /** The event channel; while it is not open (yet, or any more) the list is polled. */
  private async connect(username: string): Promise<void> {
    // One AE Title per user: a subscription is its user's, and a second tab shares it.
    const aeTitle = `YYWL-${username}`.replace(/[^A-Za-z0-9_.-]/g, '_').slice(0, 16);
    try {
      const socket = await this.client.listen(aeTitle, () => void this.refresh());
      if (!this.active) return socket.close();
      this.socket = socket;
      socket.addEventListener('open', () => {
        clearInterval(this.poll);
        this.update({ live: 'socket' });
        // Whatever changed between the first load and the channel opening.
        void this.refresh();
      });
      socket.addEventListener('close', () => {
        if (this.socket !== socket) return;
        this.socket = undefined;
        if (this.active) this.startPolling();
      });
    } catch {
      // Polling already runs: the screen stays live without the channel.
    }
  }

  private startPolling(): void {
    clearInterval(this.poll);
    this.poll = setInterval(() => void this.refresh(), POLL_MS);
    this.update({ live: 'polling' });
  }

  private update(change: Partial<WorklistState>): void {
    this.store.update((state) => ({ ...state, ...change }));
  }
}
