import type { Readable } from 'node:stream';
import type { StageRecorder } from '../ingest-stages.ts';

/**
 * Where original instances and rendered images live. Chosen once at start-up (local folder or S3);
 * nothing else asks which one it got.
 */
export interface ObjectStore {
  /** Resolves only once the bytes are durable (fsync'd, or acknowledged by S3); `record` hears how long each stage took. */
  put(key: string, body: Buffer, contentType: string, record?: StageRecorder): Promise<void>;
  /**
   * For derived data that can be drawn again (thumbnails): visible all at once or not at all, but
   * not flushed, so it never queues behind received instances for the disk. After a power loss it
   * may be missing; readers then draw it again.
   */
  putDerived(key: string, body: Buffer, contentType: string): Promise<void>;
  /**
   * Starts an object whose key is known only once all of it has arrived (a C-STORE: its UIDs and
   * digest come with the last fragment), so its bytes go to disk while the rest is still on the wire
   * and are never held whole in memory: the local folder writes them where they will stay, S3 spools
   * them to a local file it sends at `finish`.
   */
  openUpload(): IncomingObject;
  /**
   * The whole object. With `reuse`, a store that can read into memory it is given does so when the
   * object fits, returning a view of `reuse`: a caller reading many objects in turn (a C-MOVE) then
   * allocates a few buffers instead of one per object, and the garbage collector stays out of the way.
   */
  get(key: string, reuse?: Buffer): Promise<Buffer>;
  /** A byte range [offset, offset + length) of the object, for frames and bulk data. */
  getRange(key: string, offset: number, length: number): Promise<Buffer>;
  stream(key: string): Promise<Readable>;
  exists(key: string): Promise<boolean>;
  /**
   * Every key under `prefix`, in the byte order of the keys (S3's listing order), so a consistency
   * check can walk it beside the receipts sorted the same way without holding either in memory.
   */
  list(prefix: string): AsyncIterable<string>;
  delete(key: string): Promise<void>;
  /** Resolves when objects can be written right now (the folder is there and writable; the bucket answers). */
  checkAvailable(): Promise<void>;
  /** Lets go of open files once nothing more is read or written (a process stopping). */
  close(): Promise<void>;
  readonly description: string;
}

/** An object being written before its key is known (ObjectStore.openUpload). */
export interface IncomingObject {
  /**
   * Appends bytes; errors surface at `finish`. Returns a promise while more is queued than the disk has
   * taken (a sender faster than the disk), resolved once it has caught up: the caller stops reading
   * until then, so a fast sender waits instead of filling memory.
   */
  write(bytes: Buffer): Promise<void> | undefined;
  /** Makes everything written durable and visible under `key`, as `put` would. */
  finish(key: string, record?: StageRecorder): Promise<void>;
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
