import dcmjsModule from 'dcmjs';
import { READER_DOCUMENT_SOP_CLASS } from '../reading/reader-documents.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from './part10.ts';

/**
 * Documents Yingyun writes into a study as a DICOM object any PACS can read: the Key Object
 * Selection Document (TID 2010) and the parts every such document shares (patient and study copied
 * from the study's own header, who wrote it, the Part 10 file). Pure, with dcmjs only: the viewer
 * writes its key images with it (viewer/src/measurements/structured-report.ts) and the archive its
 * quality rejections (workers/jobs/write-rejection-kos.ts), one builder with a title.
 */

/** A DICOM JSON dataset as either side holds it (the archive's index, the viewer's WADO-RS metadata). */
export type DicomJsonHeader = Record<string, { vr?: string; Value?: unknown[] } | undefined>;

/** Who wrote the document and under which series of the study it is filed. */
export interface DocumentContext {
  seriesNumber: number;
  seriesDescription: string;
  /** The author, as DICOM Person Name (Alphabetic; Ideographic for Chinese). */
  observer: { Alphabetic?: string; Ideographic?: string };
  institutionName?: string;
  /** The header of one instance of the study: the document's patient and study are its. */
  studyHeader: DicomJsonHeader;
  /**
   * UIDs and time fixed by the caller, so that writing the document again gives the same object (a
   * job's rerun); absent: new UIDs and now.
   */
  written?: { seriesInstanceUid: string; sopInstanceUid: string; at: Date };
}

/** An image a KOS references. */
export interface KeyImage {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  /** Set for a frame of a multi-frame image. */
  frameNumber?: number;
}

/** A document ready to store: its UIDs and the Part 10 file. */
export interface StoredDocument {
  seriesInstanceUid: string;
  sopInstanceUid: string;
  part10: ArrayBuffer;
}

/** A dataset in dcmjs's naturalised form (attributes by keyword). */
export interface NaturalDataset {
  [keyword: string]: unknown;
  _meta?: unknown;
}

/** The part of dcmjs used here (it ships no types). */
interface Dcmjs {
  data: {
    DicomMetaDictionary: {
      uid(): string;
      date(): string;
      time(): string;
      naturalizeDataset(dataset: DicomJsonHeader): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>;
    };
    DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(): ArrayBuffer };
  };
}
const dcmjs = dcmjsModule as unknown as Dcmjs;
export const { DicomMetaDictionary } = dcmjs.data;

export const MANUFACTURER = 'Yingyun';
const EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** Document Titles of a KOS (PS3.16 CID 7010): what the selection means. */
export const KOS_TITLES = {
  /** A reader's key images. */
  ofInterest: code('113000', 'DCM', 'Of Interest'),
  /** Images QC rejected (IHE IOCM): other systems hide or flag them. */
  rejectedForQualityReasons: code('113001', 'DCM', 'Rejected for Quality Reasons'),
} as const;

/**
 * A Key Object Selection Document listing the images under the given title (default "Of Interest"),
 * with the patient and study of the context's header (all images must be of one study).
 */
export function keyObjectSelection(keyImages: readonly KeyImage[], context: DocumentContext, title: NaturalDataset = KOS_TITLES.ofInterest): StoredDocument {
  const [first] = keyImages;
  if (!first) throw new Error('there are no key images to list');
  if (keyImages.some((image) => image.studyInstanceUid !== first.studyInstanceUid)) throw new Error('key images of more than one study cannot be listed in one document');
  const series = new Map<string, KeyImage[]>();
  for (const image of keyImages) series.set(image.seriesInstanceUid, [...(series.get(image.seriesInstanceUid) ?? []), image]);
  const now = writtenAt(context);
  const dataset: NaturalDataset = {
    ...patientAndStudy(context.studyHeader),
    SOPClassUID: READER_DOCUMENT_SOP_CLASS.keyObjectSelection,
    SOPInstanceUID: context.written?.sopInstanceUid ?? DicomMetaDictionary.uid(),
    Modality: 'KO',
    SeriesInstanceUID: context.written?.seriesInstanceUid ?? DicomMetaDictionary.uid(),
    SeriesNumber: context.seriesNumber,
    SeriesDescription: context.seriesDescription,
    SeriesDate: now.date,
    SeriesTime: now.time,
    ReferencedPerformedProcedureStepSequence: [],
    Manufacturer: MANUFACTURER,
    InstanceNumber: 1,
    ContentDate: now.date,
    ContentTime: now.time,
    CurrentRequestedProcedureEvidenceSequence: [evidence(first.studyInstanceUid, series)],
    ValueType: 'CONTAINER',
    ConceptNameCodeSequence: [title],
    ContinuityOfContent: 'SEPARATE',
    ContentTemplateSequence: [{ MappingResource: 'DCMR', TemplateIdentifier: '2010' }],
    ContentSequence: [
      // TID 2010 row 3: the observer context (TID 1002), so the document says who chose the images.
      { RelationshipType: 'HAS OBS CONTEXT', ValueType: 'CODE', ConceptNameCodeSequence: [code('121005', 'DCM', 'Observer Type')], ConceptCodeSequence: [code('121006', 'DCM', 'Person')] },
      { RelationshipType: 'HAS OBS CONTEXT', ValueType: 'PNAME', ConceptNameCodeSequence: [code('121008', 'DCM', 'Person Observer Name')], PersonName: observerName(context) },
      ...keyImages.map((image) => ({
        RelationshipType: 'CONTAINS',
        ValueType: 'IMAGE',
        ReferencedSOPSequence: [
          {
            ReferencedSOPClassUID: image.sopClassUid,
            ReferencedSOPInstanceUID: image.sopInstanceUid,
            ...(image.frameNumber ? { ReferencedFrameNumber: image.frameNumber } : {}),
          },
        ],
      })),
    ],
  };
  Object.assign(dataset, documentHeader(context));
  return part10(dataset);
}

