import { createHmac } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { vrOfTag } from '../dicom/dictionary.ts';
import { TRANSFER_SYNTAX } from '../dicom/parse.ts';
import { buildFileMetaHeader, padDeflatedDataset } from '../dicom/part10.ts';
import { actionFor, type Action } from './confidentiality-profile.ts';

/**
 * De-identification of one DICOM Part 10 instance per PS3.15 Annex E, Basic Application Level
 * Confidentiality Profile (the action table and its reading are in confidentiality-profile.ts).
 *
 * The dataset is read into elements whose values stay the file's own bytes, and written back in the
 * same transfer syntax: whatever the profile keeps is copied byte for byte, so Pixel Data (native or
 * encapsulated, fragments and offset table included) is untouched and kept text stays in its
 * Specific Character Set, ISO 2022 escapes and all. dcmjs cannot do this: it writes text as UTF-8
 * and relabels the character set as ISO_IR 192, rejects multi-valued Specific Character Set
 * (ISO 2022 IR 58, as Yunxi's PACS sends), rewrites encapsulated pixel data with its own
 * fragmentation and offset table, and fails to inflate pydicom's deflated sample.
 */

export interface DeidentifyOptions {
  /** Retain Longitudinal Temporal Information with Full Dates Option (113106): keep dates and times. */
  retainLongitudinalDates: boolean;
  /** Retain Patient Characteristics Option (113108): keep sex, age, size, weight, ethnic group, smoking status, pregnancy status, etc. */
  retainPatientCharacteristics: boolean;
  /** Secret that makes UID remapping deterministic per deployment: the same original UID always maps to the same new UID under the same secret, and cannot be reversed without it. */
  uidSecret: Buffer;
  /** Replacement Patient ID / Patient Name (a pseudonym chosen by the caller, e.g. "ANON-3F2A"). */
  pseudonym: { patientId: string; patientName: string };
}

export interface DeidentifiedInstance {
  /** A valid DICOM Part 10 file (File Meta + dataset) with the profile applied. */
  part10: Buffer;
  sopInstanceUid: string; // the NEW SOP Instance UID
  studyInstanceUid: string; // the NEW Study Instance UID
  /** True when the instance may carry identifying text in its pixels: Burned In Annotation (0028,0301) is YES, or absent on a SOP class/modality that commonly burns in (US, secondary capture, XA/RF, ES, video), so the caller can warn. */
  burnedInAnnotationRisk: boolean;
}

/** The input cannot be de-identified: not a readable Part 10 file, or without the UIDs the result needs. The message says which. */
export class MalformedInstanceError extends Error {
  override name = 'MalformedInstanceError';
}

/** Below this an attacker could try every secret and map known original UIDs to their new ones. */
const MIN_UID_SECRET_BYTES = 16;

export function deidentify(part10: Buffer, options: DeidentifyOptions): DeidentifiedInstance {
  assertValidOptions(options);
  const { transferSyntaxUid, encoding, elements } = readPart10(part10);
  const sopClassUid = requiredUid(elements, SOP_CLASS_UID, 'SOP Class UID');
  requiredUid(elements, SOP_INSTANCE_UID, 'SOP Instance UID');
  requiredUid(elements, STUDY_INSTANCE_UID, 'Study Instance UID');

  const deidentified = recordDeidentification(deidentifyDataset(elements, options), options, encoding);
  const sopInstanceUid = requiredUid(deidentified, SOP_INSTANCE_UID, 'SOP Instance UID');
  const body = encodeDataset(deidentified, encoding);
  return {
    // New File Meta and an empty preamble: PS3.15 E.1.1 requires both replaced, as they can name
    // the sending AE, station and software.
    part10: Buffer.concat([
      buildFileMetaHeader({ sopClassUid, sopInstanceUid, transferSyntaxUid }),
      transferSyntaxUid === TRANSFER_SYNTAX.deflatedExplicitLittleEndian ? padDeflatedDataset(deflateRawSync(body), transferSyntaxUid) : body,
    ]),
    sopInstanceUid,
    studyInstanceUid: requiredUid(deidentified, STUDY_INSTANCE_UID, 'Study Instance UID'),
    burnedInAnnotationRisk: mayHaveBurnedInText(elements, sopClassUid),
  };
}

