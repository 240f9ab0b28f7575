import { adaptersSR } from '@cornerstonejs/adapters';
import type { Types as ToolTypes } from '@cornerstonejs/tools';
import { IMPLEMENTATION_VERSION_NAME } from '../../../archive/dicom/part10.ts';
import {
  DicomMetaDictionary,
  documentHeader,
  KOS_TITLES,
  MANUFACTURER,
  observerName,
  part10,
  patientAndStudy,
  type DocumentContext,
  type KeyImage,
  type NaturalDataset,
  type StoredDocument,
} from '../../../archive/dicom/key-object-selection.ts';
import { READER_DOCUMENT_SOP_CLASS as SR_SOP_CLASS } from '../../../archive/reading/reader-documents.ts';
import type { DicomJson } from '../dicom/dataset.ts';

/**
 * What a reader measures and marks, as DICOM objects of the study any viewer can read back: the
 * measurements a TID 1500 Measurement Report (written and read by Cornerstone's own SR adapters,
 * as OHIF does, so a report from one opens in the other), the key images a Key Object Selection
 * Document (TID 2010, archive/dicom/key-object-selection.ts, which the archive's QC rejections use
 * too). Pure: no DOM, no requests; the same code runs in the viewer and in the tests.
 */

export { keyObjectSelection, type DocumentContext, type KeyImage, type StoredDocument } from '../../../archive/dicom/key-object-selection.ts';

/** The Cornerstone tools whose annotations go into a measurement report (the adapters know each). */
export const REPORTED_TOOLS = ['Length', 'Angle', 'RectangleROI', 'EllipticalROI', 'Probe', 'ArrowAnnotate'] as const;

/** Cornerstone's metadata: the image's modules (instance, SOP common, image plane) by image id. */
export interface MetadataSource {
  get(type: string, imageId: string): unknown;
}

/** What the viewer draws again from a stored report: the annotation, ready for Cornerstone's annotation state. */
export type RestoredAnnotation = ToolTypes.Annotation;

const { MeasurementReport } = adaptersSR.Cornerstone3D;
const REJECTED_FOR_QUALITY_REASONS = KOS_TITLES.rejectedForQualityReasons.CodeValue;

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
 * SR and KO series): the newest TID 1500 report and the newest KOS other than a QC rejection, since
 * each save writes the reader's whole set again.
 */
export function currentDocuments(documents: readonly DicomJson[]): { measurementReport: SavedReport | undefined; keyImages: KeyImage[] } {
  const newest = (matching: (document: DicomJson) => boolean) =>
    documents.filter(matching).sort((a, b) => createdAt(b).localeCompare(createdAt(a)))[0];
  const report = newest((document) => value(document, '0040A504') !== undefined && templateOf(document) === '1500');
  // A QC rejection (113001) lists the images QC rejected, not the reader's key images.
  const keyDocument = newest((document) => value(document, '00080016') === SR_SOP_CLASS.keyObjectSelection && value(value(document, '0040A043') as DicomJson, '00080100') !== REJECTED_FOR_QUALITY_REASONS);
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

function asArray(value: unknown): NaturalDataset[] {
  if (value === undefined || value === null) return [];
  return (Array.isArray(value) ? value : [value]) as NaturalDataset[];
}
