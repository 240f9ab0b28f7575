import { randomBytes } from 'node:crypto';
import { jwtVerify, SignJWT } from 'jose';
import * as client from 'openid-client';
import type { AuditLog } from '../audit/audit-log.ts';
import { ConfigError, type AccessConfig } from '../config.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import type { AuthService, IssuedSession } from './auth-service.ts';

/** The path the provider sends people back to, under YINGYUN_PUBLIC_URL. */
export const OIDC_CALLBACK_PATH = 'api/auth/oidc/callback';
/** How long a person may spend at the provider between leaving Yingyun and coming back. */
export const OIDC_FLOW_MINUTES = 10;

export interface OidcSettings {
  issuer: URL;
  clientId: string;
  /** Absent for a public client (PKCE only). */
  clientSecret?: string;
  redirectUri: URL;
  /** Plain HTTP to the provider: allowed only for an issuer on this machine (development, tests). */
  allowHttp: boolean;
}

/**
 * The OIDC settings, checked at start-up, or null when OIDC sign-in is not configured. A production
 * issuer must be https: the ID token, and so who is signed in, is only as trustworthy as the channel
 * it was fetched over.
 */
export function oidcSettings(access: Pick<AccessConfig, 'oidc' | 'publicUrl'>): OidcSettings | null {
  if (!access.oidc) return null;
  const issuer = parseUrl(access.oidc.issuer, 'YINGYUN_OIDC_ISSUER');
  const loopback = ['localhost', '127.0.0.1', '[::1]'].includes(issuer.hostname);
  if (issuer.protocol !== 'https:' && !(issuer.protocol === 'http:' && loopback)) {
    throw new ConfigError(`invalid configuration: YINGYUN_OIDC_ISSUER must be an https URL (plain http only for localhost), not ${access.oidc.issuer}`);
  }
  if (!access.publicUrl) {
    throw new ConfigError('invalid configuration: OIDC sign-in needs YINGYUN_PUBLIC_URL, the address people reach Yingyun at: the provider redirects them back to it');
  }
  const publicUrl = parseUrl(access.publicUrl, 'YINGYUN_PUBLIC_URL');
  if (publicUrl.protocol !== 'https:' && publicUrl.protocol !== 'http:') throw new ConfigError(`invalid configuration: YINGYUN_PUBLIC_URL must be an http(s) URL, not ${access.publicUrl}`);
  // Keeps a path prefix (https://host/pacs/ behind a reverse proxy).
  const redirectUri = new URL(OIDC_CALLBACK_PATH, publicUrl.href.endsWith('/') ? publicUrl : `${publicUrl.href}/`);
  return { issuer, clientId: access.oidc.clientId, clientSecret: access.oidc.clientSecret, redirectUri, allowHttp: issuer.protocol === 'http:' };
}

function parseUrl(value: string, name: string): URL {
  try {
    return new URL(value);
  } catch {
    throw new ConfigError(`invalid configuration: ${name} is not a URL: ${value}`);
  }
}

export type OidcFailureReason =
  /** No pending sign-in in this browser, an expired one, or a `state` that is not this browser's (login CSRF). */
  | 'invalid-state'
  /** The provider answered with an error (the person cancelled, or was refused there). */
  | 'provider-error'
  /** The token exchange or the ID token failed validation. */
  | 'invalid-response'
  /** The provider could not be reached. */
  | 'provider-unreachable'
  /** No Yingyun account for this identity (see `OidcSignIn.accountFor`). */
  | 'unknown-identity'
  | 'disabled';

export class OidcFailure extends Error {
  constructor(
    readonly reason: OidcFailureReason,
    /** What went wrong, for the person and the administrator. */
    readonly detail: string,
  ) {
    super(`${reason}: ${detail}`);
  }
}

/** What the browser carries (signed) between leaving for the provider and coming back. */
interface PendingSignIn {
  state: string;
  nonce: string;
  codeVerifier: string;
  returnTo: string;
}

const FLOW_AUDIENCE = 'yingyun:oidc-flow';

/**
 * Sign-in through an OpenID Connect provider (Keycloak, or any certified one): the authorization
 * code flow with PKCE, state and nonce, and the ID token's signature checked against the provider's
 * keys. The provider proves who someone is; what they may do (role, institution) is Yingyun's alone.
 */