/**
 * '2.25.' and the decimal of the first 128 bits of HMAC-SHA256(secret, uid) (PS3.5 B.2): at most
 * 44 characters. Padding (trailing NUL or space) is not part of the UID, so it does not change the result.
 */
export function remapUid(uid: string, secret: Buffer): string {
  const uuid = createHmac('sha256', secret).update(uid.replace(/[\0 ]+$/, ''), 'latin1').digest().subarray(0, 16);
  // PS3.5 B.2: a 2.25 UID is a UUID as one decimal integer. Marking the keyed hash as an RFC 9562
  // version 8 (custom) UUID with the RFC variant makes it one, at the cost of 6 of its 128 bits.
  uuid[6] = (uuid[6]! & 0x0f) | 0x80;
  uuid[8] = (uuid[8]! & 0x3f) | 0x80;
  return `2.25.${BigInt(`0x${uuid.toString('hex')}`).toString(10)}`;
}

function assertValidOptions(options: DeidentifyOptions): void {
  if (options.uidSecret.length < MIN_UID_SECRET_BYTES) {
    throw new Error(`uidSecret has ${options.uidSecret.length} bytes; at least ${MIN_UID_SECRET_BYTES} are needed so remapped UIDs cannot be traced back`);
  }
  // Written into PN and LO under whatever Specific Character Set the instance declares: only ASCII
  // is valid in all of them; a backslash would split the value in two.
  for (const [name, value] of Object.entries(options.pseudonym)) {
    if (!/^[\x20-\x5b\x5d-\x7e]{0,64}$/.test(value)) {
      throw new Error(`pseudonym.${name} must be at most 64 printable ASCII characters without a backslash: ${JSON.stringify(value)}`);
    }
  }
}

// ---- Applying the profile ----------------------------------------------------------------------

const SOP_CLASS_UID = 0x00080016;
const SOP_INSTANCE_UID = 0x00080018;
const STUDY_INSTANCE_UID = 0x0020000d;
const MODALITY = 0x00080060;
const PATIENT_NAME = 0x00100010;
const PATIENT_ID = 0x00100020;
const CODE_VALUE = 0x00080100;
const CODING_SCHEME_DESIGNATOR = 0x00080102;
const CODE_MEANING = 0x00080104;
const PATIENT_IDENTITY_REMOVED = 0x00120062;
const DEIDENTIFICATION_METHOD = 0x00120063;
const DEIDENTIFICATION_METHOD_CODE_SEQUENCE = 0x00120064;
const BURNED_IN_ANNOTATION = 0x00280301;
const LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED = 0x00280303;

function deidentifyDataset(elements: DataElement[], options: DeidentifyOptions, enclosing?: Action): DataElement[] {
  const result: DataElement[] = [];
  for (const element of elements) {
    // Group lengths (gggg,0000) would be wrong once values change; they are retired in datasets.
    if ((element.tag & 0xffff) === 0) continue;
    const tag = tagHex(element.tag);
    const vr = element.vr === 'UN' ? (vrOfTag(tag) ?? 'UN') : element.vr;
    const replacement = applyAction(element, vr, actionFor(tag, vr, options, enclosing), options);
    if (replacement) result.push(replacement);
  }
  return result;
}

