import type pg from 'pg';
import type { GroupCounts, StatisticsDimension } from '../statistics/statistics-config.ts';

/** Which rollup rows a question covers. Months are 'YYYY-MM', both ends included. */
export interface StatisticsFilter {
  /** The institutions the caller may see and asked for; 'all' only for a system administrator who named none. */
  institutionIds: readonly string[] | 'all';
  fromMonth: string;
  toMonth: string;
  modality?: string;
  technologist?: string;
}

export interface GroupedCounts {
  key: Partial<Record<StatisticsDimension, string>>;
  counts: GroupCounts;
}

/** The studies behind one figure of one cell. */
export type DrillFigure =
  | { figure: 'studies' | 'graded' | 'reports-final' | 'report-qc-graded' | 'turnaround' }
  | { figure: 'grade'; scaleId: string; gradeCode: string }
  | { figure: 'a-grade'; gradeKeys: string[] }
  | { figure: 'report-qc-conforming'; grades: string[] }
  | { figure: 'eligible-viewed' | 'recognised' }
  | { figure: 'not-recognised'; reasonCode?: string };

export interface DrillDownStudy {
  studyInstanceUid: string;
  studyDate: string | null;
  accessionNumber: string | null;
  institutionId: string;
  institutionName: string;
  modality: string;
  technologist: string;
  qcGrade: string | null;
  turnaroundMinutes: number | null;
  reportQcGrade: string | null;
  /** Recognition figures: the event's institution, time and decision (or 'viewed'). */
  event?: { institutionName: string; at: string; kind: string; reasonCode: string | null; hrMark: string | null };
}

const DIMENSION_SQL: Record<StatisticsDimension, string> = {
  institution: 'institution_id::text',
  modality: 'modality',
  technologist: 'technologist',
  month: `to_char(month, 'YYYY-MM')`,
};

const emptyCounts = (): GroupCounts => ({ studies: 0, reportsFinal: 0, reportQcGraded: 0, reportQcConforming: 0, reportQcBasically: 0, grades: [], turnaround: [], recognition: [] });

/** A WHERE clause over a rollup, with its parameters; `technologist` only where the rollup has it. */
function where(filter: StatisticsFilter, hasTechnologist: boolean): { sql: string; values: unknown[] } {
  const values: unknown[] = [`${filter.fromMonth}-01`, `${filter.toMonth}-01`];
  const conditions = ['month BETWEEN $1::date AND $2::date'];
  if (filter.institutionIds !== 'all') {
    values.push(filter.institutionIds);
    conditions.push(`institution_id = ANY ($${values.length}::bigint[])`);
  }
  if (filter.modality !== undefined) {
    values.push(filter.modality);
    conditions.push(`modality = $${values.length}`);
  }
  if (hasTechnologist && filter.technologist !== undefined) {
    values.push(filter.technologist);
    conditions.push(`technologist = $${values.length}`);
  }
  return { sql: conditions.join(' AND '), values };
}

