import type pg from 'pg';
import type { SecondFactorKind, ShareLinkAudience, ShareLinkOrigin } from '../reading/share-link-types.ts';

export interface NewShareLink {
  studyInstanceUid: string;
  institutionId: string;
  audience: ShareLinkAudience;
  createdVia: ShareLinkOrigin;
  createdByUserId: string | null;
  expiresAt: Date;
  factor?: { kind: SecondFactorKind; value: string };
  granteeUserId?: string;
  grantId?: string;
}

/** A link as stored, with what only the server may see: the second factor's value. */
export interface StoredShareLink {
  id: string;
  studyInstanceUid: string;
  institutionId: string;
  audience: ShareLinkAudience;
  createdVia: ShareLinkOrigin;
  createdByUserId: string | null;
  createdBy: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
  factorKind: SecondFactorKind | null;
  factorValue: string | null;
  failedAttempts: number;
  lockedAt: Date | null;
  granteeUserId: string | null;
  grantee: string | null;
  grantId: string | null;
}

/** What the patient's page shows of a study: its patient, its description and its images in display order. */
export interface FilmStudy {
  studyInstanceUid: string;
  institutionName: string | null;
  patientName: string | null;
  studyDate: string | null;
  description: string | null;
  series: FilmSeries[];
}

export interface FilmSeries {
  seriesInstanceUid: string;
  modality: string | null;
  seriesNumber: number | null;
  description: string | null;
  /** Instances with pixels, by Instance Number; a multi-frame instance once per frame. */
  images: { sopInstanceUid: string; frameNumber: number }[];
}

const LINK_COLUMNS = `l.id::text AS id, l.study_instance_uid AS "studyInstanceUid", l.institution_id::text AS "institutionId",
  l.audience, l.created_via AS "createdVia", l.created_by_user_id::text AS "createdByUserId", cu.username AS "createdBy",
  l.created_at AS "createdAt", l.expires_at AS "expiresAt", l.revoked_at AS "revokedAt", l.factor_kind AS "factorKind",
  l.factor_value AS "factorValue", l.failed_attempts AS "failedAttempts", l.locked_at AS "lockedAt",
  l.grantee_user_id::text AS "granteeUserId", gu.username AS "grantee", l.grant_id::text AS "grantId"`;
const FROM_LINKS = `FROM share_links l LEFT JOIN users cu ON cu.id = l.created_by_user_id LEFT JOIN users gu ON gu.id = l.grantee_user_id`;

// Only SOP classes with pixels to show go on the film: not SRs, KOS, presentation states or PDFs.
const NO_IMAGE_SOP_CLASS = `(i.sop_class_uid LIKE '1.2.840.10008.5.1.4.1.1.88.%' OR i.sop_class_uid LIKE '1.2.840.10008.5.1.4.1.1.11.%'
  OR i.sop_class_uid = '1.2.840.10008.5.1.4.1.1.104.1')`;

/** The share_links, share_link_tokens and share_link_throttle tables: the only file with their SQL. */
export class ShareLinksRepository {
  constructor(private readonly pool: pg.Pool) {}

