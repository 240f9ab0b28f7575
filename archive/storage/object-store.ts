import type { Readable } from 'node:stream';

/**
 * Where original instances and rendered images live. Chosen once at start-up (local folder or S3);
 * nothing else asks which one it got.
 */
export interface ObjectStore {
  /** Resolves only once the bytes are durable (fsync'd, or acknowledged by S3). */
  put(key: string, body: Buffer, contentType: string): Promise<void>;
  /**
   * For derived data that can be drawn again (thumbnails): visible all at once or not at all, but
   * not flushed, so it never queues behind received instances for the disk. After a power loss it
   * may be missing; readers then draw it again.
   */
  putDerived(key: string, body: Buffer, contentType: string): Promise<void>;
  get(key: string): Promise<Buffer>;
  /** A byte range [offset, offset + length) of the object, for frames and bulk data. */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  stream(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  readonly description: string;
}

export class ObjectNotFound extends Error {
  constructor(readonly key: string) {
    super(`object ${key} not found`);
    this.name = 'ObjectNotFound';
  }
}

/** Keys are built from validated UIDs and hex digests only; this guards the fs backend's paths anyway. */
export function assertSafeKey(key: string): void {
  if (!/^[A-Za-z0-9._\-/]+$/.test(key) || key.split('/').some((part) => part === '' || part === '.' || part === '..')) {
    throw new Error(`unsafe object key ${JSON.stringify(key)}`);
  }
}