function applyAction(element: DataElement, vr: string, action: Action, options: DeidentifyOptions): DataElement | undefined {
  switch (action) {
    case 'remove':
      return undefined;
    case 'keep':
      return element.kind === 'sequence' ? { ...element, items: element.items.map((item) => deidentifyDataset(item, options)) } : element;
    case 'empty':
      if (element.kind === 'sequence') return { ...element, items: [] };
      return withValue(element, pseudonymFor(element.tag, options) ?? Buffer.alloc(0));
    case 'dummy':
      if (element.kind === 'sequence') return { ...element, items: element.items.map((item) => deidentifyDataset(item, options, 'dummy')) };
      if (vr === 'UI') return withValue(element, remapUids(valueOf(element), options.uidSecret));
      return withValue(element, pseudonymFor(element.tag, options) ?? dummyValue(vr, valueOf(element).length));
    case 'replaceUid':
      if (element.kind !== 'value') throw new MalformedInstanceError(`${tagName(element.tag)} should hold UIDs but is encoded as a sequence or encapsulated data`);
      return withValue(element, remapUids(element.value, options.uidSecret));
  }
}

function pseudonymFor(tag: number, options: DeidentifyOptions): Buffer | undefined {
  if (tag === PATIENT_NAME) return paddedText(options.pseudonym.patientName, ' ');
  if (tag === PATIENT_ID) return paddedText(options.pseudonym.patientId, ' ');
  return undefined;
}

/** Well-known UIDs (transfer syntaxes, SOP classes, coding schemes, standard frames of reference) are the standard's, not the patient's. */
function isWellKnownUid(uid: string): boolean {
  return uid.startsWith('1.2.840.10008.');
}

function remapUids(value: Buffer, secret: Buffer): Buffer {
  const uids = trimmedText(value)
    .split('\\')
    .map((uid) => uid.trim().replace(/\0/g, ''));
  return paddedText(uids.map((uid) => (uid === '' || isWellKnownUid(uid) ? uid : remapUid(uid, secret))).join('\\'), '\0');
}

/** ASCII, so valid under every Specific Character Set; plainly not real data. */
const DUMMY_TEXT: Partial<Record<string, string>> = {
  AE: 'ANONYMIZED',
  AS: '000Y',
  CS: 'ANONYMIZED',
  DA: '19000101',
  DS: '0',
  DT: '19000101000000',
  IS: '0',
  LO: 'ANONYMIZED',
  LT: 'ANONYMIZED',
  PN: 'ANONYMIZED',
  SH: 'ANONYMIZED',
  ST: 'ANONYMIZED',
  TM: '000000',
  UC: 'ANONYMIZED',
  UR: 'about:blank',
  UT: 'ANONYMIZED',
};
const NUMBER_WIDTH: Partial<Record<string, number>> = { AT: 4, FD: 8, FL: 4, SL: 4, SS: 2, SV: 8, UL: 4, US: 2, UV: 8 };
const OTHER_BINARY_WIDTH: Partial<Record<string, number>> = { OD: 8, OF: 4, OL: 4, OV: 8 };

/** Numbers become zeros, as many as there were (the attribute's value multiplicity still holds); other binary data one zero value. */
function dummyValue(vr: string, originalLength: number): Buffer {
  const text = DUMMY_TEXT[vr];
  if (text !== undefined) return paddedText(text, ' ');
  const numberWidth = NUMBER_WIDTH[vr];
  if (numberWidth !== undefined) return Buffer.alloc(Math.max(numberWidth, originalLength - (originalLength % numberWidth)));
  return Buffer.alloc(OTHER_BINARY_WIDTH[vr] ?? 2);
}

/** PS3.16 CID 7050 De-identification Method. */
const METHOD_CODES = {
  basicProfile: { code: '113100', meaning: 'Basic Application Confidentiality Profile' },
  retainDates: { code: '113106', meaning: 'Retain Longitudinal Temporal Information Full Dates Option' },
  retainCharacteristics: { code: '113108', meaning: 'Retain Patient Characteristics Option' },
};

/**
 * PS3.15 E.1.1 and E.3: Patient Identity Removed YES; the profile and options added to De-identification
 * Method and its code sequence (after what an earlier de-identification recorded there); Longitudinal
 * Temporal Information Modified REMOVED, or with dates retained UNMODIFIED, unless an earlier
 * de-identification already recorded that the dates were modified or removed.
 */
