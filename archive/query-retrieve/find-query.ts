import { splitCharacterSetTerms, UnencodableText } from '../dicom/charset.ts';
import { encodeDataset } from '../dicom/dataset-codec.ts';
import { keywordOf } from '../dicom/dictionary.ts';
import { personNameText } from '../dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonElement, DicomJsonPersonName } from '../dicom/types.ts';
import { conditionFor, matchableAt, QidoQueryError, type Condition, type QueryLevel } from '../query/qido-query.ts';

/**
 * A C-FIND identifier (PS3.4 C.4.1.1.3, C.6.1/C.6.2) read into a query of the index: which
 * information model and level, which keys match and how (PS3.4 C.2.2.2, read by the same
 * conditionFor as QIDO-RS), and which keys the responses carry. Pure: the SQL is the query
 * repository's, shared with QIDO-RS.
 */

export const PATIENT_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.1.1';
export const STUDY_ROOT_FIND = '1.2.840.10008.5.1.4.1.2.2.1';

export type InformationModel = 'patient-root' | 'study-root';
export type FindLevel = 'PATIENT' | 'STUDY' | 'SERIES' | 'IMAGE';

export function informationModelOf(sopClassUid: string): InformationModel | undefined {
  if (sopClassUid === PATIENT_ROOT_FIND) return 'patient-root';
  if (sopClassUid === STUDY_ROOT_FIND) return 'study-root';
  return undefined;
}

const LEVELS: Record<InformationModel, readonly FindLevel[]> = {
  'patient-root': ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'],
  'study-root': ['STUDY', 'SERIES', 'IMAGE'],
};

/** The unique key of each level (PS3.4 C.6.1.1, C.6.2.1). */
const UNIQUE_KEY: Record<FindLevel, string> = {
  PATIENT: '00100020', // PatientID
  STUDY: '0020000D', // StudyInstanceUID
  SERIES: '0020000E', // SeriesInstanceUID
  IMAGE: '00080018', // SOPInstanceUID
};

const INDEX_LEVEL: Record<FindLevel, 'patient' | QueryLevel> = { PATIENT: 'patient', STUDY: 'study', SERIES: 'series', IMAGE: 'instance' };

const SPECIFIC_CHARACTER_SET = '00080005';
const QUERY_RETRIEVE_LEVEL = '00080052';
const RETRIEVE_AE_TITLE = '00080054';

export interface FindQuery {
  model: InformationModel;
  level: FindLevel;
  /** The index's level for `level`. */
  indexLevel: 'patient' | QueryLevel;
  conditions: Condition[];
  /** The identifier's keys (besides Specific Character Set and Query/Retrieve Level), with their VRs and sequence items: what each response returns. */
  keys: DicomJsonDataset;
  /** Keys with a value the index cannot match on: returned but not matched, so the responses are FF01 (PS3.4 C.4.1.1.4). */
  notMatched: string[];
  /** The identifier's Specific Character Set (as decoded, or the sender's override): what the responses are written in. */
  characterSet: string[];
}

/** Why an identifier is refused, as a C-FIND failure (PS3.4 C.4.1.1.4). */
export class FindRefusal extends Error {
  override name = 'FindRefusal';
  constructor(
    readonly status: 'identifier-does-not-match-sop-class' | 'unable-to-process',
    message: string,
    /** Offending Element (0000,0901): the keys at fault. */
    readonly offendingTags: readonly string[] = [],
  ) {
    super(message);
  }
}

/**
 * Reads an identifier. Every identifier is read relationally (PS3.4 C.4.1.2.2): keys of any level
 * up to the query level narrow the search, so a hierarchical one (C.4.1.2.1: the unique keys of
 * the levels above, each with a single value) means what it always meant, and a relational one,
 * negotiated or not, is answered rather than refused.
 */
export function readIdentifier(identifier: DicomJsonDataset, model: InformationModel, characterSetOverride?: string): FindQuery {
  const levelElement = identifier[QUERY_RETRIEVE_LEVEL];
  const levelValue = String(levelElement?.Value?.[0] ?? '').trim().toUpperCase();
  const levels = LEVELS[model];
  if (!levels.includes(levelValue as FindLevel)) {
    const why = levelValue ? `Query/Retrieve Level ${levelValue} is not one of ${levels.join(', ')} in the ${model} model` : 'Query/Retrieve Level (0008,0052) is missing';
    throw new FindRefusal('identifier-does-not-match-sop-class', why, [QUERY_RETRIEVE_LEVEL]);
  }
  const level = levelValue as FindLevel;
  const indexLevel = INDEX_LEVEL[level];
  const keys: DicomJsonDataset = {};
  const conditions: Condition[] = [];
  const notMatched: string[] = [];
  for (const [tag, element] of Object.entries(identifier)) {
    if (tag === SPECIFIC_CHARACTER_SET || tag === QUERY_RETRIEVE_LEVEL) continue;
    keys[tag] = element;
    if (element.vr === 'SQ') {
      // Sequence matching asks something only when an item holds a value; the index keeps no sequence to match.
      if (sequenceHasValues(element)) notMatched.push(tag);
      continue;
    }
    const value = matchValue(element);
    if (value === '') continue;
    if (!matchableAt(tag, indexLevel)) {
      notMatched.push(tag);
      continue;
    }
    try {
      const condition = conditionFor(tag, value, keywordOf(tag) ?? tag);
      if (condition) conditions.push(condition);
    } catch (error) {
      if (error instanceof QidoQueryError) throw new FindRefusal('unable-to-process', error.message, [tag]);
      throw error;
    }
  }
  const declared = (identifier[SPECIFIC_CHARACTER_SET]?.Value ?? []).map((term) => (typeof term === 'string' ? term : ''));
  const characterSet = characterSetOverride?.trim() ? splitCharacterSetTerms(characterSetOverride) : declared;
  return { model, level, indexLevel, conditions, keys, notMatched, characterSet };
}

