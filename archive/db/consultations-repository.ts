import type pg from 'pg';
import type { ConsultationFacts } from '../consultation/consultation-state.ts';
import type { Consultation, ConsultationStatus } from '../consultation/wire.ts';
import { AccessGrantsRepository } from './access-grants-repository.ts';
import { inTransaction } from './transaction.ts';

/** A stored consultation: what the state machine decides on, and what the participants are shown. */
export interface ConsultationRow extends ConsultationFacts {
  id: string;
  grantId: string | null;
  consultation: Consultation;
}

export interface ConsultationChange {
  status?: ConsultationStatus;
  floorUserId?: string;
  floorRequestedBy?: string | null;
  grantId?: string;
  opinion?: { text: string; authorUserId: string };
}

const SELECT = `
  SELECT c.id::text, c.study_instance_uid, c.reason, c.state, c.inviter_user_id::text, c.invitee_user_id::text,
         c.floor_user_id::text, c.floor_requested_by::text, c.grant_id::text, c.opinion, c.opinion_at, c.created_at, c.ended_at,
         inviter.username AS inviter_username, inviter.display_name AS inviter_display_name, inviter_institution.name AS inviter_institution,
         invitee.username AS invitee_username, invitee.display_name AS invitee_display_name, invitee_institution.name AS invitee_institution,
         opinion_author.username AS opinion_author
  FROM consultations c
  JOIN users inviter ON inviter.id = c.inviter_user_id
  LEFT JOIN institutions inviter_institution ON inviter_institution.id = inviter.institution_id
  JOIN users invitee ON invitee.id = c.invitee_user_id
  LEFT JOIN institutions invitee_institution ON invitee_institution.id = invitee.institution_id
  LEFT JOIN users opinion_author ON opinion_author.id = c.opinion_by_user_id`;

interface Row {
  id: string;
  study_instance_uid: string;
  reason: string;
  state: ConsultationStatus;
  inviter_user_id: string;
  invitee_user_id: string;
  floor_user_id: string;
  floor_requested_by: string | null;
  grant_id: string | null;
  opinion: string | null;
  opinion_at: Date | null;
  created_at: Date;
  ended_at: Date | null;
  inviter_username: string;
  inviter_display_name: string;
  inviter_institution: string | null;
  invitee_username: string;
  invitee_display_name: string;
  invitee_institution: string | null;
  opinion_author: string | null;
}

/** The consultations and consultation_messages tables: the only file with their SQL. */
export class ConsultationsRepository {
  /** `db` is the pool, or inside `transaction` the transaction's connection. */
  constructor(
    private readonly pool: pg.Pool,
    private readonly db: pg.Pool | pg.PoolClient = pool,
  ) {}

  /**
   * Runs `work` in one transaction, with repositories on its connection: a state change, the grant
   * it makes or revokes, and the row's lock (`find(id, { forUpdate })`) commit or fail together.
   */
  async transaction<T>(work: (repositories: { consultations: ConsultationsRepository; grants: AccessGrantsRepository }) => Promise<T>): Promise<T> {
    return inTransaction(this.pool, (client) => work({ consultations: new ConsultationsRepository(this.pool, client), grants: new AccessGrantsRepository(client) }));
  }

  async create(invitation: { studyInstanceUid: string; inviterUserId: string; inviteeUserId: string; reason: string }): Promise<string> {
    const { rows } = await this.db.query<{ id: string }>(
      `INSERT INTO consultations (study_instance_uid, inviter_user_id, invitee_user_id, reason, state, floor_user_id)
       VALUES ($1, $2, $3, $4, 'invited', $2) RETURNING id::text`,
      [invitation.studyInstanceUid, invitation.inviterUserId, invitation.inviteeUserId, invitation.reason],
    );
    return rows[0]!.id;
  }

