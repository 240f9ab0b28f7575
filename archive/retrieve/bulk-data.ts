import type { StoredInstance } from '../db/retrieve-repository.ts';
import type { BulkDataLocation } from '../dicom/types.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { StoredObjectBytes, swapWords, wordSizeOfVr } from './stored-object.ts';
import { TRANSFER_SYNTAX } from './transfer-syntaxes.ts';

export class NoSuchBulkData extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'NoSuchBulkData';
  }
}

/** Tag path of a BulkDataURI: `7FE00010`, or `00540016.0.00181072` for an element inside a sequence item. */
export function isBulkDataPath(path: string): boolean {
  return /^[0-9A-F]{8}(\.\d{1,6}\.[0-9A-F]{8}){0,32}$/.test(path);
}

export function bulkDataLocation(instance: StoredInstance, path: string): BulkDataLocation {
  const location = instance.bulkData.find((bulk) => bulk.path === path);
  if (!location) throw new NoSuchBulkData(`instance ${instance.sopInstanceUid} has no bulk data at ${path}`);
  return location;
}

/**
 * A bulk data value with a defined length, in little endian whatever the stored byte order
 * (PS3.18 8.7.3.3.1: uncompressed bulk data is little endian). Encapsulated Pixel Data has no
 * single value; it is read frame by frame (FrameReader).
 */
export async function readBulkValue(store: ObjectStore, instance: StoredInstance, location: BulkDataLocation): Promise<Buffer> {
  const value = Buffer.from(await new StoredObjectBytes(store, instance).range(location.offset, location.length));
  if (instance.transferSyntaxUid === TRANSFER_SYNTAX.explicitBigEndian) swapWords(value, wordSizeOfVr(location.vr));
  return value;
}
