import type { InstanceRow, SeriesRow, StudyRow } from '../../../archive/db/query-repository.ts';
import type { DicomJsonDataset } from '../../../archive/dicom/types.ts';
import { element, instanceUrl, seriesUrl, studyUrl } from './urls.ts';

/**
 * Index rows as QIDO-RS results (PS3.18 10.6.3.3), with the attributes computed at query time:
 * counts, ModalitiesInStudy, InstanceAvailability and RetrieveURL. Shared by QIDO-RS and the
 * priors list, so a study looks the same wherever a client meets it.
 */
export function studyResult(row: StudyRow, base: string): DicomJsonDataset {
  return {
    ...row.patientAttributes,
    ...row.studyAttributes,
    // DICOM JSON is UTF-8 whatever the instances declared: their text was decoded at receipt.
    '00080005': element.cs(['ISO_IR 192']),
    '00080056': element.cs(['ONLINE']),
    '00080061': element.cs(row.modalities),
    ...(row.institutionName ? { '00080080': element.lo(row.institutionName) } : {}),
    '00081190': element.ur(studyUrl(base, row.studyInstanceUid)),
    '00201206': element.is(row.numberOfSeries),
    '00201208': element.is(row.numberOfInstances),
  };
}

export function seriesResult(row: SeriesRow, base: string): DicomJsonDataset {
  return {
    ...studyResult(row, base),
    ...row.seriesAttributes,
    '00081190': element.ur(seriesUrl(base, row.studyInstanceUid, row.seriesInstanceUid)),
    '00201209': element.is(row.numberOfSeriesInstances),
  };
}

export function instanceResult(row: InstanceRow, base: string): DicomJsonDataset {
  // Bulk data is not part of a search result; its URIs belong to WADO-RS metadata.
  const fromMetadata = Object.entries(row.metadataAttributes ?? {}).filter(([, value]) => value.BulkDataURI === undefined);
  return {
    ...seriesResult(row, base),
    ...row.instanceAttributes,
    ...Object.fromEntries(fromMetadata),
    '00081190': element.ur(instanceUrl(base, row.studyInstanceUid, row.seriesInstanceUid, row.sopInstanceUid)),
  };
}
