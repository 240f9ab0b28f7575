import type { Acknowledgement, CriticalNotice } from '../../../archive/reading/critical-finding-wire.ts';
import type { CriticalClient, RegisterPeriod } from '../api/critical-client.ts';
import { failed, type Loadable, type Problem } from './app-state.ts';
import { createStore, type Store } from './store.ts';

/** How often the open notices are asked for: a critical finding must not wait for a page reload. */
const POLL_EVERY_MS = 15_000;

export interface CriticalState {
  panelOpen: boolean;
  /** Open notices the user sees (their hospital's, or those their centre raised), newest first. */
  open: CriticalNotice[];
  /** The notice whose read-back form is shown. */
  acknowledging: string | undefined;
  period: RegisterPeriod;
  register: Loadable<CriticalNotice[]> | undefined;
  problem: Problem | undefined;
}

/**
 * Critical findings (危急值) beside every screen: the open notices, polled while someone who reads
 * images is signed in; acknowledgement by read-back (复述确认); the register by period.
 */
export class CriticalController {
  readonly store: Store<CriticalState>;
  private timer: ReturnType<typeof setInterval> | undefined;

  constructor(private readonly client: CriticalClient) {
    this.store = createStore<CriticalState>({ panelOpen: false, open: [], acknowledging: undefined, period: { from: '', to: '' }, register: undefined, problem: undefined });
  }

  /** Starts polling (idempotent): called while a user who reads images is signed in. */
  follow(): void {
    if (this.timer) return;
    this.timer = setInterval(() => void this.refresh(), POLL_EVERY_MS);
    void this.refresh();
  }

  /** Signed out: stop asking and forget what was shown. */
  stop(): void {
    // Called on every change of the app while nobody who reads images is signed in: only once matters.
    if (!this.timer) return;
    clearInterval(this.timer);
    this.timer = undefined;
    this.store.update(() => ({ panelOpen: false, open: [], acknowledging: undefined, period: { from: '', to: '' }, register: undefined, problem: undefined }));
  }

  togglePanel(): void {
    this.store.update((state) => ({ ...state, panelOpen: !state.panelOpen, acknowledging: undefined, problem: undefined }));
  }

  startAcknowledging(noticeId: string | undefined): void {
    this.store.update((state) => ({ ...state, acknowledging: noticeId, problem: undefined }));
  }

  async acknowledge(noticeId: string, acknowledgement: Acknowledgement): Promise<boolean> {
    try {
      await this.client.acknowledge(noticeId, acknowledgement);
      this.store.update((state) => ({ ...state, acknowledging: undefined, problem: undefined }));
      await this.refresh();
      return true;
    } catch (error) {
      this.store.update((state) => ({ ...state, problem: failed(error).problem }));
      return false;
    }
  }

  async loadRegister(period: RegisterPeriod): Promise<void> {
    this.store.update((state) => ({ ...state, period, register: { status: 'loading' } }));
    try {
      const value = await this.client.register(period);
      this.store.update((state) => ({ ...state, register: { status: 'ready', value } }));
    } catch (error) {
      this.store.update((state) => ({ ...state, register: failed(error) }));
    }
  }

  registerCsvUrl(): string {
    return this.client.registerCsvUrl(this.store.get().period);
  }

  async refresh(): Promise<void> {
    try {
      const open = await this.client.openNotices();
      this.store.update((state) => ({ ...state, open }));
    } catch {
      // A failed poll keeps what was shown; the next one tries again.
    }
  }
}
