import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { loadConfig } from '../../archive/config.ts';
import { createLogger } from '../../archive/log.ts';
import { startYingyun, type RunningYingyun } from '../../gateway/start.ts';
import { createTestDatabase } from './database.ts';

export interface TestSystem extends RunningYingyun {
  httpUrl: string;
  dicomWebUrl: string;
  aeTitle: string;
  dataDir: string;
  databaseUrl: string;
  /** Stops the system and removes its database and data folder. */
  shutdown(): Promise<void>;
}

/**
 * The whole system in this process, on free ports, with its own data folder and database.
 * `environment` overrides configuration (e.g. REDIS_URL, S3_*). Logs are silent unless
 * YINGYUN_TEST_LOG_LEVEL is set.
 */
export async function startTestSystem(environment: Record<string, string> = {}): Promise<TestSystem> {
  const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-test-'));
  const database = environment.DATABASE_URL ? undefined : await createTestDatabase();
  const config = loadConfig({
    YINGYUN_DATA_DIR: dataDir,
    YINGYUN_HTTP_PORT: '0',
    YINGYUN_DICOM_PORT: '0',
    YINGYUN_DICOM_HOST: '127.0.0.1',
    YINGYUN_AE_TITLE: 'YINGYUN',
    YINGYUN_RECONCILE_AFTER_SECONDS: '2',
    YINGYUN_LOG_LEVEL: process.env.YINGYUN_TEST_LOG_LEVEL ?? 'silent',
    DATABASE_URL: database?.url ?? '',
    ...environment,
  });
  const running = await startYingyun(config, createLogger(config.logLevel), 'all');
  const httpUrl = `http://127.0.0.1:${running.httpPort}`;
  return {
    ...running,
    httpUrl,
    dicomWebUrl: `${httpUrl}/dicom-web`,
    aeTitle: config.dicom.aeTitle,
    dataDir,
    databaseUrl: config.databaseUrl!,
    async shutdown() {
      await running.stop();
      await database?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
