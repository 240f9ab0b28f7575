import fsp from 'node:fs/promises';
import path from 'node:path';
import { timed, type StageRecorder } from '../ingest-stages.ts';
import type { IncomingObject } from './object-store.ts';

/** Bytes gathered before each write, so a 500 KB image is a few writes rather than one per fragment. */
const WRITE_BATCH_BYTES = 256 * 1024;
/** Bytes waiting for the disk beyond which `write` asks its caller to wait. */
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/** A temporary file complete on disk, for an upload's `deliver` step to make it the object under its key. */
export interface WrittenFile {
  temporary: string;
  file: fsp.FileHandle;
  size: number;
}

/**
 * Makes a written file the object under `key`, durably. Resolves `'moved'` when the temporary file
 * became the object (renamed into place: nothing is left to remove), `'copied'` when it was only read
 * (sent to S3) and is to be removed.
 */
export type Deliver = (written: WrittenFile, key: string, record?: StageRecorder) => Promise<'moved' | 'copied'>;

/**
 * A temporary file filled as fragments arrive (or at once, for `put`): writes are queued in order,
 * and `finish` checks its size and hands it to `deliver`, which makes it durable under its key (the
 * local folder flushes and renames it; S3 sends it). Whatever `deliver` leaves of the file is removed.
 */
export class FileUpload implements IncomingObject {
  private readonly file: Promise<fsp.FileHandle>;
  private writing: Promise<unknown>;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private position = 0;
  /** Bytes handed to `write` and not yet on disk. */
  private queuedBytes = 0;
  private caughtUp?: { promise: Promise<void>; resolve: () => void };
  private state: 'open' | 'finished' | 'discarded' = 'open';

  constructor(
    private readonly temporary: string,
    folderReady: Promise<void>,
    private readonly deliver: Deliver,
  ) {
    this.file = folderReady.then(() => fsp.open(temporary, 'w'));
    this.writing = this.file;
    // Failures are reported by finish(); until then nobody awaits these promises.
    this.writing.catch(() => undefined);
  }

  write(bytes: Buffer): Promise<void> | undefined {
    if (this.state !== 'open') return undefined;
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    this.queuedBytes += bytes.length;
    if (this.batchBytes >= WRITE_BATCH_BYTES) this.flushBatch();
    if (this.queuedBytes <= MAX_QUEUED_BYTES) return undefined;
    if (!this.caughtUp) {
      let resolve!: () => void;
      const promise = new Promise<void>((done) => (resolve = done));
      this.caughtUp = { promise, resolve };
    }
    return this.caughtUp.promise;
  }

  async finish(key: string, record?: StageRecorder): Promise<void> {
    if (this.state !== 'open') throw new Error(`upload already ${this.state}`);
    this.flushBatch();
    this.state = 'finished';
    let delivered: 'moved' | 'copied' | undefined;
    try {
      const file = await this.file;
      try {
        const size = await timed(record, 'object write', async () => {
          await this.writing;
          return (await file.stat()).size;
        });
        if (size !== this.position) throw new Error(`upload holds ${size} bytes of ${this.position}`);
        delivered = await this.deliver({ temporary: this.temporary, file, size }, key, record);
      } finally {
        await file.close();
      }
    } finally {
      // A file renamed into place is gone from here: no removal (one file-system call less per instance).
      if (delivered !== 'moved') await fsp.rm(this.temporary, { force: true });
    }
  }

  async discard(): Promise<void> {
    if (this.state === 'open') {
      this.state = 'discarded';
      await this.writing.catch(() => undefined);
      await (await this.file.catch(() => undefined))?.close().catch(() => undefined);
    }
    await fsp.rm(this.temporary, { force: true });
  }

  private flushBatch(): void {
    if (this.batchBytes === 0) return;
    const bytes = this.batch.length === 1 ? this.batch[0]! : Buffer.concat(this.batch, this.batchBytes);
    const at = this.position;
    this.position += bytes.length;
    this.batch = [];
    this.batchBytes = 0;
    this.writing = this.writing.then(async () => writeAll(await this.file, bytes, at)).finally(() => this.written(bytes.length));
    this.writing.catch(() => undefined);
  }

  /** Also after a failed write: the failure is for `finish` to report, and the sender must not wait for ever. */
  private written(length: number): void {
    this.queuedBytes -= length;
    if (this.caughtUp && this.queuedBytes <= MAX_QUEUED_BYTES / 2) {
      this.caughtUp.resolve();
      this.caughtUp = undefined;
    }
  }
}

/** Writes all of `bytes` at `position`: a write may take fewer bytes than asked (a disk filling up). */
async function writeAll(file: fsp.FileHandle, bytes: Buffer, position: number): Promise<void> {
  let written = 0;
  while (written < bytes.length) {
    const { bytesWritten } = await file.write(bytes, written, bytes.length - written, position + written);
    if (bytesWritten === 0) throw new Error(`no space left to write ${bytes.length - written} more bytes`);
    written += bytesWritten;
  }
}

/**
 * Flushes of folders' entries, shared: a flush asked for while one of the same folder runs waits for
 * the next one (which starts after the asker's rename, so it covers it), and every asker meanwhile
 * waits for that same one. Objects of one series arriving over several associations, or one STOW-RS
 * request's, then cost one folder flush between them instead of one each.
 */
export class FolderFlushes {
  private readonly folders = new Map<string, { running: Promise<void>; next?: Promise<void> }>();

  flush(folder: string): Promise<void> {
    const current = this.folders.get(folder);
    if (!current) return this.start(folder);
    current.next ??= current.running.catch(() => undefined).then(() => this.start(folder));
    return current.next;
  }

  private start(folder: string): Promise<void> {
    const running = syncDirectory(folder);
    const state: { running: Promise<void>; next?: Promise<void> } = { running };
    this.folders.set(folder, state);
    void running.catch(() => undefined).then(() => {
      if (this.folders.get(folder) === state && !state.next) this.folders.delete(folder);
    });
    return running;
  }
}

export async function syncDirectory(directory: string): Promise<void> {
  const handle = await fsp.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * Removes what uploads interrupted by a crash or a kill left in `folder` (none of it was ever
 * acknowledged). Only files older than an hour: another process may be receiving into the folder.
 */
export async function sweepInterruptedUploads(folder: string): Promise<number> {
  let names: string[];
  try {
    names = await fsp.readdir(folder);
  } catch {
    return 0;
  }
  let removed = 0;
  for (const name of names) {
    const file = path.join(folder, name);
    const stat = await fsp.stat(file).catch(() => undefined);
    if (stat && Date.now() - stat.mtimeMs > 3_600_000) {
      await fsp.rm(file, { force: true });
      removed++;
    }
  }
  return removed;
}
