import { tagOf } from '../dicom/dictionary.ts';
import { dicomDateToIso } from '../dicom/normalize.ts';
import { personNameKeyPrefixes, personNamePatterns } from './person-name.ts';
import { defaultResultTags } from './result-attributes.ts';

/**
 * QIDO-RS query parameters (PS3.18 8.3.4) parsed into a typed query, with the DICOM matching rules
 * of PS3.4 C.2.2.2. Pure: which column an attribute lives in, and the SQL, are the business of
 * archive/db/query-repository.ts.
 */
export type QueryLevel = 'study' | 'series' | 'instance';

/** The UIDs named in the resource path (/studies/{study}/series/{series}/instances). */
export interface QueryScope {
  studyInstanceUid?: string;
  seriesInstanceUid?: string;
}

type MatchKind = 'uid-list' | 'string' | 'date' | 'time' | 'integer' | 'person-name' | 'code-list';

/**
 * The attributes the index can match on, the level each belongs to, and how its value is read.
 * Other valid attributes in a query are returned but not matched (and the response says so).
 */
export const MATCHABLE = {
  '00100010': { level: 'patient', kind: 'person-name' }, // PatientName
  '00100020': { level: 'patient', kind: 'string' }, // PatientID
  '00100021': { level: 'patient', kind: 'string' }, // IssuerOfPatientID
  '00100030': { level: 'patient', kind: 'date' }, // PatientBirthDate
  '00100040': { level: 'patient', kind: 'string' }, // PatientSex
  '0020000D': { level: 'study', kind: 'uid-list' }, // StudyInstanceUID
  '00080020': { level: 'study', kind: 'date' }, // StudyDate
  '00080030': { level: 'study', kind: 'time' }, // StudyTime
  '00080050': { level: 'study', kind: 'string' }, // AccessionNumber
  '00200010': { level: 'study', kind: 'string' }, // StudyID
  '00081030': { level: 'study', kind: 'string' }, // StudyDescription
  '00080090': { level: 'study', kind: 'person-name' }, // ReferringPhysicianName
  '00080061': { level: 'study', kind: 'code-list' }, // ModalitiesInStudy
  '00080080': { level: 'study', kind: 'string' }, // InstitutionName
  '0020000E': { level: 'series', kind: 'uid-list' }, // SeriesInstanceUID
  '00080060': { level: 'series', kind: 'string' }, // Modality
  '00200011': { level: 'series', kind: 'integer' }, // SeriesNumber
  '0008103E': { level: 'series', kind: 'string' }, // SeriesDescription
  '00180015': { level: 'series', kind: 'string' }, // BodyPartExamined
  '00400244': { level: 'series', kind: 'date' }, // PerformedProcedureStepStartDate
  '00080016': { level: 'instance', kind: 'uid-list' }, // SOPClassUID
  '00080018': { level: 'instance', kind: 'uid-list' }, // SOPInstanceUID
  '00200013': { level: 'instance', kind: 'integer' }, // InstanceNumber
} as const satisfies Record<string, { level: 'patient' | QueryLevel; kind: MatchKind }>;

export type MatchableTag = keyof typeof MATCHABLE;

/** Levels whose attributes a query at each level can match on (relational queries, PS3.4 C.4.1.2.2). */
const VISIBLE_LEVELS: Record<QueryLevel, ReadonlySet<string>> = {
  study: new Set(['patient', 'study']),
  series: new Set(['patient', 'study', 'series']),
  instance: new Set(['patient', 'study', 'series', 'instance']),
};

