import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import type { NewTemplate, ReaderAttributes, Report, ReportContent, ReportSearchHit, ReportSignature, ReportStatusSummary, ReportTemplate, ReportVersion } from '../reading/report.ts';
import type { StudyHeader } from '../reading/report-sr.ts';
import type { TemplateProblem } from '../reading/tid2000.ts';
import { inTransaction } from './transaction.ts';
import { patientRecordJoin, visibilityCondition } from './visibility-sql.ts';

/** A signer as the service needs them: who they are, what they may do, and how they sign. */
export interface Reader {
  userId: string;
  displayName: string;
  institutionId: string | null;
  institutionName: string | null;
  professionalTitle: string | null;
  licenceNumber: string | null;
  mayVerifyReports: boolean;
}

/** A version to write, with its signatures. */
export interface NewVersion {
  status: ReportVersion['status'];
  content: ReportContent;
  amendmentReason: string | null;
  signatures: ReportSignature[];
  srSopInstanceUid: string;
  srSeriesInstanceUid: string;
  pdfSopInstanceUid: string;
}

const REPORT_COLUMNS = `r.id::text AS id, r.study_instance_uid AS "studyInstanceUid", r.workitem_uid AS "workitemUid",
  r.study_institution_id::text AS "studyInstitutionId", r.status, r.draft, r.draft_revision AS "draftRevision",
  to_char(r.draft_updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "draftUpdatedAt", r.draft_updated_by::text AS "draftUpdatedBy"`;

