import type { StoredInstance } from '../db/retrieve-repository.ts';
import type { BulkDataLocation, PixelDescription } from '../dicom/types.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { decodeFrame } from './decode.ts';
import { StoredObjectBytes, swapWords, wordSizeOfVr } from './stored-object.ts';
import { isNativeTransferSyntax, TRANSFER_SYNTAX } from './transfer-syntaxes.ts';

/** A frame number outside 1..Number of Frames (PS3.18 answers such a request with 400). */
export class FrameOutOfRange extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'FrameOutOfRange';
  }
}

/** The instance has no Pixel Data (a report, a waveform…), so it has no frames. */
export class NoPixelData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoPixelData';
  }
}

/** The stored Pixel Data does not hold what its attributes promise (truncated, malformed fragments). */
export class UnreadablePixelData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UnreadablePixelData';
  }
}

const ITEM = 0xe000;
const SEQUENCE_DELIMITER = 0xe0dd;

interface Item {
  /** Offset of the item tag from the start of the buffer it was parsed from. */
  position: number;
  value: Buffer;
}

/**
 * Items of encapsulated Pixel Data (PS3.5 A.4) in `bytes`, up to the Sequence Delimitation Item or the
 * end of the buffer (a region that ends where the next frame begins).
 */
function parseItems(bytes: Buffer): Item[] {
  const items: Item[] = [];
  let offset = 0;
  while (offset + 8 <= bytes.length) {
    const group = bytes.readUInt16LE(offset);
    const element = bytes.readUInt16LE(offset + 2);
    const length = bytes.readUInt32LE(offset + 4);
    if (group !== 0xfffe || (element !== ITEM && element !== SEQUENCE_DELIMITER)) {
      throw new UnreadablePixelData(`encapsulated Pixel Data has a ${hex(group)},${hex(element)} element where an item was expected`);
    }
    if (element === SEQUENCE_DELIMITER) break;
    if (offset + 8 + length > bytes.length) throw new UnreadablePixelData('an encapsulated Pixel Data fragment is truncated');
    items.push({ position: offset, value: bytes.subarray(offset + 8, offset + 8 + length) });
    offset += 8 + length;
  }
  return items;
}

function hex(value: number): string {
  return value.toString(16).toUpperCase().padStart(4, '0');
}

/** A compressed frame starts a new codestream: JPEG/JPEG-LS SOI, JPEG 2000/HTJ2K SOC, a JP2 box, JPEG XL. */
function startsCodestream(fragment: Buffer): boolean {
  if (fragment[0] === 0xff && (fragment[1] === 0xd8 || fragment[1] === 0x4f || fragment[1] === 0x0a)) return true;
  const box = fragment.toString('latin1', 4, 8);
  return box === 'jP  ' || box === 'JXL ';
}

/** Bits [firstBit, firstBit + count) of `source` (DICOM packs 1-bit pixels from the least significant bit). */
export function extractBits(source: Buffer, firstBit: number, count: number): Buffer {
  const output = Buffer.alloc(Math.ceil(count / 8));
  const byteShift = Math.floor(firstBit / 8);
  const bitShift = firstBit % 8;
  for (let index = 0; index < output.length; index++) {
    const low = source[byteShift + index] ?? 0;
    const high = source[byteShift + index + 1] ?? 0;
    output[index] = bitShift === 0 ? low : ((low >> bitShift) | (high << (8 - bitShift))) & 0xff;
  }
  const spare = output.length * 8 - count;
  if (spare > 0) output[output.length - 1]! &= 0xff >> spare;
  return output;
}

/**
 * The frames of one stored instance, read with as few and as small byte ranges as the object's
 * structure allows: a native frame is one range; a compressed frame is located by the Extended Offset
 * Table, else the Basic Offset Table, else (neither present) by one scan of the fragments, kept for
 * the other frames of the same request.
 */
export class FrameReader {
  private readonly bytes: StoredObjectBytes;
  private readonly pixel: PixelDescription;
  private readonly pixelData: BulkDataLocation;
  private layout: Promise<{ fragmentsStart: number; basicOffsetTable: number[] }> | undefined;
  private scannedFrames: Promise<Buffer[][]> | undefined;

