import type pg from 'pg';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { CheckOutcome, CheckResult } from '../quality/technical-checks.ts';
import type { SamplingRule, WorklistQuery } from '../quality/qc-worklist.ts';
import { inTransaction } from './transaction.ts';

/** One current instance of a study as the technical checks read it. */
export interface CheckedInstanceRow {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  objectKey: string;
  metadata: DicomJsonDataset;
}

export interface StudyForChecks {
  studyPk: string;
  institutionId: string;
  instances: CheckedInstanceRow[];
}

export interface StoredSettings {
  settings: unknown;
  samplingKey: string;
}

export interface WorklistRow {
  studyInstanceUid: string;
  institutionId: string;
  institutionName: string;
  studyDate: string | null;
  modalities: string[];
  description: string | null;
  accessionNumber: string | null;
  sampled: boolean;
  flags: { reason: string; flaggedByName: string; flaggedAt: Date }[];
  checks: { outcome: CheckOutcome; results: CheckResult[]; checkedAt: Date } | null;
  graded: boolean;
}

/** A signed version's text as report QC reads it: no patient header, only what the reader wrote and who signed. */
export interface SignedReportText {
  version: number;
  status: 'preliminary' | 'final' | 'amended';
  findings: string;
  impression: string;
  amendmentReason: string | null;
  signatures: { role: 'preliminary' | 'final'; name: string; signedAt: string }[];
}

export interface StudyReportVersion {
  studyPk: string;
  reportId: string;
  /** Signed versions, oldest first. */
  versions: number[];
}

export interface NewReportQcGrade {
  studyPk: string;
  studyInstanceUid: string;
  reportId: string;
  reportVersion: number;
  gradeCode: string;
  errors: string[];
  comment: string;
  gradedByUserId: string;
  gradedByName: string;
  graderInstitutionId: string | null;
}

export interface StoredReportQcGrade {
  id: string;
  studyInstanceUid: string;
  reportId: string;
  reportVersion: number;
  gradeCode: string;
  errors: string[];
  comment: string;
  gradedByName: string;
  graderInstitutionId: string | null;
  gradedAt: Date;
  supersededBy: string | null;
}

/** The most rows a work list page answers: a month of a region's sample is read page by page in the screen's filters. */
export const WORKLIST_LIMIT = 500;

const REPORT_GRADE_SELECT = `
  SELECT g.id::text, g.study_instance_uid AS "studyInstanceUid", g.report_id::text AS "reportId", g.report_version AS "reportVersion",
         g.grade_code AS "gradeCode", g.errors, g.comment, g.graded_by_name AS "gradedByName", g.grader_institution_id::text AS "graderInstitutionId",
         g.graded_at AS "gradedAt", g.superseded_by::text AS "supersededBy"
  FROM report_qc_grades g`;

