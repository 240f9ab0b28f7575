import type { DicomJsonDataset } from '../dicom/types.ts';

/**
 * Which attributes belong to which query/retrieve level (PS3.4 C.6.1.1 and the QIDO-RS return
 * attributes of PS3.18 Table 10.6.3-3…5). The index keeps these per level so QIDO answers from
 * one row per result without touching instance metadata.
 */
export const PATIENT_LEVEL_TAGS = [
  '00100010', // PatientName
  '00100020', // PatientID
  '00100021', // IssuerOfPatientID
  '00100024', // IssuerOfPatientIDQualifiersSequence
  '00100030', // PatientBirthDate
  '00100040', // PatientSex
  '00101000', // OtherPatientIDs (retired, still sent by old PACS)
  '00101001', // OtherPatientNames
  '00101002', // OtherPatientIDsSequence
  '00102160', // EthnicGroup
  '00104000', // PatientComments
] as const;

export const STUDY_LEVEL_TAGS = [
  '00080020', // StudyDate
  '00080030', // StudyTime
  '00080050', // AccessionNumber
  '00080051', // IssuerOfAccessionNumberSequence
  '00080090', // ReferringPhysicianName
  '00080201', // TimezoneOffsetFromUTC
  '00081030', // StudyDescription
  '00081060', // NameOfPhysiciansReadingStudy
  '00081032', // ProcedureCodeSequence
  '00101010', // PatientAge
  '00101020', // PatientSize
  '00101030', // PatientWeight
  '0020000D', // StudyInstanceUID
  '00200010', // StudyID
] as const;

export const SERIES_LEVEL_TAGS = [
  '00080021', // SeriesDate
  '00080031', // SeriesTime
  '00080060', // Modality
  '00080070', // Manufacturer
  '00080080', // InstitutionName
  '00081010', // StationName
  '0008103E', // SeriesDescription
  '00081070', // OperatorsName: the technologist, for the region's statistics
  '00081040', // InstitutionalDepartmentName
  '00180015', // BodyPartExamined
  '0020000E', // SeriesInstanceUID
  '00200011', // SeriesNumber
  '00200052', // FrameOfReferenceUID
  '00200060', // Laterality
  '00400244', // PerformedProcedureStepStartDate
  '00400245', // PerformedProcedureStepStartTime
  '00400275', // RequestAttributesSequence
] as const;

export const INSTANCE_LEVEL_TAGS = [
  '00080008', // ImageType
  '00080016', // SOPClassUID
  '00080018', // SOPInstanceUID
  '00080022', // AcquisitionDate
  '00080023', // ContentDate
  '00080033', // ContentTime
  '00200012', // AcquisitionNumber
  '00200013', // InstanceNumber
  '00200032', // ImagePositionPatient
  '00200037', // ImageOrientationPatient
  '00201041', // SliceLocation
  '00280002', // SamplesPerPixel
  '00280004', // PhotometricInterpretation
  '00280008', // NumberOfFrames
  '00280010', // Rows
  '00280011', // Columns
  '00280030', // PixelSpacing
  '00280100', // BitsAllocated
  '0040A043', // ConceptNameCodeSequence (SR title)
  '0040A491', // CompletionFlag
  '0040A493', // VerificationFlag
] as const;

export function pickAttributes(metadata: DicomJsonDataset, tags: readonly string[]): DicomJsonDataset {
  const picked: DicomJsonDataset = {};
  for (const tag of tags) {
    const element = metadata[tag];
    if (element) picked[tag] = element;
  }
  return picked;
}