export class OidcSignIn {
  private configuration?: Promise<client.Configuration>;
  private flowKey?: Promise<Uint8Array>;

  constructor(
    private readonly settings: OidcSettings,
    private readonly users: UsersRepository,
    private readonly audit: AuditLog,
    private readonly auth: AuthService,
  ) {}

  /** The provider's metadata, fetched on first use (Yingyun starts while the provider is down) and kept. */
  private discover(): Promise<client.Configuration> {
    this.configuration ??= client
      .discovery(this.settings.issuer, this.settings.clientId, undefined, this.settings.clientSecret ? client.ClientSecretBasic(this.settings.clientSecret) : client.None(), {
        timeout: 10,
        execute: [client.enableNonRepudiationChecks, ...(this.settings.allowHttp ? [client.allowInsecureRequests] : [])],
      })
      .catch((error: unknown) => {
        this.configuration = undefined;
        throw new OidcFailure('provider-unreachable', `the sign-in provider ${this.settings.issuer.href} cannot be reached (${(error as Error).message}); try again later`);
      });
    return this.configuration;
  }

  private key(): Promise<Uint8Array> {
    this.flowKey ??= this.users.secret('oidc-flow-signing-key', () => randomBytes(32)).then((secret) => new Uint8Array(secret));
    return this.flowKey;
  }

