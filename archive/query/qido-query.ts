import { tagOf } from '../dicom/dictionary.ts';
import { foldPersonName } from '../dicom/normalize.ts';

/**
 * QIDO-RS query parameters (PS3.18 8.3.4) parsed into a typed query. Pure: the SQL lives in
 * archive/db/query-repository.ts.
 */
export type QueryLevel = 'study' | 'series' | 'instance';

type MatchKind = 'uid' | 'text' | 'date' | 'integer' | 'person-name' | 'modalities';

/** A matchable attribute: which level it belongs to, how it matches, and the column it matches. */
interface MatchableAttribute {
  level: 'patient' | QueryLevel;
  kind: MatchKind;
  column: string;
}

export const MATCHABLE: Record<string, MatchableAttribute> = {
  '00100010': { level: 'patient', kind: 'person-name', column: 'p.name_search' },
  '00100020': { level: 'patient', kind: 'text', column: 'p.patient_id' },
  '00100021': { level: 'patient', kind: 'text', column: 'p.issuer' },
  '00100030': { level: 'patient', kind: 'date', column: 'p.birth_date' },
  '00100040': { level: 'patient', kind: 'text', column: 'p.sex' },
  '0020000D': { level: 'study', kind: 'uid', column: 'st.study_instance_uid' },
  '00080020': { level: 'study', kind: 'date', column: 'st.study_date' },
  '00080030': { level: 'study', kind: 'text', column: 'st.study_time' },
  '00080050': { level: 'study', kind: 'text', column: 'st.accession_number' },
  '00200010': { level: 'study', kind: 'text', column: 'st.study_id' },
  '00081030': { level: 'study', kind: 'text', column: 'st.description' },
  '00080090': { level: 'study', kind: 'person-name', column: 'st.referring_name_search' },
  '00080061': { level: 'study', kind: 'modalities', column: 'st.modalities' },
  '00080080': { level: 'study', kind: 'text', column: 'st.institution_name' },
  '0020000E': { level: 'series', kind: 'uid', column: 'se.series_instance_uid' },
  '00080060': { level: 'series', kind: 'text', column: 'se.modality' },
  '00200011': { level: 'series', kind: 'integer', column: 'se.series_number' },
  '0008103E': { level: 'series', kind: 'text', column: 'se.description' },
  '00180015': { level: 'series', kind: 'text', column: 'se.body_part' },
  '00400244': { level: 'series', kind: 'date', column: 'se.performed_start_date' },
  '00080016': { level: 'instance', kind: 'uid', column: 'i.sop_class_uid' },
  '00080018': { level: 'instance', kind: 'uid', column: 'i.sop_instance_uid' },
  '00200013': { level: 'instance', kind: 'integer', column: 'i.instance_number' },
};

const LEVELS_VISIBLE: Record<QueryLevel, ReadonlySet<MatchableAttribute['level']>> = {
  study: new Set(['patient', 'study']),
  series: new Set(['patient', 'study', 'series']),
  instance: new Set(['patient', 'study', 'series', 'instance']),
};

export type Condition =
  | { kind: 'equals'; column: string; value: string | number }
  | { kind: 'like'; column: string; pattern: string }
  | { kind: 'any'; column: string; values: string[] }
  | { kind: 'overlaps'; column: string; values: string[] }
  | { kind: 'range'; column: string; from?: string; to?: string };

export interface QidoQuery {
  level: QueryLevel;
  conditions: Condition[];
  limit: number;
  offset: number;
  /** Attributes named in the query that we do not match on; reported in a Warning header. */
  ignored: string[];
  fuzzyMatching: boolean;
}

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 1000;

export class QidoQueryError extends Error {}

/**
 * `parameters` are the URL query parameters (repeated ones as arrays); `scope` the UIDs from the
 * path (/studies/{study}/series …), which match like any other UID condition.
 */
