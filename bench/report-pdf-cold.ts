/**
 * Renders one report PDF in this fresh process and prints its milliseconds: the cold case of
 * `npm run bench:reading` (fonts read and parsed on first use; module loading not counted). The
 * input is the JSON file bench/reading.ts wrote, key images as base64.
 */
import fs from 'node:fs/promises';
import { performance } from 'node:perf_hooks';
import { renderReportPdf, type ReportPdfInput } from '../archive/reading/report-pdf.ts';

const stored = JSON.parse(await fs.readFile(process.argv[2]!, 'utf8')) as Omit<ReportPdfInput, 'keyImages'> & { keyImages: string[] };
const started = performance.now();
await renderReportPdf({ ...stored, keyImages: stored.keyImages.map((image) => ({ bytes: Buffer.from(image, 'base64') })) });
console.log((performance.now() - started).toFixed(1));
