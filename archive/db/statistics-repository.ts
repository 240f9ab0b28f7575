import type pg from 'pg';
import { TURNAROUND_BUCKETS, turnaroundBucketMinutes, type GroupCounts, type StatisticsDimension } from '../statistics/statistics-config.ts';

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

const emptyCounts = (): GroupCounts => ({ studies: 0, reportsFinal: 0, reportQcGraded: 0, reportQcConforming: 0, reportQcBasically: 0, grades: [], turnaround: [], recognition: [] });

/**
 * A WHERE clause over a rollup aliased r, with its parameters. The institutions are a hash join
 * (`scope`), not `= ANY`: fifty ids compared row by row cost more than the rest of the query.
 */
function scoped(filter: StatisticsFilter, columns: { technologist: boolean }): { join: string; where: string; values: unknown[] } {
  const values: unknown[] = [`${filter.fromMonth}-01`, `${filter.toMonth}-01`];
  const conditions = ['r.month BETWEEN $1::date AND $2::date'];
  let join = '';
  if (filter.institutionIds !== 'all') {
    values.push(filter.institutionIds);
    join = `JOIN unnest($${values.length}::bigint[]) AS scope (id) ON scope.id = r.institution_id`;
  }
  if (filter.modality !== undefined) {
    values.push(filter.modality);
    conditions.push(`r.modality = $${values.length}`);
  }
  if (columns.technologist && filter.technologist !== undefined) {
    values.push(filter.technologist);
    conditions.push(`r.technologist = $${values.length}`);
  }
  return { join, where: conditions.join(' AND '), values };
}

const DIMENSION_SQL: Record<StatisticsDimension, string> = {
  institution: 'r.institution_id::text',
  modality: 'r.modality',
  technologist: 'r.technologist',
  month: `to_char(r.month, 'YYYY-MM')`,
};

