import { inflateRawSync } from 'node:zlib';
import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import { decodeText, hasHighBytes, isKnownCharacterSet, looksLikeUndeclaredGb18030, sameCharacterSet, splitCharacterSetTerms } from './charset.ts';
import { vrOfTag } from './dictionary.ts';
import {
  IngestRejection,
  type BulkDataLocation,
  type CharacterSetReport,
  type DicomJsonDataset,
  type DicomJsonElement,
  type DicomJsonValue,
  type PixelDescription,
  type ParsedInstance,
} from './types.ts';

export const TRANSFER_SYNTAX = {
  implicitLittleEndian: '1.2.840.10008.1.2',
  explicitLittleEndian: '1.2.840.10008.1.2.1',
  deflatedExplicitLittleEndian: '1.2.840.10008.1.2.1.99',
  explicitBigEndian: '1.2.840.10008.1.2.2',
} as const;

/** Binary values up to this size are inlined in DICOM JSON; larger ones are bulk data by reference. */
const INLINE_BINARY_LIMIT = 64;
/** Deeper nesting than any real IOD has; protects the recursive conversion from hostile input. */
const MAX_SEQUENCE_DEPTH = 32;

const TEXT_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'UT', 'PN', 'UC']);
const SINGLE_VALUED_TEXT_VRS = new Set(['ST', 'LT', 'UT', 'UR']);
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const PIXEL_DATA_TAGS = new Set(['7FE00010', '7FE00008', '7FE00009']);
const UID_PATTERN = /^[0-9]+(\.[0-9]+)*$/;

interface Context {
  bytes: Buffer;
  littleEndian: boolean;
  /**
   * Replaces every Specific Character Set in the dataset, items included: the sender's configured
   * character set, or GB18030 detected under a wrong or missing declaration.
   */
  forcedCharset?: string[];
  bulkData: BulkDataLocation[];
}

export interface ParseOptions {
  /**
   * The character set a registered sender is known to write, whatever it declares (a PACS that
   * declares ISO_IR 100 and writes GB18030): text is decoded with it, and no detection runs.
   */
  characterSetOverride?: string;
  /**
   * The whole object's size, when `part10` is only its beginning (a C-STORE written to the object
   * store as it arrived): what holdsHeader accepted, ending somewhere in the pixels.
   */
  objectLength?: number;
}

/** Parsing ends at the Pixel Data element's header: its value is located, never read, so it need not be in memory. */
const STOP_AT_PIXEL_DATA = 'x7fe00010';

/**
 * Whether `beginning`, the first bytes of a Part 10 object, holds all that parseInstance reads of it:
 * every element before the Pixel Data value. False while more is needed (or the bytes are not DICOM:
 * the whole object is then kept, and refused by parseInstance with its reason).
 */
export function holdsHeader(beginning: Buffer): boolean {
  try {
    return dicomParser.parseDicom(beginning, { ...DICOM_PARSER_OPTIONS, untilTag: STOP_AT_PIXEL_DATA }).elements[STOP_AT_PIXEL_DATA] !== undefined;
  } catch {
    return false;
  }
}

/**
 * Parses a DICOM Part 10 object once: validates what the archive needs, converts the dataset to
 * DICOM JSON (text decoded per Specific Character Set, bulk data by reference with its location),
 * and describes the pixels. Elements after the Pixel Data (trailing padding, signatures) are not
 * read, whether the object arrived whole or streamed, so both give the same metadata. Throws
 * IngestRejection with a reason a PACS administrator can act on.
 */