/** The QC work list's tables (migration 021): technical check results, centres' settings, flags, report QC grades. */
export class QcWorklistRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The study's current instances with their headers and objects, in series and instance order. */
  async studyForChecks(studyInstanceUid: string): Promise<StudyForChecks | null> {
    const study = await this.pool.query<{ studyPk: string; institutionId: string }>(
      'SELECT id::text AS "studyPk", institution_id::text AS "institutionId" FROM studies WHERE study_instance_uid = $1',
      [studyInstanceUid],
    );
    const found = study.rows[0];
    if (!found) return null;
    const { rows } = await this.pool.query<CheckedInstanceRow>(
      `SELECT se.series_instance_uid AS "seriesInstanceUid", i.sop_instance_uid AS "sopInstanceUid", r.object_key AS "objectKey", r.metadata
       FROM instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE i.study_pk = $1 AND i.study_instance_uid = $2 ORDER BY se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id`,
      [found.studyPk, studyInstanceUid],
    );
    return { ...found, instances: rows };
  }

  /**
   * The settings the checks of an institution's study run with: the institution's own row, else that
   * of a reading centre of its region (the QC centre over it), else none (the shipped defaults).
   * Only saved settings count (they always hold `checks`): the row a work list makes on first use for
   * its sampling key holds none, and must not hide the centre's thresholds from a hospital's studies.
   */
  async settingsForStudyInstitution(institutionId: string): Promise<unknown> {
    const { rows } = await this.pool.query<{ settings: unknown }>(
      `SELECT s.settings FROM qc_worklist_settings s JOIN institutions own ON own.id = $1
       JOIN institutions i ON i.id = s.institution_id
       WHERE (i.id = own.id OR (i.kind = 'reading_centre' AND i.region_id = own.region_id)) AND s.settings ? 'checks'
       ORDER BY (i.id = own.id) DESC, i.id LIMIT 1`,
      [institutionId],
    );
    return rows[0]?.settings ?? null;
  }

  async saveChecks(study: { studyPk: string; studyInstanceUid: string }, outcome: CheckOutcome, results: CheckResult[], instanceCount: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO study_quality_checks (study_pk, study_instance_uid, outcome, results, instance_count) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (study_pk, study_instance_uid) DO UPDATE SET outcome = excluded.outcome, results = excluded.results, instance_count = excluded.instance_count, checked_at = now()`,
      [study.studyPk, study.studyInstanceUid, outcome, JSON.stringify(results), instanceCount],
    );
  }

  /**
   * Of the newest `recent` studies, those unchanged for `graceSeconds` whose checks are missing or
   * ran on fewer or more instances than the study has now: their job's message was lost. Only the
   * newest, by id (a backward scan of studies_by_id), so a pass costs the same however large the archive.
   */
  async studiesAwaitingChecks(graceSeconds: number, recent: number, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ uid: string }>(
      `SELECT st.study_instance_uid AS uid
       FROM (SELECT id, study_instance_uid, updated_at FROM studies ORDER BY id DESC LIMIT $2) st
       LEFT JOIN study_quality_checks c ON c.study_pk = st.id AND c.study_instance_uid = st.study_instance_uid
       WHERE st.updated_at < now() - make_interval(secs => $1)
         AND (c.study_pk IS NULL OR c.instance_count <> (SELECT count(*) FROM instances i WHERE i.study_pk = st.id AND i.study_instance_uid = st.study_instance_uid))
       ORDER BY st.id LIMIT $3`,
      [graceSeconds, recent, limit],
    );
    return rows.map((row) => row.uid);
  }

  /** A centre's settings and sampling key, made (with the defaults and a fresh key) on first use, so the key never changes after. */
  async settingsOf(institutionId: string, newKey: string): Promise<StoredSettings> {
    await this.pool.query(`INSERT INTO qc_worklist_settings (institution_id, settings, sampling_key) VALUES ($1, '{}', $2) ON CONFLICT (institution_id) DO NOTHING`, [institutionId, newKey]);
    const { rows } = await this.pool.query<StoredSettings>('SELECT settings, sampling_key AS "samplingKey" FROM qc_worklist_settings WHERE institution_id = $1', [institutionId]);
    return rows[0]!;
  }

  async saveSettings(institutionId: string, settings: unknown, newKey: string, userId: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO qc_worklist_settings (institution_id, settings, sampling_key, updated_by) VALUES ($1, $2, $3, $4)
       ON CONFLICT (institution_id) DO UPDATE SET settings = excluded.settings, updated_by = excluded.updated_by, updated_at = now()`,
      [institutionId, JSON.stringify(settings), newKey, userId],
    );
  }

  async addFlag(studyInstanceUid: string, reason: string, user: { userId: string; name: string; institutionId: string | null }): Promise<{ id: string; flaggedAt: Date } | null> {
    const { rows } = await this.pool.query<{ id: string; flaggedAt: Date }>(
      `INSERT INTO qc_flags (study_pk, study_instance_uid, reason, flagged_by_user_id, flagged_by_name, flagger_institution_id)
       SELECT id, study_instance_uid, $2, $3, $4, $5 FROM studies WHERE study_instance_uid = $1
       RETURNING id::text, flagged_at AS "flaggedAt"`,
      [studyInstanceUid, reason, user.userId, user.name, user.institutionId],
    );
    return rows[0] ?? null;
  }

  /**
   * The month's work list within `institutionIds` ('all': every institution): every study drawn by
   * the sampling rules, flagged by a clinician, or failed by the technical checks.
   *
   * The draw: the first 32 bits of SHA-256(key | Study Instance UID | month) read as a fraction of
   * 2^32, below the study's rate (the most specific rule matching its institution and any of its
   * modalities; the default where none does). The key is the centre's, made once; the month is
   * the study date's (the arrival date's when the study has none). Nothing random is stored, so
   * the same settings give the same sample every time, and a study arriving late is drawn at once.
   */
  async worklist(query: WorklistQuery, institutionIds: readonly string[] | 'all', sampling: { key: string; defaultRatePercent: number; rules: SamplingRule[] }): Promise<WorklistRow[]> {
    const [year, month] = query.month.split('-').map(Number) as [number, number];
    const from = `${query.month}-01`;
    const to = month === 12 ? `${year + 1}-01-01` : `${year}-${String(month + 1).padStart(2, '0')}-01`;
    const { rows } = await this.pool.query<WorklistRow>(
      `WITH rules AS (
         SELECT * FROM jsonb_to_recordset($1::jsonb) AS r("institutionId" text, modality text, "ratePercent" numeric)
       ), month_studies AS (
         SELECT st.id, st.study_instance_uid, st.institution_id, st.study_date, st.modalities, st.description, st.accession_number
         FROM studies st
         WHERE (st.study_date >= $2::date AND st.study_date < $3::date OR st.study_date IS NULL AND st.created_at >= $2::date AND st.created_at < $3::date)
           AND ($4::bigint[] IS NULL OR st.institution_id = ANY ($4::bigint[]))
           AND ($5::bigint IS NULL OR st.institution_id = $5::bigint)
           AND ($6::text IS NULL OR $6::text = ANY (st.modalities))
       ), judged AS (
         SELECT s.*,
                ('x' || substr(encode(sha256(convert_to($7 || '|' || s.study_instance_uid || '|' || $8, 'UTF8')), 'hex'), 1, 8))::bit(32)::bigint / 4294967296.0 * 100
                  < coalesce((SELECT r."ratePercent" FROM rules r
                              WHERE (r."institutionId" IS NULL OR r."institutionId"::bigint = s.institution_id) AND (r.modality IS NULL OR r.modality = ANY (s.modalities))
                              ORDER BY (r."institutionId" IS NOT NULL) DESC, (r.modality IS NOT NULL) DESC, r."ratePercent" DESC LIMIT 1), $9::numeric) AS sampled,
                coalesce((SELECT jsonb_agg(jsonb_build_object('reason', f.reason, 'flaggedByName', f.flagged_by_name, 'flaggedAt', f.flagged_at) ORDER BY f.flagged_at)
                          FROM qc_flags f WHERE f.study_pk = s.id), '[]') AS flags,
                c.outcome, c.results, c.checked_at
         FROM month_studies s LEFT JOIN study_quality_checks c ON c.study_pk = s.id
       )
       SELECT j.study_instance_uid AS "studyInstanceUid", j.institution_id::text AS "institutionId", i.name AS "institutionName",
              to_char(j.study_date, 'YYYY-MM-DD') AS "studyDate", j.modalities, j.description, j.accession_number AS "accessionNumber", j.sampled, j.flags,
              CASE WHEN j.outcome IS NULL THEN NULL ELSE jsonb_build_object('outcome', j.outcome, 'results', j.results, 'checkedAt', j.checked_at) END AS checks,
              EXISTS (SELECT 1 FROM qc_grades g WHERE g.study_pk = j.id AND g.superseded_by IS NULL) AS graded
       FROM judged j JOIN institutions i ON i.id = j.institution_id
       WHERE (j.sampled OR jsonb_array_length(j.flags) > 0 OR j.outcome = 'fail')
         AND ($10::text IS NULL OR ($10::text = 'graded') = EXISTS (SELECT 1 FROM qc_grades g WHERE g.study_pk = j.id AND g.superseded_by IS NULL))
       ORDER BY j.study_date NULLS LAST, j.id
       LIMIT ${WORKLIST_LIMIT}`,
      [
        JSON.stringify(sampling.rules),
        from,
        to,
        institutionIds === 'all' ? null : [...institutionIds],
        query.institution ?? null,
        query.modality ?? null,
        sampling.key,
        query.month,
        sampling.defaultRatePercent,
        query.status ?? null,
      ],
    );
    return rows;
  }

  /** The study's report and its signed versions, or null when it has none signed. */
  async reportOfStudy(studyInstanceUid: string): Promise<StudyReportVersion | null> {
    const { rows } = await this.pool.query<StudyReportVersion>(
      `SELECT st.id::text AS "studyPk", r.id::text AS "reportId", array_agg(v.version ORDER BY v.version) AS versions
       FROM studies st JOIN reports r ON r.study_instance_uid = st.study_instance_uid JOIN report_versions v ON v.report_id = r.id
       WHERE st.study_instance_uid = $1 GROUP BY st.id, r.id`,
      [studyInstanceUid],
    );
    return rows[0] ?? null;
  }

  /** Records a report's grade as its current one; the grade it replaces points at it. */
  async recordReportGrade(grade: NewReportQcGrade): Promise<StoredReportQcGrade> {
    const id = await inTransaction(this.pool, async (client) => {
      // Two graders at once: the second waits, then supersedes the first's grade.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), $2::bigint::int)', ['report-qc-grade', grade.reportId]);
      const { rows } = await client.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence('report_qc_grades', 'id'))::text AS id`);
      const newId = rows[0]!.id;
      await client.query('UPDATE report_qc_grades SET superseded_by = $1 WHERE report_id = $2 AND superseded_by IS NULL', [newId, grade.reportId]);
      await client.query(
        `INSERT INTO report_qc_grades (id, study_pk, study_instance_uid, report_id, report_version, grade_code, errors, comment, graded_by_user_id, graded_by_name, grader_institution_id)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
        [newId, grade.studyPk, grade.studyInstanceUid, grade.reportId, grade.reportVersion, grade.gradeCode, grade.errors, grade.comment, grade.gradedByUserId, grade.gradedByName, grade.graderInstitutionId],
      );
      return newId;
    });
    const { rows } = await this.pool.query<StoredReportQcGrade>(`${REPORT_GRADE_SELECT} WHERE g.id = $1`, [id]);
    return rows[0]!;
  }

  /** Every report QC grade of a study, current and superseded, oldest first. */
  /** The signed versions of the study's report, oldest first, with their text and signatures. */
  async signedReportTexts(studyInstanceUid: string): Promise<SignedReportText[]> {
    const { rows } = await this.pool.query<SignedReportText>(
      `SELECT v.version, v.status, coalesce(v.content->>'findings', '') AS findings, coalesce(v.content->>'impression', '') AS impression,
              v.amendment_reason AS "amendmentReason",
              (SELECT coalesce(jsonb_agg(jsonb_build_object('role', s.role, 'name', s.name, 'signedAt', s.signed_at) ORDER BY s.signed_at), '[]')
                 FROM report_signatures s WHERE s.report_id = v.report_id AND s.version = v.version) AS signatures
       FROM reports r JOIN report_versions v ON v.report_id = r.id
       WHERE r.study_instance_uid = $1 ORDER BY v.version`,
      [studyInstanceUid],
    );
    return rows;
  }

  async reportGradesOfStudy(studyInstanceUid: string): Promise<StoredReportQcGrade[]> {
    const { rows } = await this.pool.query<StoredReportQcGrade>(`${REPORT_GRADE_SELECT} WHERE g.study_instance_uid = $1 ORDER BY g.graded_at, g.id`, [studyInstanceUid]);
    return rows;
  }
}
