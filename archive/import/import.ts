import { IngestRejection } from '../dicom/types.ts';
import type { IngestService, InstanceSource } from '../ingest.ts';
import type { ImportEntry } from './entries.ts';
import { wrapRawDataset } from './raw-dataset.ts';

export interface ImportSummary {
  stored: number;
  newVersions: number;
  duplicates: number;
  /** Bare datasets (no File Meta Information) that were given one; see raw-dataset.ts. */
  withoutFileMeta: number;
  skipped: Array<{ name: string; reason: string }>;
  rejected: Array<{ name: string; reason: string }>;
}

export interface ImportProgress {
  done: number;
  bytes: number;
  current: string;
}

/** DICOMDIR and friends index a CD; they are not instances and are skipped, not rejected. */
const MEDIA_DIRECTORY_NAMES = /(^|[\\/:])(DICOMDIR|LOCKFILE|VERSION)$/i;
/** How many files are in the ingest path at once: enough to overlap disk and database round trips. */
const IN_FLIGHT = 4;

/**
 * Bulk import (old archives, CDs, folders of zips) through the same ingest path as DIMSE and STOW-RS.
 */
export async function importEntries(
  entries: AsyncIterable<ImportEntry>,
  ingest: IngestService,
  source: InstanceSource,
  onProgress: (progress: ImportProgress) => void = () => undefined,
): Promise<ImportSummary> {
  const summary: ImportSummary = { stored: 0, newVersions: 0, duplicates: 0, withoutFileMeta: 0, skipped: [], rejected: [] };
  const progress: ImportProgress = { done: 0, bytes: 0, current: '' };
  const inFlight = new Set<Promise<void>>();

  const importOne = async (entry: ImportEntry) => {
    try {
      const bytes = await entry.read();
      progress.bytes += bytes.length;
      const wrapped = wrapRawDataset(bytes);
      const outcome = await ingest.ingest({ part10: wrapped?.part10 ?? bytes }, source);
      if (wrapped) summary.withoutFileMeta++;
      if (outcome.result === 'stored') summary.stored++;
      else if (outcome.result === 'new-version') summary.newVersions++;
      else summary.duplicates++;
    } catch (error) {
      const reason = error instanceof IngestRejection ? error.message : `unreadable: ${(error as Error).message ?? String(error)}`;
      summary.rejected.push({ name: entry.name, reason });
    } finally {
      progress.done++;
      progress.current = entry.name;
      onProgress(progress);
    }
  };

  for await (const entry of entries) {
    if (MEDIA_DIRECTORY_NAMES.test(entry.name)) {
      summary.skipped.push({ name: entry.name, reason: 'media directory file, not an instance' });
      continue;
    }
    const task = importOne(entry).finally(() => inFlight.delete(task));
    inFlight.add(task);
    if (inFlight.size >= IN_FLIGHT) await Promise.race(inFlight);
  }
  await Promise.all(inFlight);
  return summary;
}
