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
  /**
   * Starts an object whose key is known only once all of it has arrived (a C-STORE: its UIDs and
   * digest come with the last fragment), so its bytes can go to disk while the rest is still on the
   * wire. Offered by stores where that saves time (the local folder); absent elsewhere, and callers
   * then `put` the whole object.
   */
  openUpload?(): IncomingObject;
  get(key: string): Promise<Buffer>;
  /** A byte range [offset, offset + length) of the object, for frames and bulk data. */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  stream(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  delete(key: string): Promise<void>;
  readonly description: string;
}

/** An object being written before its key is known (ObjectStore.openUpload). */
export interface IncomingObject {
  /** Appends bytes; errors surface at `finish`. */
  write(bytes: Buffer): void;
  /** Makes everything written durable and visible under `key`, as `put` would. */
  finish(key: string): Promise<void>;
  /** Leaves nothing behind (harmless after `finish`). */
  discard(): Promise<void>;
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
