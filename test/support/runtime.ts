import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../archive/config.ts';
import { createLogger } from '../../archive/log.ts';
import { openRuntime, type Runtime } from '../../workers/runtime.ts';
import { createTestDatabase } from './database.ts';

/** The archive without network edges: for tests of the ingest path, jobs and the reconciler. */
export async function openTestRuntime(
  options: { runWorkers?: boolean; environment?: Record<string, string>; databaseUrl?: string; dataDir?: string } = {},
): Promise<Runtime & { databaseUrl: string; dataDir: string; dispose(): Promise<void> }> {
  const dataDir = options.dataDir ?? (await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-test-')));
  const database = options.databaseUrl ? undefined : await createTestDatabase();
  const config = loadConfig({
    YINGYUN_DATA_DIR: dataDir,
    YINGYUN_RECONCILE_AFTER_SECONDS: '1',
    YINGYUN_LOG_LEVEL: process.env.YINGYUN_TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: options.databaseUrl ?? database!.url,
    ...options.environment,
  });
  const runtime = await openRuntime(config, createLogger(config.logLevel), { runWorkers: options.runWorkers ?? true });
  return Object.assign(runtime, {
    databaseUrl: config.databaseUrl!,
    dataDir,
    async dispose() {
      await runtime.close();
      await database?.drop();
      if (!options.dataDir) await fs.rm(dataDir, { recursive: true, force: true });
    },
  });
}

/** The quarantine institution, which migration 003 creates first in every new database. */
export const QUARANTINE_INSTITUTION_ID = '1';