/** The only place with SQL for the region's statistics (migration 022's rollups and facts). */
export class StatisticsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * The rollups' counts grouped by the dimensions asked for. Turnaround and recognition are not kept
   * per technologist: grouped or filtered by technologist, those counts stay empty.
   */
  async counts(filter: StatisticsFilter, groupBy: readonly StatisticsDimension[]): Promise<GroupedCounts[]> {
    const groups = new Map<string, GroupedCounts>();
    const select = (dimensions: readonly StatisticsDimension[]) => dimensions.map((dimension) => `${DIMENSION_SQL[dimension]} AS "${dimension}"`);
    const groupOf = (row: Record<string, unknown>) => {
      const key: Partial<Record<StatisticsDimension, string>> = {};
      for (const dimension of groupBy) key[dimension] = String(row[dimension]);
      const id = JSON.stringify(groupBy.map((dimension) => key[dimension]));
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { key, counts: emptyCounts() }));
      return group.counts;
    };
    // A study that moved (regraded, re-dated, its series arrived) leaves its old cells at zero: HAVING leaves them out.
    const grouping = (extra: readonly string[]) => {
      const positions = [...groupBy.map((_, index) => index + 1), ...extra.map((_, index) => groupBy.length + index + 1)];
      return positions.length ? `GROUP BY ${positions.join(', ')}` : '';
    };
    const perTechnologist = groupBy.includes('technologist') || filter.technologist !== undefined;

    const monthly = where(filter, true);
    const totals = await this.pool.query<Record<string, string>>(
      `SELECT ${[...select(groupBy), 'sum(studies)::text AS studies', 'sum(reports_final)::text AS "reportsFinal"', 'sum(report_qc_graded)::text AS "reportQcGraded"', 'sum(report_qc_conforming)::text AS "reportQcConforming"', 'sum(report_qc_basically)::text AS "reportQcBasically"'].join(', ')}
       FROM statistics_monthly WHERE ${monthly.sql} ${grouping([])} HAVING sum(studies) > 0`,
      monthly.values,
    );
    for (const row of totals.rows) {
      const counts = groupOf(row);
      counts.studies = Number(row.studies);
      counts.reportsFinal = Number(row.reportsFinal);
      counts.reportQcGraded = Number(row.reportQcGraded);
      counts.reportQcConforming = Number(row.reportQcConforming);
      counts.reportQcBasically = Number(row.reportQcBasically);
    }
    const grades = await this.pool.query<Record<string, string> & { reject: boolean }>(
      `SELECT ${[...select(groupBy), 'scale_id AS "scaleId"', 'grade_code AS "gradeCode"', 'reject', 'sum(studies)::text AS studies'].join(', ')}
       FROM statistics_monthly_grades WHERE ${monthly.sql} ${grouping(['scale', 'grade', 'reject'])} HAVING sum(studies) > 0`,
      monthly.values,
    );
    for (const row of grades.rows) groupOf(row).grades.push({ scaleId: row.scaleId!, gradeCode: row.gradeCode!, reject: row.reject, studies: Number(row.studies) });
    if (perTechnologist) return [...groups.values()];

    const events = where(filter, false);
    const turnaround = await this.pool.query<Record<string, string>>(
      `SELECT ${[...select(groupBy), 'bucket_minutes::text AS "bucketMinutes"', 'sum(reports)::text AS reports'].join(', ')}
       FROM statistics_turnaround WHERE ${events.sql} ${grouping(['bucket'])} HAVING sum(reports) > 0`,
      events.values,
    );
    for (const row of turnaround.rows) groupOf(row).turnaround.push({ bucketMinutes: Number(row.bucketMinutes), reports: Number(row.reports) });
    const recognition = await this.pool.query<Record<string, string> & { eligible: boolean }>(
      `SELECT ${[...select(groupBy), 'kind', 'reason_code AS "reasonCode"', 'eligible', 'modality AS "eventModality"', 'sum(events)::text AS events'].join(', ')}
       FROM statistics_recognition_monthly WHERE ${events.sql} ${grouping(['kind', 'reason', 'eligible', 'modality'])} HAVING sum(events) > 0`,
      events.values,
    );
    for (const row of recognition.rows) {
      groupOf(row).recognition.push({ kind: row.kind as 'viewed', reasonCode: row.reasonCode!, eligible: row.eligible, modality: row.eventModality!, events: Number(row.events) });
    }
    return [...groups.values()];
  }

  /** A page of the studies behind a figure, in month and arrival order, with how many there are. */
  async drillDown(filter: StatisticsFilter, figure: DrillFigure, page: { offset: number; limit: number }): Promise<{ total: number; studies: DrillDownStudy[] }> {
    const isEvent = figure.figure === 'eligible-viewed' || figure.figure === 'recognised' || figure.figure === 'not-recognised';
    const scope = where(filter, true);
    const values = isEvent ? scope.values.slice(0, 2) : [...scope.values];
    const parameter = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    const studyColumns = `st.study_instance_uid AS "studyInstanceUid", to_char(st.study_date, 'YYYY-MM-DD') AS "studyDate", st.accession_number AS "accessionNumber",
      f.institution_id::text AS "institutionId", i.name AS "institutionName", f.modality, f.technologist, f.qc_grade AS "qcGrade",
      f.turnaround_minutes AS "turnaroundMinutes", f.report_qc_grade AS "reportQcGrade"`;
    let sql: string;
    if (figure.figure !== 'eligible-viewed' && figure.figure !== 'recognised' && figure.figure !== 'not-recognised') {
      const condition = (() => {
        switch (figure.figure) {
          case 'graded':
            return 'f.qc_grade IS NOT NULL';
          case 'reports-final':
            return 'f.report_final';
          case 'turnaround':
            return 'f.turnaround_minutes IS NOT NULL';
          case 'report-qc-graded':
            return 'f.report_qc_grade IS NOT NULL';
          case 'grade':
            return `f.qc_scale = ${parameter(figure.scaleId)} AND f.qc_grade = ${parameter(figure.gradeCode)}`;
          case 'a-grade':
            return `NOT f.qc_reject AND f.qc_scale || ':' || f.qc_grade = ANY (${parameter(figure.gradeKeys)}::text[])`;
          case 'report-qc-conforming':
            return `f.report_qc_grade = ANY (${parameter(figure.grades)}::text[])`;
          default:
            return 'TRUE';
        }
      })();
      sql = `SELECT ${studyColumns}, count(*) OVER () AS total
        FROM (SELECT * FROM statistics_studies WHERE ${scope.sql}) f
        JOIN studies st ON st.id = f.study_pk JOIN institutions i ON i.id = f.institution_id
        WHERE ${condition}
        ORDER BY f.month, st.id`;
    } else {
      // Counted where the prior was viewed or decided on, in that month, by the prior's modality then.
      const viewed = figure.figure === 'eligible-viewed';
      const institution = viewed ? 'viewing_institution_id' : 'deciding_institution_id';
      const conditions = [viewed ? `hr_mark IS NOT NULL AND date_trunc('month', viewed_on)::date BETWEEN $1::date AND $2::date` : `decision = ${parameter(figure.figure)} AND statistics_month_of(decided_at) BETWEEN $1::date AND $2::date`];
      if (filter.institutionIds !== 'all') conditions.push(`${institution} = ANY (${parameter(filter.institutionIds)}::bigint[])`);
      if (filter.modality !== undefined) conditions.push(`coalesce(modality, '') = ${parameter(filter.modality)}`);
      if (figure.figure === 'not-recognised' && figure.reasonCode !== undefined) conditions.push(`reason_code = ${parameter(figure.reasonCode)}`);
      const events = viewed
        ? `SELECT study_pk, ${institution} AS institution_id, viewed_at AS at, 'viewed' AS kind, NULL::text AS reason_code, hr_mark FROM prior_views`
        : `SELECT study_pk, ${institution} AS institution_id, decided_at AS at, decision AS kind, reason_code, hr_mark FROM recognition_decisions`;
      sql = `SELECT ${studyColumns}, ei.name AS "eventInstitutionName", to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "eventAt",
          e.kind AS "eventKind", e.reason_code AS "eventReason", e.hr_mark AS "eventHrMark", count(*) OVER () AS total
        FROM (${events} WHERE ${conditions.join(' AND ')}) e
        JOIN studies st ON st.id = e.study_pk JOIN institutions ei ON ei.id = e.institution_id
        JOIN statistics_studies f ON f.study_pk = st.id JOIN institutions i ON i.id = f.institution_id
        ORDER BY e.at, st.id`;
    }
    const rows = (await this.pool.query<DrillDownStudy & { total: string; eventInstitutionName?: string; eventAt?: string; eventKind?: string; eventReason?: string | null; eventHrMark?: string | null }>(`${sql} OFFSET ${parameter(page.offset)} LIMIT ${parameter(page.limit)}`, values)).rows;
    return {
      total: rows.length ? Number(rows[0]!.total) : 0,
      studies: rows.map(({ total: _total, eventInstitutionName, eventAt, eventKind, eventReason, eventHrMark, ...study }) =>
        isEvent ? { ...study, event: { institutionName: eventInstitutionName!, at: eventAt!, kind: eventKind!, reasonCode: eventReason ?? null, hrMark: eventHrMark ?? null } } : study,
      ),
    };
  }

  /** The names of institutions, for labels. */
  async institutionNames(ids: readonly string[]): Promise<Map<string, string>> {
    const rows = (await this.pool.query<{ id: string; name: string }>('SELECT id::text, name FROM institutions WHERE id = ANY ($1::bigint[])', [ids])).rows;
    return new Map(rows.map((row) => [row.id, row.name]));
  }

  /** Recompute every study's facts and all rollups (after a bulk load). */
  async rebuild(): Promise<void> {
    await this.pool.query('SELECT statistics_rebuild()');
  }
}
