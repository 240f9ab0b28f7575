/**
 * `npm run bench:receipt-insert`: what the receipt's commit costs from the client, the critical path
 * of a C-STORE over one association once the object's flush runs beside it (docs/benchmarks.md,
 * "the local store as a segment log"). In a fresh database with the real migrations, the receipts of
 * 200 real instances of the benchmark corpus (bench/corpus.ts, small instances, each new) are inserted
 * one after another with ReceiptsRepository.insertUnconfirmed, each its own transaction, as the group
 * committer sends one receipt alone: with `synchronous_commit` on, off (no WAL flush: the statement
 * alone), and on again; then a bare `SELECT 1` (a round trip). Milliseconds per receipt.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import { openDatabase } from '../archive/db/database.ts';
import { ReceiptsRepository, type NewReceipt } from '../archive/db/receipts-repository.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { createLogger } from '../archive/log.ts';
import { createTestDatabase } from '../test/support/database.ts';
import { ensureCorpus } from './corpus.ts';

const PER_SETTING = 200;

const [, small] = await ensureCorpus();
const files = small!.files.slice(0, PER_SETTING * 3);
const database = await createTestDatabase();
const db = await openDatabase({ databaseUrl: database.url, dataDir: os.tmpdir(), log: createLogger('warn') });
try {
  const receipts = new ReceiptsRepository(db.pool);
  const institution = (await db.pool.query<{ id: string }>("INSERT INTO institutions (code, name, kind) VALUES ('BENCH', 'Bench', 'hospital') RETURNING id")).rows[0]!.id;
  const sourceId = await receipts.sourceId('dimse', 'BENCH', institution);
  const toInsert: NewReceipt[] = [];
  for (const [index, file] of files.entries()) {
    const bytes = await fs.readFile(file);
    const parsed = parseInstance(bytes, {});
    const sha256 = createHash('sha256').update(bytes).digest('hex');
    toInsert.push({
      sopInstanceUid: parsed.sopInstanceUid, sopClassUid: parsed.sopClassUid, studyInstanceUid: parsed.studyInstanceUid,
      seriesInstanceUid: parsed.seriesInstanceUid, transferSyntaxUid: parsed.transferSyntaxUid, objectKey: `bench/${index}`,
      objectSha256: sha256, datasetSha256: sha256, sizeBytes: bytes.length, sourceId, metadata: parsed.metadata,
      bulkData: parsed.bulkData, ...(parsed.pixel ? { pixel: parsed.pixel } : {}), datasetOffset: parsed.datasetOffset,
      deflated: parsed.deflated, characterSet: parsed.characterSet,
    });
  }
  const client = await db.pool.connect();
  try {
    console.log(`${new URL(database.url).host}, ${(await client.query<{ server_version: string }>('SHOW server_version')).rows[0]!.server_version}; load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
    let previous: string | undefined;
    for (const synchronousCommit of ['on', 'off', 'on']) {
      await client.query(`SET synchronous_commit = ${synchronousCommit}`);
      const batch = toInsert.splice(0, PER_SETTING);
      const started = performance.now();
      // Each carries the confirmation of the one before, as the committer does.
      for (const receipt of batch) previous = (await receipts.insertUnconfirmed(client, receipt, 'all', previous ? [previous] : [])).receiptId ?? undefined;
      console.log(`synchronous_commit ${synchronousCommit.padEnd(3)}: ${((performance.now() - started) / batch.length).toFixed(3)} ms per receipt (insert and commit, ${batch.length} new instances)`);
    }
    const started = performance.now();
    for (let index = 0; index < PER_SETTING; index++) await client.query('SELECT 1');
    console.log(`SELECT 1            : ${((performance.now() - started) / PER_SETTING).toFixed(3)} ms per round trip`);
  } finally {
    client.release();
  }
} finally {
  await db.close();
  await database.drop();
}
