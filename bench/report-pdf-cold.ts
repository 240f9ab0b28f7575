/**
 * Renders one report PDF in this fresh process and prints its milliseconds as JSON: the cold case of
 * `npm run bench:reading` (module loading not counted). With `preloaded`, the fonts are loaded first
 * as a worker does once it is up (preloadReportFonts, timed apart), so the render is the first PDF of
 * a started worker; without, the render reads and parses them itself. The input is the JSON file
 * bench/reading.ts wrote, key images as base64.
 */
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { createLogger } from '../archive/log.ts';
import { preloadReportFonts, renderReportPdf, type ReportPdfInput } from '../archive/reading/report-pdf.ts';

const stored = JSON.parse(await fs.readFile(process.argv[2]!, 'utf8')) as Omit<ReportPdfInput, 'keyImages'> & { keyImages: string[] };
let preloadMs: number | null = null;
if (process.argv[3] === 'preloaded') {
  const started = performance.now();
  await preloadReportFonts(createLogger('silent'));
  preloadMs = performance.now() - started;
}
const started = performance.now();
await renderReportPdf({ ...stored, keyImages: stored.keyImages.map((image) => ({ bytes: Buffer.from(image, 'base64') })) });
console.log(JSON.stringify({ preloadMs, renderMs: performance.now() - started }));
