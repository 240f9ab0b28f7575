import dicomParser, { type DataSet, type Element } from 'dicom-parser';
import type { StoredInstance } from '../db/retrieve-repository.ts';
import { DICOM_PARSER_OPTIONS, parseInstance } from '../dicom/parse.ts';
import { FrameReader } from './frames.ts';
import { isDecodableTransferSyntax, TRANSFER_SYNTAX } from './transfer-syntaxes.ts';

/**
 * Transcoding for DIMSE retrieval (C-MOVE, C-GET): an instance goes as stored when the destination
 * accepted its transfer syntax, otherwise in Explicit or Implicit VR Little Endian, which every
 * destination takes (PS3.5 10.1 makes Implicit VR Little Endian the default). Compressed pixels are
 * decoded with the WADO-RS frame decoders (FrameReader, dcmjs-imaging); nothing is compressed.
 */

/** The instance cannot be put in the transfer syntax asked for: the sub-operation fails with this reason. */
export class TranscodeError extends Error {
  override name = 'TranscodeError';
}

/** The uncompressed transfer syntaxes a destination may be sent, in our order of preference. */
export const UNCOMPRESSED_TARGETS = [TRANSFER_SYNTAX.explicitLittleEndian, TRANSFER_SYNTAX.implicitLittleEndian] as const;

/** Lossy JPEG (PS3.5 A.4.1): decoded pixels are still those of a lossy compression, and say so. */
const LOSSY_JPEG = new Set(['1.2.840.10008.1.2.4.50', '1.2.840.10008.1.2.4.51']);

/**
 * Colour a decoder hands back as RGB: lossy JPEG (dcmjs-imaging converts its YCbCr, as decode.ts
 * asks), and JPEG 2000's reversible and irreversible component transforms (PS3.5 8.2.4).
 */
function decodedPhotometric(transferSyntaxUid: string, photometric: string, samplesPerPixel: number): string {
  if (samplesPerPixel === 3 && (LOSSY_JPEG.has(transferSyntaxUid) || photometric === 'YBR_RCT' || photometric === 'YBR_ICT')) return 'RGB';
  return photometric;
}

/** Whether transcode() can make `target` from an object stored in `stored`. */
export function canTranscode(stored: string, target: string): boolean {
  if (!(UNCOMPRESSED_TARGETS as readonly string[]).includes(target)) return false;
  return (
    stored === TRANSFER_SYNTAX.explicitLittleEndian ||
    stored === TRANSFER_SYNTAX.implicitLittleEndian ||
    stored === TRANSFER_SYNTAX.deflatedExplicitLittleEndian ||
    isDecodableTransferSyntax(stored)
  );
}

/** A replacement value for a top-level element; null removes the element. */
type Override = { vr: string; value: Buffer } | null;

/**
 * The dataset of a stored Part 10 object (File Meta excluded) in Explicit or Implicit VR Little
 * Endian: compressed Pixel Data decoded to native pixels (Photometric Interpretation as decoded,
 * the Extended Offset Table dropped, Lossy Image Compression kept — and set to 01 for a lossy JPEG
 * source that did not say so), every other element's value as stored. Big endian sources are not
 * transcoded (nothing Yingyun receives is stored so and refused elsewhere); every other case
 * throws TranscodeError with the reason.
 */
export async function transcode(part10: Buffer, target: string): Promise<Buffer> {
  const parsed = parseInstance(part10);
  const stored = parsed.transferSyntaxUid;
  if (!canTranscode(stored, target)) throw new TranscodeError(`no transcoding from ${stored} to ${target}`);
  let dataSet: DataSet;
  try {
    dataSet = dicomParser.parseDicom(part10, DICOM_PARSER_OPTIONS);
  } catch (error) {
    throw new TranscodeError(`cannot read the stored dataset: ${String((error as { exception?: unknown }).exception ?? error)}`);
  }
  const overrides = new Map<string, Override>();
  const pixel = parsed.pixel;
  if (pixel?.encapsulated) {
    if (pixel.bitsAllocated === 1) throw new TranscodeError('1-bit encapsulated Pixel Data is not decoded');
    // The stored object in memory stands in for the object store: the same frame reader as WADO-RS frames.
    const frames = new FrameReader(
      { get: async () => part10, getRange: async (_key, offset, length) => part10.subarray(offset, offset + length) },
      { ...parsed, pixel, objectKey: '', sizeBytes: part10.length, extendedOffsetTable: parsed.metadata['7FE00001'] ?? null, extendedOffsetTableLengths: parsed.metadata['7FE00002'] ?? null, thumbnailKey: null } satisfies StoredInstance,
    );
    const decoded: Buffer[] = [];
    try {
      for (let frame = 1; frame <= pixel.numberOfFrames; frame++) decoded.push(await frames.uncompressed(frame));
    } catch (error) {
      throw new TranscodeError(`cannot decode the ${stored} Pixel Data: ${(error as Error).message}`);
    }
    overrides.set('x7fe00010', { vr: pixel.bitsAllocated > 8 ? 'OW' : 'OB', value: padded(Buffer.concat(decoded), 0x00) });
    for (const tag of ['x7fe00001', 'x7fe00002', 'x7fe00003']) overrides.set(tag, null);
    const photometric = decodedPhotometric(stored, pixel.photometricInterpretation, pixel.samplesPerPixel);
    if (photometric !== pixel.photometricInterpretation) overrides.set('x00280004', { vr: 'CS', value: padded(Buffer.from(photometric, 'latin1'), 0x20) });
    if (LOSSY_JPEG.has(stored) && !dataSet.elements.x00282110) {
      overrides.set('x00282110', { vr: 'CS', value: Buffer.from('01') });
      if (!dataSet.elements.x00282114) overrides.set('x00282114', { vr: 'CS', value: padded(Buffer.from('ISO_10918_1'), 0x20) });
    }
  }
  const bytes = Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset, dataSet.byteArray.byteLength);
  const datasetOnly = Object.fromEntries(Object.entries(dataSet.elements).filter(([tag]) => !tag.startsWith('x0002')));
  return writeDataset(bytes, datasetOnly, target === TRANSFER_SYNTAX.explicitLittleEndian, overrides);
}