  async create(link: NewShareLink): Promise<string> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO share_links (study_instance_uid, institution_id, audience, created_via, created_by_user_id, expires_at,
                                factor_kind, factor_value, grantee_user_id, grant_id)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING id::text`,
      [link.studyInstanceUid, link.institutionId, link.audience, link.createdVia, link.createdByUserId, link.expiresAt,
        link.factor?.kind ?? null, link.factor?.value ?? null, link.granteeUserId ?? null, link.grantId ?? null],
    );
    return rows[0]!.id;
  }

  async addToken(linkId: string, tokenSha256: Buffer, createdByUserId: string | null): Promise<void> {
    await this.pool.query('INSERT INTO share_link_tokens (token_sha256, link_id, created_by_user_id) VALUES ($1, $2, $3)', [tokenSha256, linkId, createdByUserId]);
  }

  async find(linkId: string): Promise<StoredShareLink | null> {
    const { rows } = await this.pool.query<StoredShareLink>(`SELECT ${LINK_COLUMNS} ${FROM_LINKS} WHERE l.id = $1`, [linkId]);
    return rows[0] ?? null;
  }

  async findByToken(tokenSha256: Buffer): Promise<StoredShareLink | null> {
    const { rows } = await this.pool.query<StoredShareLink>(
      `SELECT ${LINK_COLUMNS} ${FROM_LINKS} JOIN share_link_tokens t ON t.link_id = l.id WHERE t.token_sha256 = $1`,
      [tokenSha256],
    );
    return rows[0] ?? null;
  }

  /** A study's links, newest first. */
  async ofStudy(studyInstanceUid: string): Promise<StoredShareLink[]> {
    const { rows } = await this.pool.query<StoredShareLink>(`SELECT ${LINK_COLUMNS} ${FROM_LINKS} WHERE l.study_instance_uid = $1 ORDER BY l.id DESC`, [studyInstanceUid]);
    return rows;
  }

  /** The newest patient link of a study, whatever its state (revoked, locked, expired or active). */
  async newestPatientLink(studyInstanceUid: string): Promise<StoredShareLink | null> {
    const { rows } = await this.pool.query<StoredShareLink>(
      `SELECT ${LINK_COLUMNS} ${FROM_LINKS} WHERE l.study_instance_uid = $1 AND l.audience = 'patient' ORDER BY l.id DESC LIMIT 1`,
      [studyInstanceUid],
    );
    return rows[0] ?? null;
  }

  /** False when it was revoked already. */
  async revoke(linkId: string, byUserId: string): Promise<boolean> {
    const result = await this.pool.query('UPDATE share_links SET revoked_at = now(), revoked_by_user_id = $2 WHERE id = $1 AND revoked_at IS NULL', [linkId, byUserId]);
    return result.rowCount === 1;
  }

  /**
   * Takes one of the link's second-factor attempts BEFORE the factor is compared: a check read first
   * and a failure written after would let a burst of parallel guesses all pass the check. So at most
   * `lockAfter` comparisons ever happen; the attempt that reaches the limit locks the link at once.
   * Null when none is left (or the link was revoked, locked or has expired meanwhile).
   */
  async reserveFactorAttempt(linkId: string, lockAfter: number): Promise<{ attempt: number; locked: boolean } | null> {
    const { rows } = await this.pool.query<{ attempt: number; locked: boolean }>(
      `UPDATE share_links SET failed_attempts = failed_attempts + 1,
              locked_at = CASE WHEN failed_attempts + 1 >= $2 THEN now() END
       WHERE id = $1 AND locked_at IS NULL AND revoked_at IS NULL AND expires_at > now() AND failed_attempts < $2
       RETURNING failed_attempts AS attempt, locked_at IS NOT NULL AS locked`,
      [linkId, lockAfter],
    );
    return rows[0] ?? null;
  }

  /**
   * A right factor: its reserved attempt is given back and earlier failures are forgiven, lifting the
   * lock only when that attempt itself set it. False when other attempts locked the link meanwhile.
   */
  async releaseFactorAttempt(linkId: string, lockedByThisAttempt: boolean): Promise<boolean> {
    const result = await this.pool.query('UPDATE share_links SET failed_attempts = 0, locked_at = NULL WHERE id = $1 AND (locked_at IS NULL OR $2)', [linkId, lockedByThisAttempt]);
    return result.rowCount === 1;
  }

  /** Failures from this address within the window (a window older than `windowMinutes` starts afresh). */
  async addressFailures(sourceAddress: string, windowMinutes: number): Promise<number> {
    const { rows } = await this.pool.query<{ failures: number }>(
      `SELECT failures FROM share_link_throttle WHERE source_address = $1 AND window_started > now() - make_interval(mins => $2)`,
      [sourceAddress, windowMinutes],
    );
    return rows[0]?.failures ?? 0;
  }

  async recordAddressFailure(sourceAddress: string, windowMinutes: number): Promise<void> {
    await this.pool.query(
      `INSERT INTO share_link_throttle (source_address, failures, window_started) VALUES ($1, 1, now())
       ON CONFLICT (source_address) DO UPDATE SET
         failures = CASE WHEN share_link_throttle.window_started > now() - make_interval(mins => $2) THEN share_link_throttle.failures + 1 ELSE 1 END,
         window_started = CASE WHEN share_link_throttle.window_started > now() - make_interval(mins => $2) THEN share_link_throttle.window_started ELSE now() END`,
      [sourceAddress, windowMinutes],
    );
  }

  /**
   * Takes one of the address's failures before a second factor is compared, for the reason
   * reserveFactorAttempt gives; false when the address has none left in its window.
   */
  async reserveAddressAttempt(sourceAddress: string, limit: number, windowMinutes: number): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `INSERT INTO share_link_throttle (source_address, failures, window_started) VALUES ($1, 1, now())
       ON CONFLICT (source_address) DO UPDATE SET
         failures = CASE WHEN share_link_throttle.window_started > now() - make_interval(mins => $2) THEN share_link_throttle.failures + 1 ELSE 1 END,
         window_started = CASE WHEN share_link_throttle.window_started > now() - make_interval(mins => $2) THEN share_link_throttle.window_started ELSE now() END
       WHERE share_link_throttle.window_started <= now() - make_interval(mins => $2) OR share_link_throttle.failures < $3`,
      [sourceAddress, windowMinutes, limit],
    );
    return rowCount === 1;
  }

  /** Gives back an attempt reserveAddressAttempt took, when the factor was right or not compared. */
  async releaseAddressAttempt(sourceAddress: string): Promise<void> {
    await this.pool.query('UPDATE share_link_throttle SET failures = greatest(failures - 1, 0) WHERE source_address = $1', [sourceAddress]);
  }

  /**
   * Spends a second-factor form's one-time token (its signature and expiry already checked): true
   * the first time, false ever after. Spent tokens are kept only until they would have expired anyway.
   */
  async spendFormToken(nonce: string, linkId: string, expiresAt: Date): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `WITH purged AS (DELETE FROM share_link_form_uses WHERE expires_at < now())
       INSERT INTO share_link_form_uses (nonce, link_id, expires_at) VALUES ($1, $2, $3) ON CONFLICT (nonce) DO NOTHING`,
      [nonce, linkId, expiresAt],
    );
    return rowCount === 1;
  }

  /** The Patient's Telephone Numbers (0010,2154) the study's instances carry, first one found. */
  async patientTelephone(studyInstanceUid: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ telephone: string | null }>(
      `SELECT r.metadata -> '00102154' -> 'Value' ->> 0 AS telephone
       FROM studies st JOIN instances i ON i.study_pk = st.id AND i.study_instance_uid = st.study_instance_uid JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE st.study_instance_uid = $1 AND r.metadata ? '00102154' LIMIT 1`,
      [studyInstanceUid],
    );
    return rows[0]?.telephone ?? null;
  }

  async patientBirthDate(studyInstanceUid: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ birthDate: string | null }>(
      `SELECT to_char(patient_birth_date, 'YYYY-MM-DD') AS "birthDate" FROM studies WHERE study_instance_uid = $1`,
      [studyInstanceUid],
    );
    return rows[0]?.birthDate ?? null;
  }

  /** Whose study it is: its institution, and its patient for the audit trail. */
  async studyPatient(studyInstanceUid: string): Promise<{ institutionId: string; issuer: string; patientId: string; patientName: string | null } | null> {
    const { rows } = await this.pool.query<{ institutionId: string; issuer: string; patientId: string; patientName: string | null }>(
      `SELECT st.institution_id::text AS "institutionId", st.patient_issuer AS issuer, st.patient_id AS "patientId",
              NULLIF(rtrim(concat_ws('=', coalesce(st.patient_name->>'Alphabetic', ''), coalesce(st.patient_name->>'Ideographic', ''),
                                      coalesce(st.patient_name->>'Phonetic', '')), '='), '') AS "patientName"
       FROM studies st WHERE st.study_instance_uid = $1`,
      [studyInstanceUid],
    );
    return rows[0] ?? null;
  }

  /**
   * The images the study's Key Object Selection documents name (Current Requested Procedure
   * Evidence Sequence), in the order the documents list them; frames named by Referenced Frame
   * Number, else the first.
   */
  async keyImages(studyInstanceUid: string): Promise<{ seriesInstanceUid: string; sopInstanceUid: string; frameNumber: number }[]> {
    const { rows } = await this.pool.query<{ seriesInstanceUid: string; sopInstanceUid: string; frameNumber: number }>(
      `SELECT series_ref -> '0020000E' -> 'Value' ->> 0 AS "seriesInstanceUid", sop_ref -> '00081155' -> 'Value' ->> 0 AS "sopInstanceUid",
              coalesce((sop_ref -> '00081160' -> 'Value' ->> 0)::int, 1) AS "frameNumber"
       FROM studies st JOIN instances i ON i.study_pk = st.id AND i.study_instance_uid = st.study_instance_uid JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id,
            jsonb_array_elements(coalesce(r.metadata -> '0040A375' -> 'Value', '[]')) WITH ORDINALITY AS evidence(study_ref, evidence_order),
            jsonb_array_elements(coalesce(study_ref -> '00081115' -> 'Value', '[]')) WITH ORDINALITY AS series(series_ref, series_order),
            jsonb_array_elements(coalesce(series_ref -> '00081199' -> 'Value', '[]')) WITH ORDINALITY AS sops(sop_ref, sop_order)
       WHERE st.study_instance_uid = $1 AND i.sop_class_uid = '1.2.840.10008.5.1.4.1.1.88.59'
         -- IHE IOCM rejection notes are Key Object Selections too; what they select is rejected, not key
         AND coalesce(r.metadata #>> '{0040A043,Value,0,00080100,Value,0}', '') <> ALL (ARRAY['113001', '113037', '113038', '113039'])
       ORDER BY i.id, evidence_order, series_order, sop_order`,
      [studyInstanceUid],
    );
    return rows.filter((row) => row.seriesInstanceUid && row.sopInstanceUid);
  }

  /** The study as the patient's page lists it; null when it is not stored. */
  async filmStudy(studyInstanceUid: string): Promise<FilmStudy | null> {
    const { rows: studies } = await this.pool.query<Omit<FilmStudy, 'series'>>(
      `SELECT st.study_instance_uid AS "studyInstanceUid", st.institution_name AS "institutionName",
              -- the name as a Chinese reader writes it: the ideographic group, else the alphabetic one
              NULLIF(coalesce(NULLIF(replace(st.patient_name->>'Ideographic', '^', ''), ''), trim(replace(st.patient_name->>'Alphabetic', '^', ' '))), '') AS "patientName",
              to_char(st.study_date, 'YYYY-MM-DD') AS "studyDate", st.description
       FROM studies st WHERE st.study_instance_uid = $1`,
      [studyInstanceUid],
    );
    const study = studies[0];
    if (!study) return null;
    const { rows } = await this.pool.query<{ seriesInstanceUid: string; modality: string | null; seriesNumber: number | null; description: string | null; sopInstanceUid: string; frames: number }>(
      `SELECT se.series_instance_uid AS "seriesInstanceUid", se.modality, se.series_number AS "seriesNumber", se.description,
              i.sop_instance_uid AS "sopInstanceUid", coalesce(i.number_of_frames, 1) AS frames
       FROM studies st JOIN instances i ON i.study_pk = st.id AND i.study_instance_uid = st.study_instance_uid JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk
       WHERE st.study_instance_uid = $1 AND NOT ${NO_IMAGE_SOP_CLASS}
       ORDER BY se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id`,
      [studyInstanceUid],
    );
    const series = new Map<string, FilmSeries>();
    for (const row of rows) {
      let entry = series.get(row.seriesInstanceUid);
      if (!entry) {
        entry = { seriesInstanceUid: row.seriesInstanceUid, modality: row.modality, seriesNumber: row.seriesNumber, description: row.description, images: [] };
        series.set(row.seriesInstanceUid, entry);
      }
      for (let frame = 1; frame <= row.frames; frame++) entry.images.push({ sopInstanceUid: row.sopInstanceUid, frameNumber: frame });
    }
    return { ...study, series: [...series.values()] };
  }
}