/** The only place with SQL for the region's statistics (migration 022's rollups and facts). */
export class StatisticsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * The rollups' counts grouped by the dimensions asked for. Reports, turnaround and recognition are
   * not kept per technologist: grouped or filtered by technologist, those counts stay empty.
   */
  async counts(filter: StatisticsFilter, groupBy: readonly StatisticsDimension[]): Promise<GroupedCounts[]> {
    const groups = new Map<string, GroupedCounts>();
    const groupOf = (row: Record<string, unknown>) => {
      const key: Partial<Record<StatisticsDimension, string>> = {};
      for (const dimension of groupBy) key[dimension] = String(row[dimension]);
      const id = JSON.stringify(groupBy.map((dimension) => key[dimension]));
      let group = groups.get(id);
      if (!group) groups.set(id, (group = { key, counts: emptyCounts() }));
      return group.counts;
    };
    const dimensions = groupBy.map((dimension) => `${DIMENSION_SQL[dimension]} AS "${dimension}"`);
    // A study that moved (regraded, re-dated, its series arrived) leaves its old cells at zero: HAVING leaves them out.
    const grouped = (columns: string[], from: string, scope: ReturnType<typeof scoped>, extra: string[], total: string) =>
      this.pool.query<Record<string, string> & { reject: boolean; eligible: boolean }>(
        `SELECT ${[...dimensions, ...columns].join(', ')} FROM ${from} r ${scope.join} WHERE ${scope.where}
         ${groupBy.length + extra.length ? `GROUP BY ${[...groupBy.map((_, index) => index + 1), ...extra.map((_, index) => groupBy.length + index + 1)].join(', ')}` : ''} HAVING ${total} > 0`,
        scope.values,
      );

    if (groupBy.includes('technologist') || filter.technologist !== undefined) {
      const rows = await grouped(['r.scale_id AS "scaleId"', 'r.grade_code AS "gradeCode"', 'r.reject', 'sum(r.studies)::text AS studies'], 'statistics_technologists', scoped(filter, { technologist: true }), ['scale', 'grade', 'reject'], 'sum(r.studies)');
      for (const row of rows.rows) {
        const counts = groupOf(row);
        counts.studies += Number(row.studies);
        if (row.scaleId) counts.grades.push({ scaleId: row.scaleId, gradeCode: row.gradeCode!, reject: row.reject, studies: Number(row.studies) });
      }
      return [...groups.values()];
    }

    const scope = scoped(filter, { technologist: false });
    // Each cell's row, turnaround histogram included, summed here: a region holds a few thousand cells.
    const cells = await this.pool.query<Record<string, string>>(
      `SELECT ${[...dimensions, 'r.studies', 'r.reports_final AS "reportsFinal"', 'r.report_qc_graded AS "reportQcGraded"', 'r.report_qc_conforming AS "reportQcConforming"', 'r.report_qc_basically AS "reportQcBasically"', `array_to_string(r.turnaround, ',') AS turnaround`].join(', ')}
       FROM statistics_monthly r ${scope.join} WHERE ${scope.where} AND r.studies > 0`,
      scope.values,
    );
    const histograms = new Map<GroupCounts, number[]>();
    for (const row of cells.rows) {
      const counts = groupOf(row);
      counts.studies += Number(row.studies);
      counts.reportsFinal += Number(row.reportsFinal);
      counts.reportQcGraded += Number(row.reportQcGraded);
      counts.reportQcConforming += Number(row.reportQcConforming);
      counts.reportQcBasically += Number(row.reportQcBasically);
      const histogram = histograms.get(counts) ?? new Array<number>(TURNAROUND_BUCKETS).fill(0);
      histograms.set(counts, histogram);
      // As text: the driver's array parser costs more than the rest of the question for a region's cells.
      row.turnaround!.split(',').forEach((reports, index) => (histogram[index]! += Number(reports)));
    }
    for (const [counts, histogram] of histograms) {
      counts.turnaround = histogram.flatMap((reports, index) => (reports > 0 ? [{ bucketMinutes: turnaroundBucketMinutes(index + 1), reports }] : []));
    }
    const grades = await grouped(['r.scale_id AS "scaleId"', 'r.grade_code AS "gradeCode"', 'r.reject', 'sum(r.studies)::text AS studies'], 'statistics_monthly_grades', scope, ['scale', 'grade', 'reject'], 'sum(r.studies)');
    for (const row of grades.rows) groupOf(row).grades.push({ scaleId: row.scaleId!, gradeCode: row.gradeCode!, reject: row.reject, studies: Number(row.studies) });
    const recognition = await grouped(
      ['r.kind', 'r.reason_code AS "reasonCode"', 'r.eligible', 'r.modality AS "eventModality"', 'sum(r.events)::text AS events'],
      'statistics_recognition_monthly',
      scope,
      ['kind', 'reason', 'eligible', 'modality'],
      'sum(r.events)',
    );
    for (const row of recognition.rows) {
      groupOf(row).recognition.push({ kind: row.kind as 'viewed', reasonCode: row.reasonCode!, eligible: row.eligible, modality: row.eventModality!, events: Number(row.events) });
    }
    return [...groups.values()];
  }

  /** A page of the studies behind a figure, in month and arrival order, with how many there are. */
  async drillDown(filter: StatisticsFilter, figure: DrillFigure, page: { offset: number; limit: number }): Promise<{ total: number; studies: DrillDownStudy[] }> {
    const isEvent = figure.figure === 'eligible-viewed' || figure.figure === 'recognised' || figure.figure === 'not-recognised';
    const scope = scoped(filter, { technologist: true });
    const values = isEvent ? scope.values.slice(0, 2) : [...scope.values];
    const parameter = (value: unknown) => {
      values.push(value);
      return `$${values.length}`;
    };
    const studyColumns = `st.study_instance_uid AS "studyInstanceUid", to_char(st.study_date, 'YYYY-MM-DD') AS "studyDate", st.accession_number AS "accessionNumber",
      f.institution_id::text AS "institutionId", i.name AS "institutionName", f.modality, f.technologist, f.qc_grade AS "qcGrade",
      f.turnaround_minutes AS "turnaroundMinutes", f.report_qc_grade AS "reportQcGrade"`;
    let sql: string;
    let countSql: string;
    // The page's parameters come last, so the count takes the values before them.
    let countValues = 0;
    const pageParameters = () => {
      countValues = values.length;
      return `${parameter(page.offset)} LIMIT ${parameter(page.limit)}`;
    };
    if (figure.figure !== 'eligible-viewed' && figure.figure !== 'recognised' && figure.figure !== 'not-recognised') {
      const condition = (() => {
        switch (figure.figure) {
          case 'graded':
            return 'r.qc_grade IS NOT NULL';
          case 'reports-final':
            return 'r.report_final';
          case 'turnaround':
            return 'r.turnaround_minutes IS NOT NULL';
          case 'report-qc-graded':
            return 'r.report_qc_grade IS NOT NULL';
          case 'grade':
            return `r.qc_scale = ${parameter(figure.scaleId)} AND r.qc_grade = ${parameter(figure.gradeCode)}`;
          case 'a-grade':
            return `NOT r.qc_reject AND r.qc_scale || ':' || r.qc_grade = ANY (${parameter(figure.gradeKeys)}::text[])`;
          case 'report-qc-conforming':
            return `r.report_qc_grade = ANY (${parameter(figure.grades)}::text[])`;
          default:
            return 'TRUE';
        }
      })();
      const matching = `FROM statistics_studies r ${scope.join} WHERE ${scope.where} AND ${condition}`;
      countSql = `SELECT count(*)::text AS total ${matching}`;
      sql = `SELECT ${studyColumns}
        FROM (SELECT r.* ${matching} ORDER BY r.month, r.study_pk OFFSET ${pageParameters()}) f
        JOIN studies st ON st.study_instance_uid = f.study_instance_uid JOIN institutions i ON i.id = f.institution_id
        ORDER BY f.month, f.study_pk`;
    } else {
      // Counted where the prior was viewed or decided on, in that month, by the prior's modality then.
      const viewed = figure.figure === 'eligible-viewed';
      const institution = viewed ? 'viewing_institution_id' : 'deciding_institution_id';
      // Ranges on the indexed columns (the months in Beijing time, as statistics_month_of counts them).
      const conditions = [
        viewed
          ? `hr_mark IS NOT NULL AND viewed_on >= $1::date AND viewed_on < $2::date + interval '1 month'`
          : `decision = ${parameter(figure.figure)} AND decided_at >= $1::timestamp AT TIME ZONE 'Asia/Shanghai' AND decided_at < ($2::date + interval '1 month')::timestamp AT TIME ZONE 'Asia/Shanghai'`,
      ];
      if (filter.institutionIds !== 'all') conditions.push(`${institution} = ANY (${parameter(filter.institutionIds)}::bigint[])`);
      if (filter.modality !== undefined) conditions.push(`coalesce(modality, '') = ${parameter(filter.modality)}`);
      if (figure.figure === 'not-recognised' && figure.reasonCode !== undefined) conditions.push(`reason_code = ${parameter(figure.reasonCode)}`);
      const events = viewed
        ? `SELECT study_pk, study_instance_uid, ${institution} AS institution_id, viewed_at AS at, 'viewed' AS kind, NULL::text AS reason_code, hr_mark FROM prior_views`
        : `SELECT study_pk, study_instance_uid, ${institution} AS institution_id, decided_at AS at, decision AS kind, reason_code, hr_mark FROM recognition_decisions`;
      const matching = `${events} WHERE ${conditions.join(' AND ')}`;
      countSql = `SELECT count(*)::text AS total FROM (${matching}) e`;
      sql = `SELECT ${studyColumns}, ei.name AS "eventInstitutionName", to_char(e.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "eventAt",
          e.kind AS "eventKind", e.reason_code AS "eventReason", e.hr_mark AS "eventHrMark"
        FROM (${matching} ORDER BY at, study_pk OFFSET ${pageParameters()}) e
        JOIN studies st ON st.study_instance_uid = e.study_instance_uid JOIN institutions ei ON ei.id = e.institution_id
        JOIN statistics_studies f ON f.study_instance_uid = st.study_instance_uid AND f.study_pk = st.id JOIN institutions i ON i.id = f.institution_id
        ORDER BY e.at, e.study_pk`;
    }
    // The page is taken from the facts or events alone and only its rows are joined to the studies;
    // the total is a count of the same rows (a window count would join every matching study first).
    const [counted, rows] = await Promise.all([
      this.pool.query<{ total: string }>(countSql, values.slice(0, countValues)),
      this.pool.query<DrillDownStudy & { eventInstitutionName?: string; eventAt?: string; eventKind?: string; eventReason?: string | null; eventHrMark?: string | null }>(sql, values),
    ]);
    return {
      total: Number(counted.rows[0]!.total),
      studies: rows.rows.map(({ eventInstitutionName, eventAt, eventKind, eventReason, eventHrMark, ...study }) =>
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
