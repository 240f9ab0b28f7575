/**
 * Types shared by the parser, the ingest path, the index and the HTTP layer.
 * DICOM JSON follows PS3.18 Annex F.2: keys are 8 upper-case hex digits (group+element).
 */
export interface DicomJsonPersonName {
  Alphabetic?: string;
  Ideographic?: string;
  Phonetic?: string;
}

export type DicomJsonValue = string | number | DicomJsonPersonName | DicomJsonDataset | null;

export interface DicomJsonElement {
  vr: string;
  Value?: DicomJsonValue[];
  /** Relative to the instance resource, e.g. `bulkdata/7FE00010`; the HTTP layer makes it absolute. */
  BulkDataURI?: string;
  InlineBinary?: string;
}

export type DicomJsonDataset = Record<string, DicomJsonElement>;

/** Where a bulk data value lives inside the stored object (Part 10 file), for /bulkdata and /frames. */
export interface BulkDataLocation {
  /** Tag path as used in the BulkDataURI: `7FE00010`, or `00540016.0.00181072` for a nested item. */
  path: string;
  vr: string;
  offset: number;
  /** -1 for encapsulated (undefined length) Pixel Data. */
  length: number;
}

/** How text in the instance was decoded. */
export interface CharacterSetReport {
  /** Values of Specific Character Set (0008,0005) as sent; empty when absent. */
  declared: string[];
  /**
   * Set when the declared character set could not have produced the bytes and GB18030 decodes them
   * unambiguously: county PACS often send GB18030 under no or a wrong declaration.
   */
  detected?: 'GB18030';
  /** Human-readable explanation of any repair or problem, for the receipt's record. */
  note?: string;
}

export interface PixelDescription {
  rows: number;
  columns: number;
  numberOfFrames: number;
  samplesPerPixel: number;
  bitsAllocated: number;
  bitsStored: number;
  highBit: number;
  pixelRepresentation: number;
  photometricInterpretation: string;
  planarConfiguration: number;
  /** True when Pixel Data is encapsulated (compressed transfer syntaxes). */
  encapsulated: boolean;
}

/** The result of parsing one instance's header once, passed along the whole ingest path. */
export interface ParsedInstance {
  transferSyntaxUid: string;
  sopClassUid: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  /** Byte offset in the Part 10 object where the dataset (after the File Meta group) begins. */
  datasetOffset: number;
  /** The dataset (not File Meta) as DICOM JSON, text decoded to Unicode, bulk data by reference. */
  metadata: DicomJsonDataset;
  bulkData: BulkDataLocation[];
  characterSet: CharacterSetReport;
  pixel?: PixelDescription;
  /** True when the dataset is deflated (1.2.840.10008.1.2.1.99): offsets refer to the inflated dataset. */
  deflated: boolean;
}

/** Why an instance could not be accepted; maps to a DIMSE status and a STOW-RS FailureReason. */
export type RejectionKind =
  | 'malformed' // 0xC000-range "Cannot understand" / STOW 0xC000
  | 'missing-attribute' // 0xA900 "Data set does not match SOP class" / STOW 0xA900
  | 'sop-class-mismatch' // 0xA900 (command and dataset disagree)
  | 'out-of-resources' // 0xA700 / STOW 0xA700: object store or database unavailable
  | 'processing-failure' // 0x0110 / STOW 0x0110
  | 'not-authorized'; // 0x0124 "Refused: Not authorized" (PS3.7 C.4): into a study the sender may not see

export class IngestRejection extends Error {
  constructor(
    readonly kind: RejectionKind,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'IngestRejection';
  }
}
