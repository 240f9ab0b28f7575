import type { DicomJsonDataset, DicomJsonPersonName, DicomJsonValue } from '../dicom/types.ts';

/** What a routing rule asks of an instance: every criterion set must hold; none set matches everything. */
export interface RoutingCriteria {
  /** The institution whose source sent the instance. */
  sourceInstitutionId: string | null;
  /** Wildcard pattern on the sending PACS's AE title (DIMSE only: a STOW-RS or import source has none). */
  callingAeTitle: string | null;
  /** Modality (0008,0060) codes, any of them; empty: any modality. */
  modalities: string[];
  /** Wildcard pattern on Study Description (0008,1030). */
  studyDescription: string | null;
  /** Any attribute: its tag (8 upper-case hex digits, top level) and a wildcard pattern one of its values must match. */
  attribute: { tag: string; pattern: string } | null;
}

/** What is known of an instance when it is indexed: where it came from, and its header. */
export interface ArrivedInstance {
  sourceInstitutionId: string;
  /** The calling AE title, when it came over DIMSE. */
  callingAeTitle: string | null;
  metadata: DicomJsonDataset;
}

const MODALITY = '00080060';
const STUDY_DESCRIPTION = '00081030';

/** Whether `instance` meets every criterion of `criteria`. */
export function matchesRule(criteria: RoutingCriteria, instance: ArrivedInstance): boolean {
  if (criteria.sourceInstitutionId !== null && criteria.sourceInstitutionId !== instance.sourceInstitutionId) return false;
  if (criteria.callingAeTitle !== null && (instance.callingAeTitle === null || !wildcardMatches(criteria.callingAeTitle, instance.callingAeTitle))) return false;
  if (criteria.modalities.length > 0) {
    const modalities = valuesOf(instance.metadata, MODALITY).map((value) => value.toUpperCase());
    if (!criteria.modalities.some((modality) => modalities.includes(modality.toUpperCase()))) return false;
  }
  if (criteria.studyDescription !== null && !valuesOf(instance.metadata, STUDY_DESCRIPTION).some((value) => wildcardMatches(criteria.studyDescription!, value))) return false;
  if (criteria.attribute !== null) {
    const { tag, pattern } = criteria.attribute;
    if (!valuesOf(instance.metadata, tag).some((value) => wildcardMatches(pattern, value))) return false;
  }
  return true;
}

/**
 * DICOM-style wildcards (PS3.4 C.2.2.2.4): `*` any run of characters, `?` one character, the rest
 * literal; the whole value must match. Case is ignored: a rule written "ct*" or "胸部*" by an
 * administrator should not miss "CT CHEST" for its case. Leading and trailing spaces of the value
 * are padding (PS3.5 6.2), not content.
 */
export function wildcardMatches(pattern: string, value: string): boolean {
  const source = [...pattern].map((character) => (character === '*' ? '.*' : character === '?' ? '.' : character.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'))).join('');
  return new RegExp(`^${source}$`, 'isu').test(value.trim());
}

/** An element's values as text: strings as they are, numbers in decimal, person names by their alphabetic group (then ideographic). */
export function valuesOf(metadata: DicomJsonDataset, tag: string): string[] {
  return (metadata[tag]?.Value ?? []).flatMap((value: DicomJsonValue) => {
    if (value === null) return [];
    if (typeof value === 'string') return [value];
    if (typeof value === 'number') return [String(value)];
    if ('Alphabetic' in value || 'Ideographic' in value || 'Phonetic' in value) {
      const name = value as DicomJsonPersonName;
      return [name.Alphabetic, name.Ideographic, name.Phonetic].filter((group): group is string => typeof group === 'string');
    }
    return [];
  });
}

export interface RetryPolicy {
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
}

/**
 * After a failed attempt (the `attempts`-th): the item is dead (a dead letter, for a person to retry)
 * once it has had `maxAttempts`, else it waits base × 2^(attempts−1), capped.
 */
export function afterFailure(attempts: number, policy: RetryPolicy): { dead: true } | { dead: false; retryInMs: number } {
  if (attempts >= policy.maxAttempts) return { dead: true };
  return { dead: false, retryInMs: Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attempts - 1)) };
}
