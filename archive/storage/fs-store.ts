import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import { assertSafeKey, ObjectNotFound, type ObjectStore } from './object-store.ts';

/**
 * Objects as files under a root folder. A put writes a temporary file, fsyncs it, renames it into
 * place and fsyncs the folder, so a crash leaves either the whole object or nothing under its key.
 */
export class FileSystemObjectStore implements ObjectStore {
  readonly description: string;
  private readonly knownDirectories = new Set<string>();

  constructor(private readonly root: string) {
    this.description = `local folder ${root}`;
  }

  // The content type is not kept: a file's key already says what it is (.dcm, .jpg).
  async put(key: string, body: Buffer, _contentType?: string): Promise<void> {
    const target = this.pathOf(key);
    const directory = path.dirname(target);
    await this.ensureDirectory(directory);
    const temporary = path.join(directory, `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
    const handle = await fsp.open(temporary, 'w');
    try {
      await handle.write(body, 0, body.length, 0);
      await handle.sync();
    } catch (error) {
      await handle.close();
      await fsp.rm(temporary, { force: true });
      throw error;
    }
    await handle.close();
    try {
      await fsp.rename(temporary, target);
    } catch (error) {
      await fsp.rm(temporary, { force: true });
      throw error;
    }
    await syncDirectory(directory);
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

  private async ensureDirectory(directory: string): Promise<void> {
    if (this.knownDirectories.has(directory)) return;
    await fsp.mkdir(directory, { recursive: true });
    // The new directory entries must survive a crash too, or the renamed file could vanish with them.
    for (let current = directory; current.startsWith(this.root) && current !== this.root; current = path.dirname(current)) {
      await syncDirectory(path.dirname(current));
    }
    this.knownDirectories.add(directory);
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
