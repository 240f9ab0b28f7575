import { inflateRawSync } from 'node:zlib';
import type { StoredInstance } from '../db/retrieve-repository.ts';
import type { ObjectStore } from '../storage/object-store.ts';

/**
 * Byte ranges of one stored Part 10 object, at the offsets the parser recorded at ingest. Ranges are
 * read from the object store; a deflated dataset is inflated once (its offsets refer to the
 * inflated bytes), since a range of a deflate stream cannot be read on its own.
 */
export class StoredObjectBytes {
  private inflated: Promise<Buffer> | undefined;

  constructor(
    private readonly store: Pick<ObjectStore, 'get' | 'getRange'>,
    private readonly instance: Pick<StoredInstance, 'objectKey' | 'deflated' | 'datasetOffset' | 'sizeBytes'>,
  ) {}

  async range(offset: number, length: number): Promise<Buffer> {
    if (this.instance.deflated) {
      const whole = await this.inflate();
      return whole.subarray(offset, offset + length);
    }
    const end = Math.min(offset + length, this.instance.sizeBytes);
    if (end <= offset) return Buffer.alloc(0);
    return this.store.getRange(this.instance.objectKey, offset, end - offset);
  }

  /** From `offset` to the end of the object: where the last encapsulated frame ends is not recorded. */
  async rest(offset: number): Promise<Buffer> {
    if (this.instance.deflated) return (await this.inflate()).subarray(offset);
    return this.range(offset, this.instance.sizeBytes - offset);
  }

  private inflate(): Promise<Buffer> {
    this.inflated ??= this.store.get(this.instance.objectKey).then((part10) =>
      Buffer.concat([part10.subarray(0, this.instance.datasetOffset), inflateRawSync(part10.subarray(this.instance.datasetOffset))]),
    );
    return this.inflated;
  }
}

/** Bytes per word of a binary VR, the unit that Explicit VR Big Endian swaps. */
export function wordSizeOfVr(vr: string): number {
  if (vr === 'OW') return 2;
  if (vr === 'OL' || vr === 'OF') return 4;
  if (vr === 'OD' || vr === 'OV') return 8;
  return 1;
}

/** Swaps whole words in place; DICOMweb returns bulk data and frames in little endian only. */
export function swapWords(bytes: Buffer, wordSize: number): void {
  const whole = bytes.subarray(0, bytes.length - (bytes.length % wordSize));
  if (wordSize === 2) whole.swap16();
  else if (wordSize === 4) whole.swap32();
  else if (wordSize === 8) whole.swap64();
}