  async find(id: string, options: { forUpdate?: boolean } = {}): Promise<ConsultationRow | null> {
    if (!/^[0-9]{1,18}$/.test(id)) return null;
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE c.id = $1${options.forUpdate ? ' FOR UPDATE OF c' : ''}`, [id]);
    return rows[0] ? consultationRow(rows[0]) : null;
  }

  /** A user's consultations, invited or inviting, newest first. */
  async listFor(userId: string, limit = 100): Promise<ConsultationRow[]> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE c.inviter_user_id = $1 OR c.invitee_user_id = $1 ORDER BY c.created_at DESC, c.id DESC LIMIT $2`, [userId, limit]);
    return rows.map(consultationRow);
  }

  /** The consultations held on a study that have an opinion: what the study's readers see attached to it. */
  async withOpinionOn(studyInstanceUid: string): Promise<ConsultationRow[]> {
    const { rows } = await this.db.query<Row>(`${SELECT} WHERE c.study_instance_uid = $1 AND c.opinion IS NOT NULL ORDER BY c.opinion_at DESC`, [studyInstanceUid]);
    return rows.map(consultationRow);
  }

  async save(id: string, change: ConsultationChange): Promise<void> {
    const values: unknown[] = [id];
    const sets: string[] = [];
    const set = (column: string, value: unknown) => sets.push(`${column} = $${values.push(value)}`);
    if (change.status !== undefined) {
      set('state', change.status);
      if (change.status === 'ended' || change.status === 'declined') sets.push('ended_at = now()');
    }
    if (change.floorUserId !== undefined) set('floor_user_id', change.floorUserId);
    if (change.floorRequestedBy !== undefined) set('floor_requested_by', change.floorRequestedBy);
    if (change.grantId !== undefined) set('grant_id', change.grantId);
    if (change.opinion) {
      set('opinion', change.opinion.text);
      set('opinion_by_user_id', change.opinion.authorUserId);
      sets.push('opinion_at = now()');
    }
    if (sets.length) await this.db.query(`UPDATE consultations SET ${sets.join(', ')} WHERE id = $1`, values);
  }

  async addMessage(consultationId: string, authorUserId: string, text: string): Promise<Date> {
    const { rows } = await this.db.query<{ sent_at: Date }>('INSERT INTO consultation_messages (consultation_id, author_user_id, text) VALUES ($1, $2, $3) RETURNING sent_at', [consultationId, authorUserId, text]);
    return rows[0]!.sent_at;
  }

  /** The chat so far, oldest first (the last `limit` messages). */
  async messages(consultationId: string, limit = 200): Promise<{ from: string; text: string; sentAt: string }[]> {
    const { rows } = await this.db.query<{ from: string; text: string; sent_at: Date }>(
      `SELECT * FROM (SELECT m.id, u.username AS from, m.text, m.sent_at FROM consultation_messages m JOIN users u ON u.id = m.author_user_id
                      WHERE m.consultation_id = $1 ORDER BY m.id DESC LIMIT $2) latest ORDER BY id`,
      [consultationId, limit],
    );
    return rows.map((row) => ({ from: row.from, text: row.text, sentAt: row.sent_at.toISOString() }));
  }
}

function consultationRow(row: Row): ConsultationRow {
  const usernameOf = (userId: string | null) => (userId === null ? null : userId === row.inviter_user_id ? row.inviter_username : row.invitee_username);
  return {
    id: row.id,
    status: row.state,
    inviterUserId: row.inviter_user_id,
    inviteeUserId: row.invitee_user_id,
    floorUserId: row.floor_user_id,
    floorRequestedBy: row.floor_requested_by,
    grantId: row.grant_id,
    consultation: {
      id: row.id,
      studyInstanceUid: row.study_instance_uid,
      reason: row.reason,
      status: row.state,
      inviter: { username: row.inviter_username, displayName: row.inviter_display_name, institutionName: row.inviter_institution },
      invitee: { username: row.invitee_username, displayName: row.invitee_display_name, institutionName: row.invitee_institution },
      floorHolder: usernameOf(row.floor_user_id)!,
      floorRequestedBy: usernameOf(row.floor_requested_by),
      opinion: row.opinion !== null && row.opinion_at ? { text: row.opinion, author: row.opinion_author ?? '', writtenAt: row.opinion_at.toISOString() } : null,
      createdAt: row.created_at.toISOString(),
      endedAt: row.ended_at?.toISOString() ?? null,
    },
  };
}
