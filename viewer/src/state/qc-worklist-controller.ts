import type { WorklistQuery } from '../../../archive/quality/qc-worklist.ts';
import type { QcWorklistClient, QcWorklistOnWire } from '../api/qc-worklist-client.ts';
import { failed, type Loadable } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface QcWorklistState {
  query: WorklistQuery;
  list: Loadable<QcWorklistOnWire> | undefined;
  /** Institutions seen on this month's lists, by id: the institution filter's choices (a filtered list shows only one). */
  institutions: Record<string, string>;
}

/** This month, as the list's default: YYYY-MM of the reader's calendar. */
export function currentMonth(now: Date): string {
  return `${now.getFullYear()}-${String(now.getMonth() + 1).padStart(2, '0')}`;
}

/**
 * The QC work list screen's state and actions, apart from the rest of the app: the month's studies
 * drawn, flagged or failed by the technical checks within the QC staff's scope, filtered by month,
 * institution, modality and grading status. Opening a row opens its study in the viewer, where the
 * grading panel stands beside the images.
 */
export class QcWorklistController {
  readonly store: Store<QcWorklistState>;
  private active = false;

  constructor(
    private readonly client: QcWorklistClient,
    private readonly openStudy: (studyInstanceUid: string) => void,
    now = new Date(),
  ) {
    this.store = createStore<QcWorklistState>({ query: { month: currentMonth(now) }, list: undefined, institutions: {} });
  }

  async enter(): Promise<void> {
    if (this.active) return;
    this.active = true;
    await this.refresh();
  }

  leave(): void {
    this.active = false;
  }

  async setQuery(change: Partial<WorklistQuery>): Promise<void> {
    const query = { ...this.store.get().query, ...change };
    for (const key of ['institution', 'modality', 'status'] as const) if (!query[key]) delete query[key];
    this.update({ query, ...(change.month ? { institutions: {} } : {}) });
    await this.refresh();
  }

  open(studyInstanceUid: string): void {
    this.openStudy(studyInstanceUid);
  }

  async refresh(): Promise<void> {
    const { query } = this.store.get();
    this.update({ list: { status: 'loading' } });
    try {
      const list = await this.client.worklist(query);
      // A later query answered first: this answer is stale.
      if (this.store.get().query !== query) return;
      const institutions = { ...this.store.get().institutions };
      for (const entry of list.entries) institutions[entry.institutionId] = entry.institutionName;
      this.update({ list: { status: 'ready', value: list }, institutions });
    } catch (error) {
      if (this.store.get().query === query) this.update({ list: failed(error) });
    }
  }

  private update(change: Partial<QcWorklistState>): void {
    this.store.update((state) => ({ ...state, ...change }));
  }
}
