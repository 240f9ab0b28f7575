import { z } from 'zod';
import { firstString } from '../dicom/normalize.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import {
  identifierKindSchema,
  identifierMatchKey,
  maskIdentifierValue,
  normaliseIdentifierValue,
  normaliseIssuer,
  RESIDENT_ID_NAMESPACE,
  toPersonIdentifier,
  type IdentifierKind,
  type IdentifierRejection,
  type PersonIdentifier,
} from './identifiers.ts';

/**
 * Where the strong identifiers of a DICOM dataset are, and which of them may be used.
 *
 * 1. Issuer names. An Other Patient IDs Sequence (0010,1002) item, or the Patient ID (0010,0020)
 *    itself, whose Issuer of Patient ID (0010,0021), or the Universal Entity ID (0040,0032) of its
 *    Issuer of Patient ID Qualifiers Sequence (0010,0024), is a name in the region's issuer table
 *    is an identifier of that kind. The table is configuration: the defaults are the OIDs the
 *    national shared-document standards use for the resident ID (2.16.156.10011.1.3), the health
 *    card (…1.19) and the medical insurance card (…1.15), as found in hospital integration
 *    templates, and 'CN-RESIDENT-ID', which our fixtures write; a region whose PACS write another
 *    name adds it. Type of Patient ID (0010,0022) says how the number was carried (TEXT, RFID,
 *    BARCODE), not what it is, so it does not decide the kind.
 * 2. Institution rules, set by an administrator for a hospital whose PACS writes the number without
 *    a recognisable issuer: "the resident ID is in Other Patient IDs" (items without an issuer and
 *    the retired Other Patient IDs (0010,1000), or only items of a named issuer), or "in Patient ID,
 *    after the prefix SFZ". A rule is validated with zod where it enters (the admin API), and a
 *    health card or insurance rule must name the issuing authority (see identifiers.ts).
 *
 * A value that its source says is an identifier but that fails validation (a resident ID with a
 * wrong check digit) is reported as a problem and never used. So is a kind with two different
 * values in one dataset: a hospital record that names two resident IDs cannot say which is right.
 * A value nothing claims as an identifier (a hospital's own number in Other Patient IDs) is ignored.
 */

const issuerText = z.string().trim().min(1).max(64);

export const identifierRuleSchema = z
  .discriminatedUnion('source', [
    z.object({
      source: z.literal('other-patient-ids'),
      kind: identifierKindSchema,
      /** Only items with this Issuer of Patient ID; without it, items with none and the retired attribute. */
      issuerOfPatientId: issuerText.optional(),
      /** The namespace of a health card or insurance number (required for them; ignored for resident IDs). */
      issuer: issuerText.optional(),
    }),
    z.object({
      source: z.literal('patient-id'),
      kind: identifierKindSchema,
      /** Patient IDs starting with this prefix hold the identifier after it; others are the hospital's own. */
      prefix: z.string().trim().min(1).max(16).optional(),
      issuerOfPatientId: issuerText.optional(),
      issuer: issuerText.optional(),
    }),
  ])
  .refine((rule) => rule.kind === 'resident-id' || rule.issuer !== undefined, {
    message: 'a health card or medical insurance rule names the issuer its numbers are unique within',
    path: ['issuer'],
  });
export type IdentifierRule = z.infer<typeof identifierRuleSchema>;

export const institutionIdentifierRulesSchema = z.array(identifierRuleSchema).max(16);

/** Issuer name (normalised by normaliseIssuer) → the kind of identifier it issues. */
export type IssuerTable = ReadonlyMap<string, IdentifierKind>;

export const DEFAULT_ISSUER_TABLE: IssuerTable = new Map<string, IdentifierKind>([
  [RESIDENT_ID_NAMESPACE, 'resident-id'],
  ['CN-RESIDENT-ID', 'resident-id'],
  ['2.16.156.10011.1.19', 'health-card'],
  ['2.16.156.10011.1.15', 'medical-insurance'],
]);

export type IdentifierSource = 'patient-id' | 'other-patient-ids-sequence' | 'other-patient-ids';

export type IdentifierProblem =
  | { problem: 'invalid'; source: IdentifierSource; rejection: IdentifierRejection; maskedValue: string }
  | { problem: 'conflicting-values'; kind: IdentifierKind; issuer: string; maskedValues: string[] };

export interface ExtractedIdentifiers {
  identifiers: PersonIdentifier[];
  problems: IdentifierProblem[];
}

/** One Patient ID as the dataset carries it: the value and every name of its issuer. */
interface Candidate {
  source: IdentifierSource;
  value: string;
  issuerNames: string[];
}

