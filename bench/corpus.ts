import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The benchmarks' corpus: the fixtures' bench preset (one 500-slice CT series and many small
 * instances) written once to bench/corpus/, then split by size.
 */
export const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

const corpusDir = path.join(root, 'bench', 'corpus');

export interface Corpus {
  name: string;
  files: string[];
  bytes: number;
}

export async function ensureCorpus(): Promise<Corpus[]> {
  try {
    await fs.access(path.join(corpusDir, '.complete'));
  } catch {
    console.log('generating the benchmark corpus (once) …');
    await fs.rm(corpusDir, { recursive: true, force: true });
    execFileSync(process.execPath, ['--import', 'tsx', path.join(root, 'fixtures', 'cli.ts'), '--out', corpusDir, '--preset', 'bench'], {
      stdio: 'inherit',
      cwd: root,
    });
    await fs.writeFile(path.join(corpusDir, '.complete'), new Date().toISOString());
  }
  const files = await listFiles(corpusDir);
  const withSizes = await Promise.all(files.map(async (file) => ({ file, size: (await fs.stat(file)).size })));
  // The bench preset holds one large CT series and many small instances; split them by size.
  const large = withSizes.filter((entry) => entry.size > 256 * 1024);
  const small = withSizes.filter((entry) => entry.size <= 256 * 1024);
  const corpus = (name: string, entries: typeof withSizes): Corpus => ({
    name,
    files: entries.map((entry) => entry.file),
    bytes: entries.reduce((sum, entry) => sum + entry.size, 0),
  });
  return [corpus(`${large.length} CT 512×512 16-bit`, large), corpus(`${small.length} small instances`, small)];
}

async function listFiles(directory: string): Promise<string[]> {
  const entries = await fs.readdir(directory, { withFileTypes: true, recursive: true });
  return entries
    .filter((entry) => entry.isFile() && !entry.name.startsWith('.'))
    .map((entry) => path.join(entry.parentPath ?? (entry as unknown as { path: string }).path, entry.name))
    .sort();
}

