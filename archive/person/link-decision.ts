import { foldPersonName } from '../dicom/normalize.ts';
import type { DicomJsonPersonName } from '../dicom/types.ts';
import { identifierMatchKey, type IdentifierKind, type PersonIdentifier } from './identifiers.ts';
import { residentIdBirthDate, residentIdSex } from './resident-id.ts';

/**
 * Whether two patient records (of different hospitals, usually) are one person.
 *
 * - link: they share a strong identifier and nothing contradicts it. Only this is automatic.
 * - suggest: for a person to decide in the review queue, never linked on its own —
 *   · they share a strong identifier but something contradicts it: the names, birth dates or sexes
 *     differ, a record's birth date or sex is not the one its resident ID encodes, or they carry
 *     different resident IDs (a typo in one hospital's registration, or a card number reused:
 *     linking would join two people's images);
 *   · they share no strong identifier but the same name, birth date and sex (common names repeat:
 *     张伟 born on one day in one city is not rare).
 * - none: two different resident IDs and no shared identifier (one person has one resident ID), or
 *   no match at all.
 *
 * Missing data never contradicts: a record without a birth date neither confirms nor refutes.
 * Sex is compared only when both are M or F (O and empty say nothing).
 */

export interface LinkCandidate {
  name: DicomJsonPersonName | null;
  /** YYYY-MM-DD, as the index stores it. */
  birthDate: string | null;
  /** Patient's Sex (0010,0040): M, F, O or empty. */
  sex: string | null;
  /** Valid, normalised identifiers (identifier-extraction.ts), never a rejected value. */
  identifiers: readonly PersonIdentifier[];
}

export type LinkConflict =
  | 'name'
  | 'birth-date'
  | 'sex'
  | 'different-resident-id'
  | 'birth-date-not-in-resident-id' // a record's birth date is not the one its resident ID encodes
  | 'sex-not-in-resident-id';

export type LinkDecision =
  | { decision: 'link'; reason: 'shared-identifier'; shared: IdentifierKind[] }
  | { decision: 'suggest'; reason: 'identifier-conflict'; shared: IdentifierKind[]; conflicts: LinkConflict[] }
  | { decision: 'suggest'; reason: 'same-name-birth-date-sex' }
  | { decision: 'none'; reason: 'different-resident-id' | 'no-match' };

export function decideLink(a: LinkCandidate, b: LinkCandidate): LinkDecision {
  const keysOfB = new Set(b.identifiers.map(identifierMatchKey));
  const shared = [...new Set(a.identifiers.filter((identifier) => keysOfB.has(identifierMatchKey(identifier))).map((identifier) => identifier.kind))];
  const residentIdA = residentIdOf(a);
  const residentIdB = residentIdOf(b);
  const differentResidentIds = residentIdA !== null && residentIdB !== null && residentIdA !== residentIdB;

  if (shared.length > 0) {
    const conflicts: LinkConflict[] = [];
    if (namesAgree(a.name, b.name) === false) conflicts.push('name');
    if (a.birthDate && b.birthDate && a.birthDate !== b.birthDate) conflicts.push('birth-date');
    if (knownSex(a.sex) && knownSex(b.sex) && knownSex(a.sex) !== knownSex(b.sex)) conflicts.push('sex');
    if (differentResidentIds) conflicts.push('different-resident-id');
    if ([a, b].some((record) => birthDateContradictsResidentId(record))) conflicts.push('birth-date-not-in-resident-id');
    if ([a, b].some((record) => sexContradictsResidentId(record))) conflicts.push('sex-not-in-resident-id');
    return conflicts.length === 0
      ? { decision: 'link', reason: 'shared-identifier', shared }
      : { decision: 'suggest', reason: 'identifier-conflict', shared, conflicts };
  }
  if (differentResidentIds) return { decision: 'none', reason: 'different-resident-id' };
  const sameSex = knownSex(a.sex) !== null && knownSex(a.sex) === knownSex(b.sex);
  if (namesAgree(a.name, b.name) === true && a.birthDate !== null && a.birthDate === b.birthDate && sameSex) {
    return { decision: 'suggest', reason: 'same-name-birth-date-sex' };
  }
  return { decision: 'none', reason: 'no-match' };
}

/**
 * Person names compared as Chinese hospitals write them: on the ideographic group when both
 * records have one (王^小东 = 王小东), else on the alphabetic group (Wang^XiaoDong = WANG^XIAODONG),
 * ignoring case, width, spaces and '^'. Many county PACS write the Chinese name into the first
 * (alphabetic) group, so a first group with Han characters counts as the ideographic one. null when
 * the two share no group to compare (one has only 王小东, the other only Wang^XiaoDong).
 */
export function namesAgree(a: DicomJsonPersonName | null, b: DicomJsonPersonName | null): boolean | null {
  const groupsA = nameGroups(a);
  const groupsB = nameGroups(b);
  if (groupsA.ideographic && groupsB.ideographic) return groupsA.ideographic === groupsB.ideographic;
  if (groupsA.alphabetic && groupsB.alphabetic) return groupsA.alphabetic === groupsB.alphabetic;
  return null;
}

const HAN = /\p{Script=Han}/u;

function nameGroups(name: DicomJsonPersonName | null): { ideographic: string; alphabetic: string } {
  const fold = (group: string | undefined) => foldPersonName(group ?? '').replace(/ /g, '');
  const first = fold(name?.Alphabetic);
  const firstIsHan = HAN.test(first);
  return { ideographic: fold(name?.Ideographic) || (firstIsHan ? first : ''), alphabetic: firstIsHan ? '' : first };
}

function knownSex(sex: string | null): 'M' | 'F' | null {
  const value = sex?.trim().toUpperCase();
  return value === 'M' || value === 'F' ? value : null;
}

function residentIdOf(record: LinkCandidate): string | null {
  return record.identifiers.find((identifier) => identifier.kind === 'resident-id')?.value ?? null;
}

function birthDateContradictsResidentId(record: LinkCandidate): boolean {
  const residentId = residentIdOf(record);
  return residentId !== null && record.birthDate !== null && record.birthDate !== residentIdBirthDate(residentId);
}

function sexContradictsResidentId(record: LinkCandidate): boolean {
  const residentId = residentIdOf(record);
  const sex = knownSex(record.sex);
  return residentId !== null && sex !== null && sex !== residentIdSex(residentId);
}
