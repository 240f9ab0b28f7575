import { createHash, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import type { AuditLog } from '../audit/audit-log.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import { generatePassword, hashPassword, verifyPassword } from './passwords.ts';
import type { Principal } from './policy.ts';

export interface AuthSettings {
  /** Lifetime of one signed session token; it is renewed while the user is active. */
  sessionTokenMinutes: number;
  /** A session ends this long after sign-in, active or not. */
  sessionMaxHours: number;
  /** Failed sign-ins of one username from one address before that pair must wait (1 s, doubling)… */
  lockAfterFailures: number;
  /** …at most this long. */
  lockMinutes: number;
}

/** One reason for the caller, whatever went wrong (the audit event records which). */
export type AuthFailureReason = 'invalid-credentials';

export class AuthFailure extends Error {
  constructor(
    readonly reason: AuthFailureReason,
    readonly retryAfterSeconds?: number,
  ) {
    super(reason);
  }
}

export interface IssuedSession {
  sessionId: string;
  /** The signed token (cookie value). */
  token: string;
  /** The CSRF token the browser must echo in X-CSRF-Token on unsafe requests. */
  csrfToken: string;
  tokenExpiresAt: Date;
  user: User;
}

export interface Authenticated {
  principal: Principal;
  /** Cookie sessions only: what X-CSRF-Token must equal. */
  csrfToken?: string;
  /** Cookie sessions only: a renewed token when the current one is past half its life. */
  renewed?: { token: string; expiresAt: Date };
}

const API_TOKEN_PREFIX = 'yy_';
// Real scrypt work for unknown users too, so response time does not tell which user names exist.
const DUMMY_HASH_PASSWORD = 'not-a-real-password';

/**
 * Sign-in, sessions and API tokens. Sessions are short-lived HS256 tokens (jose) naming a session
 * row; the row is checked on every request, which is what makes logout and revocation immediate.
 * API tokens are random secrets stored only as SHA-256.
 */
export class AuthService {
  private signingKey?: Uint8Array;
  private dummyHash?: Promise<string>;

  constructor(
    private readonly users: UsersRepository,
    private readonly audit: AuditLog,
    private readonly settings: AuthSettings,
  ) {}

  private async key(): Promise<Uint8Array> {
    this.signingKey ??= new Uint8Array(await this.users.secret('session-signing-key', () => randomBytes(32)));
    return this.signingKey;
  }

  /**
   * First start: with no users at all, creates `admin` with the given password or a generated one
   * (returned, to be printed once). Afterwards, nothing.
   */
  async bootstrapAdmin(password: string | undefined): Promise<{ username: string; password: string; generated: boolean } | null> {
    if ((await this.users.count()) > 0) return null;
    const chosen = password ?? generatePassword();
    let user: User;
    try {
      user = await this.users.create({ username: 'admin', displayName: 'Administrator', role: 'system_admin', institutionId: null, passwordHash: await hashPassword(chosen) });
    } catch (error) {
      // Another gateway starting at the same moment created it first: theirs stands.
      if ((error as { code?: string }).code === '23505') return null;
      throw error;
    }
    await this.audit.record({ eventType: 'admin-change', action: 'C', outcome: 0, userName: 'system', detail: { change: 'bootstrap administrator created', username: user.username } });
    return { username: user.username, password: chosen, generated: password === undefined };
  }

  /**
   * Every failure looks the same to the caller (AuthFailure 'invalid-credentials'): unknown user,
   * wrong password, disabled account, or a (username, address) pair that must wait — so the answer
   * says nothing about which accounts exist. Unknown users cost the same password check. Failures
   * back off per username *and* source address, so nobody can lock the real user out from elsewhere.
   */
  async login(username: string, password: string, sourceAddress: string | undefined): Promise<IssuedSession> {
    const source = sourceAddress ?? 'unknown';
    const user = await this.users.findByUsername(username);
    const fail = async (reason: 'invalid-credentials' | 'disabled' | 'backing-off', retryAfter: Date | null): Promise<never> => {
      await this.audit.record({ eventType: 'login', action: 'E', outcome: 4, userName: username, userRole: user?.role, institutionId: user?.institutionId ?? undefined, sourceAddress, detail: { reason } });
      throw new AuthFailure('invalid-credentials', retryAfter ? Math.max(1, Math.ceil((retryAfter.getTime() - Date.now()) / 1000)) : undefined);
    };
    const waitUntil = await this.users.signInBlockedUntil(username, source);
    if (waitUntil) return fail('backing-off', waitUntil);
    this.dummyHash ??= hashPassword(DUMMY_HASH_PASSWORD);
    const verified = await verifyPassword(password, user?.passwordHash ?? (await this.dummyHash));
    if (!user || !user.passwordHash || !verified || user.disabled) {
      const blockedUntil = await this.users.recordFailedSignIn(username, source, this.settings.lockAfterFailures, this.settings.lockMinutes * 60);
      return fail(user?.disabled && verified ? 'disabled' : 'invalid-credentials', blockedUntil);
    }
    await this.users.recordSuccessfulSignIn(username, source);
    return this.startSession(user, sourceAddress, 'password');
  }

  /** A session for a user who proved who they are elsewhere (OIDC). */
  async startSession(user: User, sourceAddress: string | undefined, method: 'password' | 'oidc'): Promise<IssuedSession> {
    const sessionId = randomUUID();
    await this.users.createSession({
      id: sessionId,
      userId: user.id,
      kind: 'session',
      secretSha256: null,
      label: method,
      expiresAt: new Date(Date.now() + this.settings.sessionMaxHours * 3_600_000),
      sourceAddress: sourceAddress ?? null,
    });
    await this.audit.record({ eventType: 'login', action: 'E', outcome: 0, userName: user.username, userRole: user.role, institutionId: user.institutionId ?? undefined, sourceAddress, detail: { method, session: sessionId } });
    const csrfToken = randomBytes(24).toString('base64url');
    const { token, expiresAt } = await this.signSessionToken(user.id, sessionId, csrfToken);
    return { sessionId, token, csrfToken, tokenExpiresAt: expiresAt, user };
  }

  private async signSessionToken(userId: string, sessionId: string, csrfToken: string): Promise<{ token: string; expiresAt: Date }> {
    const expiresAt = new Date(Date.now() + this.settings.sessionTokenMinutes * 60_000);
    const token = await new SignJWT({ sid: sessionId, csrf: csrfToken })
      .setProtectedHeader({ alg: 'HS256' })
      .setSubject(userId)
      .setIssuedAt()
      .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
      .sign(await this.key());
    return { token, expiresAt };
  }

  /** Who a bearer token or session cookie belongs to, or null when it does not (or no longer) holds. */
  async authenticate(credential: { bearer?: string; sessionCookie?: string }): Promise<Authenticated | null> {
    if (credential.bearer?.startsWith(API_TOKEN_PREFIX)) return this.authenticateApiToken(credential.bearer);
    const token = credential.bearer ?? credential.sessionCookie;
    if (!token) return null;
    let claims: { sub?: string; sid?: unknown; csrf?: unknown; exp?: number; iat?: number };
    try {
      ({ payload: claims } = await jwtVerify(token, await this.key(), { algorithms: ['HS256'] }));
    } catch {
      return null;
    }
    if (typeof claims.sid !== 'string' || typeof claims.csrf !== 'string') return null;
    const session = await this.users.findSession(claims.sid);
    if (!session || session.kind !== 'session' || session.user.id !== claims.sub || !usable(session)) return null;
    const result: Authenticated = { principal: principalOf(session.user, session.sessionId, 'session') };
    if (!credential.bearer) {
      result.csrfToken = claims.csrf;
      const halfLife = (this.settings.sessionTokenMinutes * 60) / 2;
      if (claims.exp && claims.exp - Date.now() / 1000 < halfLife) result.renewed = await this.signSessionToken(session.user.id, session.sessionId, claims.csrf);
    }
    return result;
  }

  private async authenticateApiToken(token: string): Promise<Authenticated | null> {
    const match = /^yy_([0-9a-f-]{36})_([A-Za-z0-9_-]{43})$/.exec(token);
    if (!match) return null;
    const session = await this.users.findSession(match[1]!);
    if (!session || session.kind !== 'api_token' || !session.secretSha256 || !usable(session)) return null;
    const presented = createHash('sha256').update(match[2]!).digest();
    const stored = Buffer.from(session.secretSha256, 'hex');
    if (presented.length !== stored.length || !timingSafeEqual(presented, stored)) return null;
    return { principal: principalOf(session.user, session.sessionId, 'api_token') };
  }

  /**
   * Whether the session or API token a principal came with is still good (not revoked or expired, its
   * user not disabled): a connection that outlives its request (a WebSocket) asks again before it serves.
   */
  async isLive(principal: Principal): Promise<boolean> {
    const session = await this.users.findSession(principal.sessionId);
    return session !== null && session.user.id === principal.userId && usable(session);
  }

  async logout(principal: Principal, sourceAddress: string | undefined): Promise<void> {
    await this.users.revokeSession(principal.sessionId);
    await this.audit.record({ eventType: 'logout', action: 'E', outcome: 0, userName: principal.username, userRole: principal.role, institutionId: principal.institutionId ?? undefined, sourceAddress, detail: { session: principal.sessionId } });
  }

  /** A token for a machine (a modality uploading by STOW-RS, a script): shown once, stored as a hash. */
  async createApiToken(user: User, label: string, days: number): Promise<{ id: string; token: string; expiresAt: Date }> {
    const id = randomUUID();
    const secret = randomBytes(32).toString('base64url');
    const expiresAt = new Date(Date.now() + days * 86_400_000);
    await this.users.createSession({ id, userId: user.id, kind: 'api_token', secretSha256: createHash('sha256').update(secret).digest('hex'), label, expiresAt, sourceAddress: null });
    return { id, token: `${API_TOKEN_PREFIX}${id}_${secret}`, expiresAt };
  }
}

function usable(session: { revokedAt: Date | null; expiresAt: Date; user: User }): boolean {
  return !session.revokedAt && session.expiresAt.getTime() > Date.now() && !session.user.disabled;
}

export function principalOf(user: User, sessionId: string, via: Principal['via']): Principal {
  return { userId: user.id, username: user.username, displayName: user.displayName, role: user.role, institutionId: user.institutionId, sessionId, via };
}