export type Match =
  | { kind: 'equals'; value: string | number }
  | { kind: 'any-of'; values: string[] }
  /** `pattern` keeps DICOM's '*' (any run) and '?' (one character); everything else is literal. */
  | { kind: 'wildcard'; pattern: string }
  /** Dates as 'YYYY-MM-DD'; either bound may be open. */
  | { kind: 'date-range'; from?: string; to?: string }
  /** Times as DICOM TM digits; a bound covers every time it is a prefix of ('10' is 10:00–10:59:59). */
  | { kind: 'time-range'; from?: string; to?: string }
  /**
   * Regular expressions over the stored name search keys; all must match (see person-name.ts).
   * `keyPrefixes`: what the name's keys (person_name_keys(), migrations 027 and 031) start with, so
   * the studies to test are found by index in study_name_keys (patient names only; every prefix
   * must be found). `keyLookup`, decided by QueryRepository.lookUpNames for a study-level search:
   * start from the first prefix's keys in the caller's institutions ('range', the default), or walk
   * the caller's studies newest first and probe each one's keys ('walk', for a name that many of
   * them have).
   */
  | { kind: 'person-name'; patterns: string[]; keyPrefixes: string[]; keyLookup?: 'range' | 'walk' }
  /** A multi-valued attribute (ModalitiesInStudy) holding at least one of these DICOM wildcard patterns. */
  | { kind: 'contains-any'; patterns: string[] };

export interface Condition {
  tag: MatchableTag;
  match: Match;
}

/** Counts computed per result, sortable at the levels that carry them. */
const SORTABLE_COUNTS = {
  '00201206': 'study', // NumberOfStudyRelatedSeries
  '00201208': 'study', // NumberOfStudyRelatedInstances
  '00201209': 'series', // NumberOfSeriesRelatedInstances
} as const;

export type SortableTag = MatchableTag | keyof typeof SORTABLE_COUNTS;

export interface SortKey {
  tag: SortableTag;
  descending: boolean;
}

export interface QidoQuery {
  level: QueryLevel;
  scope: QueryScope;
  conditions: Condition[];
  limit: number;
  offset: number;
  fuzzyMatching: boolean;
  /** What to return: the level's default attributes, the query keys and includefield ones; or everything available. */
  include: 'all' | ReadonlySet<string>;
  /** Query keys that name valid attributes the index cannot match on: returned, not matched. */
  notMatched: string[];
  /**
   * `orderby` (as dcm4chee-arc and other archives take it; PS3.18 leaves result order to the
   * origin server): keys in order, '-' for descending. After them, the default order (newest first).
   */
  orderBy: SortKey[];
}

/** Results per response when the client does not say; and the most one response carries (maxResults). */
export const DEFAULT_LIMIT = 100;
export const MAX_RESULTS = 1000;

/** The request is malformed; the message says how. */
export class QidoQueryError extends Error {
  override name = 'QidoQueryError';
}

type Parameters = Record<string, string | string[] | undefined>;

export function parseQidoQuery(level: QueryLevel, parameters: Parameters, scope: QueryScope = {}): QidoQuery {
  const conditions: Condition[] = [];
  const notMatched: string[] = [];
  const include = new Set(defaultResultTags(level, scope));
  let includeAll = false;
  let limit = DEFAULT_LIMIT;
  let offset = 0;
  let fuzzyMatching = false;
  const orderBy: SortKey[] = [];
  const matchKeys: [name: string, tag: string, value: string][] = [];

  for (const [name, rawValue] of Object.entries(parameters)) {
    const values = rawValue === undefined ? [] : Array.isArray(rawValue) ? rawValue : [rawValue];
    switch (name) {
      case 'limit':
        // Above maxResults the origin server returns maxResults and says how many remain (PS3.18 8.3.4.4.1).
        limit = Math.min(unsignedInteger(name, single(name, values)), MAX_RESULTS);
        if (limit === 0) throw new QidoQueryError('limit must be at least 1: a query that may return nothing asks nothing');
        continue;
      case 'offset':
        offset = unsignedInteger(name, single(name, values));
        continue;
      case 'fuzzymatching': {
        const value = single(name, values);
        if (value !== 'true' && value !== 'false') throw new QidoQueryError(`fuzzymatching must be true or false, not ${JSON.stringify(value)}`);
        fuzzyMatching = value === 'true';
        continue;
      }
      case 'orderby':
        for (const field of values.flatMap((value) => value.split(','))) orderBy.push(sortKey(level, field.trim()));
        continue;
      case 'includefield':
        for (const field of values.flatMap((value) => value.split(','))) {
          if (field.trim() === 'all') includeAll = true;
          else include.add(attributeTag(field.trim(), 'includefield'));
        }
        continue;
    }
    const tag = attributeTag(name, 'query parameter');
    matchKeys.push([name, tag, single(name, values).trim()]);
  }

  for (const [name, tag, value] of matchKeys) {
    include.add(tag);
    if (name.includes('.') || !matchableAt(tag, level)) {
      if (value !== '') notMatched.push(name);
      continue;
    }
    const condition = conditionFor(tag, value, name, fuzzyMatching);
    if (condition) conditions.push(condition);
  }
  if (scope.studyInstanceUid) conditions.push({ tag: '0020000D', match: { kind: 'equals', value: uid('study', scope.studyInstanceUid) } });
  if (scope.seriesInstanceUid) conditions.push({ tag: '0020000E', match: { kind: 'equals', value: uid('series', scope.seriesInstanceUid) } });
  return { level, scope, conditions, limit, offset, fuzzyMatching, include: includeAll ? 'all' : include, notMatched, orderBy };
}

