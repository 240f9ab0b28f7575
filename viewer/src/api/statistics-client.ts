import type { DrillDownStudy } from '../../../archive/db/statistics-repository.ts';
import type { StatisticsAnswer } from '../../../archive/statistics/statistics-service.ts';
import type { Connection } from './http.ts';

/** The dashboard's filters as the statistics API takes them (empty: not filtered). */
export interface StatisticsFilters {
  from: string;
  to: string;
  institution: string;
  modality: string;
  groupBy: 'month' | 'institution' | 'modality' | 'technologist';
}

/** One figure of one cell, for the list of the studies behind it. */
export interface DrillDownCell {
  figure: string;
  grade?: string;
  reason?: string;
  month?: string;
  institution?: string;
  modality?: string;
  technologist?: string;
}

export type DrillDownPage = { total: number; offset: number; studies: DrillDownStudy[] };

function parameters(filters: StatisticsFilters, extra: Record<string, string | undefined> = {}): URLSearchParams {
  const params = new URLSearchParams({ from: filters.from, to: filters.to });
  if (filters.institution) params.set('institution', filters.institution);
  if (filters.modality) params.set('modality', filters.modality);
  for (const [name, value] of Object.entries(extra)) if (value) params.set(name, value);
  return params;
}

/** The region's statistics (GET /api/statistics, its drill-down and exports). */
export class StatisticsClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  summary(filters: StatisticsFilters): Promise<StatisticsAnswer> {
    return this.connection.json(`${this.apiRoot}/statistics?${parameters(filters, { groupBy: filters.groupBy }).toString()}`);
  }

  drillDown(filters: StatisticsFilters, cell: DrillDownCell, offset: number): Promise<DrillDownPage> {
    const { figure, ...narrowing } = cell;
    // A cell names its own institution or modality; they replace the dashboard's filter of the same name.
    const params = parameters({ ...filters, ...(narrowing.institution ? { institution: narrowing.institution } : {}), ...(narrowing.modality ? { modality: narrowing.modality } : {}) }, {
      figure,
      grade: narrowing.grade,
      reason: narrowing.reason,
      month: narrowing.month,
      technologist: narrowing.technologist,
      offset: String(offset),
      limit: '50',
    });
    return this.connection.json(`${this.apiRoot}/statistics/drill-down?${params.toString()}`);
  }

  /** Where the browser downloads the table (the session cookie goes with it). */
  exportUrl(filters: StatisticsFilters, format: 'csv' | 'xlsx'): string {
    return `${this.apiRoot}/statistics/export.${format}?${parameters(filters, { groupBy: filters.groupBy }).toString()}`;
  }
}
