import type pg from 'pg';
import { inTransaction } from './transaction.ts';

/** A series of a study as grading needs it: keys, modality and the study's owner. */
export interface GradableSeries {
  studyPk: string;
  seriesPk: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string | null;
  institutionId: string;
}

export interface NewQcGrade {
  series: GradableSeries;
  scaleId: string;
  gradeCode: string;
  givenGradeCode: string;
  reject: boolean;
  defects: string[];
  comment: string;
  gradedByUserId: string;
  gradedByName: string;
  graderInstitutionId: string | null;
  /** Set for a reject: the UIDs its Key Object Selection document will carry. */
  rejectionKos: { seriesInstanceUid: string; sopInstanceUid: string } | null;
}

export interface StoredQcGrade {
  id: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  modality: string | null;
  scaleId: string;
  gradeCode: string;
  givenGradeCode: string;
  reject: boolean;
  defects: string[];
  comment: string;
  gradedByName: string;
  gradedAt: Date;
  supersededBy: string | null;
  rejectionKos: { seriesInstanceUid: string; sopInstanceUid: string; storedAt: Date | null } | null;
}

const GRADE_SELECT = `
  SELECT g.id::text, st.study_instance_uid, se.series_instance_uid, se.modality, g.scale_id, g.grade_code, g.given_grade_code, g.reject,
         g.defects, g.comment, g.graded_by_name, g.graded_at, g.superseded_by::text, g.rejection_kos_series_uid, g.rejection_kos_sop_uid, g.rejection_kos_stored_at
  FROM qc_grades g
  JOIN studies st ON st.study_instance_uid = g.study_instance_uid AND st.id = g.study_pk
  JOIN series se ON se.study_instance_uid = g.study_instance_uid AND se.id = g.series_pk`;

interface GradeRow {
  id: string;
  study_instance_uid: string;
  series_instance_uid: string;
  modality: string | null;
  scale_id: string;
  grade_code: string;
  given_grade_code: string;
  reject: boolean;
  defects: string[];
  comment: string;
  graded_by_name: string;
  graded_at: Date;
  superseded_by: string | null;
  rejection_kos_series_uid: string | null;
  rejection_kos_sop_uid: string | null;
  rejection_kos_stored_at: Date | null;
}

