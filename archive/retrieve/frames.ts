import { inflateRawSync } from 'node:zlib';
import type { ObjectStore } from '../storage/object-store.ts';
import type { StoredInstance } from '../db/retrieve-repository.ts';

export const NATIVE_TRANSFER_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.1.99', '1.2.840.10008.1.2.2']);
export const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** PS3.18 Table 8.7.3-5: the media type of a compressed frame of each transfer syntax. */
export function mediaTypeOfTransferSyntax(transferSyntaxUid: string): string {
  if (/^1\.2\.840\.10008\.1\.2\.4\.(50|51|57|70)$/.test(transferSyntaxUid)) return 'image/jpeg';
  if (/^1\.2\.840\.10008\.1\.2\.4\.(80|81)$/.test(transferSyntaxUid)) return 'image/jls';
  if (/^1\.2\.840\.10008\.1\.2\.4\.(90|91)$/.test(transferSyntaxUid)) return 'image/jp2';
  if (/^1\.2\.840\.10008\.1\.2\.4\.(92|93)$/.test(transferSyntaxUid)) return 'image/jpx';
  if (/^1\.2\.840\.10008\.1\.2\.4\.20[1-3]$/.test(transferSyntaxUid)) return 'image/jphc';
  if (/^1\.2\.840\.10008\.1\.2\.4\.11[0-2]$/.test(transferSyntaxUid)) return 'image/jxl';
  if (transferSyntaxUid === '1.2.840.10008.1.2.5') return 'image/dicom-rle';
  if (/^1\.2\.840\.10008\.1\.2\.4\.10[01]$/.test(transferSyntaxUid)) return 'video/mpeg';
  if (/^1\.2\.840\.10008\.1\.2\.4\.10[2-6]$/.test(transferSyntaxUid)) return 'video/mp4';
  if (/^1\.2\.840\.10008\.1\.2\.4\.10[78]$/.test(transferSyntaxUid)) return 'video/H265';
  return 'application/octet-stream';
}

export class FrameError extends Error {}

/**
 * The bytes of the requested frames (1-based) of an instance as stored: native pixel data sliced per
 * frame (big endian swapped to little endian, deflated inflated), or each frame's encapsulated
 * fragments joined, for compressed transfer syntaxes.
 */
export async function readFrames(store: ObjectStore, instance: StoredInstance, frameNumbers: number[]): Promise<Buffer[]> {
  const pixel = instance.pixel;
  const location = instance.bulkData.find((bulk) => bulk.path === '7FE00010');
  if (!pixel || !location) throw new FrameError('the instance has no Pixel Data');
  for (const frame of frameNumbers) {
    if (frame < 1 || frame > pixel.numberOfFrames) throw new FrameError(`frame ${frame} does not exist; the instance has ${pixel.numberOfFrames}`);
  }
  const source = instance.deflated ? await inflatedObject(store, instance) : undefined;
  const read = (offset: number, length: number) =>
    source ? Promise.resolve(source.subarray(offset, offset + length)) : store.getRange(instance.objectKey, offset, length);

  if (!pixel.encapsulated) {
    const frameLength = Math.ceil((pixel.rows * pixel.columns * pixel.samplesPerPixel * pixel.bitsAllocated) / 8);
    return Promise.all(
      frameNumbers.map(async (frame) => {
        const bytes = Buffer.from(await read(location.offset + (frame - 1) * frameLength, frameLength));
        if (instance.transferSyntaxUid === '1.2.840.10008.1.2.2' && pixel.bitsAllocated > 8) swapToLittleEndian(bytes, pixel.bitsAllocated / 8);
        return bytes;
      }),
    );
  }
  const end = source ? source.length : instance.sizeBytes;
  const encapsulated = await read(location.offset, end - location.offset);
  const { offsetTable, fragments } = parseFragments(encapsulated);
  const frames = groupFragmentsIntoFrames(offsetTable, fragments, pixel.numberOfFrames);
  return frameNumbers.map((frame) => {
    const parts = frames[frame - 1];
    if (!parts) throw new FrameError(`cannot locate frame ${frame} among ${fragments.length} fragments`);
    return Buffer.concat(parts.map((fragment) => fragment.bytes));
  });
}

