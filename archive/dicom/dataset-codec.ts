import { encodeText } from './charset.ts';
import { personNameText } from './normalize.ts';
import { parseDataset, TRANSFER_SYNTAX } from './parse.ts';
import type { DicomJsonDataset, DicomJsonElement, DicomJsonPersonName } from './types.ts';

/**
 * Bare datasets (no preamble, no File Meta) as DIMSE carries them — a C-FIND identifier and its
 * responses — in Implicit or Explicit VR Little Endian, the transfer syntaxes query/retrieve
 * contexts use. Decoding is parse.ts's (the one DICOM reader, text decoded to Unicode); encoding
 * writes DICOM JSON back with the character set the dataset itself declares in Specific Character
 * Set (items may declare their own), through charset.ts's encodeText.
 *
 * Not dcmjs: its writer relabels every text as ISO_IR 192 and it throws on ISO 2022 IR 58, where
 * a Chinese PACS expects its answer in the character set it asked in.
 */

/** Transfer syntaxes this codec reads and writes. */
export const DATASET_CODEC_TRANSFER_SYNTAXES: readonly string[] = [TRANSFER_SYNTAX.explicitLittleEndian, TRANSFER_SYNTAX.implicitLittleEndian];

export function decodeDataset(bytes: Buffer, transferSyntaxUid: string, characterSetOverride?: string): DicomJsonDataset {
  return parseDataset(bytes, explicitVr(transferSyntaxUid), characterSetOverride);
}

/**
 * Encodes a DICOM JSON dataset, elements in tag order. Elements held by reference (BulkDataURI)
 * are left out: a bare dataset has nowhere to point. Throws UnencodableText (charset.ts) when a
 * text value cannot be written in the declared character set.
 */
export function encodeDataset(dataset: DicomJsonDataset, transferSyntaxUid: string): Buffer {
  return encodeItem(dataset, explicitVr(transferSyntaxUid), []);
}

function explicitVr(transferSyntaxUid: string): boolean {
  if (transferSyntaxUid === TRANSFER_SYNTAX.explicitLittleEndian) return true;
  if (transferSyntaxUid === TRANSFER_SYNTAX.implicitLittleEndian) return false;
  throw new Error(`the dataset codec reads and writes Implicit and Explicit VR Little Endian only, not ${transferSyntaxUid}`);
}

/** Text VRs whose bytes follow Specific Character Set (PS3.5 6.1.2.3); the rest are ASCII. */
const TEXT_VRS = new Set(['SH', 'LO', 'ST', 'LT', 'UT', 'UC', 'PN']);
/** Explicit VR elements with a 32-bit length after two reserved bytes (PS3.5 7.1.2). */
const LONG_LENGTH_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'UC', 'UN', 'UR', 'UT', 'SV', 'UV']);
const BINARY_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'UN']);
const NUMBER_WRITERS: Record<string, { size: number; write: (buffer: Buffer, value: number, offset: number) => void }> = {
  US: { size: 2, write: (buffer, value, offset) => buffer.writeUInt16LE(value, offset) },
  SS: { size: 2, write: (buffer, value, offset) => buffer.writeInt16LE(value, offset) },
  UL: { size: 4, write: (buffer, value, offset) => buffer.writeUInt32LE(value, offset) },
  SL: { size: 4, write: (buffer, value, offset) => buffer.writeInt32LE(value, offset) },
  FL: { size: 4, write: (buffer, value, offset) => buffer.writeFloatLE(value, offset) },
  FD: { size: 8, write: (buffer, value, offset) => buffer.writeDoubleLE(value, offset) },
};

function encodeItem(dataset: DicomJsonDataset, explicit: boolean, inheritedCharset: readonly string[]): Buffer {
  const declared = dataset['00080005']?.Value;
  const charset = declared ? declared.map((term) => (typeof term === 'string' ? term : '')) : inheritedCharset;
  const parts: Buffer[] = [];
  for (const tag of Object.keys(dataset).sort()) {
    const element = dataset[tag]!;
    if (element.BulkDataURI !== undefined) continue;
    parts.push(encodeElement(tag, element, explicit, charset));
  }
  return Buffer.concat(parts);
}

