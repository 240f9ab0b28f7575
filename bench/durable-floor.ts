/**
 * The floor under any receiver that keeps Yingyun's promise, measured on this machine: our DIMSE layer
 * with a C-STORE handler that does only what a durable acknowledgement needs — the object written to
 * a local folder and flushed (FileSystemObjectStore.put: temporary file, fdatasync, rename, folder
 * fsync) and one row committed in (embedded) PostgreSQL, the row inserted while the object is flushed
 * as Yingyun's ingest path does — with no parsing, no metadata, no index and
 * no thumbnails. `npm run bench:ingest` sends it the same corpus: the gap from storescp to this row is
 * the price of durability on this disk; the gap from this row to Yingyun is Yingyun's own.
 *
 * With `--commit-only` it is the **commit ceiling** instead: the same DIMSE layer and one committed row per
 * instance (a single INSERT, one round trip), nothing written to the object store and nothing hashed.
 * Every receiver that commits a receipt before each Success is slower than this row, whatever its
 * storage: with one association storescu sends the next instance only after the answer, so this is
 * the most any such receiver can reach on this machine.
 * Never used outside the benchmark.
 */
import { createHash } from 'node:crypto';
import net from 'node:net';
import path from 'node:path';
import { openDatabase } from '../archive/db/database.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../archive/dicom/part10.ts';
import { createLogger } from '../archive/log.ts';
import { FileSystemObjectStore } from '../archive/storage/fs-store.ts';
import { AcceptorAssociation, type AcceptorHandler, type DatasetSink } from '../gateway/dimse/association.ts';

const dataDir = path.resolve(process.env.YINGYUN_DATA_DIR ?? './data-floor');
const log = createLogger('warn');
const db = await openDatabase({ dataDir, log });
await db.pool.query('CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, object_key text NOT NULL, sha256 text NOT NULL)');
const store = new FileSystemObjectStore(path.join(dataDir, 'objects'));
const commitOnly = process.argv.includes('--commit-only');
let sequence = 0;

function commitOnce(): DatasetSink {
  return {
    append: () => undefined,
    async finish() {
      await db.pool.query('INSERT INTO bench_floor (object_key, sha256) VALUES ($1, $2)', [`ceiling/${++sequence}`, '']);
      return { status: 0x0000 };
    },
    abandon: () => undefined,
  };
}

function storeDurably(): DatasetSink {
  const chunks: Buffer[] = [];
  const hash = createHash('sha256');
  return {
    append(fragment) {
      chunks.push(fragment);
      hash.update(fragment);
    },
    async finish() {
      const sha256 = hash.digest('hex');
      const key = `floor/${sha256}.dcm`;
      // As Yingyun does it: the row inserted while the object is flushed, committed once it is durable.
      const client = await db.pool.connect();
      try {
        const recording = client.query('BEGIN').then(() => client.query('INSERT INTO bench_floor (object_key, sha256) VALUES ($1, $2)', [key, sha256]));
        await Promise.all([recording, store.put(key, Buffer.concat(chunks), 'application/dicom')]);
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      return { status: 0x0000 };
    },
    abandon() {
      chunks.length = 0;
    },
  };
}

const handler: AcceptorHandler = {
  decide: async (request) => ({
    accept: true,
    contexts: request.contexts.map((context) => ({ id: context.id, result: 0, transferSyntaxUid: context.transferSyntaxUids[0]! })),
  }),
  storeStarted: commitOnly ? commitOnce : storeDurably,
  protocolProblem: (reason) => log.warn({ reason }, 'protocol problem'),
  ended: () => undefined,
};

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  new AcceptorAssociation(socket, handler, {
    maxPduLength: 262_144,
    idleMs: 60_000,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
});
server.listen(Number(process.env.YINGYUN_DICOM_PORT ?? 11113), process.env.YINGYUN_DICOM_HOST ?? '127.0.0.1');
process.once('SIGTERM', () => server.close(() => void db.close().then(() => process.exit(0))));
