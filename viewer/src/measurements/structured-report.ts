import { adaptersSR } from '@cornerstonejs/adapters';
import type { Types as ToolTypes } from '@cornerstonejs/tools';
import dcmjsModule from 'dcmjs';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../../archive/dicom/part10.ts';
import { READER_DOCUMENT_SOP_CLASS as SR_SOP_CLASS } from '../../../archive/reading/reader-documents.ts';
import type { DicomJson } from '../dicom/dataset.ts';

/**
 * What a reader measures and marks, as DICOM objects of the study any viewer can read back: the
 * measurements a TID 1500 Measurement Report (written and read by Cornerstone's own SR adapters,
 * as OHIF does, so a report from one opens in the other), the key images a Key Object Selection
 * Document (TID 2010). Pure: no DOM, no requests; the same code runs in the viewer and in the tests.
 */

/** The Cornerstone tools whose annotations go into a measurement report (the adapters know each). */
export const REPORTED_TOOLS = ['Length', 'Angle', 'RectangleROI', 'EllipticalROI', 'Probe', 'ArrowAnnotate'] as const;

/** Cornerstone's metadata: the image's modules (instance, SOP common, image plane) by image id. */
export interface MetadataSource {
  get(type: string, imageId: string): unknown;
}

/** Who wrote the document and under which series of the study it is filed. */
export interface DocumentContext {
  seriesNumber: number;
  seriesDescription: string;
  /** The reader, as DICOM Person Name (Alphabetic; Ideographic for Chinese). */
  observer: { Alphabetic?: string; Ideographic?: string };
  institutionName?: string;
  /** The header (WADO-RS metadata) of one instance of the study: the documents' patient and study are its. */
  studyHeader: DicomJson;
}

/** An image the reader marked as key, as the KOS references it. */
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

/** What the viewer draws again from a stored report: the annotation, ready for Cornerstone's annotation state. */
export type RestoredAnnotation = ToolTypes.Annotation;

interface NaturalDataset {
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
      naturalizeDataset(dataset: DicomJson): NaturalDataset;
      denaturalizeDataset(dataset: NaturalDataset): Record<string, unknown>;
    };
    DicomDict: new (meta: Record<string, unknown>) => { dict: Record<string, unknown>; write(): ArrayBuffer };
  };
}
const dcmjs = dcmjsModule as unknown as Dcmjs;
const { DicomMetaDictionary } = dcmjs.data;
const { MeasurementReport } = adaptersSR.Cornerstone3D;

const MANUFACTURER = 'Yingyun';
const EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/**
 * A TID 1500 Measurement Report of the annotations, as a DICOM Part 10 file: Enhanced SR for
 * measurements on images (Comprehensive 3D SR when one is in patient space). The adapters take
 * patient and study from the measured images' own headers.
 */
export function measurementReport(annotations: readonly RestoredAnnotation[], metadata: MetadataSource, context: DocumentContext): StoredDocument {
  const toolState: Record<string, Record<string, { data: RestoredAnnotation[] }>> = {};
  for (const drawn of annotations) {
    const { toolName, referencedImageId } = drawn.metadata ?? {};
    if (!toolName) continue;
    if (!referencedImageId || !(REPORTED_TOOLS as readonly string[]).includes(toolName)) continue;
    const onImage = (toolState[referencedImageId] ??= {});
    (onImage[toolName] ??= { data: [] }).data.push(drawn);
  }
  if (Object.keys(toolState).length === 0) throw new Error('there are no measurements on images to report');
  const report = MeasurementReport.generateReport(toolState, metadata, {
    SeriesNumber: String(context.seriesNumber),
    SeriesDescription: context.seriesDescription,
    Manufacturer: MANUFACTURER,
    ManufacturerModelName: 'Yingyun viewer',
    SoftwareVersions: IMPLEMENTATION_VERSION_NAME,
    DeviceSerialNumber: '1',
    PersonName: observerName(context),
  }) as { dataset: NaturalDataset };
  const dataset = report.dataset;
  // The adapters mark every derived object as research; these are the reader's clinical measurements.
  delete dataset.ImageComments;
  delete dataset.ContentQualification;
  // The adapters copy a subset of the measured image's header (Cornerstone's instance module lacks
  // the Patient ID, for one): the study's own header says who and which study.
  Object.assign(dataset, patientAndStudy(context.studyHeader), documentHeader(context), { CompletionFlag: 'COMPLETE', VerificationFlag: 'UNVERIFIED' });
  return part10(dataset);
}

