import { Router, type Request } from 'express';
import { OIDC_FLOW_MINUTES, OidcFailure, OidcSignIn, oidcSettings, type OidcFailureReason } from '../../../archive/access/oidc.ts';
import { message, type MessageKey } from '../../../archive/i18n/messages.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { isSecure } from '../access.ts';
import { HttpProblem } from '../problem.ts';
import { setBrowserSessionCookies } from './auth-routes.ts';

/** The pending sign-in (state, nonce, PKCE verifier, where to return), signed, between the two routes. */
export const OIDC_FLOW_COOKIE = 'yingyun_oidc_flow';
// Sent only to the callback. The provider's redirect back is a cross-site top-level GET: SameSite=Lax
// is the strictest setting under which the browser still brings the cookie along.
const FLOW_COOKIE_PATH = '/api/auth/oidc';

const REFUSAL: Record<OidcFailureReason, { status: number; titleKey: MessageKey }> = {
  'invalid-state': { status: 400, titleKey: 'problem.badRequest' },
  'provider-error': { status: 401, titleKey: 'problem.unauthorized' },
  'invalid-response': { status: 401, titleKey: 'problem.unauthorized' },
  'provider-unreachable': { status: 503, titleKey: 'problem.unavailable' },
  'unknown-identity': { status: 403, titleKey: 'problem.forbidden' },
  disabled: { status: 403, titleKey: 'problem.forbidden' },
};

/**
 * Sign-in through the OIDC provider (docs/oidc.md): `GET /auth/oidc/login?returnTo=/path` sends the
 * browser to the provider; `GET /auth/oidc/callback` is where it comes back, signed in or refused.
 * Without OIDC configured both answer 404. Both paths are public in the access table.
 */
export function oidcRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  // Checked here, at start-up: an http issuer or a missing YINGYUN_PUBLIC_URL stops Yingyun with the reason.
  const settings = oidcSettings(runtime.config.access);
  if (!settings) {
    router.get(['/auth/oidc/login', '/auth/oidc/callback'], () => {
      throw new HttpProblem(404, 'problem.notFound', 'OIDC sign-in is not configured here (YINGYUN_OIDC_ISSUER)');
    });
    return router;
  }
  const signIn = new OidcSignIn(settings, runtime.users, runtime.audit, runtime.auth);

  router.get('/auth/oidc/login', async (request, response) => {
    const { authorizationUrl, flowToken } = await signIn.begin(safeReturnPath(request.query.returnTo)).catch(refusal(request));
    response.cookie(OIDC_FLOW_COOKIE, flowToken, { httpOnly: true, secure: isSecure(request), sameSite: 'lax', path: FLOW_COOKIE_PATH, maxAge: OIDC_FLOW_MINUTES * 60_000 });
    response.setHeader('Cache-Control', 'no-store');
    response.redirect(302, authorizationUrl.href);
  });

  router.get('/auth/oidc/callback', async (request, response) => {
    const flowToken = (request.cookies as Record<string, string> | undefined)?.[OIDC_FLOW_COOKIE];
    // One attempt per flow, whatever its outcome.
    response.clearCookie(OIDC_FLOW_COOKIE, { httpOnly: true, secure: isSecure(request), sameSite: 'lax', path: FLOW_COOKIE_PATH });
    response.setHeader('Cache-Control', 'no-store');
    // The raw query: the provider's parameters exactly as sent (the simple query parser would fold repeats into arrays).
    const callbackParameters = new URL(request.originalUrl, 'http://callback.invalid').searchParams;
    const { session, returnTo } = await signIn.complete(callbackParameters, flowToken, request.ip).catch(refusal(request));
    setBrowserSessionCookies(request, response, session);
    response.redirect(302, returnTo);
  });
  return router;
}

/** A refusal as problem JSON: the callback is a page the person lands on, so the detail says what to do. */
function refusal(request: Request): (error: unknown) => never {
  return (error) => {
    if (!(error instanceof OidcFailure)) throw error;
    const { status, titleKey } = REFUSAL[error.reason];
    const detail = error.reason === 'disabled' ? message('auth.disabled', request.headers['accept-language']) : error.detail;
    throw new HttpProblem(status, titleKey, detail, { reason: error.reason });
  };
}

/**
 * Where to send someone after sign-in: a path on this site, or '/'. Only a single leading '/' is
 * accepted: '//host' and '/\host' are read by browsers as another site (an open redirect), and
 * control characters are dropped by URL parsers, which can turn '/\t/host' into '//host'.
 */
export function safeReturnPath(value: unknown): string {
  if (typeof value !== 'string' || value.length > 2048) return '/';
  if (!/^\/(?![/\\])[^\\\x00-\x1f\x7f]*$/.test(value)) return '/';
  const base = 'http://yingyun.invalid';
  return new URL(value, base).origin === base ? value : '/';
}