function recordDeidentification(elements: DataElement[], options: DeidentifyOptions, encoding: Encoding): DataElement[] {
  const methods = [
    METHOD_CODES.basicProfile,
    ...(options.retainLongitudinalDates ? [METHOD_CODES.retainDates] : []),
    ...(options.retainPatientCharacteristics ? [METHOD_CODES.retainCharacteristics] : []),
  ];
  const earlierMethods = textOf(elements, DEIDENTIFICATION_METHOD)?.split('\\') ?? [];
  const earlierCodeItems = sequenceItems(elements, DEIDENTIFICATION_METHOD_CODE_SEQUENCE);
  const earlierCodes = new Set(earlierCodeItems.map((item) => textOf(item, CODE_VALUE)));
  const earlierTemporal = textOf(elements, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED);
  const replaced = new Set([PATIENT_IDENTITY_REMOVED, DEIDENTIFICATION_METHOD, DEIDENTIFICATION_METHOD_CODE_SEQUENCE, LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED]);
  return [
    ...elements.filter((element) => !replaced.has(element.tag)),
    textElement(PATIENT_IDENTITY_REMOVED, 'CS', 'YES'),
    textElement(DEIDENTIFICATION_METHOD, 'LO', [...new Set([...earlierMethods, ...methods.map((method) => method.meaning)])].join('\\')),
    {
      kind: 'sequence',
      tag: DEIDENTIFICATION_METHOD_CODE_SEQUENCE,
      vr: 'SQ',
      itemEncoding: encoding,
      items: [
        ...earlierCodeItems,
        ...methods
          .filter((method) => !earlierCodes.has(method.code))
          .map((method) => [textElement(CODE_VALUE, 'SH', method.code), textElement(CODING_SCHEME_DESIGNATOR, 'SH', 'DCM'), textElement(CODE_MEANING, 'LO', method.meaning)]),
      ],
    },
    textElement(
      LONGITUDINAL_TEMPORAL_INFORMATION_MODIFIED,
      'CS',
      options.retainLongitudinalDates ? (earlierTemporal === 'MODIFIED' || earlierTemporal === 'REMOVED' ? earlierTemporal : 'UNMODIFIED') : 'REMOVED',
    ),
  ];
}

/** SOP classes whose images commonly carry burned-in text: ultrasound, secondary capture, XA/RF, endoscopy, video. */
const BURNS_IN_SOP_CLASSES = new Set([
  '1.2.840.10008.5.1.4.1.1.6.1', // US Image
  '1.2.840.10008.5.1.4.1.1.3.1', // US Multi-frame Image
  '1.2.840.10008.5.1.4.1.1.6.2', // Enhanced US Volume
  '1.2.840.10008.5.1.4.1.1.6', // US Image (retired)
  '1.2.840.10008.5.1.4.1.1.3', // US Multi-frame Image (retired)
  '1.2.840.10008.5.1.4.1.1.7', // Secondary Capture Image
  '1.2.840.10008.5.1.4.1.1.7.1', // Multi-frame Single Bit Secondary Capture
  '1.2.840.10008.5.1.4.1.1.7.2', // Multi-frame Grayscale Byte Secondary Capture
  '1.2.840.10008.5.1.4.1.1.7.3', // Multi-frame Grayscale Word Secondary Capture
  '1.2.840.10008.5.1.4.1.1.7.4', // Multi-frame True Color Secondary Capture
  '1.2.840.10008.5.1.4.1.1.12.1', // X-Ray Angiographic Image
  '1.2.840.10008.5.1.4.1.1.12.1.1', // Enhanced XA Image
  '1.2.840.10008.5.1.4.1.1.12.2', // X-Ray Radiofluoroscopic Image
  '1.2.840.10008.5.1.4.1.1.12.2.1', // Enhanced XRF Image
  '1.2.840.10008.5.1.4.1.1.77.1.1', // VL Endoscopic Image
  '1.2.840.10008.5.1.4.1.1.77.1.1.1', // Video Endoscopic Image
  '1.2.840.10008.5.1.4.1.1.77.1.2.1', // Video Microscopic Image
  '1.2.840.10008.5.1.4.1.1.77.1.4.1', // Video Photographic Image
]);
const BURNS_IN_MODALITIES = new Set(['US', 'XA', 'RF', 'ES']);

