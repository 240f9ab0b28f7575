import { INSTANCE_LEVEL_TAGS, PATIENT_LEVEL_TAGS, SERIES_LEVEL_TAGS, STUDY_LEVEL_TAGS } from '../index/levels.ts';
import type { InstanceRow, SeriesRow, StudyRow } from '../db/query-repository.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { QueryLevel, QueryScope } from './qido-query.ts';

/**
 * The attributes each QIDO-RS result carries unless includefield asks for more (PS3.18 10.6.3.3,
 * Tables 10.6.3-3, -4 and -5), plus a few every study list shows and every viewer asks for (marked
 * "also"), and the UIDs of the levels above, so each result names its place in the hierarchy.
 */
const STUDY_RESULT_TAGS = [
  '00080005', // SpecificCharacterSet
  '00080020', // StudyDate
  '00080030', // StudyTime
  '00080050', // AccessionNumber
  '00080056', // InstanceAvailability
  '00080061', // ModalitiesInStudy
  '00080080', // InstitutionName (also: a regional archive's study list says where a study was made)
  '00080090', // ReferringPhysicianName
  '00080201', // TimezoneOffsetFromUTC
  '00081030', // StudyDescription (also)
  '00081190', // RetrieveURL
  '00100010', // PatientName
  '00100020', // PatientID
  '00100030', // PatientBirthDate
  '00100040', // PatientSex
  '0020000D', // StudyInstanceUID
  '00200010', // StudyID
  '00201206', // NumberOfStudyRelatedSeries
  '00201208', // NumberOfStudyRelatedInstances
];

const SERIES_RESULT_TAGS = [
  '00080005', // SpecificCharacterSet
  '00080021', // SeriesDate (also)
  '00080031', // SeriesTime (also)
  '00080060', // Modality
  '00080201', // TimezoneOffsetFromUTC
  '0008103E', // SeriesDescription
  '00081190', // RetrieveURL
  '0020000D', // StudyInstanceUID (the level above)
  '0020000E', // SeriesInstanceUID
  '00200011', // SeriesNumber
  '00201209', // NumberOfSeriesRelatedInstances
  '00400244', // PerformedProcedureStepStartDate
  '00400245', // PerformedProcedureStepStartTime
  '00400275', // RequestAttributesSequence
];

const INSTANCE_RESULT_TAGS = [
  '00080005', // SpecificCharacterSet
  '00080016', // SOPClassUID
  '00080018', // SOPInstanceUID
  '00080056', // InstanceAvailability
  '00080201', // TimezoneOffsetFromUTC
  '00081190', // RetrieveURL
  '0020000D', // StudyInstanceUID (the levels above)
  '0020000E', // SeriesInstanceUID
  '00200013', // InstanceNumber
  '00280008', // NumberOfFrames
  '00280010', // Rows
  '00280011', // Columns
  '00280100', // BitsAllocated
];

/**
 * A search across studies (/series, /instances) also returns the study attributes, and one across
 * series (/instances, /studies/{study}/instances) the series attributes (PS3.18 10.6.3.3).
 */
export function defaultResultTags(level: QueryLevel, scope: QueryScope): string[] {
  switch (level) {
    case 'study':
      return STUDY_RESULT_TAGS;
    case 'series':
      return [...SERIES_RESULT_TAGS, ...(scope.studyInstanceUid ? [] : STUDY_RESULT_TAGS)];
    case 'instance':
      return [
        ...INSTANCE_RESULT_TAGS,
        ...(scope.seriesInstanceUid ? [] : SERIES_RESULT_TAGS),
        ...(scope.studyInstanceUid ? [] : STUDY_RESULT_TAGS),
      ];
  }
}

/** Attributes the server computes for each result rather than keeping them per level. */
export const COMPUTED_TAGS = new Set([
  '00080005', // SpecificCharacterSet: DICOM JSON is UTF-8 whatever the instances declared
  '00080056', // InstanceAvailability
  '00080061', // ModalitiesInStudy
  '00081190', // RetrieveURL
  '00201206', // NumberOfStudyRelatedSeries
  '00201208', // NumberOfStudyRelatedInstances
  '00201209', // NumberOfSeriesRelatedInstances
]);

const INDEXED_TAGS = new Set<string>([...PATIENT_LEVEL_TAGS, ...STUDY_LEVEL_TAGS, ...SERIES_LEVEL_TAGS, ...INSTANCE_LEVEL_TAGS]);

/**
 * At the instance level, attributes asked for that the index does not keep per level are read from
 * the instance's full metadata (kept with its receipt); 'all' reads all of it. Above the instance
 * level there is no such source: what the index keeps is what is available.
 */
export function metadataTagsToRead(level: QueryLevel, include: 'all' | ReadonlySet<string>): string[] | 'all' {
  if (level !== 'instance') return [];
  if (include === 'all') return 'all';
  return [...include].filter((tag) => !INDEXED_TAGS.has(tag) && !COMPUTED_TAGS.has(tag));
}

/**
 * A match as the index holds it, with what is computed per result: counts, ModalitiesInStudy,
 * InstanceAvailability. Shared by QIDO-RS (which adds RetrieveURL), the priors list and C-FIND
 * (which adds Retrieve AE Title), so a study looks the same wherever a client meets it.
 */
export function studyMatch(row: StudyRow): DicomJsonDataset {
  return {
    ...row.patientAttributes,
    ...row.studyAttributes,
    '00080056': { vr: 'CS', Value: ['ONLINE'] },
    '00080061': { vr: 'CS', Value: row.modalities },
    ...(row.institutionName ? { '00080080': { vr: 'LO', Value: [row.institutionName] } } : {}),
    '00201206': { vr: 'IS', Value: [row.numberOfSeries] },
    '00201208': { vr: 'IS', Value: [row.numberOfInstances] },
  };
}

export function seriesMatch(row: SeriesRow): DicomJsonDataset {
  return { ...studyMatch(row), ...row.seriesAttributes, '00201209': { vr: 'IS', Value: [row.numberOfSeriesInstances] } };
}

export function instanceMatch(row: InstanceRow): DicomJsonDataset {
  // Bulk data is not part of a search result; its URIs belong to WADO-RS metadata.
  const fromMetadata = Object.entries(row.metadataAttributes ?? {}).filter(([, value]) => value.BulkDataURI === undefined);
  return { ...seriesMatch(row), ...row.instanceAttributes, ...Object.fromEntries(fromMetadata) };
}
