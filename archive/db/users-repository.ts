import type pg from 'pg';
import type { Role } from '../access/policy.ts';

export interface User {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  disabled: boolean;
  lockedUntil: Date | null;
  passwordHash: string | null;
  oidcIssuer: string | null;
  oidcSubject: string | null;
}

export interface NewUser {
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  passwordHash: string | null;
  oidcIssuer?: string | null;
  oidcSubject?: string | null;
}

export interface SessionRow {
  sessionId: string;
  kind: 'session' | 'api_token';
  secretSha256: string | null;
  expiresAt: Date;
  revokedAt: Date | null;
  user: User;
}

export interface ApiTokenSummary {
  id: string;
  userId: string;
  username: string;
  label: string | null;
  createdAt: Date;
  expiresAt: Date;
  revokedAt: Date | null;
}

const USER_COLUMNS = `u.id, u.username, u.display_name AS "displayName", u.role, u.institution_id AS "institutionId",
  u.disabled, (SELECT max(t.blocked_until) FROM login_throttle t WHERE t.username = u.username AND t.blocked_until > now()) AS "lockedUntil",
  u.password_hash AS "passwordHash",
  u.oidc_issuer AS "oidcIssuer", u.oidc_subject AS "oidcSubject"`;

/** The only place with SQL for users, sessions, API tokens and shared secrets. */
export class UsersRepository {
  constructor(private readonly pool: pg.Pool) {}

  async count(): Promise<number> {
    return (await this.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM users')).rows[0]!.n;
  }

  async list(institutionId?: string): Promise<User[]> {
    const result = await this.pool.query<User>(
      `SELECT ${USER_COLUMNS} FROM users u WHERE $1::bigint IS NULL OR u.institution_id = $1 ORDER BY u.username`,
      [institutionId ?? null],
    );
    return result.rows;
  }

  async findByUsername(username: string): Promise<User | null> {
    return (await this.pool.query<User>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.username = $1`, [username])).rows[0] ?? null;
  }

  async find(id: string): Promise<User | null> {
    return (await this.pool.query<User>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.id = $1`, [id])).rows[0] ?? null;
  }

  async findByOidcSubject(issuer: string, subject: string): Promise<User | null> {
    const result = await this.pool.query<User>(`SELECT ${USER_COLUMNS} FROM users u WHERE u.oidc_issuer = $1 AND u.oidc_subject = $2`, [issuer, subject]);
    return result.rows[0] ?? null;
  }

  /**
   * Links an account made for OIDC sign-in (no password, no link yet) to its identity at the provider.
   * Null when the account is no longer in that state (a concurrent first sign-in linked it).
   */
  async linkOidcSubject(userId: string, issuer: string, subject: string): Promise<User | null> {
    const result = await this.pool.query(
      `UPDATE users SET oidc_issuer = $2, oidc_subject = $3
       WHERE id = $1 AND password_hash IS NULL AND oidc_issuer IS NULL AND oidc_subject IS NULL`,
      [userId, issuer, subject],
    );
    return (result.rowCount ?? 0) > 0 ? this.find(userId) : null;
  }

  async create(user: NewUser): Promise<User> {
    const result = await this.pool.query<{ id: string }>(
      `INSERT INTO users (username, display_name, role, institution_id, password_hash, oidc_issuer, oidc_subject)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id`,
      [user.username, user.displayName, user.role, user.institutionId, user.passwordHash, user.oidcIssuer ?? null, user.oidcSubject ?? null],
    );
    return (await this.find(result.rows[0]!.id))!;
  }

  async update(id: string, changes: Partial<Pick<User, 'displayName' | 'role' | 'institutionId' | 'disabled' | 'passwordHash'>>): Promise<User | null> {
    const current = await this.find(id);
    if (!current) return null;
    // Only the fields given change; an undefined one means "leave as it is".
    const next = { ...current, ...Object.fromEntries(Object.entries(changes).filter(([, value]) => value !== undefined)) };
    await this.pool.query(
      `WITH changed AS (
         UPDATE users SET display_name = $2, role = $3, institution_id = $4, disabled = $5, password_hash = $6
         WHERE id = $1 RETURNING username, (password_hash IS DISTINCT FROM $7) AS "newPassword"
       )
       -- A new password set by an administrator lifts every back-off on the account.
       DELETE FROM login_throttle WHERE username = (SELECT username FROM changed WHERE "newPassword")`,
      [id, next.displayName, next.role, next.institutionId, next.disabled, next.passwordHash, current.passwordHash],
    );
    return this.find(id);
  }

