import fs from 'node:fs/promises';
import path from 'node:path';

/** pydicom's test files: real objects from many vendors, character sets and transfer syntaxes. */
export const PYDICOM_DATA = '/usr/lib/python3/dist-packages/pydicom/data';

/**
 * The real Part 10 files a DICOM fuzz target starts from: pydicom's, up to `maxBytes` each, so a
 * mutation lands in the header more often than in the pixels. In file name order, for repeatable runs.
 */
export async function realDicomFiles(maxBytes: number): Promise<Buffer[]> {
  const entries = await fs.readdir(PYDICOM_DATA, { recursive: true, withFileTypes: true }).catch(() => []);
  const files: Buffer[] = [];
  for (const file of entries.filter((entry) => entry.isFile()).map((entry) => path.join(entry.parentPath, entry.name)).sort()) {
    const stat = await fs.stat(file);
    if (stat.size < 132 || stat.size > maxBytes) continue;
    const bytes = await fs.readFile(file);
    if (bytes.toString('latin1', 128, 132) === 'DICM') files.push(bytes);
  }
  return files;
}