export function extractIdentifiers(
  dataset: DicomJsonDataset,
  rules: readonly IdentifierRule[],
  issuers: IssuerTable = DEFAULT_ISSUER_TABLE,
  today?: Date,
): ExtractedIdentifiers {
  const problems: IdentifierProblem[] = [];
  const found: PersonIdentifier[] = [];
  const accept = (kind: IdentifierKind, candidate: Candidate, value: string, issuer: string) => {
    const result = toPersonIdentifier(kind, value, issuer, today);
    if (result.ok) found.push(result.identifier);
    else problems.push({ problem: 'invalid', source: candidate.source, rejection: result.rejection, maskedValue: maskIdentifierValue(normaliseIdentifierValue(value)) });
  };

  for (const candidate of candidates(dataset)) {
    const issuerName = candidate.issuerNames.find((name) => issuers.has(name));
    if (issuerName !== undefined) {
      accept(issuers.get(issuerName)!, candidate, candidate.value, issuerName);
      continue;
    }
    for (const rule of rules) {
      const value = applyRule(rule, candidate);
      if (value !== null) accept(rule.kind, candidate, value, rule.issuer ?? '');
    }
  }
  return { identifiers: withoutConflicts(found, problems), problems };
}

/** The value a rule takes from a candidate, or null when the rule does not speak of it. */
function applyRule(rule: IdentifierRule, candidate: Candidate): string | null {
  const wanted = rule.issuerOfPatientId === undefined ? null : normaliseIssuer(rule.issuerOfPatientId);
  if (rule.source === 'patient-id') {
    if (candidate.source !== 'patient-id') return null;
    if (wanted !== null && !candidate.issuerNames.includes(wanted)) return null;
    if (rule.prefix === undefined) return candidate.value;
    return candidate.value.startsWith(rule.prefix) ? candidate.value.slice(rule.prefix.length) : null;
  }
  if (candidate.source === 'patient-id') return null;
  if (wanted === null) return candidate.issuerNames.length === 0 ? candidate.value : null;
  return candidate.issuerNames.includes(wanted) ? candidate.value : null;
}

function candidates(dataset: DicomJsonDataset): Candidate[] {
  const found: Candidate[] = [];
  const patientId = patientIdOf(dataset, 'patient-id');
  if (patientId) found.push(patientId);
  for (const item of dataset['00101002']?.Value ?? []) {
    const candidate = isDataset(item) ? patientIdOf(item, 'other-patient-ids-sequence') : null;
    if (candidate) found.push(candidate);
  }
  for (const value of dataset['00101000']?.Value ?? []) {
    if (typeof value === 'string' && value.trim()) found.push({ source: 'other-patient-ids', value: value.trim(), issuerNames: [] });
  }
  return found;
}

function patientIdOf(dataset: DicomJsonDataset, source: IdentifierSource): Candidate | null {
  const value = firstString(dataset, '00100020')?.trim();
  if (!value) return null;
  const qualifiers = dataset['00100024']?.Value?.[0];
  const names = [firstString(dataset, '00100021'), isDataset(qualifiers) ? firstString(qualifiers, '00400032') : null]
    .map((name) => (name ? normaliseIssuer(name) : ''))
    .filter((name) => name !== '');
  return { source, value, issuerNames: [...new Set(names)] };
}

function isDataset(value: unknown): value is DicomJsonDataset {
  return typeof value === 'object' && value !== null && !('Alphabetic' in value || 'Ideographic' in value || 'Phonetic' in value);
}

/** One value per kind and issuer: the same one found twice is kept once; two different ones are both dropped. */
function withoutConflicts(found: PersonIdentifier[], problems: IdentifierProblem[]): PersonIdentifier[] {
  const byNamespace = new Map<string, Map<string, PersonIdentifier>>();
  for (const identifier of found) {
    const namespace = `${identifier.kind}|${identifier.issuer}`;
    const values = byNamespace.get(namespace) ?? new Map<string, PersonIdentifier>();
    values.set(identifierMatchKey(identifier), identifier);
    byNamespace.set(namespace, values);
  }
  const identifiers: PersonIdentifier[] = [];
  for (const values of byNamespace.values()) {
    const distinct = [...values.values()];
    if (distinct.length === 1) identifiers.push(distinct[0]!);
    else problems.push({ problem: 'conflicting-values', kind: distinct[0]!.kind, issuer: distinct[0]!.issuer, maskedValues: distinct.map((identifier) => maskIdentifierValue(identifier.value)) });
  }
  return identifiers;
}
