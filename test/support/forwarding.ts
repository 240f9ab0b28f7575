import { createHash } from 'node:crypto';
import { parseInstance } from '../../archive/dicom/parse.ts';

/** Attempts before a forward item is a dead letter, in the suites' systems. */
export const MAX_ATTEMPTS = 6;

/** A test system's settings for forwarding: retries in a fraction of a second, dead letters after a few seconds. */
export const FAST_FORWARDING = { YINGYUN_FORWARD_RETRY_BASE_MS: '200', YINGYUN_FORWARD_RETRY_MAX_MS: '1000', YINGYUN_FORWARD_MAX_ATTEMPTS: String(MAX_ATTEMPTS) };

/** SHA-256 of a Part 10 object's dataset (after File Meta): what a receiver got against what was stored. */
export function datasetDigest(part10: Buffer): string {
  return createHash('sha256').update(part10.subarray(parseInstance(part10).datasetOffset)).digest('hex');
}

/** Polls until `check` returns a value (not undefined), or fails saying what it waited for. */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined> | T | undefined, timeoutMs = 30_000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** The files a receiver has written when each is whole (a file still being written does not parse yet); undefined while none or not all are. */
export function wholeFiles(files: Buffer[]): Buffer[] | undefined {
  if (files.length === 0) return undefined;
  try {
    for (const part10 of files) parseInstance(part10);
    return files;
  } catch {
    return undefined;
  }
}