export function parseInstance(part10: Buffer, options: ParseOptions = {}): ParsedInstance {
  const dataSet = parseOrReject(part10);
  const transferSyntaxUid = stringOf(dataSet, 'x00020010');
  if (!transferSyntaxUid) throw new IngestRejection('malformed', 'File Meta Information has no Transfer Syntax UID (0002,0010)');
  const deflated = transferSyntaxUid === TRANSFER_SYNTAX.deflatedExplicitLittleEndian;
  const bytes = deflated ? Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset, dataSet.byteArray.byteLength) : part10;
  // A deflated object is always whole (holdsHeader cannot inflate a part of it).
  assertWithinBounds(dataSet, deflated ? bytes.length : (options.objectLength ?? bytes.length));

  const declared = stringValues(dataSet, 'x00080005', bytes);
  const { characterSet, forcedCharset } = chooseCharacterSet(dataSet, declared, options.characterSetOverride);
  const context: Context = { bytes, littleEndian: transferSyntaxUid !== TRANSFER_SYNTAX.explicitBigEndian, forcedCharset, bulkData: [] };
  const metadata = toDicomJson(dataSet, context, declared, '', 0);

  const uid = (tag: string, name: string) => {
    const value = metadata[tag]?.Value?.[0];
    if (typeof value !== 'string' || value === '') {
      throw new IngestRejection('missing-attribute', `${name} (${tag.slice(0, 4)},${tag.slice(4)}) is missing or empty`);
    }
    if (value.length > 64 || !UID_PATTERN.test(value)) {
      throw new IngestRejection('malformed', `${name} (${tag.slice(0, 4)},${tag.slice(4)}) is not a valid UID: ${JSON.stringify(value.slice(0, 80))}`);
    }
    return value;
  };
  const parsed: ParsedInstance = {
    transferSyntaxUid,
    sopClassUid: uid('00080016', 'SOP Class UID'),
    sopInstanceUid: uid('00080018', 'SOP Instance UID'),
    studyInstanceUid: uid('0020000D', 'Study Instance UID'),
    seriesInstanceUid: uid('0020000E', 'Series Instance UID'),
    datasetOffset: datasetOffsetOf(dataSet),
    metadata,
    bulkData: context.bulkData,
    characterSet,
    pixel: describePixels(dataSet),
    deflated,
  };
  if (!UID_PATTERN.test(transferSyntaxUid) || transferSyntaxUid.length > 64) {
    throw new IngestRejection('malformed', `Transfer Syntax UID ${JSON.stringify(transferSyntaxUid)} is not a valid UID`);
  }
  return parsed;
}

/**
 * A bare dataset in Implicit or Explicit VR Little Endian, without preamble or File Meta (a C-FIND
 * identifier, an N-ACTION's information), converted to DICOM JSON as parseInstance converts an
 * instance: text decoded per its Specific Character Set or the sender's override, sequences
 * walked. Throws IngestRejection ('malformed') when the bytes are not a dataset.
 */
export function parseDataset(bytes: Buffer, explicitVr: boolean, characterSetOverride?: string): DicomJsonDataset {
  // No elements is a dataset too (an empty C-FIND identifier), and dicom-parser's ByteStream throws a bare string on it.
  if (bytes.length === 0) return {};
  const parser = dicomParser as unknown as {
    ByteStream: new (parser: dicomParser.ByteArrayParser, bytes: Uint8Array, position: number) => dicomParser.ByteStream;
    DataSet: new (parser: dicomParser.ByteArrayParser, bytes: Uint8Array, elements: Record<string, Element>) => DataSet;
  };
  const byteStream = new parser.ByteStream(dicomParser.littleEndianByteArrayParser, bytes, 0);
  const dataSet = new parser.DataSet(byteStream.byteArrayParser, byteStream.byteArray as Uint8Array, {});
  try {
    if (explicitVr) dicomParser.parseDicomDataSetExplicit(dataSet, byteStream, bytes.length);
    else dicomParser.parseDicomDataSetImplicit(dataSet, byteStream, bytes.length, { untilTag: '', vrCallback: DICOM_PARSER_OPTIONS.vrCallback as (tag: string) => string });
  } catch (error) {
    throw new IngestRejection('malformed', `cannot parse the dataset: ${describeParserError(error)}`, { cause: error });
  }
  assertWithinBounds(dataSet, bytes.length);
  const declared = stringValues(dataSet, 'x00080005', bytes);
  const { forcedCharset } = chooseCharacterSet(dataSet, declared, characterSetOverride);
  return toDicomJson(dataSet, { bytes, littleEndian: true, forcedCharset, bulkData: [] }, declared, '', 0);
}

