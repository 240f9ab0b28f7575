import { z } from 'zod';
import { parseResidentIdNumber, type ResidentIdRejection } from './resident-id.ts';

/**
 * Strong identifiers: the numbers that name one person in every hospital, unlike each hospital's
 * own Patient ID. Two patient records carrying the same strong identifier are the same person.
 *
 * An identifier is unique only within its issuer's namespace. The resident identity number is
 * unique nationwide, so it always carries the one national namespace and the issuer a hospital
 * wrote does not split it. A resident health card (居民健康卡) or medical insurance number is
 * unique only for the authority that issued it (a province's card system, a city's insurance
 * fund), so its issuer is part of what must be equal, and one without an issuer is not used.
 */
export const IDENTIFIER_KINDS = ['resident-id', 'health-card', 'medical-insurance'] as const;
export const identifierKindSchema = z.enum(IDENTIFIER_KINDS);
export type IdentifierKind = z.infer<typeof identifierKindSchema>;

export interface PersonIdentifier {
  kind: IdentifierKind;
  /** Normalised: upper case, half-width, no spaces or hyphens; a resident ID always in its 18-character form. */
  value: string;
  /** The namespace the value is unique in; for a resident ID always RESIDENT_ID_NAMESPACE. */
  issuer: string;
}

/**
 * The OID the national health-information standards (WS/T 500 shared documents, as hospital
 * integration templates use it: `<id root="2.16.156.10011.1.3" extension="…"/>`) give the patient's
 * resident identity number; used as the namespace of every resident ID, whatever issuer a PACS wrote.
 */
export const RESIDENT_ID_NAMESPACE = '2.16.156.10011.1.3';

/**
 * Trim, fold full-width digits and letters (and the ideographic space) to half-width with NFKC,
 * drop spaces and hyphens, upper-case: 'ｘ' typed on a Chinese keyboard, '1101 0519 …' copied from a
 * form and '110105-19491231-002x' are the same number.
 */
export function normaliseIdentifierValue(value: string): string {
  return value.normalize('NFKC').replace(/[\s\-‐‑‒–—―]/gu, '').toUpperCase();
}

/** Issuer names as PACS write them: an OID sometimes as 'urn:oid:…', padded, in any case. */
export function normaliseIssuer(issuer: string): string {
  return issuer.normalize('NFKC').trim().replace(/^urn:oid:/i, '');
}

export type IdentifierRejection =
  | { kind: 'resident-id'; reason: ResidentIdRejection }
  | { kind: 'health-card' | 'medical-insurance'; reason: 'malformed' | 'missing-issuer' };

export type IdentifierResult = { ok: true; identifier: PersonIdentifier } | { ok: false; rejection: IdentifierRejection };

/**
 * Health card and insurance numbers have no published check character and differ by province and
 * fund (the electronic health card's is 64 hexadecimal characters), so only their shape is checked:
 * 4 to 64 letters and digits after normalisation.
 */
const CARD_NUMBER = /^[0-9A-Z]{4,64}$/;

/** Makes a strong identifier from a raw value, or says why it cannot be one. */
export function toPersonIdentifier(kind: IdentifierKind, rawValue: string, rawIssuer: string, today?: Date): IdentifierResult {
  const value = normaliseIdentifierValue(rawValue);
  if (kind === 'resident-id') {
    const parsed = parseResidentIdNumber(value, today);
    return parsed.ok
      ? { ok: true, identifier: { kind, value: parsed.number, issuer: RESIDENT_ID_NAMESPACE } }
      : { ok: false, rejection: { kind, reason: parsed.reason } };
  }
  if (!CARD_NUMBER.test(value)) return { ok: false, rejection: { kind, reason: 'malformed' } };
  const issuer = normaliseIssuer(rawIssuer);
  if (!issuer) return { ok: false, rejection: { kind, reason: 'missing-issuer' } };
  return { ok: true, identifier: { kind, value, issuer } };
}

/** What two identifiers must share to name the same person; the input of the matching hash. */
export function identifierMatchKey(identifier: PersonIdentifier): string {
  return `${identifier.kind}|${identifier.issuer}|${identifier.value}`;
}

/** For reports and logs: only the last four characters, enough for a person to compare with a card. */
export function maskIdentifierValue(value: string): string {
  return `${'*'.repeat(Math.max(0, value.length - 4))}${value.slice(-4)}`;
}
