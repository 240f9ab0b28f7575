import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertSafeKey, ObjectNotFound, type IncomingObject, type ObjectStore } from './object-store.ts';

/**
 * Objects as files under a root folder. A put writes a temporary file (in `.incoming`, on the same
 * file system) and flushes it, then renames it into place and flushes the folder, so a crash leaves
 * either the whole object or nothing under its key. Every folder's own entry is flushed once, when first
 * used, so new folders survive a crash too.
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly description: string;
  /** Folders known to exist durably, or being made so (shared by concurrent puts into one new folder). */
  private readonly directories = new Map<string, Promise<void>>();

  constructor(private readonly root: string) {
    this.description = `local folder ${root}`;
  }

  async putDerived(key: string, body: Buffer, _contentType?: string): Promise<void> {
    const target = this.pathOf(key);
    await this.ensureDirectory(path.dirname(target));
    const temporary = this.temporaryPathFor(target);
    try {
      await fsp.writeFile(temporary, body);
      await fsp.rename(temporary, target);
    } catch (error) {
      await fsp.rm(temporary, { force: true });
      throw error;
    }
  }

  // The content type is not kept: a file's key already says what it is (.dcm, .jpg). One way to write
  // an object durably: a whole object is an upload written at once.
  async put(key: string, body: Buffer, _contentType?: string): Promise<void> {
    this.pathOf(key); // refuses an unsafe key before anything is written
    const upload = this.openUpload();
    upload.write(body);
    await upload.finish(key);
  }

  /**
   * Removes what uploads interrupted by a crash or a kill left in `.incoming` (none of it was ever
   * acknowledged). Only files older than an hour: another process may be receiving into the folder.
   */
  async sweepIncoming(): Promise<number> {
    const incoming = path.join(this.root, INCOMING_FOLDER);
    let names: string[];
    try {
      names = await fsp.readdir(incoming);
    } catch {
      return 0;
    }
    let removed = 0;
    for (const name of names) {
      const file = path.join(incoming, name);
      const stat = await fsp.stat(file).catch(() => undefined);
      if (stat && Date.now() - stat.mtimeMs > 3_600_000) {
        await fsp.rm(file, { force: true });
        removed++;
      }
    }
    return removed;
  }

  openUpload(): IncomingObject {
    // One folder for objects whose key is not known yet, on the same file system as the rest, so the
    // final rename is atomic; its own entry need not be durable (what it holds never is acknowledged).
    const incoming = path.join(this.root, INCOMING_FOLDER);
    return new FileUpload(path.join(incoming, `${randomBytes(8).toString('hex')}.tmp`), this.ensureDirectory(incoming), async (key) => {
      const target = this.pathOf(key);
      await this.ensureDirectory(path.dirname(target));
      return target;
    });
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await fsp.readFile(this.pathOf(key));
    } catch (error) {
      throw notFoundOr(error, key);
    }
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.pathOf(key), 'r');
    } catch (error) {
      throw notFoundOr(error, key);
    }
    try {
      const buffer = Buffer.allocUnsafe(length);
      const { bytesRead } = await handle.read(buffer, 0, length, offset);
      return buffer.subarray(0, bytesRead);
    } finally {
      await handle.close();
    }
  }

  async stream(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    try {
      await fsp.access(file);
    } catch (error) {
      throw notFoundOr(error, key);
    }
    return fs.createReadStream(file);
  }

  async exists(key: string): Promise<boolean> {
    try {
      await fsp.access(this.pathOf(key));
      return true;
    } catch {
      return false;
    }
  }

  async delete(key: string): Promise<void> {
    await fsp.rm(this.pathOf(key), { force: true });
  }

  private pathOf(key: string): string {
    assertSafeKey(key);
    return path.join(this.root, key);
  }

  /** Beside the target, so the rename is atomic; hidden and suffixed so listings and keys never meet it. */
  private temporaryPathFor(target: string): string {
    return path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  }

  /** Makes `directory` and its parents exist, each one's entry flushed in its parent. */
  private ensureDirectory(directory: string): Promise<void> {
    let ready = this.directories.get(directory);
    if (!ready) {
      ready = (async () => {
        const parent = path.dirname(directory);
        if (directory !== this.root) await this.ensureDirectory(parent);
        await fsp.mkdir(directory, { recursive: directory === this.root });
        await syncDirectory(parent);
      })().catch((error: unknown) => {
        if ((error as NodeJS.ErrnoException).code === 'EEXIST') return syncDirectory(path.dirname(directory));
        this.directories.delete(directory);
        throw error;
      });
      this.directories.set(directory, ready);
    }
    return ready;
  }
}

/** Under the root, beside the keys' top folders (instances/, thumbnails/…), none of which starts with a dot. */
const INCOMING_FOLDER = '.incoming';
/** Bytes gathered before each write, so a 500 KB image is a few writes rather than one per fragment. */
const WRITE_BATCH_BYTES = 256 * 1024;

/**
 * A temporary file filled as fragments arrive (or at once, for `put`): writes are queued in order,
 * and `finish` flushes it (fdatasync), checks its size, renames it to its key and flushes that folder.
 */
class FileUpload implements IncomingObject {
  private readonly file: Promise<fsp.FileHandle>;
  private writing: Promise<unknown>;
  private batch: Buffer[] = [];
  private batchBytes = 0;
  private position = 0;
  private state: 'open' | 'finished' | 'discarded' = 'open';

  constructor(
    private readonly temporary: string,
    folderReady: Promise<void>,
    private readonly targetFor: (key: string) => Promise<string>,
  ) {
    this.file = folderReady.then(() => fsp.open(temporary, 'w'));
    this.writing = this.file;
    // Failures are reported by finish(); until then nobody awaits these promises.
    this.writing.catch(() => undefined);
  }

  write(bytes: Buffer): void {
    if (this.state !== 'open') return;
    this.batch.push(bytes);
    this.batchBytes += bytes.length;
    if (this.batchBytes >= WRITE_BATCH_BYTES) this.flushBatch();
  }

  async finish(key: string): Promise<void> {
    if (this.state !== 'open') throw new Error(`upload already ${this.state}`);
    this.flushBatch();
    this.state = 'finished';
    try {
      const file = await this.file;
      try {
        await this.writing;
        await file.datasync();
        const { size } = await file.stat();
        if (size !== this.position) throw new Error(`upload holds ${size} bytes of ${this.position}`);
      } finally {
        await file.close();
      }
      const target = await this.targetFor(key);
      await fsp.rename(this.temporary, target);
      await syncDirectory(path.dirname(target));
    } catch (error) {
      await fsp.rm(this.temporary, { force: true });
      throw error;
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
    this.writing = this.writing.then(async () => writeAll(await this.file, bytes, at));
    this.writing.catch(() => undefined);
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

async function syncDirectory(directory: string): Promise<void> {
  const handle = await fsp.open(directory, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

function notFoundOr(error: unknown, key: string): unknown {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? new ObjectNotFound(key) : error;
}