/** Which character set text is decoded with, and the receipt's record of why. */
function chooseCharacterSet(
  dataSet: DataSet,
  declared: string[],
  override: string | undefined,
): { characterSet: CharacterSetReport; forcedCharset?: string[] } {
  const characterSet: CharacterSetReport = { declared };
  const declaredText = declared.length ? declared.join('\\') : 'absent';
  if (override !== undefined && override.trim() !== '') {
    const terms = splitCharacterSetTerms(override);
    // A sender that declares what it is configured for needs no repair, nor a warning per instance.
    if (sameCharacterSet(terms, declared)) return { characterSet, forcedCharset: terms };
    characterSet.note = isKnownCharacterSet(terms)
      ? `decoded as ${terms.join('\\')}, the sender's configured character set (override); Specific Character Set is ${declaredText}`
      : `the sender's configured character set ${JSON.stringify(override)} is not one we know; decoded as Latin-1 (Specific Character Set is ${declaredText})`;
    return { characterSet, forcedCharset: terms };
  }
  const highByteValues: Uint8Array[] = [];
  collectHighByteText(dataSet, highByteValues, 0);
  if (looksLikeUndeclaredGb18030(declared, highByteValues)) {
    characterSet.detected = 'GB18030';
    characterSet.note = `text is GB18030 but Specific Character Set is ${declaredText}; decoded as GB18030`;
    return { characterSet, forcedCharset: ['GB18030'] };
  }
  if (declared[0]?.trim().toUpperCase().replace(/[\s-]+/g, '_') === 'ISO_IR_192' && highByteValues.some((value) => !isValidUtf8(value))) {
    characterSet.note = 'Specific Character Set is ISO_IR 192 but some text is not valid UTF-8; invalid bytes were replaced';
  }
  return { characterSet };
}

/**
 * How dicom-parser reads what we receive: the dictionary gives implicit-VR elements their VR (so
 * sequences are walked), and deflated datasets are inflated. Tests read outputs the same way.
 */
export const DICOM_PARSER_OPTIONS = {
  vrCallback: (tag: string) => vrOfTag(tag.slice(1).toUpperCase()),
  inflater: (array: Uint8Array, position: number) => {
    const inflated = inflateRawSync(array.subarray(position));
    const whole = new Uint8Array(position + inflated.length);
    whole.set(array.subarray(0, position), 0);
    whole.set(inflated, position);
    return whole;
  },
} as dicomParser.ParseDicomOptions;

function parseOrReject(part10: Buffer): DataSet {
  if (part10.length < 132 || part10.toString('latin1', 128, 132) !== 'DICM') {
    throw new IngestRejection('malformed', 'not a DICOM Part 10 file: no "DICM" prefix after the 128-byte preamble');
  }
  try {
    return dicomParser.parseDicom(part10, { ...DICOM_PARSER_OPTIONS, untilTag: STOP_AT_PIXEL_DATA });
  } catch (error) {
    throw new IngestRejection('malformed', `cannot parse the dataset: ${describeParserError(error)}`, { cause: error });
  }
}

/** dicom-parser throws strings, objects with `exception`, or Errors. */
function describeParserError(error: unknown): string {
  if (typeof error === 'string') return error.replace(/^dicomParser\.\w+: /, '');
  if (error && typeof error === 'object' && 'exception' in error) return String((error as { exception: unknown }).exception);
  if (error instanceof RangeError) return 'structure too deeply nested or too large';
  return error instanceof Error ? error.message : String(error);
}

function assertWithinBounds(dataSet: DataSet, size: number, depth = 0): void {
  for (const element of Object.values(dataSet.elements)) {
    if (!element.hadUndefinedLength && element.dataOffset + element.length > size) {
      throw new IngestRejection(
        'malformed',
        `truncated: ${formatTag(element.tag)} declares ${element.length} bytes at offset ${element.dataOffset}, but the data ends at ${size}`,
      );
    }
    if (depth < MAX_SEQUENCE_DEPTH) for (const item of element.items ?? []) if (item.dataSet) assertWithinBounds(item.dataSet, size, depth + 1);
  }
}

function formatTag(tag: string): string {
  const hex = tag.replace(/^x/, '').toUpperCase();
  return `(${hex.slice(0, 4)},${hex.slice(4)})`;
}

function datasetOffsetOf(dataSet: DataSet): number {
  let end = 132;
  for (const [key, element] of Object.entries(dataSet.elements)) {
    if (key.startsWith('x0002')) end = Math.max(end, element.dataOffset + element.length);
  }
  return end;
}

function vrOf(element: Element, tag: string): string {
  return element.vr ?? vrOfTag(tag) ?? (element.items ? 'SQ' : 'UN');
}

function collectHighByteText(dataSet: DataSet, into: Uint8Array[], depth: number): void {
  if (depth > MAX_SEQUENCE_DEPTH) return;
  for (const [key, element] of Object.entries(dataSet.elements)) {
    const tag = key.slice(1).toUpperCase();
    if (element.items) {
      for (const item of element.items) if (item.dataSet) collectHighByteText(item.dataSet, into, depth + 1);
      continue;
    }
    if (!TEXT_VRS.has(vrOf(element, tag))) continue;
    const value = dataSet.byteArray.subarray(element.dataOffset, element.dataOffset + element.length);
    if (hasHighBytes(value)) into.push(value);
  }
}

