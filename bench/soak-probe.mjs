// @ts-check
import { writeFileSync, renameSync } from 'node:fs';
import { isMainThread } from 'node:worker_threads';

/**
 * Preloaded into the soak's server (`node --import tsx --import bench/soak-probe.mjs gateway/main.ts`):
 * writes the main thread's process.memoryUsage() to SOAK_PROBE_FILE every second, so the soak reads the
 * heap from inside the server without the server carrying any code for it. A file, not an IPC channel:
 * with a channel present tsx's loader reports every module it loads over it, and the thumbnail
 * renderer's worker threads then never finished loading (every thumbnail job hung).
 */
const file = process.env.SOAK_PROBE_FILE;
if (file && isMainThread) {
  setInterval(() => {
    writeFileSync(`${file}.tmp`, JSON.stringify(process.memoryUsage()));
    renameSync(`${file}.tmp`, file);
  }, 1000).unref();
}