export function documentHeader(context: DocumentContext): NaturalDataset {
  const now = writtenAt(context);
  return {
    // Patient names here are often Chinese: UTF-8 carries them and every other script.
    SpecificCharacterSet: 'ISO_IR 192',
    ...(context.institutionName ? { InstitutionName: context.institutionName } : {}),
    InstanceCreationDate: now.date,
    InstanceCreationTime: now.time,
    Manufacturer: MANUFACTURER,
  };
}

export function patientAndStudy(header: DicomJsonHeader): NaturalDataset {
  const instance = DicomMetaDictionary.naturalizeDataset(header);
  const copied: NaturalDataset = { StudyInstanceUID: instance.StudyInstanceUID };
  // Type 2 attributes of the Patient and General Study modules are present even when empty.
  for (const keyword of ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber']) {
    copied[keyword] = instance[keyword] ?? '';
  }
  // The other identifiers too: the index refreshes the patient record from every instance stored, and
  // without them the person index would lose the resident ID it links the record by.
  for (const keyword of ['IssuerOfPatientID', 'IssuerOfPatientIDQualifiersSequence', 'OtherPatientIDs', 'OtherPatientIDsSequence', 'StudyDescription']) if (instance[keyword]) copied[keyword] = instance[keyword];
  return copied;
}

export function observerName(context: DocumentContext): unknown {
  return [context.observer];
}

/** The dataset as a Part 10 file in Explicit VR Little Endian, under Yingyun's File Meta Information. */
export function part10(dataset: NaturalDataset): StoredDocument {
  const { _meta, ...content } = dataset;
  const meta = {
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: [content.SOPClassUID] },
    '00020003': { vr: 'UI', Value: [content.SOPInstanceUID] },
    '00020010': { vr: 'UI', Value: [EXPLICIT_LITTLE_ENDIAN] },
    '00020012': { vr: 'UI', Value: [IMPLEMENTATION_CLASS_UID] },
    '00020013': { vr: 'SH', Value: [IMPLEMENTATION_VERSION_NAME] },
  };
  const dict = new dcmjs.data.DicomDict(meta);
  dict.dict = DicomMetaDictionary.denaturalizeDataset(content);
  return { seriesInstanceUid: String(content.SeriesInstanceUID), sopInstanceUid: String(content.SOPInstanceUID), part10: dict.write() };
}

function writtenAt(context: DocumentContext): { date: string; time: string } {
  const at = context.written?.at;
  if (!at) return { date: DicomMetaDictionary.date(), time: DicomMetaDictionary.time() };
  const iso = at.toISOString();
  return { date: iso.slice(0, 10).replace(/-/g, ''), time: iso.slice(11, 19).replace(/:/g, '') };
}

function evidence(studyInstanceUid: string, series: ReadonlyMap<string, readonly KeyImage[]>): NaturalDataset {
  return {
    StudyInstanceUID: studyInstanceUid,
    ReferencedSeriesSequence: [...series].map(([seriesInstanceUid, images]) => ({
      SeriesInstanceUID: seriesInstanceUid,
      ReferencedSOPSequence: [...new Map(images.map((image) => [image.sopInstanceUid, image])).values()].map((image) => ({
        ReferencedSOPClassUID: image.sopClassUid,
        ReferencedSOPInstanceUID: image.sopInstanceUid,
      })),
    })),
  };
}

function code(value: string, scheme: string, meaning: string): NaturalDataset {
  return { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning };
}