/** The profile does not clean pixels; this tells the caller when they may show a name or ID. */
function mayHaveBurnedInText(elements: DataElement[], sopClassUid: string): boolean {
  const burnedInAnnotation = textOf(elements, BURNED_IN_ANNOTATION)?.toUpperCase();
  if (burnedInAnnotation === 'YES') return true;
  if (burnedInAnnotation === 'NO') return false;
  return BURNS_IN_SOP_CLASSES.has(sopClassUid) || BURNS_IN_MODALITIES.has(textOf(elements, MODALITY)?.toUpperCase() ?? '');
}

function requiredUid(elements: DataElement[], tag: number, name: string): string {
  const uid = textOf(elements, tag)?.replace(/\0/g, '');
  if (!uid) throw new MalformedInstanceError(`${name} ${tagName(tag)} is missing or empty`);
  return uid;
}

// ---- Elements ----------------------------------------------------------------------------------

interface Encoding {
  explicitVr: boolean;
  littleEndian: boolean;
}

const IMPLICIT_LITTLE_ENDIAN: Encoding = { explicitVr: false, littleEndian: true };
const EXPLICIT_LITTLE_ENDIAN: Encoding = { explicitVr: true, littleEndian: true };
const EXPLICIT_BIG_ENDIAN: Encoding = { explicitVr: true, littleEndian: false };

/** `tag` is (group << 16 | element), unsigned; `vr` as the file has it (from the dictionary when implicit). */
type DataElement =
  | { kind: 'value'; tag: number; vr: string; value: Buffer }
  /** Items are encoded in `itemEncoding`: the dataset's, or implicit little endian for a sequence sent as UN (PS3.5 6.2.2). */
  | { kind: 'sequence'; tag: number; vr: string; items: DataElement[][]; itemEncoding: Encoding }
  /** Encapsulated Pixel Data: its items (offset table, fragments) and sequence delimiter, verbatim. */
  | { kind: 'encapsulated'; tag: number; vr: string; content: Buffer };

function withValue(element: DataElement, value: Buffer): DataElement {
  return { kind: 'value', tag: element.tag, vr: element.vr, value };
}

function valueOf(element: DataElement): Buffer {
  return element.kind === 'value' ? element.value : Buffer.alloc(0);
}

function textElement(tag: number, vr: string, text: string): DataElement {
  return { kind: 'value', tag, vr, value: paddedText(text, ' ') };
}

/** Values have even length (PS3.5 7.1): UIDs padded with NUL, text with a space. */
function paddedText(text: string, padding: ' ' | '\0'): Buffer {
  return Buffer.from(text.length % 2 ? text + padding : text, 'latin1');
}

function trimmedText(value: Buffer): string {
  return value.toString('latin1').replace(/[\0 ]+$/, '');
}

/** A top-level value read as ASCII: enough for the UIDs and code strings this module looks at. */
function textOf(elements: DataElement[], tag: number): string | undefined {
  const element = elements.find((candidate) => candidate.tag === tag);
  return element?.kind === 'value' ? trimmedText(element.value).trim() : undefined;
}

function sequenceItems(elements: DataElement[], tag: number): DataElement[][] {
  const element = elements.find((candidate) => candidate.tag === tag);
  return element?.kind === 'sequence' ? element.items : [];
}

function tagHex(tag: number): string {
  return tag.toString(16).toUpperCase().padStart(8, '0');
}

