import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import tarStream from 'tar-stream';
import yauzl from 'yauzl';

/** One file found in a folder or inside an archive, read only when its turn comes. */
export interface ImportEntry {
  /** Path shown in the summary: relative to the folder, or `archive.zip:inner/path`. */
  name: string;
  read(): Promise<Buffer>;
}

/** Files larger than this are not DICOM instances an old archive would hold; they are reported, not read. */
export const MAX_IMPORT_FILE_BYTES = 4 * 1024 * 1024 * 1024 - 1;

/**
 * Everything importable under `location`: a folder (walked recursively), a .zip, or a
 * .tar/.tar.gz/.tgz. Archives found inside a folder are opened too, since migrations often arrive
 * as a folder of per-study zips.
 */
export async function* listImportEntries(location: string): AsyncGenerator<ImportEntry> {
  const stat = await fsp.stat(location);
  if (stat.isDirectory()) {
    yield* walkFolder(location, location);
  } else {
    yield* entriesOfFile(location, path.basename(location));
  }
}

async function* walkFolder(root: string, folder: string): AsyncGenerator<ImportEntry> {
  const children = await fsp.readdir(folder, { withFileTypes: true });
  children.sort((a, b) => a.name.localeCompare(b.name));
  for (const child of children) {
    const full = path.join(folder, child.name);
    if (child.isDirectory()) yield* walkFolder(root, full);
    else if (child.isFile()) yield* entriesOfFile(full, path.relative(root, full));
  }
}

async function* entriesOfFile(file: string, name: string): AsyncGenerator<ImportEntry> {
  const lower = file.toLowerCase();
  if (lower.endsWith('.zip')) yield* zipEntries(file, name);
  else if (lower.endsWith('.tar') || lower.endsWith('.tar.gz') || lower.endsWith('.tgz')) yield* tarEntries(file, name);
  else yield { name, read: () => fsp.readFile(file) };
}

async function* zipEntries(file: string, name: string): AsyncGenerator<ImportEntry> {
  const zip = await new Promise<yauzl.ZipFile>((resolve, reject) =>
    yauzl.open(file, { lazyEntries: true, autoClose: false }, (error, opened) => (error ? reject(error) : resolve(opened!))),
  );
  try {
    const entries: yauzl.Entry[] = [];
    await new Promise<void>((resolve, reject) => {
      zip.on('entry', (entry: yauzl.Entry) => {
        if (!entry.fileName.endsWith('/')) entries.push(entry);
        zip.readEntry();
      });
      zip.once('end', resolve);
      zip.once('error', reject);
      zip.readEntry();
    });
    for (const entry of entries) {
      yield {
        name: `${name}:${entry.fileName}`,
        read: () =>
          new Promise<Buffer>((resolve, reject) =>
            zip.openReadStream(entry, (error, stream) => {
              if (error || !stream) return reject(error ?? new Error('unreadable zip entry'));
              const chunks: Buffer[] = [];
              stream.on('data', (chunk: Buffer) => chunks.push(chunk));
              stream.once('end', () => resolve(Buffer.concat(chunks)));
              stream.once('error', reject);
            }),
          ),
      };
    }
  } finally {
    zip.close();
  }
}

async function* tarEntries(file: string, name: string): AsyncGenerator<ImportEntry> {
  // tar has no index: read the files as the stream passes them, holding one at a time.
  const extract = tarStream.extract();
  const source = fs.createReadStream(file);
  const gzipped = /\.(tar\.gz|tgz)$/i.test(file);
  const feeding = gzipped ? pipeline(source, createGunzip(), extract) : pipeline(source, extract);
  feeding.catch(() => undefined);
  for await (const entry of extract) {
    if (entry.header.type !== 'file') {
      entry.resume();
      continue;
    }
    const chunks: Buffer[] = [];
    for await (const chunk of entry) chunks.push(chunk as Buffer);
    const bytes = Buffer.concat(chunks);
    yield { name: `${name}:${entry.header.name}`, read: async () => bytes };
  }
  await feeding;
}
