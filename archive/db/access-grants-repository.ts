import type pg from 'pg';
import type { StudyGrant } from '../access/policy.ts';

export type GrantSource = 'consultation' | 'share';

export interface NewStudyGrant {
  granteeUserId: string;
  studyInstanceUid: string;
  grantedByUserId: string;
  reason: string;
  source: GrantSource;
  expiresAt: Date;
}

/** The study_access_grants table: the only file with its SQL. */
export class AccessGrantsRepository {
  constructor(private readonly pool: pg.Pool | pg.PoolClient) {}

  async grant(grant: NewStudyGrant): Promise<string> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO study_access_grants (grantee_user_id, study_instance_uid, granted_by_user_id, reason, source, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6) RETURNING id::text`,
      [grant.granteeUserId, grant.studyInstanceUid, grant.grantedByUserId, grant.reason, grant.source, grant.expiresAt],
    );
    return rows[0]!.id;
  }

  /** False when the grant was revoked already. */
  async revoke(grantId: string): Promise<boolean> {
    const result = await this.pool.query('UPDATE study_access_grants SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [grantId]);
    return result.rowCount === 1;
  }

  /** What a user may read through grants right now: neither revoked nor expired. */
  async liveGrantsOf(userId: string): Promise<StudyGrant[]> {
    const { rows } = await this.pool.query<StudyGrant>(
      `SELECT id::text AS "grantId", study_instance_uid AS "studyInstanceUid" FROM study_access_grants
       WHERE grantee_user_id = $1 AND revoked_at IS NULL AND expires_at > now() ORDER BY id`,
      [userId],
    );
    return rows;
  }
}