function isValidUtf8(bytes: Uint8Array): boolean {
  try {
    new TextDecoder('utf-8', { fatal: true }).decode(bytes);
    return true;
  } catch {
    return false;
  }
}

function toDicomJson(dataSet: DataSet, context: Context, inheritedCharset: string[], pathPrefix: string, depth: number): DicomJsonDataset {
  if (depth > MAX_SEQUENCE_DEPTH) throw new IngestRejection('malformed', `sequences nested deeper than ${MAX_SEQUENCE_DEPTH} levels`);
  // An item may declare its own Specific Character Set; otherwise it inherits its parent's.
  const ownCharset = depth > 0 && dataSet.elements.x00080005 ? stringValues(dataSet, 'x00080005', context.bytes) : undefined;
  const charset = context.forcedCharset ?? ownCharset ?? inheritedCharset;
  const json: DicomJsonDataset = {};
  for (const [key, element] of Object.entries(dataSet.elements)) {
    const tag = key.slice(1).toUpperCase();
    // File Meta belongs to the file, not the dataset; group lengths are retired and meaningless in JSON.
    if (tag.startsWith('0002') || tag.endsWith('0000') || tag.startsWith('FFFE')) continue;
    const vr = vrOf(element, tag);
    json[tag] = toElement(dataSet, element, tag, vr, context, charset, pathPrefix, depth);
  }
  return json;
}

function toElement(
  dataSet: DataSet,
  element: Element,
  tag: string,
  vr: string,
  context: Context,
  charset: string[],
  pathPrefix: string,
  depth: number,
): DicomJsonElement {
  const path = `${pathPrefix}${tag}`;
  if (vr === 'SQ' || (element.items && !PIXEL_DATA_TAGS.has(tag))) {
    const items = (element.items ?? []).map((item, index) =>
      item.dataSet ? toDicomJson(item.dataSet, context, charset, `${path}.${index}.`, depth + 1) : {},
    );
    return items.length ? { vr: 'SQ', Value: items } : { vr: 'SQ' };
  }
  if (PIXEL_DATA_TAGS.has(tag) || (BINARY_VRS.has(vr) && element.length > INLINE_BINARY_LIMIT)) {
    const encapsulated = element.encapsulatedPixelData === true || (element.hadUndefinedLength === true && PIXEL_DATA_TAGS.has(tag));
    context.bulkData.push({ path, vr, offset: element.dataOffset, length: encapsulated ? -1 : element.length });
    return { vr, BulkDataURI: `bulkdata/${path}` };
  }
  const bytes = context.bytes.subarray(element.dataOffset, element.dataOffset + element.length);
  if (element.length === 0) return { vr };
  if (BINARY_VRS.has(vr)) return { vr, InlineBinary: bytes.toString('base64') };
  const values = decodeValues(bytes, vr, context.littleEndian, charset);
  return values.length === 0 || values.every((value) => value === null) ? { vr } : { vr, Value: values };
}

function decodeValues(bytes: Buffer, vr: string, littleEndian: boolean, charset: string[]): DicomJsonValue[] {
  switch (vr) {
    case 'US':
      return readNumbers(bytes, 2, (offset) => (littleEndian ? bytes.readUInt16LE(offset) : bytes.readUInt16BE(offset)));
    case 'SS':
      return readNumbers(bytes, 2, (offset) => (littleEndian ? bytes.readInt16LE(offset) : bytes.readInt16BE(offset)));
    case 'UL':
      return readNumbers(bytes, 4, (offset) => (littleEndian ? bytes.readUInt32LE(offset) : bytes.readUInt32BE(offset)));
    case 'SL':
      return readNumbers(bytes, 4, (offset) => (littleEndian ? bytes.readInt32LE(offset) : bytes.readInt32BE(offset)));
    case 'FL':
      return readNumbers(bytes, 4, (offset) => (littleEndian ? bytes.readFloatLE(offset) : bytes.readFloatBE(offset)));
    case 'FD':
      return readNumbers(bytes, 8, (offset) => (littleEndian ? bytes.readDoubleLE(offset) : bytes.readDoubleBE(offset)));
    case 'SV':
    case 'UV':
      // 64-bit integers beyond 2^53 would lose precision as JSON numbers: PS3.18 F.2.3.1 allows strings.
      return readNumbers(bytes, 8, (offset) => {
        const value = vr === 'SV' ? (littleEndian ? bytes.readBigInt64LE(offset) : bytes.readBigInt64BE(offset)) : littleEndian ? bytes.readBigUInt64LE(offset) : bytes.readBigUInt64BE(offset);
        return value >= BigInt(Number.MIN_SAFE_INTEGER) && value <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(value) : value.toString();
      });
    case 'AT':
      return readNumbers(bytes, 4, (offset) => {
        const group = littleEndian ? bytes.readUInt16LE(offset) : bytes.readUInt16BE(offset);
        const elementNumber = littleEndian ? bytes.readUInt16LE(offset + 2) : bytes.readUInt16BE(offset + 2);
        return `${group.toString(16).padStart(4, '0')}${elementNumber.toString(16).padStart(4, '0')}`.toUpperCase();
      });
    case 'PN':
      return splitValues(decodeText(bytes, charset, 'person-name'), vr).map((value) => (value === null ? null : personName(value)));
    case 'DS':
    case 'IS':
      return splitValues(bytes.toString('latin1'), vr).map((value) => {
        if (value === null) return null;
        const number = Number(value);
        // PS3.18 wants numbers; a malformed value is kept as sent rather than lost.
        return Number.isFinite(number) ? number : value;
      });
    default: {
      const text = TEXT_VRS.has(vr) ? decodeText(bytes, charset, 'text') : bytes.toString('latin1');
      return splitValues(text, vr);
    }
  }
}

