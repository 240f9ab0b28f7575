import fs from 'node:fs';
import { loadConfigOrExit } from '../config.ts';
import { listImportEntries } from '../import/entries.ts';
import { importEntries, type ImportProgress, type ImportSummary } from '../import/import.ts';
import { failureReason } from '../failure-reason.ts';
import { createLogger } from '../log.ts';
import { openRuntime } from '../../workers/runtime.ts';

/**
 * `npm run import -- --institution=CODE <folder|archive.zip|archive.tar.gz> [...]`: stores every
 * instance through the ingest path as the named institution's, waits until it is indexed and
 * thumbnailed, prints a summary and exits non-zero if anything was rejected. Without --institution
 * the instances go to quarantine, where only system administrators see them.
 */
const institutionCode = process.argv.find((argument) => argument.startsWith('--institution='))?.slice('--institution='.length);
const locations = process.argv.slice(2).filter((argument) => !argument.startsWith('--'));
if (locations.length === 0) {
  console.error('usage: npm run import -- [--institution=CODE] <folder | file.zip | file.tar[.gz]> [more …]');
  process.exit(2);
}
for (const location of locations) {
  if (!fs.existsSync(location)) {
    console.error(`not found: ${location}`);
    process.exit(2);
  }
}

const config = loadConfigOrExit({ YINGYUN_LOG_LEVEL: 'warn', ...process.env });
const log = createLogger(config.logLevel);

let runtime;
try {
  runtime = await openRuntime(config, log, { runWorkers: !config.redisUrl });
} catch (error) {
  console.error(
    `cannot open the archive: ${failureReason(error)}\n` +
      'If Yingyun is running on the same data folder with its embedded database, stop it first, ' +
      'or point both at a shared server with DATABASE_URL.',
  );
  process.exit(1);
}

const started = Date.now();
const interactive = process.stderr.isTTY;
let lastPrinted = 0;
const showProgress = (progress: ImportProgress) => {
  const now = Date.now();
  if (now - lastPrinted < (interactive ? 100 : 5000)) return;
  lastPrinted = now;
  const seconds = (now - started) / 1000;
  const line = `imported ${progress.done} files, ${(progress.bytes / 1e6).toFixed(1)} MB, ${(progress.done / seconds).toFixed(1)} files/s — ${progress.current}`;
  if (interactive) process.stderr.write(`\r\x1b[2K${line.slice(0, (process.stderr.columns ?? 120) - 1)}`);
  else process.stderr.write(`${line}\n`);
};

const institution = institutionCode ? await runtime.institutions.findInstitutionByCode(institutionCode) : null;
if (institutionCode && !institution) {
  console.error(`no institution ${institutionCode}: register it first (npm run admin -- institution add …)`);
  await runtime.close();
  process.exit(2);
}
if (!institution) process.stderr.write('no --institution given: the instances go to quarantine (visible to system administrators only)\n');
const source = {
  via: 'import' as const,
  name: process.env.YINGYUN_IMPORT_LABEL ?? 'bulk-import',
  institutionId: institution?.id ?? (await runtime.institutions.quarantineInstitutionId()),
};
const totals: ImportSummary = { stored: 0, newVersions: 0, duplicates: 0, withoutFileMeta: 0, skipped: [], rejected: [] };
for (const location of locations) {
  const summary = await importEntries(listImportEntries(location), runtime.ingest, source, showProgress);
  totals.stored += summary.stored;
  totals.newVersions += summary.newVersions;
  totals.duplicates += summary.duplicates;
  totals.withoutFileMeta += summary.withoutFileMeta;
  totals.skipped.push(...summary.skipped);
  totals.rejected.push(...summary.rejected);
}
if (interactive) process.stderr.write('\r\x1b[2K');
process.stderr.write('waiting for indexing and thumbnails …\n');
await runtime.queue.whenIdle();

const seconds = ((Date.now() - started) / 1000).toFixed(1);
console.log(`stored: ${totals.stored}`);
console.log(`new versions of existing instances: ${totals.newVersions}`);
console.log(`duplicates (already stored, identical): ${totals.duplicates}`);
if (totals.withoutFileMeta) console.log(`of those stored, bare datasets given File Meta Information: ${totals.withoutFileMeta}`);
console.log(`skipped: ${totals.skipped.length}`);
for (const { name, reason } of totals.skipped) console.log(`  ${name}: ${reason}`);
console.log(`rejected: ${totals.rejected.length}`);
for (const { name, reason } of totals.rejected) console.log(`  ${name}: ${reason}`);
console.log(`in ${seconds} s`);
await runtime.close();
process.exit(totals.rejected.length > 0 ? 1 : 0);