  constructor(
    store: Pick<ObjectStore, 'get' | 'getRange'>,
    private readonly instance: StoredInstance,
  ) {
    const pixelData = instance.bulkData.find((location) => location.path === '7FE00010');
    if (!instance.pixel || !pixelData) throw new NoPixelData(`instance ${instance.sopInstanceUid} has no Pixel Data, so it has no frames`);
    this.pixel = instance.pixel;
    this.pixelData = pixelData;
    this.bytes = new StoredObjectBytes(store, instance);
  }

  get numberOfFrames(): number {
    return this.pixel.numberOfFrames;
  }

  /** Checks every number before any byte is sent, so a bad list is a 400, not a broken response. */
  assertFrames(frameNumbers: number[]): void {
    for (const frameNumber of frameNumbers) {
      if (!Number.isInteger(frameNumber) || frameNumber < 1 || frameNumber > this.pixel.numberOfFrames) {
        throw new FrameOutOfRange(`frame ${frameNumber} does not exist; instance ${this.instance.sopInstanceUid} has ${this.pixel.numberOfFrames} frame(s)`);
      }
    }
  }

  /** The frame as stored: native pixels in little endian, or the compressed bitstream of its fragments. */
  async stored(frameNumber: number): Promise<Buffer> {
    this.assertFrames([frameNumber]);
    if (isNativeTransferSyntax(this.instance.transferSyntaxUid)) return this.nativeFrame(frameNumber - 1);
    return this.encapsulatedFrame(frameNumber - 1);
  }

  /** The frame's uncompressed pixels in little endian, decoding a compressed frame. */
  async uncompressed(frameNumber: number): Promise<Buffer> {
    const stored = await this.stored(frameNumber);
    const transferSyntaxUid = this.instance.transferSyntaxUid;
    if (isNativeTransferSyntax(transferSyntaxUid) || transferSyntaxUid === TRANSFER_SYNTAX.encapsulatedUncompressed) return stored;
    return decodeFrame(this.pixel, transferSyntaxUid, stored);
  }

  private async nativeFrame(index: number): Promise<Buffer> {
    const { rows, columns, samplesPerPixel, bitsAllocated } = this.pixel;
    const frameBits = rows * columns * samplesPerPixel * bitsAllocated;
    const firstBit = index * frameBits;
    const startByte = Math.floor(firstBit / 8);
    const endByte = Math.ceil((firstBit + frameBits) / 8);
    if (endByte > this.pixelData.length) {
      throw new UnreadablePixelData(`Pixel Data holds ${this.pixelData.length} bytes, too few for frame ${index + 1} of ${rows}×${columns}×${samplesPerPixel} at ${bitsAllocated} bits`);
    }
    // Big endian pixel cells are swapped whole (as wide as Bits Allocated; 8-bit samples in OW come
    // in swapped pairs), so the range is widened to whole cells first.
    const wordSize =
      this.instance.transferSyntaxUid !== TRANSFER_SYNTAX.explicitBigEndian ? 1 : bitsAllocated > 8 ? bitsAllocated / 8 : wordSizeOfVr(this.pixelData.vr);
    const readStart = startByte - (startByte % wordSize);
    const readEnd = Math.min(this.pixelData.length, Math.ceil(endByte / wordSize) * wordSize);
    const bytes = Buffer.from(await this.bytes.range(this.pixelData.offset + readStart, readEnd - readStart));
    if (wordSize > 1) swapWords(bytes, wordSize);
    if (bitsAllocated === 1) return extractBits(bytes, firstBit - readStart * 8, frameBits);
    return bytes.subarray(startByte - readStart, endByte - readStart);
  }

