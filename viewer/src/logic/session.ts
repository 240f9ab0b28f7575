import type { Translate } from '../i18n/i18n.ts';

/**
 * Who is signed in and what they may do, as the archive's /api/auth/me says (the archive decides;
 * the viewer only shows and hides). The lists mirror archive/access/policy.ts.
 */
export const ROLES = ['system_admin', 'institution_admin', 'radiologist', 'referring_doctor', 'qc_staff', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = ['read-images', 'store', 'request-reading', 'write-reports', 'export', 'manage-institution', 'manage-system', 'read-audit', 'grade-quality', 'manage-persons', 'view-statistics', 'record-recognition'] as const;
export type Permission = (typeof PERMISSIONS)[number];

export interface SignedInUser {
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  permissions: Permission[];
  /** Patient name and ID arrive as '***' (QC staff). */
  maskIdentity: boolean;
}

/** The sign-in methods the archive offers (GET /api/auth/providers). */
export interface SignInProviders {
  password: boolean;
  oidc: { issuer: string } | null;
}

export const CSRF_COOKIE = 'yingyun_csrf';
export const CSRF_HEADER = 'X-CSRF-Token';
export const PURPOSE_HEADER = 'X-Purpose-Of-Use';

/** /api/auth/me or the sign-in answer, checked field by field (unknown roles and permissions are dropped). */
export function signedInUser(json: unknown): SignedInUser {
  const value = (json ?? {}) as Record<string, unknown>;
  const role = ROLES.find((candidate) => candidate === value.role);
  if (typeof value.username !== 'string' || !role) throw new Error('the archive answered without a user name or a known role');
  const permissions = Array.isArray(value.permissions) ? PERMISSIONS.filter((permission) => (value.permissions as unknown[]).includes(permission)) : [];
  return {
    username: value.username,
    displayName: typeof value.displayName === 'string' && value.displayName ? value.displayName : value.username,
    role,
    institutionId: typeof value.institutionId === 'string' ? value.institutionId : null,
    permissions,
    maskIdentity: value.maskIdentity === true,
  };
}

export function isUnsafeMethod(method: string): boolean {
  return !['GET', 'HEAD', 'OPTIONS'].includes(method.toUpperCase());
}

/** One cookie's value from `document.cookie`. */
export function cookieValue(cookies: string, name: string): string | undefined {
  for (const part of cookies.split(';')) {
    const [key, ...rest] = part.trim().split('=');
    if (key === name) {
      const value = rest.join('=');
      try {
        return decodeURIComponent(value);
      } catch {
        return value;
      }
    }
  }
  return undefined;
}

/** The stated purpose as the header carries it: percent-encoded UTF-8, so Chinese text fits. */
export function encodePurpose(purpose: string): string {
  return encodeURIComponent(purpose.trim());
}

export interface RequestContext {
  method: string;
  accept?: string;
  /** The body is JSON. */
  json?: boolean;
  /** The reader's language: the archive words its problem titles (and sign-in failures) in it. */
  locale: string;
  /** `document.cookie`, read at each request: a renewed session keeps its CSRF token, a new one brings another. */
  cookies: string;
  /** Sent only on requests for patient data (DICOMweb, priors). */
  purpose?: string;
}

/**
 * The headers of a request to the archive: the session cookie travels by itself, so an unsafe
 * method must echo the CSRF cookie (the archive refuses it otherwise); a stated purpose of use
 * opens a linked patient's studies at other institutions.
 */
export function requestHeaders(context: RequestContext): Record<string, string> {
  const headers: Record<string, string> = { 'Accept-Language': context.locale };
  if (context.accept) headers.Accept = context.accept;
  if (context.json) headers['Content-Type'] = 'application/json';
  if (isUnsafeMethod(context.method)) {
    const csrf = cookieValue(context.cookies, CSRF_COOKIE);
    if (csrf) headers[CSRF_HEADER] = csrf;
  }
  if (context.purpose) headers[PURPOSE_HEADER] = encodePurpose(context.purpose);
  return headers;
}

/** Headers for Cornerstone's frame requests (the cookie goes by itself; frames are GETs). */
export function imageRequestHeaders(purpose: string | undefined): Record<string, string> {
  return purpose ? { [PURPOSE_HEADER]: encodePurpose(purpose) } : {};
}

/** Where the OIDC button goes: the archive's redirect, told to come back to this page (a same-origin path only). */
export function oidcSignInUrl(pathAndQuery: string): string {
  const returnTo = pathAndQuery.startsWith('/') && !pathAndQuery.startsWith('//') ? pathAndQuery : '/';
  return `/api/auth/oidc/login?${new URLSearchParams({ returnTo }).toString()}`;
}

/** A failed sign-in, as the archive explained it, in the reader's language. */
export interface SignInFailure {
  status: number;
  title?: string;
  detail: string;
  retryAfterSeconds?: number;
}

/**
 * Why signing in failed. Wrong credentials, a locked or disabled account: the archive words these
 * itself in the language the request asked for; the rest are the viewer's own words.
 */
export function signInErrorText(failure: SignInFailure, t: Translate): string {
  if (failure.status === 0) return t('error.network', { detail: failure.detail });
  if (failure.status === 401) return failure.detail || failure.title || t('signIn.failed');
  if (failure.status === 423) {
    const minutes = failure.retryAfterSeconds ? Math.max(1, Math.ceil(failure.retryAfterSeconds / 60)) : undefined;
    const text = failure.detail || failure.title || t('signIn.locked');
    return minutes ? `${text} ${t('signIn.retryAfter', { minutes })}` : text;
  }
  if (failure.status === 429) return t('signIn.tooManyAttempts');
  return t('error.http', { status: failure.status, detail: failure.detail || failure.title || '' });
}

/**
 * Roles the archive lets open a linked patient's studies at other institutions with a stated
 * purpose (archive/access/policy.ts CROSS_INSTITUTION_ROLES). Others are not asked: a system
 * administrator sees everything already, and a purpose changes nothing for the rest.
 */
export function canStatePurpose(user: SignedInUser | undefined): boolean {
  return !!user && (user.role === 'radiologist' || user.role === 'referring_doctor');
}
