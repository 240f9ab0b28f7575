import ExcelJS from 'exceljs';
import { z } from 'zod';
import type { Visibility } from '../access/policy.ts';
import type { InstitutionsRepository } from '../db/institutions-repository.ts';
import type { DrillDownStudy, DrillFigure, StatisticsFilter, StatisticsRepository } from '../db/statistics-repository.ts';
import { message, type MessageKey } from '../i18n/messages.ts';
import { figuresOf, STATISTICS_DIMENSIONS, type Figures, type GroupCounts, type StatisticsConfig, type StatisticsDimension } from './statistics-config.ts';

/** A question the service refuses: 400 (malformed), 404 (an institution or region outside the caller's view). */
export class StatisticsRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 404,
    readonly reason: string,
  ) {
    super(reason);
  }
}

const month = z.string().regex(/^\d{4}-(0[1-9]|1[0-2])$/, 'a month as YYYY-MM');
const id = z.string().regex(/^\d{1,18}$/, 'an id');

/** The dashboard's filters, as query parameters. */
export const statisticsQuerySchema = z
  .object({
    from: month.optional(),
    to: month.optional(),
    region: id.optional(),
    institution: id.optional(),
    modality: z.string().regex(/^[A-Z0-9]{1,16}$/).optional(),
    technologist: z.string().min(1).max(64).optional(),
    groupBy: z
      .string()
      .optional()
      .transform((value) => (value ? value.split(',') : ['month']))
      .pipe(z.array(z.enum(STATISTICS_DIMENSIONS)).max(2)),
  })
  .strict();
export type StatisticsQuery = z.input<typeof statisticsQuerySchema>;

export const DRILL_FIGURES = ['studies', 'graded', 'grade', 'a-grade', 'reports-final', 'report-qc-graded', 'report-qc-conforming', 'turnaround', 'eligible-viewed', 'recognised', 'not-recognised'] as const;

/** A cell (the group's values of the dimensions) and the figure in it, with the page wanted. */
const drillDownSchema = statisticsQuerySchema
  .omit({ groupBy: true })
  .extend({
    figure: z.enum(DRILL_FIGURES),
    /** For figure=grade: scale:code (radiography:A). */
    grade: z.string().regex(/^[A-Za-z0-9-]{1,32}:[A-Za-z0-9-]{1,32}$/).optional(),
    reason: z.string().regex(/^[A-Za-z0-9-]{1,32}$/).optional(),
    month: month.optional(),
    offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
    limit: z.coerce.number().int().min(1).max(500).default(50),
  })
  .strict();

export interface StatisticsGroup {
  key: Partial<Record<StatisticsDimension, string>>;
  /** The institution's name when grouped by institution. */
  institutionName?: string;
  figures: Figures;
}

export interface StatisticsAnswer {
  from: string;
  to: string;
  groupBy: StatisticsDimension[];
  groups: StatisticsGroup[];
  total: Figures;
  config: StatisticsConfig;
}

const currentMonth = (now: Date) => now.toISOString().slice(0, 7);
function monthsBefore(value: string, count: number): string {
  const [year, monthNumber] = value.split('-').map(Number) as [number, number];
  const date = new Date(Date.UTC(year, monthNumber - 1 - count, 1));
  return date.toISOString().slice(0, 7);
}

/**
 * The region's statistics (docs/recognition.md "Statistics for the region"): figures per institution,
 * modality, technologist and month from the rollups of migration 022, the studies behind each, and
 * the exports. What a caller sees is the institutions its visibility reaches, narrowed by its filters.
 */
export class StatisticsService {
  constructor(
    private readonly deps: {
      repository: StatisticsRepository;
      institutions: InstitutionsRepository;
      config: StatisticsConfig;
      now?: () => Date;
    },
  ) {}

  async summary(query: unknown, visibility: Visibility): Promise<StatisticsAnswer> {
    const parsed = parse(statisticsQuerySchema, query);
    const filter = await this.filterOf(parsed, visibility);
    const grouped = await this.deps.repository.counts(filter, parsed.groupBy);
    const names = parsed.groupBy.includes('institution') ? await this.deps.repository.institutionNames(grouped.map((group) => group.key.institution!)) : new Map<string, string>();
    const groups = grouped
      .map((group) => ({
        key: group.key,
        ...(group.key.institution ? { institutionName: names.get(group.key.institution) ?? group.key.institution } : {}),
        figures: figuresOf(group.counts, this.deps.config),
      }))
      .sort((a, b) => compareKeys(a.key, b.key, parsed.groupBy));
    const total = figuresOf(sumCounts(grouped.map((group) => group.counts)), this.deps.config);
    return { from: filter.fromMonth, to: filter.toMonth, groupBy: parsed.groupBy, groups, total, config: this.deps.config };
  }

