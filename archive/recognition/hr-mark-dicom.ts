import type { DicomJsonDataset } from '../dicom/types.ts';
import type { HrAbsenceReason, HrMarkResult } from './hr-mark.ts';

/**
 * The HR mark as DICOM attributes, a private block in QIDO-RS study results (docs/conformance.md,
 * "The HR mark in QIDO-RS"). Zod-free, so the viewer reads the block with the same constants.
 *
 * Private Creator "YINGYUN HR" reserves block 0x10 of group 0x0011 (PS3.5 7.8.1): its elements are
 * (0011,10xx). The block is fixed here rather than allocated per dataset, since the archive writes it
 * only into results it computes, never into stored objects.
 */
export const HR_PRIVATE_CREATOR = 'YINGYUN HR';

export const HR_TAGS = {
  /** (0011,0010) LO Private Creator. */
  privateCreator: '00110010',
  /** (0011,1001) LO the mark's text (渝HR); empty when the study carries none. */
  markText: '00111001',
  /** (0011,1002) LO, multi-valued: the codes of every reason it carries none (`recognition.absent.<code>`); empty when it carries one. */
  absenceReasons: '00111002',
  /** (0011,1003) DA the last day the mark holds; empty when it carries none. */
  validUntil: '00111003',
  /** (0011,1004) LO the examination item the mark is for (DR-CHEST). */
  itemCode: '00111004',
} as const;

const BLOCK_TAGS: readonly string[] = Object.values(HR_TAGS);

/** Whether a QIDO-RS includefield asked for the block: all, or any of its tags. */
export function wantsHrMark(include: 'all' | ReadonlySet<string>): boolean {
  return include === 'all' || BLOCK_TAGS.some((tag) => include.has(tag));
}

/** Every tag of the block: asking for one element returns the whole block, creator included. */
export function withHrTags(include: 'all' | ReadonlySet<string>): 'all' | Set<string> {
  return include === 'all' ? 'all' : new Set([...include, ...BLOCK_TAGS]);
}

/** The block for one study's mark. */
export function hrMarkAttributes(mark: HrMarkResult): DicomJsonDataset {
  const valued = (vr: string, values: string[]) => (values.length ? { vr, Value: values } : { vr });
  return {
    [HR_TAGS.privateCreator]: { vr: 'LO', Value: [HR_PRIVATE_CREATOR] },
    [HR_TAGS.markText]: valued('LO', mark.carries ? [mark.text] : []),
    [HR_TAGS.absenceReasons]: valued('LO', mark.carries ? [] : mark.reasons.map((reason) => reason.code)),
    [HR_TAGS.validUntil]: valued('DA', mark.carries ? [mark.validUntil.replaceAll('-', '')] : []),
    [HR_TAGS.itemCode]: valued('LO', mark.carries ? [mark.itemCode] : itemCodeOfReasons(mark.reasons)),
  };
}

/** The mark as a client reads it back from a result: null when the result has no block. */
export interface HrMarkAttributesRead {
  text: string | null;
  absenceReasons: HrAbsenceReason['code'][];
  /** YYYY-MM-DD. */
  validUntil: string | null;
}

/** Reads the block back from a result (the server's DICOM JSON or the viewer's). */
export function hrMarkFromAttributes(dataset: Readonly<Record<string, { Value?: readonly unknown[] } | undefined>>): HrMarkAttributesRead | null {
  if (dataset[HR_TAGS.privateCreator]?.Value?.[0] !== HR_PRIVATE_CREATOR) return null;
  const values = (tag: string) => (dataset[tag]?.Value ?? []).filter((value): value is string => typeof value === 'string');
  const [validUntil] = values(HR_TAGS.validUntil);
  return {
    text: values(HR_TAGS.markText)[0] ?? null,
    absenceReasons: values(HR_TAGS.absenceReasons) as HrAbsenceReason['code'][],
    validUntil: validUntil ? `${validUntil.slice(0, 4)}-${validUntil.slice(4, 6)}-${validUntil.slice(6, 8)}` : null,
  };
}

/** A study without the mark still names its item when one applies (the reasons carry it). */
function itemCodeOfReasons(reasons: readonly HrAbsenceReason[]): string[] {
  const withItem = reasons.find((reason) => 'itemCode' in reason);
  return withItem && 'itemCode' in withItem ? [withItem.itemCode] : [];
}