  private async encapsulatedFrame(index: number): Promise<Buffer> {
    const { fragmentsStart, basicOffsetTable } = await this.readLayout();
    const frames = this.pixel.numberOfFrames;
    const extended = await this.extendedOffsetTable();
    if (extended && extended.offsets.length === frames && extended.lengths.length === frames) {
      // With an Extended Offset Table each frame is exactly one fragment (PS3.5 A.4).
      const item = await this.bytes.range(fragmentsStart + extended.offsets[index]!, 8 + extended.lengths[index]!);
      return Buffer.concat(parseItems(item).map((fragment) => fragment.value));
    }
    if (frames === 1) return Buffer.concat(parseItems(await this.bytes.rest(fragmentsStart)).map((fragment) => fragment.value));
    if (basicOffsetTable.length === frames) {
      const start = fragmentsStart + basicOffsetTable[index]!;
      const next = basicOffsetTable[index + 1];
      const region = next === undefined ? await this.bytes.rest(start) : await this.bytes.range(start, fragmentsStart + next - start);
      return Buffer.concat(parseItems(region).map((fragment) => fragment.value));
    }
    this.scannedFrames ??= this.scanFrames(fragmentsStart);
    return Buffer.concat((await this.scannedFrames)[index]!);
  }

  /** The Basic Offset Table item and where the first fragment's item tag is. */
  private readLayout(): Promise<{ fragmentsStart: number; basicOffsetTable: number[] }> {
    this.layout ??= (async () => {
      const expectedTableLength = 4 * this.pixel.numberOfFrames;
      // One read that holds a table of the expected size; another only if the table is not that size.
      let head = await this.bytes.range(this.pixelData.offset, 8 + expectedTableLength);
      if (head.length < 8 || head.readUInt16LE(0) !== 0xfffe || head.readUInt16LE(2) !== ITEM) {
        throw new UnreadablePixelData('encapsulated Pixel Data does not start with the Basic Offset Table item');
      }
      const tableLength = head.readUInt32LE(4);
      if (tableLength > expectedTableLength) head = await this.bytes.range(this.pixelData.offset, 8 + tableLength);
      const basicOffsetTable: number[] = [];
      for (let offset = 8; offset + 4 <= 8 + tableLength && offset + 4 <= head.length; offset += 4) basicOffsetTable.push(head.readUInt32LE(offset));
      return { fragmentsStart: this.pixelData.offset + 8 + tableLength, basicOffsetTable };
    })();
    return this.layout;
  }

  /** Extended Offset Table (7FE0,0001) and Lengths (7FE0,0002): 64-bit values, inline or bulk data. */
  private async extendedOffsetTable(): Promise<{ offsets: number[]; lengths: number[] } | null> {
    const read = async (tag: string, element: StoredInstance['extendedOffsetTable']): Promise<number[] | null> => {
      if (!element) return null;
      let bytes: Buffer | undefined;
      if (element.InlineBinary) bytes = Buffer.from(element.InlineBinary, 'base64');
      else {
        const location = this.instance.bulkData.find((bulk) => bulk.path === tag);
        if (location) bytes = await this.bytes.range(location.offset, location.length);
      }
      if (!bytes) return null;
      const values: number[] = [];
      for (let offset = 0; offset + 8 <= bytes.length; offset += 8) values.push(Number(bytes.readBigUInt64LE(offset)));
      return values;
    };
    const offsets = await read('7FE00001', this.instance.extendedOffsetTable);
    const lengths = await read('7FE00002', this.instance.extendedOffsetTableLengths);
    return offsets && lengths ? { offsets, lengths } : null;
  }

  /**
   * Without offset tables: one fragment per frame when the counts agree (RLE always, most others
   * usually), else frames begin where a fragment begins a codestream.
   */
  private async scanFrames(fragmentsStart: number): Promise<Buffer[][]> {
    const fragments = parseItems(await this.bytes.rest(fragmentsStart)).map((item) => item.value);
    const frames = this.pixel.numberOfFrames;
    if (fragments.length === frames) return fragments.map((fragment) => [fragment]);
    const grouped: Buffer[][] = [];
    for (const fragment of fragments) {
      if (grouped.length === 0 || startsCodestream(fragment)) grouped.push([fragment]);
      else grouped[grouped.length - 1]!.push(fragment);
    }
    if (grouped.length !== frames) {
      throw new UnreadablePixelData(`cannot tell ${frames} frames apart among ${fragments.length} fragments: there is no offset table`);
    }
    return grouped;
  }
}