/** A key's value as one string, as conditionFor reads it: values joined by '\' (a list of UIDs), a name's groups by '='. */
function matchValue(element: DicomJsonElement): string {
  return (element.Value ?? [])
    .map((value) => (value !== null && typeof value === 'object' ? personNameText(value as DicomJsonPersonName) : String(value ?? '')))
    .join('\\')
    .trim();
}

function sequenceHasValues(element: DicomJsonElement): boolean {
  return (element.Value ?? []).some((item) =>
    Object.values((item ?? {}) as DicomJsonDataset).some((inner) => (inner.vr === 'SQ' ? sequenceHasValues(inner) : matchValue(inner) !== '')),
  );
}

/**
 * One response identifier (PS3.4 C.4.1.1.3.2): exactly the keys asked for, with the match's values
 * (zero length when it has none), plus Query/Retrieve Level, Retrieve AE Title, Instance
 * Availability and the unique keys of the query level and those above it. A sequence key with an
 * item returns each stored item with that item's keys only; an empty one, the items as stored.
 */
export function responseIdentifier(query: FindQuery, match: DicomJsonDataset, retrieveAeTitle: string): DicomJsonDataset {
  const response: DicomJsonDataset = {};
  for (const [tag, key] of Object.entries(query.keys)) response[tag] = returned(key, match[tag]);
  const levels = LEVELS[query.model];
  for (const level of levels.slice(0, levels.indexOf(query.level) + 1)) {
    const tag = UNIQUE_KEY[level];
    response[tag] ??= match[tag] ?? { vr: tag === '00100020' ? 'LO' : 'UI' };
  }
  response[QUERY_RETRIEVE_LEVEL] = { vr: 'CS', Value: [query.level] };
  response[RETRIEVE_AE_TITLE] = { vr: 'AE', Value: [retrieveAeTitle] };
  response['00080056'] ??= { vr: 'CS', Value: ['ONLINE'] };
  return response;
}

function returned(key: DicomJsonElement, stored: DicomJsonElement | undefined): DicomJsonElement {
  if (!stored || stored.BulkDataURI !== undefined) return { vr: key.vr };
  if (key.vr !== 'SQ' || stored.vr !== 'SQ') return stored;
  const wanted = key.Value?.[0] as DicomJsonDataset | null | undefined;
  if (!wanted || Object.keys(wanted).length === 0 || !stored.Value) return stored;
  const items = stored.Value.map((item) => {
    const storedItem = (item ?? {}) as DicomJsonDataset;
    return Object.fromEntries(Object.entries(wanted).map(([tag, inner]) => [tag, returned(inner, storedItem[tag])]));
  });
  return { vr: 'SQ', Value: items };
}

/**
 * The response's bytes, in the character set the identifier declared (PS3.4 C.4.1.1.3.2: the same
 * as the query's). When the query declared none, or one that cannot hold a value (a Chinese name
 * asked for under ISO_IR 100), the response is written in ISO_IR 192 and says so: every
 * character arrives, which a substituted '?' would not.
 */
export function encodeResponse(response: DicomJsonDataset, characterSet: readonly string[], transferSyntaxUid: string): Buffer {
  const declared = characterSet.some((term) => term.trim() !== '') ? characterSet : [];
  try {
    return encodeDataset(withCharacterSet(response, declared), transferSyntaxUid);
  } catch (error) {
    if (!(error instanceof UnencodableText)) throw error;
    return encodeDataset(withCharacterSet(response, ['ISO_IR 192']), transferSyntaxUid);
  }
}

function withCharacterSet(response: DicomJsonDataset, terms: readonly string[]): DicomJsonDataset {
  if (terms.length === 0) return response;
  // DICOM JSON writes an empty value (the default repertoire first, as in '\ISO 2022 IR 58') as null.
  return { ...response, [SPECIFIC_CHARACTER_SET]: { vr: 'CS', Value: terms.map((term) => (term.trim() === '' ? null : term)) } };
}