interface Fragment {
  /** Offset of the fragment's item tag from the first fragment's item tag (Basic Offset Table units). */
  position: number;
  bytes: Buffer;
}

/** Items of encapsulated Pixel Data (PS3.5 A.4): the Basic Offset Table, then the fragments. */
export function parseFragments(value: Buffer): { offsetTable: number[]; fragments: Fragment[] } {
  const items: Array<{ position: number; bytes: Buffer }> = [];
  let offset = 0;
  while (offset + 8 <= value.length) {
    const group = value.readUInt16LE(offset);
    const element = value.readUInt16LE(offset + 2);
    const length = value.readUInt32LE(offset + 4);
    if (group !== 0xfffe) throw new FrameError(`unexpected tag in encapsulated Pixel Data at +${offset}`);
    if (element === 0xe0dd) break;
    if (element !== 0xe000 || offset + 8 + length > value.length) throw new FrameError('encapsulated Pixel Data is truncated');
    items.push({ position: offset, bytes: value.subarray(offset + 8, offset + 8 + length) });
    offset += 8 + length;
  }
  const [table, ...rest] = items;
  if (!table) throw new FrameError('encapsulated Pixel Data has no items');
  const offsetTable: number[] = [];
  for (let index = 0; index + 4 <= table.bytes.length; index += 4) offsetTable.push(table.bytes.readUInt32LE(index));
  const firstPosition = rest[0]?.position ?? 0;
  return { offsetTable, fragments: rest.map((item) => ({ position: item.position - firstPosition, bytes: item.bytes })) };
}

function groupFragmentsIntoFrames(offsetTable: number[], fragments: Fragment[], numberOfFrames: number): Fragment[][] {
  if (numberOfFrames === 1) return [fragments];
  if (offsetTable.length === numberOfFrames) {
    return offsetTable.map((start, index) => {
      const next = offsetTable[index + 1] ?? Number.POSITIVE_INFINITY;
      return fragments.filter((fragment) => fragment.position >= start && fragment.position < next);
    });
  }
  if (fragments.length === numberOfFrames) return fragments.map((fragment) => [fragment]);
  // No offset table and several fragments per frame: a new frame starts where a codestream starts
  // (JPEG SOI FFD8, JPEG 2000 SOC FF4F, JPEG 2000 JP2 box).
  const frames: Fragment[][] = [];
  for (const fragment of fragments) {
    const startsCodestream =
      fragment.bytes[0] === 0xff && (fragment.bytes[1] === 0xd8 || fragment.bytes[1] === 0x4f) ||
      fragment.bytes.subarray(4, 8).toString('latin1') === 'jP  ';
    if (startsCodestream || frames.length === 0) frames.push([fragment]);
    else frames[frames.length - 1]!.push(fragment);
  }
  return frames;
}

function swapToLittleEndian(bytes: Buffer, width: number): void {
  if (width === 2) bytes.swap16();
  else if (width === 4) bytes.swap32();
  else if (width === 8) bytes.swap64();
}

async function inflatedObject(store: ObjectStore, instance: StoredInstance): Promise<Buffer> {
  const part10 = await store.get(instance.objectKey);
  return Buffer.concat([part10.subarray(0, instance.datasetOffset), inflateRawSync(part10.subarray(instance.datasetOffset))]);
}

/** The value of a bulk data element, for /bulkdata (native values only; Pixel Data goes via frames). */
export async function readBulkValue(store: ObjectStore, instance: StoredInstance, path: string): Promise<Buffer | null> {
  const location = instance.bulkData.find((bulk) => bulk.path === path);
  if (!location || location.length < 0) return null;
  if (instance.deflated) return (await inflatedObject(store, instance)).subarray(location.offset, location.offset + location.length);
  return store.getRange(instance.objectKey, location.offset, location.length);
}