/**
 * A Key Object Selection Document titled (113000, DCM, "Of Interest") listing the key images,
 * with the patient and study of the first one (all must be of one study).
 */
export function keyObjectSelection(keyImages: readonly KeyImage[], context: DocumentContext): StoredDocument {
  const [first] = keyImages;
  if (!first) throw new Error('there are no key images to list');
  if (keyImages.some((image) => image.studyInstanceUid !== first.studyInstanceUid)) throw new Error('key images of more than one study cannot be listed in one document');
  const series = new Map<string, KeyImage[]>();
  for (const image of keyImages) series.set(image.seriesInstanceUid, [...(series.get(image.seriesInstanceUid) ?? []), image]);
  const now = { date: DicomMetaDictionary.date(), time: DicomMetaDictionary.time() };
  const dataset: NaturalDataset = {
    ...patientAndStudy(context.studyHeader),
    SOPClassUID: SR_SOP_CLASS.keyObjectSelection,
    SOPInstanceUID: DicomMetaDictionary.uid(),
    Modality: 'KO',
    SeriesInstanceUID: DicomMetaDictionary.uid(),
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
    ConceptNameCodeSequence: [code('113000', 'DCM', 'Of Interest')],
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

/**
 * The measurements of a stored TID 1500 report (its WADO-RS metadata, where an SR's whole content
 * tree is inline) on the images the viewer knows, as Cornerstone annotations. Measurements on
 * images the map does not name are left out (they belong to series not loaded).
 */
export function measurementsOf(report: DicomJson, imageIdOf: ReadonlyMap<string, string>, metadata: MetadataSource): RestoredAnnotation[] {
  const dataset = DicomMetaDictionary.naturalizeDataset(report);
  if (!isMeasurementReport(dataset)) return [];
  const byKey: Record<string, string> = {};
  for (const [key, imageId] of imageIdOf) byKey[key] = imageId;
  const restored = MeasurementReport.generateToolState(dataset, byKey, metadata, {}) as Record<string, { annotation: RestoredAnnotation }[]>;
  return Object.values(restored)
    .flat()
    .map((state) => state.annotation)
    .filter((drawn) => Boolean(drawn.metadata?.referencedImageId));
}

/** The images a Key Object Selection Document lists, with the series its evidence files each under. */
export function keyImagesOf(document: DicomJson): KeyImage[] {
  const dataset = DicomMetaDictionary.naturalizeDataset(document);
  if (dataset.SOPClassUID !== SR_SOP_CLASS.keyObjectSelection) return [];
  const seriesOf = new Map<string, { studyInstanceUid: string; seriesInstanceUid: string }>();
  for (const study of asArray(dataset.CurrentRequestedProcedureEvidenceSequence)) {
    for (const series of asArray(study.ReferencedSeriesSequence)) {
      for (const instance of asArray(series.ReferencedSOPSequence)) {
        seriesOf.set(String(instance.ReferencedSOPInstanceUID), { studyInstanceUid: String(study.StudyInstanceUID), seriesInstanceUid: String(series.SeriesInstanceUID) });
      }
    }
  }
  return asArray(dataset.ContentSequence)
    .filter((item) => item.ValueType === 'IMAGE')
    .flatMap((item) => asArray(item.ReferencedSOPSequence))
    .flatMap((reference) => {
      const sopInstanceUid = String(reference.ReferencedSOPInstanceUID);
      const series = seriesOf.get(sopInstanceUid);
      if (!series) return [];
      const frameNumber = Number([reference.ReferencedFrameNumber].flat()[0]);
      return [{ ...series, sopClassUid: String(reference.ReferencedSOPClassUID), sopInstanceUid, ...(frameNumber > 0 ? { frameNumber } : {}) }];
    });
}

/** A stored measurement report as the viewer reads it back. */
export interface SavedReport {
  sopInstanceUid: string;
  /** Its WADO-RS metadata. */
  metadata: DicomJson;
}

/**
 * A study's current measurements and key images among its stored documents (the instances of its
 * SR and KO series): the newest TID 1500 report and the newest KOS, since each save writes the
 * reader's whole set again.
 */
export function currentDocuments(documents: readonly DicomJson[]): { measurementReport: SavedReport | undefined; keyImages: KeyImage[] } {
  const newest = (matching: (document: DicomJson) => boolean) =>
    documents.filter(matching).sort((a, b) => createdAt(b).localeCompare(createdAt(a)))[0];
  const report = newest((document) => value(document, '0040A504') !== undefined && templateOf(document) === '1500');
  const keyDocument = newest((document) => value(document, '00080016') === SR_SOP_CLASS.keyObjectSelection);
  return {
    measurementReport: report ? { sopInstanceUid: String(value(report, '00080018')), metadata: report } : undefined,
    keyImages: keyDocument ? keyImagesOf(keyDocument) : [],
  };
}

function value(document: DicomJson, tag: string): unknown {
  return document[tag]?.Value?.[0];
}

function templateOf(document: DicomJson): string {
  return String(value(value(document, '0040A504') as DicomJson, '0040DB00') ?? '');
}

/** Content Date and Time, then Instance Creation: when the document was written, as sortable text. */
function createdAt(document: DicomJson): string {
  return ['00080023', '00080033', '00080012', '00080013'].map((tag) => String(value(document, tag) ?? '').padEnd(14, '0')).join('');
}

/** The key Cornerstone's image ids are looked up by when a report is read: instance and frame. */
export function imageKey(sopInstanceUid: string, frameNumber = 1): string {
  return `${sopInstanceUid}:${frameNumber}`;
}

/** A report written by the adapters (TID 1500), rather than some other SR of the study (a TID 2000 report, a dose report). */
function isMeasurementReport(dataset: NaturalDataset): boolean {
  const template = asArray(dataset.ContentTemplateSequence)[0];
  return template?.TemplateIdentifier === '1500';
}

function documentHeader(context: DocumentContext): NaturalDataset {
  return {
    // Patient names here are often Chinese: UTF-8 carries them and every other script.
    SpecificCharacterSet: 'ISO_IR 192',
    ...(context.institutionName ? { InstitutionName: context.institutionName } : {}),
    InstanceCreationDate: DicomMetaDictionary.date(),
    InstanceCreationTime: DicomMetaDictionary.time(),
    Manufacturer: MANUFACTURER,
  };
}

function patientAndStudy(header: DicomJson): NaturalDataset {
  const instance = DicomMetaDictionary.naturalizeDataset(header);
  const copied: NaturalDataset = { StudyInstanceUID: instance.StudyInstanceUID };
  // Type 2 attributes of the Patient and General Study modules are present even when empty.
  for (const keyword of ['PatientName', 'PatientID', 'PatientBirthDate', 'PatientSex', 'StudyDate', 'StudyTime', 'ReferringPhysicianName', 'StudyID', 'AccessionNumber']) {
    copied[keyword] = instance[keyword] ?? '';
  }
  for (const keyword of ['IssuerOfPatientID', 'StudyDescription']) if (instance[keyword]) copied[keyword] = instance[keyword];
  return copied;
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

function observerName(context: DocumentContext): unknown {
  return [context.observer];
}

function code(value: string, scheme: string, meaning: string): NaturalDataset {
  return { CodeValue: value, CodingSchemeDesignator: scheme, CodeMeaning: meaning };
}

/** The dataset as a Part 10 file in Explicit VR Little Endian, under Yingyun's File Meta Information. */
function part10(dataset: NaturalDataset): StoredDocument {
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

function asArray(value: unknown): NaturalDataset[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]) as NaturalDataset[];
}
