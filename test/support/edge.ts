import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { Administration, COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
import { generateCorpus } from '../../fixtures/generate.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { projectRoot } from './npm-start.ts';
import { openTestRuntime } from './runtime.ts';
import type { TestSystem } from './system.ts';

/** The region's account for a county edge: an institution administrator (may store, sees no images) of COUNTY1, with a token. */
export async function regionAccountForEdge(region: TestSystem): Promise<string> {
  await region.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'COUNTY1', name: '青石县人民医院', kind: 'hospital' });
  await region.administration.createUser(COMMAND_LINE_ACTOR, { username: 'county1-edge', displayName: 'County 1 edge', role: 'institution_admin', institutionCode: 'COUNTY1' });
  return (await region.administration.createToken(COMMAND_LINE_ACTOR, { username: 'county1-edge', label: 'edge' })).token;
}

export interface EdgeSite {
  database: TestDatabase;
  dataDir: string;
  /** A system administrator's token at the edge (status page, metrics). */
  adminToken: string;
  pool: pg.Pool;
  dispose(): Promise<void>;
}

/** The edge's database and data folder, migrated, with the local PACS (STORESCU) registered and an administrator's token. */
export async function prepareEdgeSite(): Promise<EdgeSite> {
  const database = await createTestDatabase();
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-edge-'));
  const runtime = await openTestRuntime({ databaseUrl: database.url, dataDir, runWorkers: false });
  let adminToken: string;
  try {
    const administration = new Administration(runtime.institutions, runtime.users, runtime.auth, runtime.audit);
    await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'COUNTY1', name: '青石县人民医院', kind: 'hospital' });
    await administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'COUNTY1', aeTitle: 'STORESCU' });
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'edge-admin', displayName: 'Edge administrator', role: 'system_admin', institutionCode: 'COUNTY1' });
    adminToken = (await administration.createToken(COMMAND_LINE_ACTOR, { username: 'edge-admin', label: 'edge test' })).token;
  } finally {
    await runtime.dispose();
  }
  const pool = new pg.Pool({ connectionString: database.url, max: 2 });
  return {
    database,
    dataDir,
    adminToken,
    pool,
    async dispose() {
      await pool.end();
      await database.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface EdgeProcess {
  child: ChildProcess;
  /** The start-up line's description of the database (embedded: where its cluster lives). */
  database: string;
  httpUrl: string;
  dicomPort: number;
  output(): string;
  /** SIGKILL, as a power cut would. */
  kill9(): Promise<void>;
  stop(): Promise<void>;
}

/**
 * `npm run edge`'s command (gateway/main.ts --role=edge) as a child process on free ports. Without a
 * database it runs on embedded PostgreSQL in its data folder; with `netns`, inside that network namespace.
 */
export async function startEdgeProcess(site: { dataDir: string; database?: TestDatabase }, environment: Record<string, string>, netns?: string): Promise<EdgeProcess> {
  const command = [process.execPath, '--import', 'tsx', 'gateway/main.ts', '--role=edge'];
  const environmentWithoutDatabase: NodeJS.ProcessEnv = { ...process.env };
  delete environmentWithoutDatabase.DATABASE_URL;
  const child = spawn(netns ? 'ip' : command[0]!, netns ? ['netns', 'exec', netns, ...command] : command.slice(1), {
    cwd: projectRoot,
    env: {
      ...environmentWithoutDatabase,
      ...(site.database ? { DATABASE_URL: site.database.url } : {}),
      YINGYUN_DATA_DIR: site.dataDir,
      YINGYUN_HTTP_PORT: '0',
      YINGYUN_DICOM_PORT: '0',
      YINGYUN_DICOM_HOST: '127.0.0.1',
      YINGYUN_RECONCILE_AFTER_SECONDS: '2',
      YINGYUN_RENDER_THREADS: '1',
      YINGYUN_LOG_LEVEL: process.env.YINGYUN_TEST_LOG_LEVEL ?? 'warn',
      ...environment,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = /Yingyun ready: web (http:\/\/\S+?)\/ +DICOM YINGYUN@[\d.]+:(\d+) +\((.*?);/.exec(output);
    if (ready) {
      return {
        child,
        database: ready[3]!,
        httpUrl: ready[1]!,
        dicomPort: Number(ready[2]),
        output: () => output,
        async kill9() {
          child.kill('SIGKILL');
          await exited;
        },
        async stop() {
          if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
          await exited;
        },
      };
    }
    if (child.exitCode !== null) throw new Error(`the edge exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`the edge was not ready after 120 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Explicit VR Little Endian instances of the small fixture corpus written as files: what the county PACS sends. */
export async function writeInstances(folder: string, seed: string, count: number): Promise<Array<{ file: string; sopInstanceUid: string }>> {
  const files: Array<{ file: string; sopInstanceUid: string }> = [];
  for (let round = 0; files.length < count; round++) {
    for (const instance of generateCorpus({ preset: 'small', seed: `${seed}-${round}` })) {
      if (instance.description.transferSyntaxUid !== '1.2.840.10008.1.2.1' || files.length >= count) continue;
      const file = path.join(folder, `${instance.description.sopInstanceUid}.dcm`);
      await fs.writeFile(file, instance.bytes);
      files.push({ file, sopInstanceUid: instance.description.sopInstanceUid });
    }
  }
  return files;
}

/** Polls `check` until it is true or `timeoutMs` has passed. */
export async function waitFor(what: string, check: () => Promise<boolean>, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
}