const ISO = (column: string) => `to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;

/** A report with its study (and patient record, where `visibility` reads it) and its newest signed version as `v`. */
const signedReports = (visibility: Visibility) => `FROM reports r
       JOIN studies st ON st.study_instance_uid = r.study_instance_uid${patientRecordJoin(visibility)}
       JOIN LATERAL (SELECT content, created_at FROM report_versions WHERE report_id = r.id ORDER BY version DESC LIMIT 1) v ON TRUE`;

/** Reports, their versions and signatures, templates, and the reporting attributes of users and centres: the only SQL for them. */
export class ReportsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /** The study a report would be about, if stored and visible to the caller (`visibility` null: the system itself). */
  async studyHeader(studyInstanceUid: string, visibility: Visibility | null): Promise<StudyHeader | null> {
    const values: unknown[] = [studyInstanceUid];
    const visible = visibility ? (visibilityCondition(visibility, (value) => `$${values.push(value)}`) ?? 'TRUE') : 'TRUE';
    const { rows } = await this.pool.query<StudyHeader>(
      `SELECT st.study_instance_uid AS "studyInstanceUid", st.institution_id::text AS "institutionId", i.name AS "institutionName",
              st.patient_id AS "patientId", st.patient_issuer AS issuer, st.patient_name AS "patientName", to_char(st.patient_birth_date, 'YYYYMMDD') AS "birthDate", st.patient_sex AS sex,
              to_char(st.study_date, 'YYYYMMDD') AS "studyDate", st.study_time AS "studyTime", st.accession_number AS "accessionNumber",
              st.study_id AS "studyId", st.attributes, st.patient_attributes AS "patientAttributes"
       FROM studies st${visibility ? patientRecordJoin(visibility) : ''} JOIN institutions i ON i.id = st.institution_id
       WHERE st.study_instance_uid = $1 AND ${visible}`,
      values,
    );
    return rows[0] ?? null;
  }

  /** The report of a study, made (empty) if there is none yet. */
  async open(studyInstanceUid: string, studyInstitutionId: string, workitemUid: string | null, emptyDraft: ReportContent): Promise<Report> {
    await this.pool.query(
      `INSERT INTO reports (study_instance_uid, study_institution_id, workitem_uid, draft) VALUES ($1, $2, $3, $4)
       ON CONFLICT (study_instance_uid) DO UPDATE SET workitem_uid = coalesce(reports.workitem_uid, EXCLUDED.workitem_uid)`,
      [studyInstanceUid, studyInstitutionId, workitemUid, emptyDraft],
    );
    return (await this.findByStudy(studyInstanceUid))!;
  }

  async findByStudy(studyInstanceUid: string): Promise<Report | null> {
    const { rows } = await this.pool.query<Omit<Report, 'versions'>>(`SELECT ${REPORT_COLUMNS} FROM reports r WHERE r.study_instance_uid = $1`, [studyInstanceUid]);
    return rows[0] ? this.withVersions(this.pool, rows[0]) : null;
  }

  async find(reportId: string): Promise<Report | null> {
    const { rows } = await this.pool.query<Omit<Report, 'versions'>>(`SELECT ${REPORT_COLUMNS} FROM reports r WHERE r.id = $1`, [reportId]);
    return rows[0] ? this.withVersions(this.pool, rows[0]) : null;
  }

  /** Saves the draft if nobody saved since `revision`; the new revision, or null when another save came first. */
  async saveDraft(reportId: string, content: ReportContent, revision: number, userId: string): Promise<{ revision: number; updatedAt: string } | null> {
    const { rows } = await this.pool.query<{ revision: number; updatedAt: string }>(
      `UPDATE reports SET draft = $2, draft_revision = draft_revision + 1, draft_updated_at = now(), draft_updated_by = $4
       WHERE id = $1 AND draft_revision = $3
       RETURNING draft_revision AS revision, ${ISO('draft_updated_at')} AS "updatedAt"`,
      [reportId, content, revision, userId],
    );
    return rows[0] ?? null;
  }

  /**
   * Reads the report locked for this transaction, lets `decide` say which version to add, and adds it
   * (with its signatures, the new status and the searched text), so two signers at once cannot both sign.
   */
  async sign<Result>(reportId: string, decide: (current: Report) => { add?: NewVersion; result: Result }): Promise<Result> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<Omit<Report, 'versions'>>(`SELECT ${REPORT_COLUMNS} FROM reports r WHERE r.id = $1 FOR UPDATE`, [reportId]);
      if (!rows[0]) throw new Error(`report ${reportId} does not exist`);
      const current = await this.withVersions(client, rows[0]);
      const { add, result } = decide(current);
      if (add) {
        const version = (current.versions.at(-1)?.version ?? 0) + 1;
        await client.query(
          `INSERT INTO report_versions (report_id, version, status, content, amendment_reason, sr_sop_instance_uid, sr_series_instance_uid, pdf_sop_instance_uid)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
          [reportId, version, add.status, add.content, add.amendmentReason, add.srSopInstanceUid, add.srSeriesInstanceUid, add.pdfSopInstanceUid],
        );
        for (const signature of add.signatures) {
          await client.query(
            `INSERT INTO report_signatures (report_id, version, role, user_id, name, professional_title, licence_number, institution, signed_at)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
            [reportId, version, signature.role, signature.userId, signature.name, signature.title, signature.licence, signature.institution, signature.signedAt],
          );
        }
        await client.query(
          `UPDATE reports SET status = $2, draft = $3, draft_revision = draft_revision + 1, draft_updated_at = now(), search_text = $4 WHERE id = $1`,
          [reportId, add.status, add.content, `${add.content.findings}\n${add.content.impression}\n${add.content.criticalFinding?.text ?? ''}`],
        );
      }
      return result;
    });
  }

  /** Signed reports whose text holds every term (substring match, so Chinese needs no word splitting), newest first. */
  async search(terms: string[], visibility: Visibility, limit: number): Promise<ReportSearchHit[]> {
    const values: unknown[] = [];
    const parameter = (value: unknown) => `$${values.push(value)}`;
    const conditions = terms.map((term) => `r.search_text ILIKE ${parameter(`%${term.replace(/[\\%_]/g, (character) => `\\${character}`)}%`)}`);
    const visible = visibilityCondition(visibility, parameter);
    if (visible) conditions.push(visible);
    const { rows } = await this.pool.query<ReportSearchHit>(
      `SELECT r.id::text AS "reportId", r.study_instance_uid AS "studyInstanceUid", r.status, v.content->>'impression' AS impression, ${ISO('v.created_at')} AS "signedAt"
       ${signedReports(visibility)}
       WHERE r.status <> 'draft' AND ${conditions.join(' AND ')}
       ORDER BY v.created_at DESC LIMIT ${parameter(limit)}`,
      values,
    );
    return rows;
  }

  /**
   * Where the signed reports of these studies stand (the study list's page, a patient's priors), for
   * those the caller may see: one query for the lot. Drafts and studies without a report are absent.
   */
  async statusesOf(studyInstanceUids: string[], visibility: Visibility): Promise<ReportStatusSummary[]> {
    const values: unknown[] = [studyInstanceUids];
    const visible = visibilityCondition(visibility, (value) => `$${values.push(value)}`) ?? 'TRUE';
    const { rows } = await this.pool.query<ReportStatusSummary>(
      `SELECT r.study_instance_uid AS "studyInstanceUid", r.status, jsonb_typeof(v.content->'criticalFinding') = 'object' AS critical, ${ISO('v.created_at')} AS "signedAt"
       ${signedReports(visibility)}
       WHERE r.study_instance_uid = ANY ($1::text[]) AND r.status <> 'draft' AND ${visible}`,
      values,
    );
    return rows;
  }

  async reader(userId: string): Promise<Reader | null> {
    const { rows } = await this.pool.query<Reader>(
      `SELECT u.id::text AS "userId", u.display_name AS "displayName", u.institution_id::text AS "institutionId", i.name AS "institutionName",
              u.professional_title AS "professionalTitle", u.licence_number AS "licenceNumber", u.may_verify_reports AS "mayVerifyReports"
       FROM users u LEFT JOIN institutions i ON i.id = u.institution_id WHERE u.id = $1`,
      [userId],
    );
    return rows[0] ?? null;
  }

  /** Sets a user's reporting attributes; false when no such user is in `institutionId` (null: any institution). */
  async setReaderAttributes(userId: string, institutionId: string | null, attributes: ReaderAttributes): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE users SET professional_title = $3, licence_number = $4, may_verify_reports = $5
       WHERE id = $1 AND ($2::bigint IS NULL OR institution_id = $2)`,
      [userId, institutionId, attributes.professionalTitle, attributes.licenceNumber, attributes.mayVerifyReports],
    );
    return result.rowCount === 1;
  }

  async signingLevels(institutionId: string): Promise<1 | 2> {
    const { rows } = await this.pool.query<{ levels: 1 | 2 }>('SELECT report_signing_levels AS levels FROM institutions WHERE id = $1', [institutionId]);
    return rows[0]?.levels ?? 2;
  }

  async setSigningLevels(institutionId: string, levels: 1 | 2): Promise<void> {
    await this.pool.query('UPDATE institutions SET report_signing_levels = $2 WHERE id = $1', [institutionId, levels]);
  }

  /** A centre's own templates and phrases. */
  async templatesOf(institutionId: string): Promise<ReportTemplate[]> {
    const { rows } = await this.pool.query<ReportTemplate>(
      `SELECT id::text AS id, kind, modality, body_part AS "bodyPart", language, name, findings, impression, institution_id::text AS "institutionId"
       FROM report_templates WHERE institution_id = $1 ORDER BY kind, name`,
      [institutionId],
    );
    return rows;
  }

  async insertTemplate(institutionId: string, template: NewTemplate, createdBy: string): Promise<ReportTemplate> {
    const { rows } = await this.pool.query<ReportTemplate>(
      `INSERT INTO report_templates (institution_id, kind, modality, body_part, language, name, findings, impression, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       RETURNING id::text AS id, kind, modality, body_part AS "bodyPart", language, name, findings, impression, institution_id::text AS "institutionId"`,
      [institutionId, template.kind, template.modality, template.bodyPart, template.language, template.name, template.findings, template.impression, createdBy],
    );
    return rows[0]!;
  }

  /**
   * Versions signed between `withinDays` days and `olderThanSeconds` seconds ago whose SR or PDF has
   * not been received, and which: one range read of report_versions by signing time (migration 015's
   * index) and two probes of the receipts' SOP Instance UID index per version in it, in the partition
   * of the report's study (both documents are stored in it).
   */
  async versionsMissingDocuments(olderThanSeconds: number, withinDays: number): Promise<{ reportId: string; version: number; sr: boolean; pdf: boolean }[]> {
    const { rows } = await this.pool.query<{ reportId: string; version: number; sr: boolean; pdf: boolean }>(
      `SELECT "reportId", version, sr, pdf FROM (
         SELECT v.report_id::text AS "reportId", v.version, v.created_at,
                NOT EXISTS (SELECT 1 FROM receipts r WHERE r.study_instance_uid = rep.study_instance_uid AND r.sop_instance_uid = v.sr_sop_instance_uid) AS sr,
                NOT EXISTS (SELECT 1 FROM receipts r WHERE r.study_instance_uid = rep.study_instance_uid AND r.sop_instance_uid = v.pdf_sop_instance_uid) AS pdf
         FROM report_versions v JOIN reports rep ON rep.id = v.report_id
         WHERE v.created_at < now() - make_interval(secs => $1) AND v.created_at > now() - make_interval(days => $2)
       ) checked
       WHERE sr OR pdf
       ORDER BY created_at`,
      [olderThanSeconds, withinDays],
    );
    return rows;
  }

  /** Flags a received SR whose content departs from the template it claims (kept once per object). */
  async recordTemplateProblems(sopInstanceUid: string, studyInstanceUid: string, template: string, problems: TemplateProblem[]): Promise<void> {
    await this.pool.query(
      `INSERT INTO sr_template_problems (sop_instance_uid, study_instance_uid, template, problems) VALUES ($1, $2, $3, $4)
       ON CONFLICT (sop_instance_uid) DO UPDATE SET problems = EXCLUDED.problems, checked_at = now()`,
      [sopInstanceUid, studyInstanceUid, template, JSON.stringify(problems)],
    );
  }

  async templateProblemsOf(studyInstanceUid: string): Promise<{ sopInstanceUid: string; template: string; problems: TemplateProblem[] }[]> {
    const { rows } = await this.pool.query<{ sopInstanceUid: string; template: string; problems: TemplateProblem[] }>(
      'SELECT sop_instance_uid AS "sopInstanceUid", template, problems FROM sr_template_problems WHERE study_instance_uid = $1 ORDER BY sop_instance_uid',
      [studyInstanceUid],
    );
    return rows;
  }

  private async withVersions(client: pg.Pool | pg.PoolClient, report: Omit<Report, 'versions'>): Promise<Report> {
    const { rows: versions } = await client.query<Omit<ReportVersion, 'signatures'>>(
      `SELECT version, status, content, amendment_reason AS "amendmentReason", sr_sop_instance_uid AS "srSopInstanceUid",
              sr_series_instance_uid AS "srSeriesInstanceUid", ${ISO('created_at')} AS "createdAt"
       FROM report_versions WHERE report_id = $1 ORDER BY version`,
      [report.id],
    );
    const { rows: signatures } = await client.query<ReportSignature & { version: number }>(
      `SELECT version, role, user_id::text AS "userId", name, professional_title AS title, licence_number AS licence, institution, ${ISO('signed_at')} AS "signedAt"
       FROM report_signatures WHERE report_id = $1 ORDER BY version, signed_at, role DESC`,
      [report.id],
    );
    return {
      ...report,
      versions: versions.map((version) => ({
        ...version,
        signatures: signatures.filter((signature) => signature.version === version.version).map(({ version: _version, ...signature }) => signature),
      })),
    };
  }
}
