import type pg from 'pg';

/** An accreditation as stored, with who granted it and, once withdrawn, who withdrew it and why. */
export interface StoredAccreditation {
  id: string;
  institutionId: string;
  itemCode: string;
  validFrom: string;
  validUntil: string | null;
  grantedByName: string;
  grantedAt: Date;
  withdrawnByName: string | null;
  withdrawnAt: Date | null;
  withdrawalReason: string | null;
}

/** A region's own row, as stored (validated where it entered); null columns are inherited. */
export interface OwnRecognitionConfiguration {
  regionId: string;
  configuration: unknown;
  reasons: unknown;
  updatedByName: string;
  updatedAt: Date;
}

/**
 * The configuration that applies from a starting region up: each part from the nearest region that
 * sets it, with that region's id (null: nowhere up the chain, so the shipped defaults).
 */
export interface NearestRecognitionConfiguration {
  configuration: unknown;
  configurationRegionId: string | null;
  reasons: unknown;
  reasonsRegionId: string | null;
}

/** A series as the mark needs it, with its current QC grade. */
export interface MarkSeriesFacts {
  seriesInstanceUid: string;
  seriesNumber: number | null;
  modality: string | null;
  bodyPart: string | null;
  grade: { scaleId: string; gradeCode: string; reject: boolean; graderInstitutionId: string | null; gradedAt: string } | null;
}

/** A study as the mark needs it: owner, date and series. */
export interface MarkStudyFacts {
  studyInstanceUid: string;
  institutionId: string;
  studyDate: string | null;
  series: MarkSeriesFacts[];
}

const ACCREDITATION_COLUMNS = `a.id::text, a.institution_id::text AS "institutionId", a.item_code AS "itemCode", a.valid_from::text AS "validFrom",
  a.valid_until::text AS "validUntil", a.granted_by_name AS "grantedByName", a.granted_at AS "grantedAt", a.withdrawn_by_name AS "withdrawnByName",
  a.withdrawn_at AS "withdrawnAt", a.withdrawal_reason AS "withdrawalReason"`;

// Regions form a tree; the depth bound stops a cycle someone wrote by hand from looping forever.
const MAX_REGION_DEPTH = 16;

/** Recognition configurations and accreditations: the only SQL of archive/recognition. */
export class RecognitionRepository {
  constructor(private readonly pool: pg.Pool) {}

  async ownConfiguration(regionId: string): Promise<OwnRecognitionConfiguration | null> {
    const { rows } = await this.pool.query<OwnRecognitionConfiguration>(
      `SELECT region_id::text AS "regionId", configuration, reasons, updated_by_name AS "updatedByName", updated_at AS "updatedAt"
       FROM recognition_configurations WHERE region_id = $1`,
      [regionId],
    );
    return rows[0] ?? null;
  }