  /**
   * Where to send the browser, and the signed token it must bring back (a cookie): fresh state,
   * nonce and PKCE verifier for every attempt. `returnTo` must already be a safe local path.
   */
  async begin(returnTo: string): Promise<{ authorizationUrl: URL; flowToken: string }> {
    const configuration = await this.discover();
    const pending: PendingSignIn = { state: client.randomState(), nonce: client.randomNonce(), codeVerifier: client.randomPKCECodeVerifier(), returnTo };
    const authorizationUrl = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.settings.redirectUri.href,
      scope: 'openid profile',
      state: pending.state,
      nonce: pending.nonce,
      code_challenge: await client.calculatePKCECodeChallenge(pending.codeVerifier),
      code_challenge_method: 'S256',
    });
    const flowToken = await new SignJWT({ ...pending })
      .setProtectedHeader({ alg: 'HS256' })
      .setAudience(FLOW_AUDIENCE)
      .setIssuedAt()
      .setExpirationTime(`${OIDC_FLOW_MINUTES}m`)
      .sign(await this.key());
    return { authorizationUrl, flowToken };
  }

  /**
   * The provider sent the browser back with `callbackParameters`: checks them against the flow
   * token, exchanges the code, verifies the ID token, finds the account and starts a session.
   * Every outcome is audited; a refusal throws OidcFailure.
   */
  async complete(callbackParameters: URLSearchParams, flowToken: string | undefined, sourceAddress: string | undefined): Promise<{ session: IssuedSession; returnTo: string }> {
    const refuse = async (reason: OidcFailureReason, detail: string, who?: { claims?: client.IDToken; user?: User }): Promise<never> => {
      const { claims, user } = who ?? {};
      await this.audit.record({
        eventType: 'login',
        action: 'E',
        outcome: 4,
        userName: user?.username ?? preferredUsername(claims) ?? claims?.sub,
        userRole: user?.role,
        institutionId: user?.institutionId ?? undefined,
        sourceAddress,
        detail: { method: 'oidc', reason, ...(claims ? { issuer: claims.iss, subject: claims.sub } : {}) },
      });
      throw new OidcFailure(reason, detail);
    };

    const pending = await this.readFlowToken(flowToken);
    if (!pending) return refuse('invalid-state', `this sign-in did not start in this browser, or took longer than ${OIDC_FLOW_MINUTES} minutes; start again`);
    // Checked here as well as by openid-client, so a mismatch (a code from someone else's sign-in) has its own reason.
    if (callbackParameters.get('state') !== pending.state) return refuse('invalid-state', 'the answer from the sign-in provider belongs to another sign-in; start again');

    let configuration: client.Configuration;
    try {
      configuration = await this.discover();
    } catch (error) {
      return refuse('provider-unreachable', (error as OidcFailure).detail);
    }
    // Built from the configured redirect URI, not the request: behind a proxy the two differ, and the
    // token request must name exactly the redirect URI the provider knows.
    const callbackUrl = new URL(this.settings.redirectUri);
    callbackUrl.search = callbackParameters.toString();
    let claims: client.IDToken | undefined;
    try {
      const tokens = await client.authorizationCodeGrant(configuration, callbackUrl, {
        expectedState: pending.state,
        expectedNonce: pending.nonce,
        pkceCodeVerifier: pending.codeVerifier,
        idTokenExpected: true,
      });
      claims = tokens.claims();
    } catch (error) {
      if (error instanceof client.AuthorizationResponseError) {
        return refuse('provider-error', `the sign-in provider refused: ${error.error}${error.error_description ? ` (${error.error_description})` : ''}`);
      }
      if (error instanceof client.ClientError || error instanceof client.ResponseBodyError || error instanceof client.WWWAuthenticateChallengeError) {
        return refuse('invalid-response', `the sign-in provider's answer did not validate: ${error.message}`);
      }
      return refuse('provider-unreachable', `the sign-in provider ${this.settings.issuer.href} cannot be reached (${(error as Error).message}); try again later`);
    }
    if (!claims) return refuse('invalid-response', 'the sign-in provider sent no ID token');

    const user = await this.accountFor(claims);
    if (!user) {
      return refuse('unknown-identity', `there is no Yingyun account for this identity (${preferredUsername(claims) ?? claims.sub}); ask your administrator to create one for OIDC sign-in`, { claims });
    }
    if (user.disabled) return refuse('disabled', `the Yingyun account ${user.username} is disabled`, { claims, user });
    const session = await this.auth.startSession(user, sourceAddress, 'oidc');
    return { session, returnTo: pending.returnTo };
  }

  /**
   * Which Yingyun account an identity signs in to. The policy (docs/oidc.md):
   * 1. the account linked to this (issuer, sub): `sub` is the provider's stable id for a person,
   *    unlike a user name, which can be renamed or reused;
   * 2. otherwise, on first sign-in, the account whose user name equals the ID token's
   *    `preferred_username`, only if it has no password and no OIDC link yet, i.e. an administrator
   *    created it for OIDC sign-in. It is linked to (issuer, sub) from then on. An account with a
   *    password is never taken over this way: whoever controls a name at the provider must not
   *    become the local account of the same name;
   * 3. otherwise none: the sign-in is refused.
   * Roles and institutions are never read from the provider's claims.
   * A disabled account is found (so the refusal says why) and refused by the caller.
   */
  private async accountFor(claims: client.IDToken): Promise<User | null> {
    const linked = await this.users.findByOidcSubject(claims.iss, claims.sub);
    if (linked) return linked;
    const username = preferredUsername(claims);
    const candidate = username ? await this.users.findByUsername(username) : null;
    if (!candidate || candidate.passwordHash !== null || candidate.oidcIssuer !== null || candidate.oidcSubject !== null) return null;
    if (candidate.disabled) return candidate;
    // Null when a concurrent first sign-in linked it a moment ago: then it is linked to this identity or to another.
    const justLinked = await this.users.linkOidcSubject(candidate.id, claims.iss, claims.sub);
    if (!justLinked) return this.users.findByOidcSubject(claims.iss, claims.sub);
    await this.audit.record({
      eventType: 'admin-change',
      action: 'U',
      outcome: 0,
      userName: justLinked.username,
      userRole: justLinked.role,
      institutionId: justLinked.institutionId ?? undefined,
      detail: { change: 'OIDC identity linked on first sign-in', user: justLinked.username, issuer: claims.iss, subject: claims.sub },
    });
    return justLinked;
  }

  private async readFlowToken(flowToken: string | undefined): Promise<PendingSignIn | null> {
    if (!flowToken) return null;
    try {
      const { payload } = await jwtVerify(flowToken, await this.key(), { algorithms: ['HS256'], audience: FLOW_AUDIENCE });
      const { state, nonce, codeVerifier, returnTo } = payload;
      if (typeof state !== 'string' || typeof nonce !== 'string' || typeof codeVerifier !== 'string' || typeof returnTo !== 'string') return null;
      return { state, nonce, codeVerifier, returnTo };
    } catch {
      return null;
    }
  }
}

function preferredUsername(claims: client.IDToken | undefined): string | undefined {
  const value = claims?.preferred_username;
  return typeof value === 'string' && value !== '' ? value : undefined;
}
