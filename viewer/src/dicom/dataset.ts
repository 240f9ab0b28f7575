import { TAG, type TagKeyword } from './tags.ts';

/** A person name value in DICOM JSON (PS3.18 F.2.2): up to three component groups. */
export interface PersonNameValue {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

export interface DicomJsonElement {
  vr?: string;
  Value?: unknown[];
  BulkDataURI?: string;
  InlineBinary?: string;
}

/** A dataset in DICOM JSON: QIDO-RS results, WADO-RS metadata, the priors API. */
export type DicomJson = Record<string, DicomJsonElement | undefined>;

function values(dataset: DicomJson, keyword: TagKeyword): unknown[] {
  return dataset[TAG[keyword]]?.Value ?? [];
}

/** The first value as text ('' when absent), for LO, SH, CS, DA, TM, UI and the like. */
export function text(dataset: DicomJson, keyword: TagKeyword): string {
  const value = values(dataset, keyword)[0];
  return value === undefined || value === null ? '' : String(value);
}

/** Every value as text (multi-valued CS such as ModalitiesInStudy, ImageType). */
export function texts(dataset: DicomJson, keyword: TagKeyword): string[] {
  return values(dataset, keyword).filter((value) => value !== null && value !== undefined).map(String);
}

/** The first value as a number, or undefined (IS and DS may arrive as numbers or strings). */
export function number(dataset: DicomJson, keyword: TagKeyword): number | undefined {
  return numbers(dataset, keyword)[0];
}

export function numbers(dataset: DicomJson, keyword: TagKeyword): number[] {
  return values(dataset, keyword)
    .map((value) => (typeof value === 'number' ? value : Number(value)))
    .filter((value) => Number.isFinite(value));
}

export function personName(dataset: DicomJson, keyword: TagKeyword): PersonNameValue {
  const value = values(dataset, keyword)[0];
  if (typeof value === 'string') return parsePersonName(value);
  if (value && typeof value === 'object') return value as PersonNameValue;
  return {};
}

/** `Wang^XiaoDong=王^小东` (the Part 10 form) as component groups. */
export function parsePersonName(value: string): PersonNameValue {
  const [alphabetic, ideographic, phonetic] = value.split('=');
  const groups: PersonNameValue = {};
  if (alphabetic) groups.Alphabetic = alphabetic;
  if (ideographic) groups.Ideographic = ideographic;
  if (phonetic) groups.Phonetic = phonetic;
  return groups;
}

const HAN = /\p{Script=Han}/u;

/**
 * One component group for reading: Chinese (and other ideographic) names are written family name
 * then given name without a space, as they are read (王小东); Latin names "Family, Given Middle"
 * with prefix and suffix, as PACS worklists show them.
 */
export function formatNameGroup(group: string | undefined): string {
  if (!group) return '';
  const [family = '', given = '', middle = '', prefix = '', suffix = ''] = group.split('^').map((part) => part.trim());
  const parts = [family, given, middle].filter(Boolean);
  if (parts.some((part) => HAN.test(part))) return [prefix, parts.join(''), suffix].filter(Boolean).join(' ');
  const rest = [given, middle].filter(Boolean).join(' ');
  const core = family && rest ? `${family}, ${rest}` : family || rest;
  return [prefix, core, suffix].filter(Boolean).join(' ').trim();
}

/**
 * A person name for display: the group a reader of this language reads first, then the other in
 * brackets (王小东 (Wang, XiaoDong) in Chinese, Wang, XiaoDong (王小东) in English), so a name is
 * recognisable whichever group the sending hospital filled in.
 */
export function formatPersonName(name: PersonNameValue, locale: string): string {
  const ideographic = formatNameGroup(name.Ideographic);
  const alphabetic = formatNameGroup(name.Alphabetic);
  const phonetic = formatNameGroup(name.Phonetic);
  const latinFirst = !locale.toLowerCase().startsWith('zh');
  const ordered = latinFirst ? [alphabetic, ideographic] : [ideographic, alphabetic];
  const [first, second] = ordered.filter((group, index, all) => group && all.indexOf(group) === index);
  const primary = first ?? phonetic;
  if (!primary) return '';
  return second ? `${primary} (${second})` : primary;
}

/** YYYYMMDD as YYYY-MM-DD (ISO 8601, read the same way in Chinese and English). */
export function formatDicomDate(value: string): string {
  const match = /^(\d{4})(\d{2})(\d{2})$/.exec(value.trim());
  return match ? `${match[1]}-${match[2]}-${match[3]}` : value;
}

/** HHMMSS(.frac) as HH:MM(:SS). */
export function formatDicomTime(value: string): string {
  const match = /^(\d{2})(\d{2})?(\d{2})?/.exec(value.trim());
  if (!match) return value;
  return [match[1], match[2] ?? '00', match[3]].filter((part) => part !== undefined).join(':');
}
