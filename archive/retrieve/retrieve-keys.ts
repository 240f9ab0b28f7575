import type { RetrieveSelection } from '../db/retrieve-repository.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';

export type RetrieveModel = 'patient-root' | 'study-root';

const LEVELS: Record<RetrieveModel, readonly string[]> = {
  'patient-root': ['PATIENT', 'STUDY', 'SERIES', 'IMAGE'],
  'study-root': ['STUDY', 'SERIES', 'IMAGE'],
};

/** The unique key of each level (PS3.4 C.6.1.1.2–5, C.6.2.1). */
const UNIQUE_KEYS = [
  { level: 'PATIENT', tag: '00100020', name: 'Patient ID', field: 'patientId' },
  { level: 'STUDY', tag: '0020000D', name: 'Study Instance UID', field: 'studyInstanceUids' },
  { level: 'SERIES', tag: '0020000E', name: 'Series Instance UID', field: 'seriesInstanceUids' },
  { level: 'IMAGE', tag: '00080018', name: 'SOP Instance UID', field: 'sopInstanceUids' },
] as const;

/**
 * A C-MOVE or C-GET identifier read as hierarchical (baseline) retrieval asks (PS3.4 C.4.2.2.1,
 * C.4.3.2.1): Query/Retrieve Level (0008,0052) one of the model's levels; a single value of the
 * unique key of every level above it (the Patient ID from PATIENT down in the Patient Root model);
 * at the retrieve level one Patient ID, or one or more UIDs. Other attributes are ignored. A string
 * says what is wrong (the answer is A900, Identifier does not match SOP Class).
 */
export function retrieveSelectionOf(identifier: DicomJsonDataset, model: RetrieveModel): RetrieveSelection | string {
  const levels = LEVELS[model];
  const level = texts(identifier, '00080052')[0]?.toUpperCase();
  if (!level || !levels.includes(level)) return `Query/Retrieve Level (0008,0052) must be one of ${levels.join(', ')} for the ${model} model; it is ${level ? `"${level}"` : 'absent'}`;
  const selection: RetrieveSelection = {};
  for (const key of UNIQUE_KEYS) {
    if (!levels.includes(key.level)) continue;
    const values = texts(identifier, key.tag);
    const atLevel = key.level === level;
    if (values.length === 0) return `${key.name} (${key.tag.slice(0, 4)},${key.tag.slice(4)}) is required at the ${level} level`;
    if (values.length > 1 && !(atLevel && key.field !== 'patientId')) return `${key.name} (${key.tag.slice(0, 4)},${key.tag.slice(4)}) must be a single value at the ${level} level`;
    if (key.field === 'patientId') selection.patientId = values[0]!;
    else selection[key.field] = values;
    if (atLevel) break;
  }
  return selection;
}

/** The element's string values, trimmed, empty ones dropped. */
function texts(dataset: DicomJsonDataset, tag: string): string[] {
  return (dataset[tag]?.Value ?? []).filter((value): value is string => typeof value === 'string').map((value) => value.trim()).filter((value) => value !== '');
}