function encodeElement(tag: string, element: DicomJsonElement, explicit: boolean, charset: readonly string[]): Buffer {
  const vr = element.vr;
  const value = vr === 'SQ' ? encodeSequence(element, explicit, charset) : valueBytes(element, charset);
  const group = Number.parseInt(tag.slice(0, 4), 16);
  const number = Number.parseInt(tag.slice(4), 16);
  let header: Buffer;
  if (!explicit) {
    header = Buffer.alloc(8);
    header.writeUInt32LE(value.length, 4);
  } else if (LONG_LENGTH_VRS.has(vr)) {
    header = Buffer.alloc(12);
    header.write(vr, 4, 'latin1');
    header.writeUInt32LE(value.length, 8);
  } else {
    if (value.length > 0xffff) throw new Error(`(${tag.slice(0, 4)},${tag.slice(4)}) ${vr} value of ${value.length} bytes exceeds its 16-bit length`);
    header = Buffer.alloc(8);
    header.write(vr, 4, 'latin1');
    header.writeUInt16LE(value.length, 6);
  }
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(number, 2);
  return Buffer.concat([header, value]);
}

/** Items of defined length: simpler for every reader than delimiters, and the size is known anyway. */
function encodeSequence(element: DicomJsonElement, explicit: boolean, charset: readonly string[]): Buffer {
  const items = (element.Value ?? []).map((item) => {
    const content = encodeItem((item ?? {}) as DicomJsonDataset, explicit, charset);
    const header = Buffer.alloc(8);
    header.writeUInt16LE(0xfffe, 0);
    header.writeUInt16LE(0xe000, 2);
    header.writeUInt32LE(content.length, 4);
    return Buffer.concat([header, content]);
  });
  return Buffer.concat(items);
}

function valueBytes(element: DicomJsonElement, charset: readonly string[]): Buffer {
  const { vr } = element;
  if (BINARY_VRS.has(vr)) return pad(element.InlineBinary ? Buffer.from(element.InlineBinary, 'base64') : Buffer.alloc(0), 0x00);
  const values = element.Value ?? [];
  const writer = NUMBER_WRITERS[vr];
  if (writer) {
    const buffer = Buffer.alloc(writer.size * values.length);
    values.forEach((value, index) => writer.write(buffer, Number(value), index * writer.size));
    return buffer;
  }
  if (vr === 'SV' || vr === 'UV') {
    const buffer = Buffer.alloc(8 * values.length);
    values.forEach((value, index) => (vr === 'SV' ? buffer.writeBigInt64LE(BigInt(value as number | string), index * 8) : buffer.writeBigUInt64LE(BigInt(value as number | string), index * 8)));
    return buffer;
  }
  if (vr === 'AT') {
    const buffer = Buffer.alloc(4 * values.length);
    values.forEach((value, index) => {
      const tag = String(value);
      buffer.writeUInt16LE(Number.parseInt(tag.slice(0, 4), 16), index * 4);
      buffer.writeUInt16LE(Number.parseInt(tag.slice(4), 16), index * 4 + 2);
    });
    return buffer;
  }
  const text = values
    .map((value) => {
      if (value === null || value === undefined) return '';
      if (vr === 'PN' && typeof value === 'object') return personNameText(value as DicomJsonPersonName);
      if (vr === 'DS' && typeof value === 'number') return decimalString(value);
      return String(value);
    })
    .join('\\');
  if (TEXT_VRS.has(vr)) return pad(encodeText(text, charset, vr === 'PN' ? 'person-name' : 'text'), 0x20);
  if (vr === 'UI') return pad(Buffer.from(text, 'latin1'), 0x00);
  return pad(encodeText(text, [], 'text'), 0x20);
}

/** DS holds at most 16 characters (PS3.5 6.2): a JSON number with more digits is rounded to fit. */
function decimalString(value: number): string {
  const text = String(value);
  if (text.length <= 16) return text;
  for (let digits = 15; digits > 1; digits--) {
    const rounded = String(Number(value.toPrecision(digits)));
    if (rounded.length <= 16) return rounded;
  }
  return value.toExponential(8);
}

function pad(bytes: Buffer, filler: number): Buffer {
  return bytes.length % 2 === 0 ? bytes : Buffer.concat([bytes, Buffer.from([filler])]);
}