function readNumbers(bytes: Buffer, size: number, read: (offset: number) => number | string): Array<number | string> {
  const values: Array<number | string> = [];
  for (let offset = 0; offset + size <= bytes.length; offset += size) values.push(read(offset));
  return values;
}

/** Splits on backslash (except for single-valued VRs) and trims per PS3.5 6.2: padding is not content. */
function splitValues(text: string, vr: string): Array<string | null> {
  const raw = SINGLE_VALUED_TEXT_VRS.has(vr) ? [text] : text.split('\\');
  return raw.map((value) => {
    let trimmed: string;
    if (vr === 'UI') trimmed = value.replace(/[\0 ]+$/, '');
    else if (vr === 'ST' || vr === 'LT' || vr === 'UT' || vr === 'UR') trimmed = value.replace(/[\0 ]+$/, '');
    else trimmed = value.replace(/^ +/, '').replace(/[\0 ]+$/, '');
    return trimmed === '' ? null : trimmed;
  });
}

function personName(value: string): DicomJsonValue {
  const [alphabetic, ideographic, phonetic] = value.split('=');
  const name: { Alphabetic?: string; Ideographic?: string; Phonetic?: string } = {};
  if (alphabetic) name.Alphabetic = alphabetic.replace(/\^+$/, '');
  if (ideographic) name.Ideographic = ideographic.replace(/\^+$/, '');
  if (phonetic) name.Phonetic = phonetic.replace(/\^+$/, '');
  return name;
}

function stringOf(dataSet: DataSet, key: string): string | undefined {
  const element = dataSet.elements[key];
  if (!element || element.length === 0) return undefined;
  return Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset + element.dataOffset, element.length)
    .toString('latin1')
    .replace(/[\0 ]+$/, '')
    .trim();
}

function stringValues(dataSet: DataSet, key: string, bytes: Buffer): string[] {
  const element = dataSet.elements[key];
  if (!element || element.length === 0) return [];
  return bytes
    .toString('latin1', element.dataOffset, element.dataOffset + element.length)
    .split('\\')
    .map((value) => value.trim());
}

function describePixels(dataSet: DataSet): PixelDescription | undefined {
  const pixelData = dataSet.elements.x7fe00010 ?? dataSet.elements.x7fe00008 ?? dataSet.elements.x7fe00009;
  if (!pixelData) return undefined;
  const number = (key: string, fallback: number) => dataSet.uint16(key) ?? fallback;
  const frames = Number.parseInt(dataSet.string('x00280008') ?? '1', 10);
  return {
    rows: number('x00280010', 0),
    columns: number('x00280011', 0),
    numberOfFrames: Number.isFinite(frames) && frames > 0 ? frames : 1,
    samplesPerPixel: number('x00280002', 1),
    bitsAllocated: number('x00280100', 16),
    bitsStored: number('x00280101', number('x00280100', 16)),
    highBit: number('x00280102', number('x00280101', 16) - 1),
    pixelRepresentation: number('x00280103', 0),
    photometricInterpretation: dataSet.string('x00280004')?.trim() ?? 'MONOCHROME2',
    planarConfiguration: number('x00280006', 0),
    encapsulated: pixelData.encapsulatedPixelData === true || pixelData.hadUndefinedLength === true,
  };
}