  async saveConfiguration(regionId: string, configuration: unknown, reasons: unknown, updatedByName: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO recognition_configurations (region_id, configuration, reasons, updated_by_name) VALUES ($1, $2, $3, $4)
       ON CONFLICT (region_id) DO UPDATE SET configuration = EXCLUDED.configuration, reasons = EXCLUDED.reasons,
         updated_by_name = EXCLUDED.updated_by_name, updated_at = now()`,
      [regionId, configuration === null ? null : JSON.stringify(configuration), reasons === null ? null : JSON.stringify(reasons), updatedByName],
    );
  }

  /** Which regions set which part themselves (one query for the whole tree; the admin screen's region list). */
  async configuredParts(): Promise<{ regionId: string; configuration: boolean; reasons: boolean }[]> {
    const { rows } = await this.pool.query<{ regionId: string; configuration: boolean; reasons: boolean }>(
      'SELECT region_id::text AS "regionId", configuration IS NOT NULL AS configuration, reasons IS NOT NULL AS reasons FROM recognition_configurations',
    );
    return rows;
  }

  /** Per institution, the configuration its region (or the nearest ancestor setting it) gives; one query for all. */
  async nearestForInstitutions(institutionIds: readonly string[]): Promise<Map<string, NearestRecognitionConfiguration>> {
    return this.#nearest('SELECT id AS key, region_id FROM institutions WHERE id = ANY($1::bigint[]) AND region_id IS NOT NULL', institutionIds);
  }

  /** The configuration that applies in a region: its own parts, else its nearest ancestors'. */
  async nearestForRegion(regionId: string): Promise<NearestRecognitionConfiguration> {
    const found = await this.#nearest('SELECT id AS key, id AS region_id FROM regions WHERE id = ANY($1::bigint[])', [regionId]);
    return found.get(regionId) ?? { configuration: null, configurationRegionId: null, reasons: null, reasonsRegionId: null };
  }

  async #nearest(startsSql: string, keys: readonly string[]): Promise<Map<string, NearestRecognitionConfiguration>> {
    const { rows } = await this.pool.query<{ key: string } & NearestRecognitionConfiguration>(
      `WITH RECURSIVE starts AS (${startsSql}),
       chain AS (
         SELECT s.key, r.id AS region_id, r.parent_id, 0 AS depth FROM starts s JOIN regions r ON r.id = s.region_id
         UNION ALL
         SELECT c.key, r.id, r.parent_id, c.depth + 1 FROM chain c JOIN regions r ON r.id = c.parent_id WHERE c.depth < ${MAX_REGION_DEPTH}
       ),
       configured AS (
         SELECT c.key, c.depth, c.region_id, rc.configuration, rc.reasons FROM chain c JOIN recognition_configurations rc ON rc.region_id = c.region_id
       )
       SELECT s.key::text AS key,
              (SELECT configuration FROM configured x WHERE x.key = s.key AND x.configuration IS NOT NULL ORDER BY x.depth LIMIT 1) AS configuration,
              (SELECT region_id::text FROM configured x WHERE x.key = s.key AND x.configuration IS NOT NULL ORDER BY x.depth LIMIT 1) AS "configurationRegionId",
              (SELECT reasons FROM configured x WHERE x.key = s.key AND x.reasons IS NOT NULL ORDER BY x.depth LIMIT 1) AS reasons,
              (SELECT region_id::text FROM configured x WHERE x.key = s.key AND x.reasons IS NOT NULL ORDER BY x.depth LIMIT 1) AS "reasonsRegionId"
       FROM starts s`,
      [keys],
    );
    return new Map(rows.map(({ key, ...nearest }) => [key, nearest]));
  }

  /** The region and its ancestors, nearest first: whose administrators reach it. */
  async regionAndAncestors(regionId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `WITH RECURSIVE chain AS (
         SELECT id, parent_id, 0 AS depth FROM regions WHERE id = $1
         UNION ALL
         SELECT r.id, r.parent_id, c.depth + 1 FROM chain c JOIN regions r ON r.id = c.parent_id WHERE c.depth < ${MAX_REGION_DEPTH}
       )
       SELECT id::text FROM chain ORDER BY depth`,
      [regionId],
    );
    return rows.map((row) => row.id);
  }

  /** Every accreditation, current or not, of these institutions (one query). */
  async accreditationsOf(institutionIds: readonly string[]): Promise<StoredAccreditation[]> {
    const { rows } = await this.pool.query<StoredAccreditation>(
      `SELECT ${ACCREDITATION_COLUMNS} FROM accreditations a WHERE a.institution_id = ANY($1::bigint[]) ORDER BY a.institution_id, a.item_code, a.valid_from, a.id`,
      [institutionIds],
    );
    return rows;
  }

  /** The accreditations of the institutions in a region and the regions below it. */
  async accreditationsInRegion(regionId: string): Promise<StoredAccreditation[]> {
    const { rows } = await this.pool.query<StoredAccreditation>(
      `WITH RECURSIVE below AS (
         SELECT id, 0 AS depth FROM regions WHERE id = $1
         UNION ALL
         SELECT r.id, b.depth + 1 FROM below b JOIN regions r ON r.parent_id = b.id WHERE b.depth < ${MAX_REGION_DEPTH}
       )
       SELECT ${ACCREDITATION_COLUMNS} FROM accreditations a JOIN institutions i ON i.id = a.institution_id
       WHERE i.region_id IN (SELECT id FROM below) ORDER BY a.institution_id, a.item_code, a.valid_from, a.id`,
      [regionId],
    );
    return rows;
  }

  async accreditation(id: string): Promise<StoredAccreditation | null> {
    const { rows } = await this.pool.query<StoredAccreditation>(`SELECT ${ACCREDITATION_COLUMNS} FROM accreditations a WHERE a.id = $1`, [id]);
    return rows[0] ?? null;
  }

  async addAccreditation(accreditation: { institutionId: string; itemCode: string; validFrom: string; validUntil: string | null }, grantedByName: string): Promise<StoredAccreditation> {
    const { rows } = await this.pool.query<{ id: string }>(
      'INSERT INTO accreditations (institution_id, item_code, valid_from, valid_until, granted_by_name) VALUES ($1, $2, $3, $4, $5) RETURNING id::text',
      [accreditation.institutionId, accreditation.itemCode, accreditation.validFrom, accreditation.validUntil, grantedByName],
    );
    return (await this.accreditation(rows[0]!.id))!;
  }

  /** Ends an accreditation on `validUntil` (never deletes it); null when it was already withdrawn. */
  async withdraw(id: string, validUntil: string, withdrawnByName: string, reason: string): Promise<StoredAccreditation | null> {
    const { rowCount } = await this.pool.query(
      `UPDATE accreditations SET valid_until = GREATEST($2::date, valid_from), withdrawn_by_name = $3, withdrawn_at = now(), withdrawal_reason = $4
       WHERE id = $1 AND withdrawn_at IS NULL`,
      [id, validUntil, withdrawnByName, reason],
    );
    return rowCount ? this.accreditation(id) : null;
  }

  /**
   * What the mark of each study needs, in one query: its institution and date, and every series with
   * its modality, body part and current QC grade.
   */
  async markFacts(studyInstanceUids: readonly string[]): Promise<MarkStudyFacts[]> {
    const { rows } = await this.pool.query<MarkStudyFacts>(
      `SELECT st.study_instance_uid AS "studyInstanceUid", st.institution_id::text AS "institutionId", st.study_date::text AS "studyDate",
              COALESCE((
                SELECT json_agg(json_build_object(
                  'seriesInstanceUid', se.series_instance_uid, 'seriesNumber', se.series_number, 'modality', se.modality, 'bodyPart', se.body_part,
                  'grade', CASE WHEN g.id IS NULL THEN NULL ELSE json_build_object('scaleId', g.scale_id, 'gradeCode', g.grade_code, 'reject', g.reject,
                    'graderInstitutionId', g.grader_institution_id::text, 'gradedAt', g.graded_at) END)
                  ORDER BY se.series_number NULLS LAST, se.id)
                FROM series se LEFT JOIN qc_grades g ON g.study_instance_uid = se.study_instance_uid AND g.series_pk = se.id AND g.superseded_by IS NULL
                WHERE se.study_pk = st.id AND se.study_instance_uid = st.study_instance_uid
              ), '[]'::json) AS series
       FROM studies st WHERE st.study_instance_uid = ANY($1::text[])`,
      [studyInstanceUids],
    );
    return rows;
  }
}