  /** Until when sign-ins of this username from this address must wait, if they must. */
  async signInBlockedUntil(username: string, sourceAddress: string): Promise<Date | null> {
    const { rows } = await this.pool.query<{ blockedUntil: Date }>(
      'SELECT blocked_until AS "blockedUntil" FROM login_throttle WHERE username = $1 AND source_address = $2 AND blocked_until > now()',
      [username, sourceAddress],
    );
    return rows[0]?.blockedUntil ?? null;
  }

  /**
   * Counts a failed sign-in of this username from this address. From `backOffAfter` failures on, the
   * pair waits 1 s, then 2 s, 4 s, … doubling with each further failure, at most `maxSeconds`.
   */
  async recordFailedSignIn(username: string, sourceAddress: string, backOffAfter: number, maxSeconds: number): Promise<Date | null> {
    const waitAfter = (failures: string) => `CASE WHEN ${failures} >= $3 THEN now() + make_interval(secs => least($4::float8, power(2, least(${failures} - $3, 30)))) END`;
    const { rows } = await this.pool.query<{ blockedUntil: Date | null }>(
      `INSERT INTO login_throttle AS t (username, source_address, failures, blocked_until) VALUES ($1, $2, 1, ${waitAfter('1')})
       ON CONFLICT (username, source_address) DO UPDATE
         SET failures = t.failures + 1, blocked_until = ${waitAfter('t.failures + 1')}, updated_at = now()
       RETURNING blocked_until AS "blockedUntil"`,
      [username, sourceAddress, backOffAfter, maxSeconds],
    );
    return rows[0]?.blockedUntil ?? null;
  }

  async recordSuccessfulSignIn(username: string, sourceAddress: string): Promise<void> {
    await this.pool.query('DELETE FROM login_throttle WHERE username = $1 AND source_address = $2', [username, sourceAddress]);
  }

  async createSession(session: { id: string; userId: string; kind: 'session' | 'api_token'; secretSha256: string | null; label: string | null; expiresAt: Date; sourceAddress: string | null }): Promise<void> {
    await this.pool.query(
      `INSERT INTO auth_sessions (id, user_id, kind, secret_sha256, label, expires_at, source_address) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
      [session.id, session.userId, session.kind, session.secretSha256, session.label, session.expiresAt, session.sourceAddress],
    );
  }

  /** A session or API token with its user, in one round trip (asked on every request). */
  async findSession(id: string): Promise<SessionRow | null> {
    const result = await this.pool.query<Omit<SessionRow, 'user'> & User>(
      `SELECT s.id AS "sessionId", s.kind, s.secret_sha256 AS "secretSha256", s.expires_at AS "expiresAt", s.revoked_at AS "revokedAt", ${USER_COLUMNS}
       FROM auth_sessions s JOIN users u ON u.id = s.user_id WHERE s.id = $1`,
      [id],
    );
    const row = result.rows[0];
    if (!row) return null;
    const { sessionId, kind, secretSha256, expiresAt, revokedAt, ...user } = row;
    return { sessionId, kind, secretSha256, expiresAt, revokedAt, user };
  }

  async revokeSession(id: string): Promise<boolean> {
    return ((await this.pool.query('UPDATE auth_sessions SET revoked_at = now() WHERE id = $1 AND revoked_at IS NULL', [id])).rowCount ?? 0) > 0;
  }

  /** Disabling a user or resetting a password ends every session and token they hold. */
  async revokeAllOf(userId: string): Promise<number> {
    return (await this.pool.query('UPDATE auth_sessions SET revoked_at = now() WHERE user_id = $1 AND revoked_at IS NULL', [userId])).rowCount ?? 0;
  }

  async listApiTokens(userId?: string): Promise<ApiTokenSummary[]> {
    const result = await this.pool.query<ApiTokenSummary>(
      `SELECT s.id, s.user_id AS "userId", u.username, s.label, s.created_at AS "createdAt", s.expires_at AS "expiresAt", s.revoked_at AS "revokedAt"
       FROM auth_sessions s JOIN users u ON u.id = s.user_id
       WHERE s.kind = 'api_token' AND ($1::bigint IS NULL OR s.user_id = $1) ORDER BY s.created_at`,
      [userId ?? null],
    );
    return result.rows;
  }

  /** A secret shared by every gateway of this deployment, created by whichever asks first. */
  async secret(name: string, create: () => Buffer): Promise<Buffer> {
    await this.pool.query('INSERT INTO secrets (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING', [name, create()]);
    return (await this.pool.query<{ value: Buffer }>('SELECT value FROM secrets WHERE name = $1', [name])).rows[0]!.value;
  }
}
