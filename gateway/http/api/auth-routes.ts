import express, { Router, type Request, type Response } from 'express';
import { rateLimit } from 'express-rate-limit';
import { z } from 'zod';
import { AuthFailure, type IssuedSession } from '../../../archive/access/auth-service.ts';
import { permissionsOf } from '../../../archive/access/policy.ts';
import { message } from '../../../archive/i18n/messages.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, CSRF_COOKIE, isSecure, SESSION_COOKIE, setSessionCookie } from '../access.ts';
import { HttpProblem } from '../problem.ts';

const loginBody = z.object({ username: z.string().min(1).max(128), password: z.string().min(1).max(256) });

/**
 * Sign-in and sign-out for people (cookie sessions) and `who am I` for any caller. Machines use API
 * tokens instead (`npm run admin -- token create`), sent as Authorization: Bearer.
 */
export function authRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  // Per address, on top of the per-account lock-out: slows a password spray across many accounts.
  const loginLimiter = rateLimit({
    windowMs: 5 * 60_000,
    limit: 30,
    standardHeaders: 'draft-8',
    legacyHeaders: false,
    handler: (request, _response, next) => next(new HttpProblem(429, 'problem.tooManyRequests', `too many sign-in attempts from ${request.ip}; wait a few minutes`)),
  });

  router.post('/auth/login', loginLimiter, express.json({ limit: '4kb', type: 'application/json' }), async (request, response) => {
    // JSON only: a cross-site form cannot send it without a CORS preflight, which closes login CSRF.
    if (!request.is('application/json')) throw new HttpProblem(415, 'problem.unsupportedMediaType', 'send the credentials as application/json');
    const body = loginBody.safeParse(request.body);
    if (!body.success) throw new HttpProblem(400, 'problem.badRequest', 'username and password are required');
    try {
      const session = await runtime.auth.login(body.data.username, body.data.password, request.ip);
      startBrowserSession(request, response, session);
    } catch (error) {
      if (!(error instanceof AuthFailure)) throw error;
      // One answer for every failure (issue 13, finding 9): the status and body never tell a known account from an unknown one.
      if (error.retryAfterSeconds !== undefined) response.setHeader('Retry-After', String(error.retryAfterSeconds));
      throw new HttpProblem(401, 'problem.unauthorized', message('auth.invalidCredentials', request.headers['accept-language']));
    }
  });

  router.post('/auth/logout', async (request, response) => {
    await runtime.auth.logout(accessOf(response).principal, request.ip);
    response.clearCookie(SESSION_COOKIE, { path: '/' });
    response.clearCookie(CSRF_COOKIE, { path: '/' });
    response.status(204).end();
  });

  router.get('/auth/me', (_request, response) => {
    const { principal, visibility } = accessOf(response);
    response.json({
      username: principal.username,
      displayName: principal.displayName,
      role: principal.role,
      institutionId: principal.institutionId,
      permissions: permissionsOf(principal.role),
      maskIdentity: visibility.maskIdentity,
      via: principal.via,
    });
  });

  router.get('/auth/providers', (_request, response) => {
    response.json({ password: true, oidc: runtime.config.access.oidc ? { issuer: runtime.config.access.oidc.issuer } : null });
  });
  return router;
}

/** Sets the session's cookies and answers who signed in (password sign-in, from the app's script). */
export function startBrowserSession(request: Request, response: Response, session: IssuedSession): void {
  setBrowserSessionCookies(request, response, session);
  response.json({
    username: session.user.username,
    displayName: session.user.displayName,
    role: session.user.role,
    institutionId: session.user.institutionId,
    permissions: permissionsOf(session.user.role),
    csrfToken: session.csrfToken,
  });
}

/** The session cookie (HttpOnly) and its CSRF companion (readable by the app, which echoes it). */
export function setBrowserSessionCookies(request: Request, response: Response, session: IssuedSession): void {
  const secure = isSecure(request);
  setSessionCookie(response, session.token, session.tokenExpiresAt, secure);
  response.cookie(CSRF_COOKIE, session.csrfToken, { httpOnly: false, secure, sameSite: 'strict', path: '/' });
}
