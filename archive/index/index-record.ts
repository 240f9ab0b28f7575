import { dicomDateToIso, firstString, personNameSearchKeys } from '../dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import type { StoredReceipt } from '../db/receipts-repository.ts';
import { INSTANCE_LEVEL_TAGS, PATIENT_LEVEL_TAGS, pickAttributes, SERIES_LEVEL_TAGS, STUDY_LEVEL_TAGS } from './levels.ts';

/** The rows one instance contributes to the index, derived from the metadata parsed at receipt. */
export interface IndexRecord {
  patient: {
    issuer: string;
    patientId: string;
    patientName: DicomJsonPersonName | null;
    nameSearch: string | null;
    birthDate: string | null;
    sex: string | null;
    otherPatientIds: string[];
    attributes: DicomJsonDataset;
  };
  study: {
    studyInstanceUid: string;
    studyDate: string | null;
    studyTime: string | null;
    accessionNumber: string | null;
    studyId: string | null;
    description: string | null;
    referringNameSearch: string | null;
    institutionName: string | null;
    attributes: DicomJsonDataset;
  };
  series: {
    seriesInstanceUid: string;
    modality: string | null;
    seriesNumber: number | null;
    description: string | null;
    bodyPart: string | null;
    performedStartDate: string | null;
    attributes: DicomJsonDataset;
  };
  instance: {
    sopInstanceUid: string;
    sopClassUid: string;
    instanceNumber: number | null;
    numberOfFrames: number | null;
    attributes: DicomJsonDataset;
  };
}

export function buildIndexRecord(receipt: StoredReceipt): IndexRecord {
  const metadata = receipt.metadata;
  const patientId = firstString(metadata, '00100020');
  const issuerOfPatientId = firstString(metadata, '00100021');
  const patientName = firstPersonName(metadata, '00100010');
  return {
    patient: {
      issuer: patientId ? (issuerOfPatientId ?? `source:${receipt.sourceId}`) : `study:${receipt.studyInstanceUid}`,
      patientId: patientId ?? '',
      patientName,
      nameSearch: patientName ? personNameSearchKeys([patientName]) : null,
      birthDate: dicomDateToIso(firstString(metadata, '00100030')),
      sex: firstString(metadata, '00100040'),
      otherPatientIds: otherPatientIds(metadata),
      attributes: pickAttributes(metadata, PATIENT_LEVEL_TAGS),
    },
    study: {
      studyInstanceUid: receipt.studyInstanceUid,
      studyDate: dicomDateToIso(firstString(metadata, '00080020')),
      studyTime: firstString(metadata, '00080030'),
      accessionNumber: firstString(metadata, '00080050'),
      studyId: firstString(metadata, '00200010'),
      description: firstString(metadata, '00081030'),
      referringNameSearch: nameSearchOf(firstPersonName(metadata, '00080090')),
      institutionName: firstString(metadata, '00080080'),
      attributes: pickAttributes(metadata, STUDY_LEVEL_TAGS),
    },
    series: {
      seriesInstanceUid: receipt.seriesInstanceUid,
      modality: firstString(metadata, '00080060'),
      seriesNumber: firstInteger(metadata, '00200011'),
      description: firstString(metadata, '0008103E'),
      bodyPart: firstString(metadata, '00180015'),
      performedStartDate: dicomDateToIso(firstString(metadata, '00400244')),
      attributes: pickAttributes(metadata, SERIES_LEVEL_TAGS),
    },
    instance: {
      sopInstanceUid: receipt.sopInstanceUid,
      sopClassUid: receipt.sopClassUid,
      instanceNumber: firstInteger(metadata, '00200013'),
      numberOfFrames: firstInteger(metadata, '00280008'),
      attributes: pickAttributes(metadata, INSTANCE_LEVEL_TAGS),
    },
  };
}

function firstPersonName(metadata: DicomJsonDataset, tag: string): DicomJsonPersonName | null {
  const value = metadata[tag]?.Value?.[0];
  return value && typeof value === 'object' ? (value as DicomJsonPersonName) : null;
}

function nameSearchOf(name: DicomJsonPersonName | null): string | null {
  return name ? personNameSearchKeys([name]) : null;
}

function firstInteger(metadata: DicomJsonDataset, tag: string): number | null {
  const value = metadata[tag]?.Value?.[0];
  const number = typeof value === 'number' ? value : typeof value === 'string' ? Number.parseInt(value, 10) : Number.NaN;
  return Number.isSafeInteger(number) ? number : null;
}

/**
 * Strong identifiers for recognising one person across institutions, as 'issuer|value':
 * Other Patient IDs Sequence items (Patient ID + Issuer of Patient ID), and the retired
 * Other Patient IDs values (no issuer) that older PACS still send.
 */
function otherPatientIds(metadata: DicomJsonDataset): string[] {
  const identifiers = new Set<string>();
  for (const item of metadata['00101002']?.Value ?? []) {
    if (!item || typeof item !== 'object' || 'Alphabetic' in item) continue;
    const dataset = item as DicomJsonDataset;
    const value = firstString(dataset, '00100020');
    if (value) identifiers.add(`${firstString(dataset, '00100021') ?? ''}|${value}`);
  }
  for (const value of metadata['00101000']?.Value ?? []) {
    if (typeof value === 'string' && value.trim()) identifiers.add(`|${value.trim()}`);
  }
  return [...identifiers];
}
