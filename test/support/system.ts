import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Administration, COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
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
  administration: Administration;
  /** The id of TEST_HOSPITAL, the institution the default peers and the test administrator belong to. */
  institutionId: string;
  /** An API token of `test-admin`: a system administrator (sees every institution) working for TEST_HOSPITAL. */
  adminToken: string;
  /** fetch with the test administrator's token, unless the request brings its own Authorization. */
  fetch(input: string | URL, init?: RequestInit): Promise<Response>;
  /** Stops the system and removes its database and data folder. */
  shutdown(): Promise<void>;
}

/** AE titles the suites and DCMTK tools call with by default: registered for TEST_HOSPITAL, from any address. */
export const TEST_PEER_AE_TITLES = ['STORESCU', 'ECHOSCU', 'FINDSCU', 'GETSCU', 'MOVESCU', 'COUNTY_PACS', 'STORESCP', 'ORACLE', 'BENCH'];

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
  const { runtime } = running;
  const administration = new Administration(runtime.institutions, runtime.users, runtime.auth, runtime.audit);
  const institution = await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'TEST_HOSPITAL', name: '测试医院 Test Hospital', kind: 'hospital' });
  for (const aeTitle of TEST_PEER_AE_TITLES) await administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle });
  await administration.createUser(COMMAND_LINE_ACTOR, { username: 'test-admin', displayName: 'Test Administrator', role: 'system_admin', institutionCode: 'TEST_HOSPITAL' });
  const { token: adminToken } = await administration.createToken(COMMAND_LINE_ACTOR, { username: 'test-admin', label: 'test suite' });
  const authorisedFetch = (input: string | URL, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (!headers.has('authorization')) headers.set('authorization', `Bearer ${adminToken}`);
    return fetch(input, { ...init, headers });
  };
  return {
    ...running,
    httpUrl,
    dicomWebUrl: `${httpUrl}/dicom-web`,
    aeTitle: config.dicom.aeTitle,
    dataDir,
    databaseUrl: config.databaseUrl!,
    administration,
    institutionId: institution.id,
    adminToken,
    fetch: authorisedFetch,
    async shutdown() {
      await running.stop();
      await database?.drop();
      await fs.rm(dataDir, { recursive: true, force: true });
    },
  };
}
