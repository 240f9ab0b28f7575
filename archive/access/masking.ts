import type { DicomJsonDataset } from '../dicom/types.ts';

/**
 * Attributes that say who the patient is, hidden from roles that must not know (QC staff grading
 * image quality). Name and ID become a fixed mask rather than disappearing, so a client that expects
 * them still lays out; dates of birth and other identifiers go.
 */
const MASKED = '***';
const REPLACED = new Map([
  ['00100010', { vr: 'PN', Value: [{ Alphabetic: MASKED }] }],
  ['00100020', { vr: 'LO', Value: [MASKED] }],
]);
const REMOVED = ['00100021', '00100030', '00100032', '00101000', '00101001', '00101002', '00101040', '00102154', '00101060', '00101005'];

/** Every attribute masking hides or replaces: a masked caller may neither match nor sort on them. */
export const IDENTITY_TAGS: ReadonlySet<string> = new Set([...REPLACED.keys(), ...REMOVED]);

/**
 * The identity attributes a search would match or sort on. Masking the results is not enough: a
 * prefix search (PatientName=ZH*) that answers 1 or 0 spells the name out letter by letter.
 */
export function identityKeysOf(query: { conditions: readonly { tag: string }[]; orderBy: readonly { tag: string }[] }): string[] {
  return [...new Set([...query.conditions, ...query.orderBy].map(({ tag }) => tag).filter((tag) => IDENTITY_TAGS.has(tag)))];
}

export function maskIdentity(dataset: DicomJsonDataset): DicomJsonDataset {
  const masked: DicomJsonDataset = { ...dataset };
  for (const tag of REMOVED) delete masked[tag];
  for (const [tag, value] of REPLACED) if (tag in masked) masked[tag] = value as DicomJsonDataset[string];
  return masked;
}

/** The same, for WADO-RS metadata streamed as JSON text (parsed only when masking applies). */
export function maskIdentityText(json: string): string {
  return JSON.stringify(maskIdentity(JSON.parse(json) as DicomJsonDataset));
}
