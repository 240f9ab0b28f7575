import type pg from 'pg';
import type { DicomJsonPersonName } from '../dicom/types.ts';
import type { PatientClass, Reader, ReadingCentre, ReadingNote, ReadingRule, ReturnReason } from '../reading/reading-wire.ts';
import type { TurnaroundLimit } from '../reading/turnaround.ts';
import { inTransaction } from './transaction.ts';

/** What a study says about itself when its images arrive or a hospital asks for its reading. */
export interface StudyFacts {
  studyInstanceUid: string;
  institutionId: string;
  institutionName: string;
  accessionNumber: string | null;
  modalities: string[];
  bodyParts: string[];
  description: string | null;
  patientId: string;
  issuer: string;
  patientName: DicomJsonPersonName | null;
  /** When the study's first instance was indexed: the task's scheduled start. */
  arrivedAt: Date;
}

/** A reading centre a rule sends to, with what its workitem names it by. */
export interface RuleMatch {
  rule: ReadingRule;
  centreCode: string;
  centreName: string;
}

const RULE_COLUMNS = `r.id::text, r.reading_centre_id::text AS "readingCentreId", r.sending_institution_id::text AS "sendingInstitutionId",
  r.region_id::text AS "regionId", r.modalities, r.priority, r.patient_class AS "patientClass", r.enabled`;
const NOTE_COLUMNS = `id::text, workitem_uid AS "workitemUid", kind, reason, text, author_username AS "authorUsername",
  author_institution_id::text AS "authorInstitutionId", to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"') AS "createdAt"`;

/** Reading rules, readers' availability, task notes and turnaround limits: the only file with their SQL. */
export class ReadingRepository {
  constructor(private readonly pool: pg.Pool) {}

  async listRules(readingCentreId: string | null): Promise<ReadingRule[]> {
    const { rows } = await this.pool.query<ReadingRule>(`SELECT ${RULE_COLUMNS} FROM reading_rules r WHERE $1::bigint IS NULL OR r.reading_centre_id = $1 ORDER BY r.id`, [readingCentreId]);
    return rows;
  }

  async findRule(id: string): Promise<ReadingRule | null> {
    return (await this.pool.query<ReadingRule>(`SELECT ${RULE_COLUMNS} FROM reading_rules r WHERE r.id = $1`, [id])).rows[0] ?? null;
  }

