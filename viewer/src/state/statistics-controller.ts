import type { StatisticsAnswer } from '../../../archive/statistics/statistics-service.ts';
import type { DrillDownCell, DrillDownPage, StatisticsClient, StatisticsFilters } from '../api/statistics-client.ts';
import { failed, type Loadable } from './app-state.ts';
import { createStore, type Store } from './store.ts';

export interface StatisticsState {
  filters: StatisticsFilters;
  answer: Loadable<StatisticsAnswer> | undefined;
  /** The cell whose studies are listed, and the page of them. */
  drillDown: { cell: DrillDownCell; page: Loadable<DrillDownPage> } | undefined;
}

const month = (date: Date) => `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}`;

/** The last twelve months up to this one, the dashboard's default period. */
export function lastTwelveMonths(now: Date): { from: string; to: string } {
  return { from: month(new Date(now.getFullYear(), now.getMonth() - 11, 1)), to: month(now) };
}

/**
 * The statistics dashboard's state and actions (统计看板): the filters, the figures the API answers
 * for them, and the studies behind a clicked figure. Apart from the rest of the app, following the route.
 */
export class StatisticsController {
  readonly store: Store<StatisticsState>;
  private active = false;

  constructor(
    readonly client: StatisticsClient,
    private readonly openStudy: (studyInstanceUid: string) => void,
    now = new Date(),
  ) {
    this.store = createStore<StatisticsState>({ filters: { ...lastTwelveMonths(now), institution: '', modality: '', groupBy: 'month' }, answer: undefined, drillDown: undefined });
  }

  async enter(): Promise<void> {
    if (this.active) return;
    this.active = true;
    await this.refresh();
  }

  leave(): void {
    this.active = false;
  }

  async setFilters(change: Partial<StatisticsFilters>): Promise<void> {
    this.store.update((state) => ({ ...state, filters: { ...state.filters, ...change }, drillDown: undefined }));
    await this.refresh();
  }

  async refresh(): Promise<void> {
    const { filters } = this.store.get();
    this.store.update((state) => ({ ...state, answer: { status: 'loading' } }));
    try {
      const value = await this.client.summary(filters);
      if (this.store.get().filters === filters) this.store.update((state) => ({ ...state, answer: { status: 'ready', value } }));
    } catch (error) {
      if (this.store.get().filters === filters) this.store.update((state) => ({ ...state, answer: failed(error) }));
    }
  }

  /** The studies behind a figure of a cell (a bar, a point, a table cell), from their first page. */
  async drill(cell: DrillDownCell, offset = 0): Promise<void> {
    this.store.update((state) => ({ ...state, drillDown: { cell, page: { status: 'loading' } } }));
    let page: Loadable<DrillDownPage>;
    try {
      page = { status: 'ready', value: await this.client.drillDown(this.store.get().filters, cell, offset) };
    } catch (error) {
      page = failed(error);
    }
    if (this.store.get().drillDown?.cell === cell) this.store.update((state) => ({ ...state, drillDown: { cell, page } }));
  }

  closeDrillDown(): void {
    this.store.update((state) => ({ ...state, drillDown: undefined }));
  }

  open(studyInstanceUid: string): void {
    this.openStudy(studyInstanceUid);
  }
}