  /** The studies behind one figure of one cell, a page at a time. */
  async drillDown(query: unknown, visibility: Visibility): Promise<{ total: number; offset: number; studies: DrillDownStudy[] }> {
    const parsed = parse(drillDownSchema, query);
    const filter = await this.filterOf(parsed, visibility);
    if (parsed.month) {
      if (parsed.month < filter.fromMonth || parsed.month > filter.toMonth) return { total: 0, offset: parsed.offset, studies: [] };
      filter.fromMonth = filter.toMonth = parsed.month;
    }
    const page = await this.deps.repository.drillDown(filter, this.drillFigure(parsed), { offset: parsed.offset, limit: parsed.limit });
    return { ...page, offset: parsed.offset };
  }

  /** The summary as a table, CSV (UTF-8 with a byte order mark, so Excel shows Chinese) or XLSX. */
  async export(query: unknown, visibility: Visibility, format: 'csv' | 'xlsx', acceptLanguage: string | undefined): Promise<Buffer> {
    const answer = await this.summary(query, visibility);
    const { header, rows } = table(answer, acceptLanguage);
    if (format === 'csv') {
      const cell = (value: string | number | null) => {
        const text = value === null ? '' : String(value);
        return /[",\r\n]/.test(text) ? `"${text.replaceAll('"', '""')}"` : text;
      };
      return Buffer.from(`\uFEFF${[header, ...rows].map((row) => row.map(cell).join(',')).join('\r\n')}\r\n`, 'utf8');
    }
    const workbook = new ExcelJS.Workbook();
    workbook.creator = 'Yingyun';
    const sheet = workbook.addWorksheet(message('statistics.sheet', acceptLanguage));
    sheet.addRow(header).font = { bold: true };
    for (const row of rows) sheet.addRow(row);
    sheet.views = [{ state: 'frozen', ySplit: 1 }];
    return Buffer.from(await workbook.xlsx.writeBuffer());
  }

  private drillFigure(parsed: z.infer<typeof drillDownSchema>): DrillFigure {
    const { config } = this.deps;
    switch (parsed.figure) {
      case 'grade': {
        if (!parsed.grade) throw new StatisticsRefusal(400, 'figure=grade needs grade=<scale>:<code>');
        const [scaleId, gradeCode] = parsed.grade.split(':') as [string, string];
        return { figure: 'grade', scaleId, gradeCode };
      }
      case 'a-grade':
        return { figure: 'a-grade', gradeKeys: Object.entries(config.aGrade).flatMap(([scaleId, codes]) => codes.map((code) => `${scaleId}:${code}`)) };
      case 'report-qc-conforming':
        return { figure: 'report-qc-conforming', grades: config.reportConforming };
      case 'not-recognised':
        return { figure: 'not-recognised', ...(parsed.reason ? { reasonCode: parsed.reason } : {}) };
      default:
        return { figure: parsed.figure };
    }
  }

  /** The rollup filter: the period (default the last 12 months) and the institutions asked for within those visible. */
  private async filterOf(parsed: { from?: string; to?: string; region?: string; institution?: string; modality?: string; technologist?: string }, visibility: Visibility): Promise<StatisticsFilter> {
    const toMonth = parsed.to ?? currentMonth((this.deps.now ?? (() => new Date()))());
    const fromMonth = parsed.from ?? monthsBefore(toMonth, 11);
    if (fromMonth > toMonth) throw new StatisticsRefusal(400, `from ${fromMonth} is after to ${toMonth}`);
    let institutionIds: readonly string[] | 'all' = visibility.institutionIds;
    const narrow = (ids: readonly string[], what: string) => {
      const narrowed = institutionIds === 'all' ? ids : ids.filter((candidate) => institutionIds.includes(candidate));
      // The same answer for "no such" and "not yours": statistics name no institution the caller cannot see.
      if (narrowed.length === 0) throw new StatisticsRefusal(404, `no ${what} with statistics you may see`);
      institutionIds = narrowed;
    };
    if (parsed.region) narrow(await this.deps.institutions.institutionsInRegion(parsed.region), `region ${parsed.region}`);
    if (parsed.institution) narrow([parsed.institution], `institution ${parsed.institution}`);
    return {
      institutionIds,
      fromMonth,
      toMonth,
      ...(parsed.modality ? { modality: parsed.modality } : {}),
      ...(parsed.technologist ? { technologist: parsed.technologist } : {}),
    };
  }
}

function parse<T extends z.ZodTypeAny>(schema: T, query: unknown): z.infer<T> {
  const parsed = schema.safeParse(query);
  if (!parsed.success) throw new StatisticsRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.') || 'query'}: ${issue.message}`).join('; '));
  return parsed.data;
}

/** The groups' counts as one (the total row): every figure is computed from sums or merged histograms. */
function sumCounts(all: readonly GroupCounts[]): GroupCounts {
  return {
    studies: all.reduce((sum, counts) => sum + counts.studies, 0),
    reportsFinal: all.reduce((sum, counts) => sum + counts.reportsFinal, 0),
    reportQcGraded: all.reduce((sum, counts) => sum + counts.reportQcGraded, 0),
    reportQcConforming: all.reduce((sum, counts) => sum + counts.reportQcConforming, 0),
    reportQcBasically: all.reduce((sum, counts) => sum + counts.reportQcBasically, 0),
    grades: all.flatMap((counts) => counts.grades),
    turnaround: all.flatMap((counts) => counts.turnaround),
    recognition: all.flatMap((counts) => counts.recognition),
  };
}

function compareKeys(a: StatisticsGroup['key'], b: StatisticsGroup['key'], dimensions: readonly StatisticsDimension[]): number {
  for (const dimension of dimensions) {
    const order = (a[dimension] ?? '').localeCompare(b[dimension] ?? '', 'en', { numeric: true });
    if (order !== 0) return order;
  }
  return 0;
}

const rate = (value: number | null) => (value === null ? null : Math.round(value * 10000) / 100);

/** The export's header and rows: the grouping's columns, then every figure (rates in per cent). */
function table(answer: StatisticsAnswer, acceptLanguage: string | undefined): { header: string[]; rows: (string | number | null)[][] } {
  const label = (key: MessageKey) => message(key, acceptLanguage);
  const grades = [...new Set([answer.total, ...answer.groups.map((group) => group.figures)].flatMap((figures) => Object.keys(figures.gradeDistribution)))].sort();
  const reasons = [...new Set(Object.keys(answer.total.notRecognisedReasons))].sort();
  const figureColumns: [MessageKey, (figures: Figures) => number | null][] = [
    ['statistics.figure.studies', (f) => f.studies],
    ['statistics.figure.graded', (f) => f.graded],
    ['statistics.figure.aGradeRate', (f) => rate(f.aGradeRate)],
    ['statistics.figure.reportsFinal', (f) => f.reportsFinal],
    ['statistics.figure.reportQcRate', (f) => rate(f.reportQcRate)],
    ['statistics.figure.reportQcGradedShare', (f) => rate(f.reportQcGradedShare)],
    ['statistics.figure.turnaroundMedian', (f) => f.turnaroundMedianMinutes],
    ['statistics.figure.turnaroundP90', (f) => f.turnaroundP90Minutes],
    ['statistics.figure.eligibleViewed', (f) => f.eligibleViewed],
    ['statistics.figure.recognised', (f) => f.recognised],
    ['statistics.figure.recognitionRate', (f) => rate(f.recognitionRate)],
    ['statistics.figure.notRecognised', (f) => f.notRecognised],
    ['statistics.figure.repeatsAvoided', (f) => f.repeatsAvoided],
    ['statistics.figure.costAvoided', (f) => f.costAvoidedYuan],
  ];
  const header = [
    ...answer.groupBy.map((dimension) => label(`statistics.dimension.${dimension}`)),
    ...figureColumns.map(([key]) => label(key)),
    ...grades.map((grade) => `${label('statistics.figure.grade')} ${grade}`),
    ...reasons.map((reason) => `${label('statistics.figure.notRecognised')} ${reason}`),
  ];
  const row = (group: Pick<StatisticsGroup, 'key' | 'institutionName' | 'figures'>, first: string | null) => [
    ...answer.groupBy.map((dimension, index) => (first !== null ? (index === 0 ? first : '') : dimension === 'institution' ? (group.institutionName ?? '') : (group.key[dimension] ?? ''))),
    ...figureColumns.map(([, value]) => value(group.figures)),
    ...grades.map((grade) => group.figures.gradeDistribution[grade] ?? 0),
    ...reasons.map((reason) => group.figures.notRecognisedReasons[reason] ?? 0),
  ];
  const rows = answer.groups.map((group) => row(group, null));
  if (answer.groupBy.length > 0) rows.push(row({ key: {}, figures: answer.total }, label('statistics.total')));
  return { header, rows };
}
