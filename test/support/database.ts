import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { startEmbeddedPostgres } from '../../archive/db/database.ts';
import { createLogger } from '../../archive/log.ts';

/**
 * A fresh, empty database for one test file: on the PostgreSQL server at TEST_POSTGRES_URL
 * (default: the local server on 127.0.0.1:5432) when one answers, otherwise on an embedded
 * PostgreSQL started for this test process — so `npm test` needs nothing but Node.
 */
export interface TestDatabase {
  url: string;
  drop(): Promise<void>;
}

const serverUrl = process.env.TEST_POSTGRES_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
let embedded: Promise<{ adminUrl: string; stop(): Promise<void> }> | undefined;

export async function createTestDatabase(): Promise<TestDatabase> {
  const adminUrl = (await reachable(serverUrl)) ? serverUrl : (await startEmbedded()).adminUrl;
  const name = `yingyun_test_${process.pid}_${randomBytes(4).toString('hex')}`;
  await withClient(adminUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(adminUrl);
  url.pathname = `/${name}`;
  return {
    url: url.toString(),
    drop: () => withClient(adminUrl, (client) => dropDatabase(client, name)),
  };
}

/**
 * Drops a test's database once its connections have gone. pg-pool's end() resolves before its
 * connections have closed on the server, and a DROP … WITH (FORCE) that meets one ends it with an
 * error ("terminating connection due to administrator command") on a client nobody listens to any
 * more, which fails the test file that made the client. So the drop waits up to half a second for
 * them, and forces only what a test left open.
 */
async function dropDatabase(client: pg.Client, name: string): Promise<void> {
  for (let waited = 0; waited < 500; waited += 25) {
    const { rows } = await client.query<{ open: number }>('SELECT count(*)::int AS open FROM pg_stat_activity WHERE datname = $1', [name]);
    if (rows[0]!.open === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  await client.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}

const MIGRATIONS = path.join(path.dirname(fileURLToPath(import.meta.url)), '../../archive/db/migrations');

/** Applies the migrations before `name` to an empty database, as a database upgraded from an earlier release has them. */
export async function migrateBefore(pool: pg.Pool, name: string): Promise<void> {
  await pool.query('CREATE TABLE schema_migrations (name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())');
  for (const file of (await fs.readdir(MIGRATIONS)).filter((file) => file.endsWith('.sql') && file < name).sort()) {
    await pool.query(await fs.readFile(path.join(MIGRATIONS, file), 'utf8'));
    await pool.query('INSERT INTO schema_migrations (name) VALUES ($1)', [file]);
  }
}

async function reachable(url: string): Promise<boolean> {
  try {
    await withClient(url, (client) => client.query('SELECT 1'));
    return true;
  } catch {
    if (process.env.CI === 'true' && !process.env.TEST_ALLOW_EMBEDDED) {
      throw new Error(`CI=true but no PostgreSQL answers at ${url}; .ci/run starts one`);
    }
    return false;
  }
}

function startEmbedded() {
  embedded ??= (async () => {
    const directory = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-test-pg-'));
    // As root PostgreSQL runs as another user, who must be able to enter this folder.
    await fs.chmod(directory, 0o755);
    const server = await startEmbeddedPostgres(path.join(directory, 'postgres'), createLogger('silent'));
    const adminUrl = server.url.replace(/\/yingyun$/, '/postgres');
    server.stopWithProcess();
    return { adminUrl, stop: server.stop };
  })();
  return embedded;
}

async function withClient<T>(url: string, use: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 3000 });
  await client.connect();
  try {
    return await use(client);
  } finally {
    await client.end();
  }
}