/** Explicit VRs whose header has a 4-byte length (PS3.5 7.1.2). */
const LONG_VRS = new Set(['OB', 'OD', 'OF', 'OL', 'OV', 'OW', 'SQ', 'SV', 'UC', 'UN', 'UR', 'UT', 'UV']);

/**
 * Writes a dataset's elements in tag order, in Explicit or Implicit VR Little Endian: values copied
 * as they are (the source is little endian), sequences and their items re-emitted with defined
 * lengths (readers such as dicom-parser stumble on nested undefined lengths), overrides replacing,
 * removing or adding top-level elements.
 */
function writeDataset(bytes: Buffer, elements: Record<string, Element>, explicit: boolean, overrides: ReadonlyMap<string, Override> = new Map()): Buffer {
  const tags = [...new Set([...Object.keys(elements), ...overrides.keys()])].sort((a, b) => parseInt(a.slice(1), 16) - parseInt(b.slice(1), 16));
  const parts: Buffer[] = [];
  for (const tag of tags) {
    const override = overrides.get(tag);
    if (override === null) continue;
    if (override) {
      parts.push(header(tag, override.vr, override.value.length, explicit), override.value);
      continue;
    }
    const element = elements[tag]!;
    const vr = element.vr ?? 'UN';
    if (element.items) {
      const items = element.items.flatMap((item) => {
        const content = writeDataset(bytes, item.dataSet?.elements ?? {}, explicit);
        return [itemTag(content.length), content];
      });
      const value = Buffer.concat(items);
      parts.push(header(tag, 'SQ', value.length, explicit), value);
      continue;
    }
    if (element.hadUndefinedLength) throw new TranscodeError(`element ${tag.slice(1)} has an undefined length outside a sequence`);
    const value = bytes.subarray(element.dataOffset, element.dataOffset + element.length);
    // A short-form VR holds at most 65535 bytes; a longer value (possible from an implicit source) goes as UN.
    parts.push(header(tag, !LONG_VRS.has(vr) && value.length > 0xffff ? 'UN' : vr, value.length, explicit), value);
  }
  return Buffer.concat(parts);
}

function header(tag: string, vr: string, length: number, explicit: boolean): Buffer {
  const group = parseInt(tag.slice(1, 5), 16);
  const element = parseInt(tag.slice(5, 9), 16);
  if (!explicit) {
    const bytes = Buffer.alloc(8);
    bytes.writeUInt16LE(group, 0);
    bytes.writeUInt16LE(element, 2);
    bytes.writeUInt32LE(length >>> 0, 4);
    return bytes;
  }
  const long = LONG_VRS.has(vr);
  const bytes = Buffer.alloc(long ? 12 : 8);
  bytes.writeUInt16LE(group, 0);
  bytes.writeUInt16LE(element, 2);
  bytes.write(vr, 4, 'latin1');
  if (long) bytes.writeUInt32LE(length >>> 0, 8);
  else bytes.writeUInt16LE(length, 6);
  return bytes;
}

function itemTag(length: number): Buffer {
  const bytes = Buffer.alloc(8);
  bytes.writeUInt16LE(0xfffe, 0);
  bytes.writeUInt16LE(0xe000, 2);
  bytes.writeUInt32LE(length >>> 0, 4);
  return bytes;
}

/** Values have even length (PS3.5 7.1.1): text is padded with a space, binary with a zero byte. */
function padded(value: Buffer, padding: number): Buffer {
  return value.length % 2 === 0 ? value : Buffer.concat([value, Buffer.from([padding])]);
}
