/**
 * What the share-link API and the viewer exchange (dates as ISO strings): defined once, here, for
 * both. No secret is ever part of a summary: neither a link's token nor its second factor's value.
 */
export const SECOND_FACTOR_KINDS = ['phone-last4', 'birth-date'] as const;
/** What the patient types before the film opens: the last 4 digits of their phone, or their birth date. */
export type SecondFactorKind = (typeof SECOND_FACTOR_KINDS)[number];

/** A patient (no account, second factor) or a named doctor of another institution (signed in, grant). */
export type ShareLinkAudience = 'patient' | 'doctor';
export type ShareLinkOrigin = 'report-signed' | 'staff' | 'doctor';
export type ShareLinkState = 'active' | 'expired' | 'revoked' | 'locked';

export interface ShareLinkSummary {
  id: string;
  studyInstanceUid: string;
  audience: ShareLinkAudience;
  createdVia: ShareLinkOrigin;
  createdBy: string | null;
  createdAt: string;
  expiresAt: string;
  state: ShareLinkState;
  factorKind: SecondFactorKind | null;
  failedAttempts: number;
  /** Doctor links: the user name it was shared with. */
  grantee: string | null;
}

/** A link just made or shown again: the only answer that holds its URL (the server keeps no way back to it). */
export interface IssuedShareLink {
  link: ShareLinkSummary;
  url: string;
  /** The URL as a QR code (SVG text), to show on screen or print. */
  qrSvg: string;
}

/** POST /api/studies/{study}/film-links */
export interface CreatePatientLinkRequest {
  factor: SecondFactorKind;
  /** For 'phone-last4' when the study carries no Patient's Telephone Numbers, or staff know better. */
  phoneLast4?: string;
  /** Days until it expires (default: the configured 30). */
  days?: number;
}

/** POST /api/studies/{study}/shares */
export interface CreateDoctorShareRequest {
  /** The Yingyun user name of the doctor it is for. */
  username: string;
  reason: string;
  /** Hours until it expires (default 72). */
  hours?: number;
}