  async createRule(rule: Omit<ReadingRule, 'id'>): Promise<ReadingRule> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO reading_rules (reading_centre_id, sending_institution_id, region_id, modalities, priority, patient_class, enabled)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id::text`,
      [rule.readingCentreId, rule.sendingInstitutionId, rule.regionId, rule.modalities, rule.priority, rule.patientClass, rule.enabled],
    );
    return (await this.findRule(rows[0]!.id))!;
  }

  async updateRule(id: string, rule: Omit<ReadingRule, 'id' | 'readingCentreId'>): Promise<ReadingRule | null> {
    const { rowCount } = await this.pool.query(
      `UPDATE reading_rules SET sending_institution_id = $2, region_id = $3, modalities = $4, priority = $5, patient_class = $6, enabled = $7 WHERE id = $1`,
      [id, rule.sendingInstitutionId, rule.regionId, rule.modalities, rule.priority, rule.patientClass, rule.enabled],
    );
    return rowCount ? this.findRule(id) : null;
  }

  async deleteRule(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM reading_rules WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  /**
   * A study as it stands, with the enabled rules that send it to a reading centre: those naming its
   * institution, or a region at or above the institution's, and one of its modalities (or none);
   * and its tasks that wait, returned, for more images. One round trip: every indexed instance asks.
   */
  async arrival(studyInstanceUid: string): Promise<{ study: StudyFacts; matches: RuleMatch[]; returnedWorkitems: string[] } | null> {
    const { rows } = await this.pool.query<StudyFacts & { matches: (ReadingRule & { centreCode: string; centreName: string })[]; returnedWorkitems: string[] }>(
      `WITH RECURSIVE study AS (
         ${STUDY_FACTS}
       ), regions_up AS (
         SELECT i.region_id AS id FROM study JOIN institutions i ON i.id = study."institutionId"::bigint
         UNION
         SELECT regions.parent_id FROM regions JOIN regions_up ON regions.id = regions_up.id WHERE regions.parent_id IS NOT NULL
       )
       SELECT study.*, COALESCE((
         SELECT json_agg(json_build_object('id', r.id::text, 'readingCentreId', r.reading_centre_id::text,
                  'sendingInstitutionId', r.sending_institution_id::text, 'regionId', r.region_id::text, 'modalities', r.modalities,
                  'priority', r.priority, 'patientClass', r.patient_class, 'enabled', r.enabled, 'centreCode', centre.code, 'centreName', centre.name) ORDER BY r.id)
         FROM reading_rules r JOIN institutions centre ON centre.id = r.reading_centre_id
         WHERE r.enabled
           AND (r.sending_institution_id = study."institutionId"::bigint OR r.region_id IN (SELECT id FROM regions_up))
           AND (cardinality(r.modalities) = 0 OR r.modalities && study.modalities)
       ), '[]') AS matches,
       -- Its tasks returned to the hospital and waiting for more images.
       ARRAY(SELECT sop_instance_uid FROM workitems
             WHERE requested_study_uids @> ARRAY[study."studyInstanceUid"] AND state = 'SCHEDULED'
               AND dataset #>> '{00741002,Value,0,00741006,Value,0}' = 'returned') AS "returnedWorkitems"
       FROM study`,
      [studyInstanceUid],
    );
    const row = rows[0];
    if (!row) return null;
    const { matches, returnedWorkitems, ...study } = row;
    return { study, matches: matches.map(({ centreCode, centreName, ...rule }) => ({ rule, centreCode, centreName })), returnedWorkitems };
  }

  async studyFacts(studyInstanceUid: string): Promise<StudyFacts | null> {
    return (await this.pool.query<StudyFacts>(STUDY_FACTS, [studyInstanceUid])).rows[0] ?? null;
  }

  async findCentre(id: string): Promise<ReadingCentre | null> {
    return (await this.pool.query<ReadingCentre>(`SELECT id::text, code, name FROM institutions WHERE id = $1 AND kind = 'reading_centre'`, [id])).rows[0] ?? null;
  }

  /** The reading centres whose region covers an institution (its own region or one above it). */
  async centresCovering(institutionId: string): Promise<ReadingCentre[]> {
    const { rows } = await this.pool.query<ReadingCentre>(
      `WITH RECURSIVE regions_up AS (
         SELECT region_id AS id FROM institutions WHERE id = $1 AND region_id IS NOT NULL
         UNION
         SELECT regions.parent_id FROM regions JOIN regions_up ON regions.id = regions_up.id WHERE regions.parent_id IS NOT NULL
       )
       SELECT id::text, code, name FROM institutions WHERE kind = 'reading_centre' AND region_id IN (SELECT id FROM regions_up) ORDER BY id`,
      [institutionId],
    );
    return rows;
  }

  /**
   * Whether a rule's sender (an institution) or region lies in the centre's region or one below it:
   * the centre sees only that far, so a rule reaching further would make tasks nobody there can see.
   */
  async withinCentreRegion(readingCentreId: string, scope: { sendingInstitutionId: string | null; regionId: string | null }): Promise<boolean> {
    const { rows } = await this.pool.query<{ within: boolean }>(
      `WITH RECURSIVE regions_down AS (
         SELECT region_id AS id FROM institutions WHERE id = $1 AND region_id IS NOT NULL
         UNION
         SELECT regions.id FROM regions JOIN regions_down ON regions.parent_id = regions_down.id
       )
       SELECT CASE WHEN $2::bigint IS NOT NULL
                   THEN EXISTS (SELECT 1 FROM institutions WHERE id = $2::bigint AND region_id IN (SELECT id FROM regions_down))
                   ELSE $3::bigint IN (SELECT id FROM regions_down) END AS within`,
      [readingCentreId, scope.sendingInstitutionId, scope.regionId],
    );
    return rows[0]?.within === true;
  }

  /** The radiologists of a centre, with their availability. */
  async readers(centreId: string): Promise<Reader[]> {
    const { rows } = await this.pool.query<Reader>(
      `SELECT u.id::text AS "userId", u.username, u.display_name AS "displayName", COALESCE(a.available, true) AS available
       FROM users u LEFT JOIN reader_availability a ON a.user_id = u.id
       WHERE u.institution_id = $1 AND u.role = 'radiologist' AND NOT u.disabled ORDER BY u.username`,
      [centreId],
    );
    return rows;
  }

  async setAvailability(userId: string, available: boolean): Promise<void> {
    await this.pool.query(
      `INSERT INTO reader_availability (user_id, available) VALUES ($1, $2) ON CONFLICT (user_id) DO UPDATE SET available = EXCLUDED.available`,
      [userId, available],
    );
  }

  /**
   * The next reader in turn: the available radiologist of the centre given a task longest ago (or
   * never), marked as given one now. Serialised per centre so two tasks at once go to two readers.
   */
  async takeNextReader(centreId: string): Promise<Reader | null> {
    return inTransaction(this.pool, async (client) => {
      await client.query(`SELECT pg_advisory_xact_lock(hashtext('yingyun reading round-robin'), $1::int)`, [Number(centreId)]);
      const { rows } = await client.query<Reader>(
        `WITH next AS (
           SELECT u.id, u.username, u.display_name FROM users u LEFT JOIN reader_availability a ON a.user_id = u.id
           WHERE u.institution_id = $1 AND u.role = 'radiologist' AND NOT u.disabled AND COALESCE(a.available, true)
           ORDER BY a.last_assigned_at NULLS FIRST, u.id LIMIT 1
         ), marked AS (
           INSERT INTO reader_availability (user_id, last_assigned_at) SELECT id, clock_timestamp() FROM next
           ON CONFLICT (user_id) DO UPDATE SET last_assigned_at = EXCLUDED.last_assigned_at
         )
         SELECT id::text AS "userId", username, display_name AS "displayName", true AS available FROM next`,
        [centreId],
      );
      return rows[0] ?? null;
    });
  }

  /** A hand assignment counts as a turn too, so round-robin does not give the same reader the next one. */
  async markAssigned(userId: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO reader_availability (user_id, last_assigned_at) VALUES ($1, clock_timestamp())
       ON CONFLICT (user_id) DO UPDATE SET last_assigned_at = EXCLUDED.last_assigned_at`,
      [userId],
    );
  }

  async addNote(note: { workitemUid: string; kind: ReadingNote['kind']; reason: ReturnReason | null; text: string; authorUsername: string; authorInstitutionId: string | null }): Promise<ReadingNote> {
    const { rows } = await this.pool.query<ReadingNote>(
      `INSERT INTO reading_task_notes (workitem_uid, kind, reason, text, author_username, author_institution_id)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING ${NOTE_COLUMNS}`,
      [note.workitemUid, note.kind, note.reason, note.text, note.authorUsername, note.authorInstitutionId],
    );
    return rows[0]!;
  }

  async notes(workitemUid: string): Promise<ReadingNote[]> {
    return (await this.pool.query<ReadingNote>(`SELECT ${NOTE_COLUMNS} FROM reading_task_notes WHERE workitem_uid = $1 ORDER BY created_at, id`, [workitemUid])).rows;
  }

  async turnaroundLimits(): Promise<TurnaroundLimit[]> {
    const { rows } = await this.pool.query<TurnaroundLimit>(
      `SELECT modality_group AS "modalityGroup", patient_class AS "patientClass", limit_minutes AS "limitMinutes",
              working_time AS "workingTime", amber_fraction::float8 AS "amberFraction" FROM turnaround_limits`,
    );
    return rows;
  }

  async setTurnaroundLimit(limit: TurnaroundLimit): Promise<void> {
    await this.pool.query(
      `INSERT INTO turnaround_limits (modality_group, patient_class, limit_minutes, working_time, amber_fraction) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (modality_group, patient_class) DO UPDATE SET limit_minutes = EXCLUDED.limit_minutes, working_time = EXCLUDED.working_time, amber_fraction = EXCLUDED.amber_fraction`,
      [limit.modalityGroup, limit.patientClass, limit.limitMinutes, limit.workingTime, limit.amberFraction],
    );
  }
}

const STUDY_FACTS = `SELECT st.study_instance_uid AS "studyInstanceUid", st.institution_id::text AS "institutionId", i.name AS "institutionName",
    st.accession_number AS "accessionNumber", st.modalities, st.description,
    ARRAY(SELECT DISTINCT se.body_part FROM series se WHERE se.study_pk = st.id AND se.study_instance_uid = st.study_instance_uid AND se.body_part IS NOT NULL AND se.body_part <> '' ORDER BY 1) AS "bodyParts",
    st.patient_id AS "patientId", st.patient_issuer AS issuer, st.patient_name AS "patientName", st.created_at AS "arrivedAt"
  FROM studies st JOIN institutions i ON i.id = st.institution_id
  WHERE st.study_instance_uid = $1`;
