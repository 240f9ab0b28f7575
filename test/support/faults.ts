import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import dicomParser from 'dicom-parser';
import pg from 'pg';
import type { ObjectStore } from '../../archive/storage/object-store.ts';
import { generateCorpus } from '../../fixtures/generate.ts';

/**
 * What every fault scenario (test/faults) checks afterwards: nothing the sender was told is stored is
 * missing, and the index is consistent with the receipts and the object store.
 */

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/** A file a sender sends, with what the archive must hold for it once acknowledged. */
export interface SentInstance {
  file: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** SHA-256 of the dataset after the File Meta group: storescu sends it unchanged (Explicit VR Little Endian). */
  datasetSha256: string;
}

/** Writes `count` instances of the `small` preset (Explicit VR Little Endian ones, which storescu sends unchanged). */
export function writeInstances(directory: string, seed: string, count: number): SentInstance[] {
  fs.mkdirSync(directory, { recursive: true });
  const written: SentInstance[] = [];
  for (let round = 0; written.length < count; round += 1) {
    for (const instance of generateCorpus({ preset: 'small', seed: `${seed}-${round}` })) {
      const { transferSyntaxUid, studyInstanceUid, seriesInstanceUid, sopInstanceUid } = instance.description;
      if (transferSyntaxUid !== EXPLICIT_VR_LITTLE_ENDIAN) continue;
      const file = path.join(directory, `${sopInstanceUid}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      written.push({ file, studyInstanceUid, seriesInstanceUid, sopInstanceUid, datasetSha256: sha256(datasetOf(instance.bytes)) });
      if (written.length === count) break;
    }
  }
  return written;
}

/** The bytes after the File Meta group of a Part 10 file held in memory. */
export function datasetOf(part10: Buffer): Buffer {
  const meta = dicomParser.parseDicom(part10, { untilTag: 'x00080000' } as dicomParser.ParseDicomOptions);
  let end = 132;
  for (const [tag, element] of Object.entries(meta.elements)) if (tag.startsWith('x0002')) end = Math.max(end, element.dataOffset + element.length);
  return part10.subarray(end);
}

export function sha256(bytes: Buffer): string {
  return createHash('sha256').update(bytes).digest('hex');
}

export interface SendOutcome {
  /** Instances for which storescu logged a Success response. */
  acknowledged: SentInstance[];
  /** Instances for which storescu logged any other response (a failure status). */
  refused: SentInstance[];
  /** What each storescu run logged. */
  output: string;
}

/**
 * Sends `instances` with DCMTK storescu (TCP_NODELAY=1; --no-halt: on after a failure status, as a PACS
 * goes on with the rest of a study) over `associations` parallel runs. An instance
 * is acknowledged when storescu logged Success for it: storescu sends one file at a time, so each
 * response follows its own "Sending file" line. `onResponse` is called after every response, so a
 * scenario can strike mid-send.
 */
export async function sendWithStorescu(
  port: number,
  instances: SentInstance[],
  options: { callingAeTitle?: string; associations?: number; onResponse?: (outcome: SendOutcome) => void; extraArguments?: string[]; timeoutMs?: number } = {},
): Promise<SendOutcome> {
  const byFile = new Map(instances.map((sent) => [sent.file, sent]));
  const outcome: SendOutcome = { acknowledged: [], refused: [], output: '' };
  const associations = Math.max(1, Math.min(options.associations ?? 1, instances.length));
  const shares = Array.from({ length: associations }, (_, index) => instances.filter((_, position) => position % associations === index));
  await Promise.all(
    shares.map(
      (share) =>
        new Promise<void>((resolve) => {
          const storescu = spawn(
            'storescu',
            ['-v', '--no-halt', ...(options.extraArguments ?? []), '-aec', 'YINGYUN', '-aet', options.callingAeTitle ?? 'STORESCU', '127.0.0.1', String(port), ...share.map((sent) => sent.file)],
            { env: { ...process.env, TCP_NODELAY: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
          );
          const timer = setTimeout(() => storescu.kill('SIGKILL'), options.timeoutMs ?? 120_000);
          let current: SentInstance | undefined;
          // One line buffer per stream: storescu writes its log to stderr and progress dots to stdout.
          const reader = () => {
            let pending = '';
            return (chunk: Buffer) => {
              outcome.output += chunk.toString();
              pending += chunk.toString();
              const lines = pending.split('\n');
              pending = lines.pop()!;
              for (const line of lines) {
                const sending = /^I: Sending file: (.+)$/.exec(line);
                if (sending) current = byFile.get(sending[1]!);
                const response = /^I: Received Store Response \((.+)\)/.exec(line);
                if (response && current) {
                  (response[1] === 'Success' ? outcome.acknowledged : outcome.refused).push(current);
                  current = undefined;
                  options.onResponse?.(outcome);
                }
              }
            };
          };
          storescu.stdout.on('data', reader());
          storescu.stderr.on('data', reader());
          storescu.once('close', () => {
            clearTimeout(timer);
            resolve();
          });
        }),
    ),
  );
  return outcome;
}

/**
 * Zero acknowledged-but-lost: every acknowledged instance has a committed receipt of the dataset the
 * sender sent, is in the index (its instance row points at a receipt of that dataset), and its object
 * reads back from the store with the receipt's SHA-256. Indexing runs after the acknowledgement, so
 * the index part is awaited up to `indexedWithinMs`.
 */
export async function assertNothingLost(databaseUrl: string, store: ObjectStore, acknowledged: SentInstance[], { indexedWithinMs = 60_000 } = {}): Promise<void> {
  await withClient(databaseUrl, async (client) => {
    const deadline = Date.now() + indexedWithinMs;
    let problems: string[] = [];
    for (;;) {
      const rows = (
        await client.query<{ sop: string; datasetSha256: string; receiptId: string | null; objectKey: string | null; objectSha256: string | null; indexed: boolean }>(
          `SELECT sent.sop, sent.dataset_sha256 AS "datasetSha256", r.id AS "receiptId", r.object_key AS "objectKey",
                  r.object_sha256 AS "objectSha256", (i.receipt_id IS NOT NULL) AS indexed
             FROM unnest($1::text[], $2::text[]) AS sent (sop, dataset_sha256)
             LEFT JOIN receipts r ON r.sop_instance_uid = sent.sop AND r.dataset_sha256 = sent.dataset_sha256
             LEFT JOIN instances i ON i.sop_instance_uid = sent.sop AND i.receipt_id = r.id`,
          [acknowledged.map((sent) => sent.sopInstanceUid), acknowledged.map((sent) => sent.datasetSha256)],
        )
      ).rows;
      problems = rows.filter((row) => !row.receiptId).map((row) => `${row.sop}: acknowledged, but no receipt of the dataset sent`);
      // A missing receipt never heals; a missing index row may still be on its way.
      if (problems.length > 0) break;
      problems = rows.filter((row) => !row.indexed).map((row) => `${row.sop}: not in the index`);
      if (problems.length === 0) {
        for (const row of rows) {
          const read = await objectSha256(store, row.objectKey!);
          if (read !== row.objectSha256) problems.push(`${row.sop}: object ${row.objectKey} reads back as ${read}, receipt says ${row.objectSha256}`);
        }
        break;
      }
      if (Date.now() > deadline) break;
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    assert.deepEqual(problems, [], `of ${acknowledged.length} acknowledged instances`);
  });
}

/**
 * The index agrees with the receipts and the store: every receipt is indexed (once: its instance's
 * row, unique per SOP Instance UID, points at the instance's newest receipt), no instance row points
 * at an object the store lacks or holds with other bytes, and the per-series and per-study counts
 * match the rows. Indexing is awaited up to `indexedWithinMs`.
 */
export async function assertIndexConsistent(databaseUrl: string, store: ObjectStore, { indexedWithinMs = 60_000 } = {}): Promise<{ receipts: number; instances: number }> {
  return withClient(databaseUrl, async (client) => {
    const deadline = Date.now() + indexedWithinMs;
    while ((await client.query<{ count: number }>('SELECT count(*)::int AS count FROM receipts WHERE indexed_at IS NULL')).rows[0]!.count > 0) {
      assert.ok(Date.now() < deadline, `receipts still unindexed after ${indexedWithinMs / 1000} s`);
      await new Promise((resolve) => setTimeout(resolve, 500));
    }
    const unindexed = await client.query(
      `SELECT r.id, r.sop_instance_uid FROM receipts r
        WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.sop_instance_uid = r.sop_instance_uid)`,
    );
    assert.deepEqual(unindexed.rows, [], 'receipts marked indexed whose instance has no row in the index');
    const newest = await client.query(
      `SELECT i.sop_instance_uid FROM instances i
        WHERE i.receipt_id <> (SELECT max(r.id) FROM receipts r WHERE r.sop_instance_uid = i.sop_instance_uid)`,
    );
    assert.deepEqual(newest.rows, [], 'instance rows that do not point at their newest receipt');
    const seriesCounts = await client.query(
      `SELECT s.series_instance_uid, s.number_of_instances, (SELECT count(*)::int FROM instances i WHERE i.series_pk = s.id) AS rows
         FROM series s WHERE s.number_of_instances <> (SELECT count(*) FROM instances i WHERE i.series_pk = s.id)`,
    );
    assert.deepEqual(seriesCounts.rows, [], 'series whose instance count differs from their rows');
    const studyCounts = await client.query(
      `SELECT st.study_instance_uid, st.number_of_instances, st.number_of_series FROM studies st
        WHERE st.number_of_instances <> (SELECT count(*) FROM instances i WHERE i.study_pk = st.id)
           OR st.number_of_series <> (SELECT count(*) FROM series s WHERE s.study_pk = st.id AND s.number_of_instances > 0)`,
    );
    assert.deepEqual(studyCounts.rows, [], 'studies whose instance or series counts differ from their rows');
    const objects = (
      await client.query<{ sop: string; objectKey: string; objectSha256: string }>(
        `SELECT i.sop_instance_uid AS sop, r.object_key AS "objectKey", r.object_sha256 AS "objectSha256"
           FROM instances i JOIN receipts r ON r.id = i.receipt_id`,
      )
    ).rows;
    const bad: string[] = [];
    for (const row of objects) {
      const read = await objectSha256(store, row.objectKey).catch((error: Error) => `unreadable (${error.message})`);
      if (read !== row.objectSha256) bad.push(`${row.sop}: ${row.objectKey} ${read}`);
    }
    assert.deepEqual(bad, [], 'instance rows whose object is missing or differs from its receipt');
    const receipts = (await client.query<{ count: number }>('SELECT count(*)::int AS count FROM receipts')).rows[0]!.count;
    return { receipts, instances: objects.length };
  });
}

/** The SHA-256 of an object as the store reads it back, streamed (an object may be larger than memory allows). */
export async function objectSha256(store: ObjectStore, key: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of await store.stream(key)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

export async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 5000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