function sortKey(level: QueryLevel, field: string): SortKey {
  const descending = field.startsWith('-');
  const name = descending ? field.slice(1) : field.replace(/^\+/, '');
  if (name.includes('.')) throw new QidoQueryError(`results cannot be ordered by an attribute inside a sequence (${name})`);
  const tag = attributeTag(name, 'orderby');
  const visible = VISIBLE_LEVELS[level];
  const sortable =
    (isMatchable(tag) && visible.has(MATCHABLE[tag].level)) ||
    (Object.hasOwn(SORTABLE_COUNTS, tag) && visible.has(SORTABLE_COUNTS[tag as keyof typeof SORTABLE_COUNTS]));
  if (!sortable) throw new QidoQueryError(`results at ${level} level cannot be ordered by ${name}`);
  return { tag: tag as SortableTag, descending };
}

function isMatchable(tag: string): tag is MatchableTag {
  return Object.hasOwn(MATCHABLE, tag);
}

/**
 * Whether the index can match on this attribute in a query at this level: its own level's and
 * those above (PS3.4 C.4.1.2.2), the patient's at every level. Shared by QIDO-RS and C-FIND.
 */
export function matchableAt(tag: string, level: 'patient' | QueryLevel): tag is MatchableTag {
  if (!isMatchable(tag)) return false;
  return level === 'patient' ? MATCHABLE[tag].level === 'patient' : VISIBLE_LEVELS[level].has(MATCHABLE[tag].level);
}

/**
 * The condition a key's value asks for, by PS3.4 C.2.2.2's matching rules: single value, wildcard,
 * range, list of UIDs (separated by commas in QIDO-RS, backslashes in C-FIND); undefined for
 * universal matching. The one reading of a key's value, for QIDO-RS and C-FIND alike. Throws
 * QidoQueryError, naming the key by `name`, when the value cannot mean anything.
 */
export function conditionFor(tag: MatchableTag, value: string, name: string, fuzzyMatching = false): Condition | undefined {
  const match = value === '' ? undefined : matchOf(name, MATCHABLE[tag].kind, value, fuzzyMatching);
  return match ? { tag, match } : undefined;
}

/** PS3.18 8.3.4.1: each attribute at most once, with a single value (a UID list is one comma-separated value). */
function single(name: string, values: string[]): string {
  if (values.length !== 1) throw new QidoQueryError(`${name} may be given only once`);
  return values[0]!;
}

/** A keyword or tag, or a sequence path of them ('00400275.00401001'): the tag of its first attribute. */
function attributeTag(attribute: string, what: string): string {
  const ids = attribute.split('.');
  const tags = ids.map((id) => tagOf(id));
  if (!tags.every(Boolean)) throw new QidoQueryError(`unknown ${what} ${JSON.stringify(attribute)}: not a DICOM keyword or tag, nor limit, offset, fuzzymatching, includefield or orderby`);
  return tags[0]!;
}

