import type { InstanceRow, SeriesRow, StudyRow } from '../../../archive/db/query-repository.ts';
import type { DicomJsonDataset } from '../../../archive/dicom/types.ts';
import { instanceMatch, seriesMatch, studyMatch } from '../../../archive/query/result-attributes.ts';
import { element, instanceUrl, seriesUrl, studyUrl } from './urls.ts';

/**
 * Index rows as QIDO-RS results (PS3.18 10.6.3.3), with the attributes computed at query time:
 * counts, ModalitiesInStudy, InstanceAvailability and RetrieveURL. Shared by QIDO-RS and the
 * priors list, so a study looks the same wherever a client meets it.
 */
export function studyResult(row: StudyRow, base: string): DicomJsonDataset {
  return {
    ...studyMatch(row),
    // DICOM JSON is UTF-8 whatever the instances declared: their text was decoded at receipt.
    '00080005': element.cs(['ISO_IR 192']),
    '00081190': element.ur(studyUrl(base, row.studyInstanceUid)),
  };
}

export function seriesResult(row: SeriesRow, base: string): DicomJsonDataset {
  return {
    ...seriesMatch(row),
    '00080005': element.cs(['ISO_IR 192']),
    '00081190': element.ur(seriesUrl(base, row.studyInstanceUid, row.seriesInstanceUid)),
  };
}

export function instanceResult(row: InstanceRow, base: string): DicomJsonDataset {
  return {
    ...instanceMatch(row),
    '00080005': element.cs(['ISO_IR 192']),
    '00081190': element.ur(instanceUrl(base, row.studyInstanceUid, row.seriesInstanceUid, row.sopInstanceUid)),
  };
}
