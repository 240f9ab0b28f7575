import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { timed, type StageRecorder } from '../ingest-stages.ts';
import { FileUpload, FolderFlushes, sweepInterruptedUploads, syncDirectory } from './file-upload.ts';
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
  private readonly folderFlushes = new FolderFlushes();

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
  async put(key: string, body: Buffer, _contentType?: string, record?: StageRecorder): Promise<void> {
    this.pathOf(key); // refuses an unsafe key before anything is written
    const upload = this.openUpload();
    upload.write(body);
    await upload.finish(key, record);
  }

  /** Removes what uploads interrupted by a crash or a kill left in `.incoming`. */
  sweepIncoming(): Promise<number> {
    return sweepInterruptedUploads(path.join(this.root, INCOMING_FOLDER));
  }

  openUpload(): IncomingObject {
    // One folder for objects whose key is not known yet, on the same file system as the rest, so the
    // final rename is atomic; its own entry need not be durable (what it holds never is acknowledged).
    const incoming = path.join(this.root, INCOMING_FOLDER);
    return new FileUpload(path.join(incoming, `${randomBytes(8).toString('hex')}.tmp`), this.ensureDirectory(incoming), async ({ temporary, file }, key, record) => {
      await timed(record, 'object flush', () => file.datasync());
      const target = this.pathOf(key);
      await timed(record, 'folder flush', async () => {
        await this.ensureDirectory(path.dirname(target));
        await fsp.rename(temporary, target);
        await this.folderFlushes.flush(path.dirname(target));
      });
      return 'moved';
    });
  }

  /**
   * One read of the whole file where its size allows: readFile reads in 512 KiB pieces, so a CT slice
   * just over that cost two reads and an empty third one, each a trip through the thread pool.
   */
  async get(key: string, reuse?: Buffer): Promise<Buffer> {
    let handle: fsp.FileHandle;
    try {
      handle = await fsp.open(this.pathOf(key), 'r');
    } catch (error) {
      throw notFoundOr(error, key);
    }
    try {
      const { size } = await handle.stat();
      const buffer = reuse && reuse.length >= size ? reuse : Buffer.allocUnsafe(size);
      let filled = 0;
      while (filled < size) {
        const { bytesRead } = await handle.read(buffer, filled, size - filled, filled);
        if (bytesRead === 0) break;
        filled += bytesRead;
      }
      return buffer.subarray(0, filled);
    } finally {
      await handle.close();
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

  async *list(prefix: string): AsyncIterable<string> {
    const folder = prefix.endsWith('/') ? prefix.slice(0, -1) : prefix;
    yield* this.walk(folder);
  }

  /**
   * A folder's keys in byte order: its entries sorted with a folder's name read as "name/", which is how
   * its keys begin, so "1.2/x" comes after "1.2.3/x" as in S3. Dot-names are uploads in progress.
   */
  private async *walk(folder: string): AsyncIterable<string> {
    let entries: fs.Dirent[];
    try {
      entries = await fsp.readdir(this.pathOf(folder), { withFileTypes: true });
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw error;
    }
    const named = entries.filter((entry) => !entry.name.startsWith('.')).map((entry) => ({ entry, sortName: entry.isDirectory() ? `${entry.name}/` : entry.name }));
    named.sort((a, b) => (a.sortName < b.sortName ? -1 : a.sortName > b.sortName ? 1 : 0));
    for (const { entry } of named) {
      const key = `${folder}/${entry.name}`;
      if (entry.isDirectory()) yield* this.walk(key);
      else yield key;
    }
  }

  async close(): Promise<void> {
    // Nothing held open between calls.
  }

  async checkAvailable(): Promise<void> {
    await this.ensureDirectory(this.root);
    // The folder itself, not only the flag that it was once made: an unmounted or removed volume must show.
    await fsp.access(this.root, fs.constants.W_OK);
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

function notFoundOr(error: unknown, key: string): unknown {
  return (error as NodeJS.ErrnoException).code === 'ENOENT' ? new ObjectNotFound(key) : error;
}