export function parseQidoQuery(
  level: QueryLevel,
  parameters: Record<string, string | string[] | undefined>,
  scope: { studyInstanceUid?: string; seriesInstanceUid?: string } = {},
): QidoQuery {
  const query: QidoQuery = { level, conditions: [], limit: DEFAULT_LIMIT, offset: 0, ignored: [], fuzzyMatching: false };
  const single = (name: string, value: string | string[] | undefined): string => {
    if (Array.isArray(value)) {
      if (value.length !== 1) throw new QidoQueryError(`${name} may be given once`);
      return value[0]!;
    }
    return value ?? '';
  };
  // fuzzymatching changes how names match wherever it appears in the query string: read it first.
  const entries = Object.entries(parameters).sort(([a], [b]) => Number(b === 'fuzzymatching') - Number(a === 'fuzzymatching'));
  for (const [name, rawValue] of entries) {
    switch (name) {
      case 'limit':
        query.limit = boundedInteger(name, single(name, rawValue), 1, MAX_LIMIT);
        continue;
      case 'offset':
        query.offset = boundedInteger(name, single(name, rawValue), 0, Number.MAX_SAFE_INTEGER);
        continue;
      case 'fuzzymatching': {
        const value = single(name, rawValue).toLowerCase();
        if (value !== 'true' && value !== 'false') throw new QidoQueryError('fuzzymatching must be true or false');
        query.fuzzyMatching = value === 'true';
        continue;
      }
      case 'includefield':
        // Every attribute the index keeps for the level is always returned (PS3.18 allows more
        // than asked for); the names must still be valid.
        for (const field of (Array.isArray(rawValue) ? rawValue : [rawValue ?? '']).flatMap((value) => value.split(','))) {
          if (field !== 'all' && field !== '' && !tagOf(field.trim())) throw new QidoQueryError(`includefield: unknown attribute ${field}`);
        }
        continue;
    }
    const tag = tagOf(name.split('.')[0]!);
    if (!tag) throw new QidoQueryError(`unknown query parameter or attribute: ${name}`);
    const matchable = MATCHABLE[tag];
    if (!matchable || name.includes('.') || !LEVELS_VISIBLE[level].has(matchable.level)) {
      query.ignored.push(name);
      continue;
    }
    const value = single(name, rawValue).trim();
    if (value === '' || value === '*') continue; // universal matching
    query.conditions.push(condition(name, matchable, value, query));
  }
  if (scope.studyInstanceUid) query.conditions.push({ kind: 'equals', column: 'st.study_instance_uid', value: scope.studyInstanceUid });
  if (scope.seriesInstanceUid) query.conditions.push({ kind: 'equals', column: 'se.series_instance_uid', value: scope.seriesInstanceUid });
  return query;
}

function condition(name: string, attribute: MatchableAttribute, value: string, query: QidoQuery): Condition {
  const { column } = attribute;
  switch (attribute.kind) {
    case 'uid': {
      const values = value.split(/[,\\]/).map((uid) => uid.trim()).filter(Boolean);
      if (!values.every((uid) => /^[0-9]+(\.[0-9]+)*$/.test(uid) && uid.length <= 64)) throw new QidoQueryError(`${name}: not a UID list`);
      return values.length === 1 ? { kind: 'equals', column, value: values[0]! } : { kind: 'any', column, values };
    }
    case 'modalities':
      return { kind: 'overlaps', column, values: value.split(/[,\\]/).map((modality) => modality.trim()).filter(Boolean) };
    case 'integer': {
      if (!/^-?\d+$/.test(value)) throw new QidoQueryError(`${name}: not an integer`);
      return { kind: 'equals', column, value: Number(value) };
    }
    case 'date':
      return dateCondition(name, column, value);
    case 'person-name':
      return personNameCondition(column, value, query.fuzzyMatching);
    case 'text':
      return /[*?]/.test(value) ? { kind: 'like', column, pattern: wildcardToLike(value) } : { kind: 'equals', column, value };
  }
}

/** DA matching: a date, or a range 'from-to', '-to', 'from-' (PS3.4 C.2.2.2.5). */
function dateCondition(name: string, column: string, value: string): Condition {
  const toIso = (date: string) => {
    if (!/^\d{8}$/.test(date)) throw new QidoQueryError(`${name}: ${date} is not a date (YYYYMMDD)`);
    return `${date.slice(0, 4)}-${date.slice(4, 6)}-${date.slice(6, 8)}`;
  };
  if (!value.includes('-')) return { kind: 'equals', column, value: toIso(value) };
  const [from = '', to = ''] = value.split('-');
  if (!from && !to) throw new QidoQueryError(`${name}: an empty range`);
  return { kind: 'range', column, from: from ? toIso(from) : undefined, to: to ? toIso(to) : undefined };
}

/**
 * Person names match any component group, case- and width-insensitively (see personNameSearchKeys).
 * Without wildcards the value must equal a whole group ('王^小东', 'WANG^XIAODONG'); '*' and '?'
 * are wildcards within a group; fuzzymatching=true matches the value as the start of any name
 * component ('xiao' finds Wang^XiaoDong, '小' finds 王^小东).
 */
function personNameCondition(column: string, value: string, fuzzy: boolean): Condition {
  const folded = foldPersonName(value);
  if (fuzzy && !/[*?]/.test(value)) return { kind: 'like', column, pattern: `% ${escapeLike(folded)}%` };
  return { kind: 'like', column, pattern: `%| ${wildcardToLike(folded)} |%` };
}

function escapeLike(value: string): string {
  return value.replace(/[\\%_]/g, (character) => `\\${character}`);
}

function wildcardToLike(value: string): string {
  return escapeLike(value).replace(/\*/g, '%').replace(/\?/g, '_');
}

function boundedInteger(name: string, value: string, min: number, max: number): number {
  if (!/^\d+$/.test(value)) throw new QidoQueryError(`${name} must be a whole number`);
  const number = Number(value);
  if (number < min || number > max) throw new QidoQueryError(`${name} must be between ${min} and ${max}`);
  return number;
}
