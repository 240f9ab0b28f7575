/**
 * Floors under any receiver that keeps Yingyun's promise, measured on this machine: our DIMSE layer with
 * a C-STORE handler that does only what a durable acknowledgement needs, and nothing else (no parsing,
 * metadata, index or thumbnails). `npm run bench:ingest` sends each the same corpus; the mode is chosen
 * by the first argument:
 *
 * - `flush` (default), the **durable floor**: the object written to a local folder and flushed as
 *   Yingyun's local store does it (FileSystemObjectStore.put: temporary file, fdatasync, rename, folder
 *   fsync) and one row committed in embedded PostgreSQL, inserted while the object is flushed and
 *   committed after, as Yingyun's ingest path does. The gap from storescp to this row is the price of
 *   durability with one file per object; the gap from this row to Yingyun is Yingyun's own.
 * - `segment`, the **best-case durable floor**: the object written into a file preallocated and zeroed
 *   before the run, so that its flush (fdatasync) carries data only — no new file, no rename, no folder
 *   entry, no allocation — then the same commit. No one-file-per-object store can do better on this
 *   disk; a log-structured store could come close.
 * - `commit-only`, the **commit ceiling**: one committed row per instance (a single INSERT, one round
 *   trip), nothing written and nothing hashed. A receiver on these layers (this DIMSE layer,
 *   node-postgres) that commits a receipt before each Success is slower than this, whatever it does with
 *   the bytes: storescu sends the next instance on an association only after the answer to the last.
 *
 * Never used outside the benchmark.
 */
import { createHash } from 'node:crypto';
import fsp from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { openDatabase } from '../archive/db/database.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../archive/dicom/part10.ts';
import { createLogger } from '../archive/log.ts';
import { FileSystemObjectStore } from '../archive/storage/fs-store.ts';
import { AcceptorAssociation, type AcceptorHandler, type DatasetSink } from '../gateway/dimse/association.ts';

const FLOOR_MODES = ['flush', 'segment', 'commit-only'] as const;
type FloorMode = (typeof FLOOR_MODES)[number];

const mode = (process.argv[2] ?? 'flush') as FloorMode;
if (!FLOOR_MODES.includes(mode)) throw new Error(`mode must be one of ${FLOOR_MODES.join(', ')}`);
const dataDir = path.resolve(process.env.YINGYUN_DATA_DIR ?? './data-floor');
const log = createLogger('warn');
const db = await openDatabase({ dataDir, log });
await db.pool.query('CREATE TABLE IF NOT EXISTS bench_floor (id bigserial PRIMARY KEY, object_key text NOT NULL, sha256 text NOT NULL)');

/** Inserts the row while `write` makes the object durable, and commits once both are done. */
async function commitWith(key: string, sha256: string, write: () => Promise<void>): Promise<void> {
  const client = await db.pool.connect();
  try {
    const recording = client.query('BEGIN').then(() => client.query('INSERT INTO bench_floor (object_key, sha256) VALUES ($1, $2)', [key, sha256]));
    await Promise.all([recording, write()]);
    await client.query('COMMIT');
  } finally {
    client.release();
  }
}

/** Gathers and hashes a dataset, then hands the whole of it to `keep`. */
function gatherThen(keep: (bytes: Buffer, sha256: string) => Promise<void>): () => DatasetSink {
  return () => {
    const chunks: Buffer[] = [];
    const hash = createHash('sha256');
    return {
      append(fragment) {
        chunks.push(fragment);
        hash.update(fragment);
      },
      async finish() {
        await keep(Buffer.concat(chunks), hash.digest('hex'));
        return { status: 0x0000 };
      },
      abandon() {
        chunks.length = 0;
      },
    };
  };
}

async function sinkFor(mode: FloorMode): Promise<() => DatasetSink> {
  if (mode === 'flush') {
    const store = new FileSystemObjectStore(path.join(dataDir, 'objects'));
    return gatherThen((bytes, sha256) => {
      const key = `floor/${sha256}.dcm`;
      return commitWith(key, sha256, () => store.put(key, bytes, 'application/dicom'));
    });
  }
  if (mode === 'segment') {
    // Large enough for the benchmark's corpora (261 MB of CT); zeroed and flushed before the port opens.
    const segmentBytes = Number(process.env.YINGYUN_FLOOR_SEGMENT_MB ?? 320) * 1024 * 1024;
    await fsp.mkdir(dataDir, { recursive: true });
    const segment = await fsp.open(path.join(dataDir, 'segment'), 'w+');
    const zeros = Buffer.alloc(Math.min(8 * 1024 * 1024, segmentBytes));
    for (let at = 0; at < segmentBytes; at += zeros.length) await segment.write(zeros, 0, Math.min(zeros.length, segmentBytes - at), at);
    await segment.sync();
    let end = 0;
    return gatherThen(async (bytes, sha256) => {
      const at = end;
      if (at + bytes.length > segmentBytes) throw new Error('segment full: raise YINGYUN_FLOOR_SEGMENT_MB');
      end += bytes.length;
      await commitWith(`segment/${at}`, sha256, async () => {
        await segment.write(bytes, 0, bytes.length, at);
        await segment.datasync();
      });
    });
  }
  let sequence = 0;
  return () => ({
    append: () => undefined,
    async finish() {
      await db.pool.query('INSERT INTO bench_floor (object_key, sha256) VALUES ($1, $2)', [`ceiling/${++sequence}`, '']);
      return { status: 0x0000 };
    },
    abandon: () => undefined,
  });
}

const handler: AcceptorHandler = {
  decide: async (request) => ({
    accept: true,
    contexts: request.contexts.map((context) => ({ id: context.id, result: 0, transferSyntaxUid: context.transferSyntaxUids[0]! })),
  }),
  storeStarted: await sinkFor(mode),
  protocolProblem: (reason) => log.warn({ reason }, 'protocol problem'),
  ended: () => undefined,
};

const server = net.createServer((socket) => {
  socket.setNoDelay(true);
  socket.on('error', () => undefined);
  new AcceptorAssociation(socket, handler, {
    maxPduLength: Number(process.env.YINGYUN_MAX_PDU_LENGTH ?? 262_144),
    idleMs: 60_000,
    implementationClassUid: IMPLEMENTATION_CLASS_UID,
    implementationVersionName: IMPLEMENTATION_VERSION_NAME,
  });
});
server.listen(Number(process.env.YINGYUN_DICOM_PORT ?? 11113), process.env.YINGYUN_DICOM_HOST ?? '127.0.0.1');
process.once('SIGTERM', () => server.close(() => void db.close().then(() => process.exit(0))));