/** Image QC grades and the centres' QC configurations: the only SQL of archive/quality. */
export class QualityRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** A centre's own configuration as stored (validated where it enters), or null for the defaults. */
  async configurationOf(institutionId: string): Promise<unknown> {
    const { rows } = await this.pool.query<{ configuration: unknown }>('SELECT configuration FROM qc_configurations WHERE institution_id = $1', [institutionId]);
    return rows[0]?.configuration ?? null;
  }

  /** Stores a centre's configuration, validated by the caller (qcConfigurationSchema); who changed it is the audit trail's. */
  async saveConfiguration(institutionId: string, configuration: unknown): Promise<void> {
    await this.pool.query(
      `INSERT INTO qc_configurations (institution_id, configuration) VALUES ($1, $2)
       ON CONFLICT (institution_id) DO UPDATE SET configuration = EXCLUDED.configuration, updated_at = now()`,
      [institutionId, JSON.stringify(configuration)],
    );
  }

  /** The centres' own configurations among these institutions (one query), keyed by institution. */
  async configurationsOf(institutionIds: readonly string[]): Promise<Map<string, unknown>> {
    const { rows } = await this.pool.query<{ institutionId: string; configuration: unknown }>(
      'SELECT institution_id::text AS "institutionId", configuration FROM qc_configurations WHERE institution_id = ANY($1::bigint[])',
      [institutionIds],
    );
    return new Map(rows.map((row) => [row.institutionId, row.configuration]));
  }

  async series(studyInstanceUid: string, seriesInstanceUid: string): Promise<GradableSeries | null> {
    const { rows } = await this.pool.query<GradableSeries>(
      `SELECT st.id::text AS "studyPk", se.id::text AS "seriesPk", st.study_instance_uid AS "studyInstanceUid", se.series_instance_uid AS "seriesInstanceUid",
              se.modality, st.institution_id::text AS "institutionId"
       FROM series se JOIN studies st ON st.id = se.study_pk AND st.study_instance_uid = se.study_instance_uid
       WHERE st.study_instance_uid = $1 AND se.series_instance_uid = $2`,
      [studyInstanceUid, seriesInstanceUid],
    );
    return rows[0] ?? null;
  }

  /** Records a grade as the series' current one; the grade it replaces points at it, kept as history. */
  async recordGrade(grade: NewQcGrade): Promise<StoredQcGrade> {
    const id = await inTransaction(this.pool, async (client) => {
      // Two graders at once: the second waits here, then supersedes the first's grade.
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1), $2::bigint::int)', ['qc-grade', grade.series.seriesPk]);
      const { rows } = await client.query<{ id: string }>(`SELECT nextval(pg_get_serial_sequence('qc_grades', 'id'))::text AS id`);
      const newId = rows[0]!.id;
      await client.query('UPDATE qc_grades SET superseded_by = $1 WHERE series_pk = $2 AND superseded_by IS NULL', [newId, grade.series.seriesPk]);
      await client.query(
        `INSERT INTO qc_grades (id, study_pk, series_pk, scale_id, grade_code, given_grade_code, reject, defects, comment, graded_by_user_id, graded_by_name,
                                grader_institution_id, rejection_kos_series_uid, rejection_kos_sop_uid, study_instance_uid)
         OVERRIDING SYSTEM VALUE VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)`,
        [
          newId,
          grade.series.studyPk,
          grade.series.seriesPk,
          grade.scaleId,
          grade.gradeCode,
          grade.givenGradeCode,
          grade.reject,
          JSON.stringify(grade.defects),
          grade.comment,
          grade.gradedByUserId,
          grade.gradedByName,
          grade.graderInstitutionId,
          grade.rejectionKos?.seriesInstanceUid ?? null,
          grade.rejectionKos?.sopInstanceUid ?? null,
          grade.series.studyInstanceUid,
        ],
      );
      return newId;
    });
    return (await this.grade(id))!;
  }

  async grade(id: string): Promise<StoredQcGrade | null> {
    const { rows } = await this.pool.query<GradeRow>(`${GRADE_SELECT} WHERE g.id = $1`, [id]);
    return rows[0] ? gradeOf(rows[0]) : null;
  }

  /** Every grade of a study, current and superseded, oldest first. */
  async gradesOfStudy(studyInstanceUid: string): Promise<StoredQcGrade[]> {
    const { rows } = await this.pool.query<GradeRow>(`${GRADE_SELECT} WHERE st.study_instance_uid = $1 ORDER BY g.graded_at, g.id`, [studyInstanceUid]);
    return rows.map(gradeOf);
  }

  /** The current grade of every graded series of these studies. */
  async currentGradesOfStudies(studyInstanceUids: readonly string[]): Promise<StoredQcGrade[]> {
    if (studyInstanceUids.length === 0) return [];
    const { rows } = await this.pool.query<GradeRow>(`${GRADE_SELECT} WHERE st.study_instance_uid = ANY ($1::text[]) AND g.superseded_by IS NULL`, [studyInstanceUids]);
    return rows.map(gradeOf);
  }

  /** The instances of a series as a KOS references them (one partition: the series' study is named). */
  async seriesInstances(studyInstanceUid: string, seriesInstanceUid: string): Promise<{ sopClassUid: string; sopInstanceUid: string }[]> {
    const { rows } = await this.pool.query<{ sopClassUid: string; sopInstanceUid: string }>(
      `SELECT i.sop_class_uid AS "sopClassUid", i.sop_instance_uid AS "sopInstanceUid"
       FROM instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk
       WHERE i.study_instance_uid = $1 AND se.series_instance_uid = $2 ORDER BY i.instance_number NULLS LAST, i.id`,
      [studyInstanceUid, seriesInstanceUid],
    );
    return rows;
  }

  /** The header (receipt metadata, DICOM JSON) of the series' first current instance: a document of the study copies its patient and study. */
  async seriesHeader(studyInstanceUid: string, seriesInstanceUid: string): Promise<Record<string, { vr?: string; Value?: unknown[] }> | null> {
    const { rows } = await this.pool.query<{ metadata: Record<string, { vr?: string; Value?: unknown[] }> }>(
      `SELECT r.metadata FROM instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE i.study_instance_uid = $1 AND se.series_instance_uid = $2 ORDER BY i.instance_number NULLS LAST, i.id LIMIT 1`,
      [studyInstanceUid, seriesInstanceUid],
    );
    return rows[0]?.metadata ?? null;
  }

  async markRejectionKosStored(gradeId: string): Promise<void> {
    await this.pool.query('UPDATE qc_grades SET rejection_kos_stored_at = now() WHERE id = $1 AND rejection_kos_stored_at IS NULL', [gradeId]);
  }

  /** Rejects graded more than `graceSeconds` ago (within the last week) whose KOS is not stored yet. */
  async rejectsAwaitingKos(graceSeconds: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT id::text FROM qc_grades
       WHERE reject AND rejection_kos_stored_at IS NULL AND graded_at < now() - make_interval(secs => $1) AND graded_at > now() - interval '7 days'
       ORDER BY graded_at LIMIT 500`,
      [graceSeconds],
    );
    return rows.map((row) => row.id);
  }
}

function gradeOf(row: GradeRow): StoredQcGrade {
  return {
    id: row.id,
    studyInstanceUid: row.study_instance_uid,
    seriesInstanceUid: row.series_instance_uid,
    modality: row.modality,
    scaleId: row.scale_id,
    gradeCode: row.grade_code,
    givenGradeCode: row.given_grade_code,
    reject: row.reject,
    defects: row.defects,
    comment: row.comment,
    gradedByName: row.graded_by_name,
    gradedAt: row.graded_at,
    supersededBy: row.superseded_by,
    rejectionKos:
      row.rejection_kos_sop_uid && row.rejection_kos_series_uid
        ? { seriesInstanceUid: row.rejection_kos_series_uid, sopInstanceUid: row.rejection_kos_sop_uid, storedAt: row.rejection_kos_stored_at }
        : null,
  };
}