function tagName(tag: number): string {
  const hex = tagHex(tag);
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

// ---- Reading -----------------------------------------------------------------------------------

const ITEM = 0xfffee000;
const ITEM_DELIMITER = 0xfffee00d;
const SEQUENCE_DELIMITER = 0xfffee0dd;
const UNDEFINED_LENGTH = 0xffffffff;
/** Deeper nesting than any real IOD has; stops hostile input from exhausting the stack. */
const MAX_SEQUENCE_DEPTH = 32;
/** VRs with a 16-bit length in explicit VR encoding (PS3.5 7.1.2); all others have 32 bits after two reserved bytes. */
const SHORT_VRS = new Set(['AE', 'AS', 'AT', 'CS', 'DA', 'DS', 'DT', 'FD', 'FL', 'IS', 'LO', 'LT', 'PN', 'SH', 'SL', 'SS', 'ST', 'TM', 'UI', 'UL', 'US']);

interface Part10 {
  transferSyntaxUid: string;
  encoding: Encoding;
  elements: DataElement[];
}

function readPart10(part10: Buffer): Part10 {
  if (part10.length < 132 || part10.toString('latin1', 128, 132) !== 'DICM') {
    throw new MalformedInstanceError('not a DICOM Part 10 file: "DICM" is missing at byte 128');
  }
  const meta: DataElement[] = [];
  let position = 132;
  while (position + 2 <= part10.length && part10.readUInt16LE(position) === 0x0002) {
    const read = readElement(part10, position, part10.length, EXPLICIT_LITTLE_ENDIAN, 0);
    meta.push(read.element);
    position = read.next;
  }
  const transferSyntaxUid = textOf(meta, 0x00020010)?.replace(/\0/g, '');
  if (!transferSyntaxUid) throw new MalformedInstanceError('File Meta Information has no Transfer Syntax UID (0002,0010)');

  if (transferSyntaxUid === TRANSFER_SYNTAX.deflatedExplicitLittleEndian) {
    let inflated: Buffer;
    try {
      inflated = inflateRawSync(part10.subarray(position));
    } catch (error) {
      throw new MalformedInstanceError(`the deflated dataset cannot be inflated: ${(error as Error).message}`);
    }
    return { transferSyntaxUid, encoding: EXPLICIT_LITTLE_ENDIAN, elements: readDataset(inflated, 0, inflated.length, EXPLICIT_LITTLE_ENDIAN, 0, false).elements };
  }
  // Every transfer syntax other than these two is explicit VR little endian (PS3.5 A.4).
  const encoding =
    transferSyntaxUid === TRANSFER_SYNTAX.implicitLittleEndian ? IMPLICIT_LITTLE_ENDIAN : transferSyntaxUid === TRANSFER_SYNTAX.explicitBigEndian ? EXPLICIT_BIG_ENDIAN : EXPLICIT_LITTLE_ENDIAN;
  return { transferSyntaxUid, encoding, elements: readDataset(part10, position, part10.length, encoding, 0, false).elements };
}

/** Reads elements up to `end`, or, in an item of undefined length, up to and including its Item Delimitation Item. */
function readDataset(bytes: Buffer, start: number, end: number, encoding: Encoding, depth: number, untilItemDelimiter: boolean): { elements: DataElement[]; next: number } {
  const elements: DataElement[] = [];
  let position = start;
  while (position < end) {
    need(bytes, position, 8, end, 'an element header');
    if (readTag(bytes, position, encoding) === ITEM_DELIMITER) {
      if (!untilItemDelimiter) throw new MalformedInstanceError(`unexpected Item Delimitation Item at byte ${position}`);
      return { elements, next: position + 8 };
    }
    const read = readElement(bytes, position, end, encoding, depth);
    elements.push(read.element);
    position = read.next;
  }
  if (untilItemDelimiter) throw new MalformedInstanceError('truncated: a sequence item ends without its Item Delimitation Item');
  return { elements, next: position };
}

function readElement(bytes: Buffer, start: number, end: number, encoding: Encoding, depth: number): { element: DataElement; next: number } {
  need(bytes, start, 8, end, 'an element header');
  const tag = readTag(bytes, start, encoding);
  let vr: string;
  let length: number;
  let valueStart: number;
  if (encoding.explicitVr) {
    vr = bytes.toString('latin1', start + 4, start + 6);
    if (!/^[A-Z]{2}$/.test(vr)) throw new MalformedInstanceError(`${tagName(tag)} at byte ${start} has no valid VR (${JSON.stringify(vr)})`);
    if (SHORT_VRS.has(vr)) {
      length = encoding.littleEndian ? bytes.readUInt16LE(start + 6) : bytes.readUInt16BE(start + 6);
      valueStart = start + 8;
    } else {
      need(bytes, start, 12, end, `the header of ${tagName(tag)}`);
      length = readUint32(bytes, start + 8, encoding);
      valueStart = start + 12;
    }
  } else {
    vr = vrOfTag(tagHex(tag)) ?? 'UN';
    length = readUint32(bytes, start + 4, encoding);
    valueStart = start + 8;
  }

  // A sequence whose sender did not know its VR arrives as UN, encoded in implicit VR little endian.
  const isSequence = vr === 'SQ' || (vr === 'UN' && (length === UNDEFINED_LENGTH || vrOfTag(tagHex(tag)) === 'SQ'));
  if (isSequence) {
    if (depth >= MAX_SEQUENCE_DEPTH) throw new MalformedInstanceError(`sequences are nested more than ${MAX_SEQUENCE_DEPTH} deep at ${tagName(tag)}`);
    const itemEncoding = vr === 'UN' ? IMPLICIT_LITTLE_ENDIAN : encoding;
    const sequenceEnd = length === UNDEFINED_LENGTH ? end : valueStart + length;
    if (length !== UNDEFINED_LENGTH) need(bytes, valueStart, length, end, `the value of ${tagName(tag)}`);
    const read = readItems(bytes, valueStart, sequenceEnd, length === UNDEFINED_LENGTH, itemEncoding, depth + 1, tag);
    return { element: { kind: 'sequence', tag, vr, items: read.items, itemEncoding }, next: read.next };
  }
  if (length === UNDEFINED_LENGTH) {
    const next = readEncapsulatedEnd(bytes, valueStart, end, encoding, tag);
    return { element: { kind: 'encapsulated', tag, vr, content: bytes.subarray(valueStart, next) }, next };
  }
  need(bytes, valueStart, length, end, `the value of ${tagName(tag)}`);
  return { element: { kind: 'value', tag, vr, value: bytes.subarray(valueStart, valueStart + length) }, next: valueStart + length };
}

function readItems(
  bytes: Buffer,
  start: number,
  end: number,
  undefinedLength: boolean,
  encoding: Encoding,
  depth: number,
  sequenceTag: number,
): { items: DataElement[][]; next: number } {
  const items: DataElement[][] = [];
  let position = start;
  while (undefinedLength || position < end) {
    need(bytes, position, 8, end, `an item of ${tagName(sequenceTag)}`);
    const tag = readTag(bytes, position, encoding);
    const length = readUint32(bytes, position + 4, encoding);
    if (tag === SEQUENCE_DELIMITER && undefinedLength) return { items, next: position + 8 };
    if (tag !== ITEM) throw new MalformedInstanceError(`${tagName(sequenceTag)} has ${tagName(tag)} at byte ${position} where an item should be`);
    const itemStart = position + 8;
    if (length === UNDEFINED_LENGTH) {
      const read = readDataset(bytes, itemStart, end, encoding, depth, true);
      items.push(read.elements);
      position = read.next;
    } else {
      need(bytes, itemStart, length, end, `an item of ${tagName(sequenceTag)}`);
      items.push(readDataset(bytes, itemStart, itemStart + length, encoding, depth, false).elements);
      position = itemStart + length;
    }
  }
  return { items, next: position };
}

/** Walks the items of encapsulated data to the Sequence Delimitation Item; returns the byte after it. */
function readEncapsulatedEnd(bytes: Buffer, start: number, end: number, encoding: Encoding, elementTag: number): number {
  let position = start;
  for (;;) {
    need(bytes, position, 8, end, `an item of ${tagName(elementTag)}`);
    const tag = readTag(bytes, position, encoding);
    const length = readUint32(bytes, position + 4, encoding);
    if (tag === SEQUENCE_DELIMITER) return position + 8;
    if (tag !== ITEM) throw new MalformedInstanceError(`${tagName(elementTag)} has ${tagName(tag)} at byte ${position} where a fragment should be`);
    need(bytes, position + 8, length, end, `a fragment of ${tagName(elementTag)}`);
    position += 8 + length;
  }
}

function need(bytes: Buffer, position: number, count: number, end: number, what: string): void {
  const limit = Math.min(end, bytes.length);
  if (position + count > limit) {
    throw new MalformedInstanceError(`truncated: ${what} at byte ${position} needs ${count} bytes, ${Math.max(0, limit - position)} remain`);
  }
}

function readTag(bytes: Buffer, position: number, encoding: Encoding): number {
  const group = encoding.littleEndian ? bytes.readUInt16LE(position) : bytes.readUInt16BE(position);
  const element = encoding.littleEndian ? bytes.readUInt16LE(position + 2) : bytes.readUInt16BE(position + 2);
  return ((group << 16) | element) >>> 0;
}

function readUint32(bytes: Buffer, position: number, encoding: Encoding): number {
  return encoding.littleEndian ? bytes.readUInt32LE(position) : bytes.readUInt32BE(position);
}

// ---- Writing -----------------------------------------------------------------------------------

/**
 * Elements in ascending tag order. Sequences and their items are written with undefined length, the
 * one form valid for SQ and for sequences sent as UN alike.
 */
function encodeDataset(elements: DataElement[], encoding: Encoding): Buffer {
  const chunks: Buffer[] = [];
  writeDataset(chunks, elements, encoding);
  return Buffer.concat(chunks);
}

function writeDataset(chunks: Buffer[], elements: DataElement[], encoding: Encoding): void {
  for (const element of [...elements].sort((a, b) => a.tag - b.tag)) {
    switch (element.kind) {
      case 'value':
        chunks.push(elementHeader(element.tag, element.vr, element.value.length, encoding), element.value);
        break;
      case 'encapsulated':
        chunks.push(elementHeader(element.tag, element.vr, UNDEFINED_LENGTH, encoding), element.content);
        break;
      case 'sequence':
        chunks.push(elementHeader(element.tag, element.vr, UNDEFINED_LENGTH, encoding));
        for (const item of element.items) {
          chunks.push(tagAndLength(ITEM, UNDEFINED_LENGTH, element.itemEncoding));
          writeDataset(chunks, item, element.itemEncoding);
          chunks.push(tagAndLength(ITEM_DELIMITER, 0, element.itemEncoding));
        }
        chunks.push(tagAndLength(SEQUENCE_DELIMITER, 0, element.itemEncoding));
        break;
    }
  }
}

function elementHeader(tag: number, vr: string, length: number, encoding: Encoding): Buffer {
  if (!encoding.explicitVr) return tagAndLength(tag, length, encoding);
  const short = SHORT_VRS.has(vr);
  const header = Buffer.alloc(short ? 8 : 12);
  writeTag(header, tag, encoding);
  header.write(vr, 4, 'latin1');
  if (short) {
    if (encoding.littleEndian) header.writeUInt16LE(length, 6);
    else header.writeUInt16BE(length, 6);
  } else if (encoding.littleEndian) header.writeUInt32LE(length, 8);
  else header.writeUInt32BE(length, 8);
  return header;
}

/** A tag and a 32-bit length: item and delimitation headers, and every implicit VR element header. */
function tagAndLength(tag: number, length: number, encoding: Encoding): Buffer {
  const header = Buffer.alloc(8);
  writeTag(header, tag, encoding);
  if (encoding.littleEndian) header.writeUInt32LE(length, 4);
  else header.writeUInt32BE(length, 4);
  return header;
}

function writeTag(header: Buffer, tag: number, encoding: Encoding): void {
  if (encoding.littleEndian) {
    header.writeUInt16LE(tag >>> 16, 0);
    header.writeUInt16LE(tag & 0xffff, 2);
  } else {
    header.writeUInt16BE(tag >>> 16, 0);
    header.writeUInt16BE(tag & 0xffff, 2);
  }
}