function unsignedInteger(name: string, value: string): number {
  if (!/^\d{1,15}$/.test(value)) throw new QidoQueryError(`${name} must be a whole number, not ${JSON.stringify(value)}`);
  return Number(value);
}

function uid(name: string, value: string): string {
  if (value.length > 64 || !/^[0-9]+(\.[0-9]+)*$/.test(value)) throw new QidoQueryError(`${name}: ${JSON.stringify(value)} is not a UID`);
  return value;
}

const hasWildcard = (value: string) => /[*?]/.test(value);

function matchOf(name: string, kind: MatchKind, value: string, fuzzy: boolean): Match | undefined {
  switch (kind) {
    case 'uid-list': {
      // PS3.18 separates UIDs with commas; C-FIND (PS3.4 C.2.2.2.2) with backslashes. Both are read.
      const values = value.split(/[,\\]/).map((item) => uid(name, item.trim()));
      return values.length === 1 ? { kind: 'equals', value: values[0]! } : { kind: 'any-of', values };
    }
    case 'string':
      if (value.replace(/\*/g, '') === '') return undefined;
      return hasWildcard(value) ? { kind: 'wildcard', pattern: value } : { kind: 'equals', value };
    case 'integer':
      if (!/^[+-]?\d{1,9}$/.test(value)) throw new QidoQueryError(`${name} must be an integer, not ${JSON.stringify(value)}`);
      return { kind: 'equals', value: Number(value) };
    case 'date':
      return dateMatch(name, value);
    case 'time':
      return timeMatch(name, value);
    case 'person-name': {
      const patterns = personNamePatterns(value, fuzzy);
      return patterns.length ? { kind: 'person-name', patterns, keyPrefixes: personNameKeyPrefixes(value, fuzzy) } : undefined;
    }
    case 'code-list': {
      const patterns = value.split(/[,\\]/).map((item) => item.trim()).filter(Boolean);
      return patterns.some((pattern) => pattern.replace(/\*/g, '') === '') ? undefined : { kind: 'contains-any', patterns };
    }
  }
}

/** DA: a date or a range 'from-to', '-to', 'from-' (PS3.4 C.2.2.2.5); the old 'YYYY.MM.DD' form is read too. */
function dateMatch(name: string, value: string): Match {
  const iso = (date: string) => {
    const converted = dicomDateToIso(date);
    if (!converted) throw new QidoQueryError(`${name}: ${JSON.stringify(date)} is not a date (YYYYMMDD)`);
    return converted;
  };
  if (!value.includes('-')) {
    const date = iso(value);
    return { kind: 'date-range', from: date, to: date };
  }
  const [from = '', to = '', ...rest] = value.split('-').map((part) => part.trim());
  if (rest.length || (!from && !to)) throw new QidoQueryError(`${name}: ${JSON.stringify(value)} is not a date range`);
  const range = { kind: 'date-range' as const, from: from ? iso(from) : undefined, to: to ? iso(to) : undefined };
  if (range.from && range.to && range.from > range.to) throw new QidoQueryError(`${name}: the range ${value} ends before it starts`);
  return range;
}

/** TM: a time or a range; 'HH', 'HHMM', 'HHMMSS.FFFFFF' (the old 'HH:MM:SS' form is read too). */
function timeMatch(name: string, value: string): Match {
  const digits = (time: string) => {
    const normalized = time.replace(/:/g, '');
    if (!/^\d{2}(\d{2}(\d{2}(\.\d{1,6})?)?)?$/.test(normalized)) throw new QidoQueryError(`${name}: ${JSON.stringify(time)} is not a time (HHMMSS)`);
    return normalized;
  };
  if (!value.includes('-')) {
    const time = digits(value);
    return { kind: 'time-range', from: time, to: time };
  }
  const [from = '', to = '', ...rest] = value.split('-').map((part) => part.trim());
  if (rest.length || (!from && !to)) throw new QidoQueryError(`${name}: ${JSON.stringify(value)} is not a time range`);
  return { kind: 'time-range', from: from ? digits(from) : undefined, to: to ? digits(to) : undefined };
}
