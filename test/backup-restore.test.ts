import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { promisify } from 'node:util';
import pg from 'pg';
import { Administration, COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { loadConfig } from '../archive/config.ts';
import { createLogger } from '../archive/log.ts';
import { openLocalObjectStore } from '../archive/storage/open.ts';
import { startYingyun } from '../gateway/start.ts';
import { createTestDatabase } from './support/database.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { projectRoot } from './support/npm-start.ts';
import { startTestSystem } from './support/system.ts';
import { multipartParts } from './support/wado.ts';

const run = promisify(execFile);

/**
 * docs/operations.md "Backup and restore", step by step with the real tools: pg_dump (custom format)
 * of a populated database and a copy of the object folder; pg_restore into a fresh database and the
 * copy into a fresh folder; Yingyun started on the restored pair serves every instance with its
 * receipt's SHA-256 and finds every study; and `npm run admin -- store verify` names the instance
 * stored after the dump (its object was copied, its receipt was not), which `npm run import` brings back.
 */

const BEFORE_BACKUP = ['CT_small.dcm', 'MR_small.dcm', 'SC_rgb_small_odd.dcm', 'SC_rgb_jpeg_dcmd.dcm'];
const AFTER_BACKUP = 'SC_ybr_full_422_uncompressed.dcm';

/** The pg_dump and pg_restore of the server's major version (a newer pg_dump also reads an older server; an older one refuses). */
async function toolsFor(serverMajor: number): Promise<{ pgDump: string; pgRestore: string } | null> {
  for (const directory of [`/usr/lib/postgresql/${serverMajor}/bin`, '']) {
    const pgDump = directory ? path.join(directory, 'pg_dump') : 'pg_dump';
    const pgRestore = directory ? path.join(directory, 'pg_restore') : 'pg_restore';
    if (directory ? !fs.existsSync(pgDump) : !commandExists('pg_dump') || !commandExists('pg_restore')) continue;
    const version = (await run(pgDump, ['--version'])).stdout;
    if (Number(/\) (\d+)/.exec(version)?.[1]) >= serverMajor) return { pgDump, pgRestore };
  }
  return null;
}

async function query<T extends pg.QueryResultRow>(databaseUrl: string, sql: string): Promise<T[]> {
  const client = new pg.Client({ connectionString: databaseUrl });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows;
  } finally {
    await client.end();
  }
}

async function admin(environment: NodeJS.ProcessEnv, ...args: string[]): Promise<{ code: number; stdout: string }> {
  try {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'archive', 'cli', 'admin.ts'), ...args], { cwd: projectRoot, env: environment });
    return { code: 0, stdout };
  } catch (error) {
    const failed = error as { code: number; stdout: string; stderr: string };
    if (typeof failed.code !== 'number') throw error;
    return { code: failed.code, stdout: failed.stdout };
  }
}

test('a pg_dump and a copy of the object folder restore into a fresh database and folder that serve every instance; the consistency check names what came after the dump', async (t) => {
  const havePeers = commandExists('storescu') && fs.existsSync(PYDICOM_TEST_FILES);
  if (!requirePeer(t, havePeers, 'DCMTK (storescu) and pydicom test files')) return;
  const source = await startTestSystem();
  const restoredDatabase = await createTestDatabase();
  const workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'yingyun-backup-'));
  let restored: Awaited<ReturnType<typeof startYingyun>> | undefined;
  try {
    const serverMajor = Math.floor(Number((await query<{ server_version_num: string }>(source.databaseUrl, 'SHOW server_version_num'))[0]!.server_version_num) / 10000);
    const tools = await toolsFor(serverMajor);
    if (!requirePeer(t, tools !== null, `pg_dump and pg_restore of PostgreSQL ${serverMajor} or newer (postgresql-client-${serverMajor})`)) return;

    const send = async (files: string[]) => {
      const result = await runDcmtk('storescu', ['-aec', source.aeTitle, '-aet', 'STORESCU', '127.0.0.1', String(source.dicomPort), ...files.map((file) => path.join(PYDICOM_TEST_FILES, file))]);
      assert.equal(result.code, 0, result.output);
      await source.runtime.queue.whenIdle();
    };
    await send(BEFORE_BACKUP);
    const backedUp = await query<{ sop: string; study: string; sha: string }>(source.databaseUrl, 'SELECT sop_instance_uid AS sop, study_instance_uid AS study, object_sha256 AS sha FROM receipts');
    assert.equal(backedUp.length, BEFORE_BACKUP.length);

    // Step 1: the database first (pg_dump takes one consistent snapshot while Yingyun keeps running).
    const dumpFile = path.join(workDir, 'yingyun.dump');
    await run(tools!.pgDump, ['--format=custom', `--file=${dumpFile}`, source.databaseUrl]);
    // An instance acknowledged after the dump and before the copy: its object is copied, its receipt is not.
    await send([AFTER_BACKUP]);
    // Step 2: then the objects (never changed once written, so a copy taken after the dump holds every object the dump names).
    const objectsBackup = path.join(workDir, 'objects-backup');
    await run('cp', ['-a', path.join(source.dataDir, 'objects'), objectsBackup]);

    // Restore: pg_restore into a fresh, empty database; the copy into a fresh data folder.
    await run(tools!.pgRestore, ['--no-owner', '--exit-on-error', `--dbname=${restoredDatabase.url}`, dumpFile]);
    const restoredDataDir = path.join(workDir, 'restored');
    await fsp.mkdir(restoredDataDir);
    await run('cp', ['-a', objectsBackup, path.join(restoredDataDir, 'objects')]);

    const environment = {
      YINGYUN_DATA_DIR: restoredDataDir,
      DATABASE_URL: restoredDatabase.url,
      YINGYUN_HTTP_PORT: '0',
      YINGYUN_DICOM_PORT: '0',
      YINGYUN_DICOM_HOST: '127.0.0.1',
      YINGYUN_LOG_LEVEL: process.env.YINGYUN_TEST_LOG_LEVEL ?? 'silent',
    };
    const config = loadConfig(environment);
    restored = await startYingyun(config, createLogger(config.logLevel), 'all');
    const administration = new Administration(restored.runtime.institutions, restored.runtime.users, restored.runtime.auth, restored.runtime.audit);
    const { token } = await administration.createToken(COMMAND_LINE_ACTOR, { username: 'test-admin', label: 'restore check' });
    const dicomWeb = `http://127.0.0.1:${restored.httpPort}/dicom-web`;
    const get = (url: string, accept: string) => fetch(url, { headers: { authorization: `Bearer ${token}`, accept } });

    const restoredReceipts = await query<{ sop: string; series: string; study: string; sha: string }>(
      restoredDatabase.url,
      'SELECT sop_instance_uid AS sop, series_instance_uid AS series, study_instance_uid AS study, object_sha256 AS sha FROM receipts',
    );
    assert.deepEqual(new Set(restoredReceipts.map((receipt) => `${receipt.sop} ${receipt.sha}`)), new Set(backedUp.map((receipt) => `${receipt.sop} ${receipt.sha}`)));
    for (const receipt of restoredReceipts) {
      const response = await get(`${dicomWeb}/studies/${receipt.study}/series/${receipt.series}/instances/${receipt.sop}`, 'multipart/related; type="application/dicom"');
      assert.equal(response.status, 200, `WADO-RS ${receipt.sop}`);
      const parts = multipartParts(Buffer.from(await response.arrayBuffer()), response.headers.get('content-type')!);
      assert.equal(parts.length, 1);
      assert.equal(createHash('sha256').update(parts[0]!.body).digest('hex'), receipt.sha, `the bytes of ${receipt.sop} are those its receipt's SHA-256 names`);
    }
    const studies = (await (await get(`${dicomWeb}/studies?limit=100`, 'application/dicom+json')).json()) as Array<Record<string, { Value: string[] }>>;
    assert.deepEqual(new Set(studies.map((study) => study['0020000D']!.Value[0])), new Set(backedUp.map((receipt) => receipt.study)));
    await restored.stop();
    restored = undefined;

    // The documented consistency check, as an operator runs it on the restored pair.
    const cliEnvironment = { ...process.env, ...environment, YINGYUN_LOG_LEVEL: 'warn' };
    const check = await admin(cliEnvironment, 'store', 'verify');
    assert.equal(check.code, 1, 'an inconsistent store exits 1');
    const report = JSON.parse(check.stdout) as { receiptObjects: number; storedObjects: number; missingObjects: { count: number }; unreferencedObjects: { count: number; listed: string[] } };
    assert.equal(report.receiptObjects, BEFORE_BACKUP.length);
    assert.equal(report.storedObjects, BEFORE_BACKUP.length + 1);
    assert.equal(report.missingObjects.count, 0);
    assert.equal(report.unreferencedObjects.count, 1);
    const afterBackupSop = (await query<{ sop: string }>(source.databaseUrl, `SELECT sop_instance_uid AS sop FROM receipts WHERE sop_instance_uid <> ALL (ARRAY[${backedUp.map((receipt) => `'${receipt.sop}'`).join(',')}])`))[0]!.sop;
    assert.match(report.unreferencedObjects.listed[0]!, new RegExp(`/${afterBackupSop.replaceAll('.', '\\.')}\\.[0-9a-f]{16}\\.dcm$`));

    // The remedy: export the unreferenced object (a complete DICOM file) and import it; then the pair is consistent.
    const exportedFile = path.join(workDir, 'unreferenced.dcm');
    const exported = await admin(cliEnvironment, 'store', 'export', report.unreferencedObjects.listed[0]!, '--to', exportedFile);
    assert.equal(exported.code, 0, exported.stdout);
    const imported = await run(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'archive', 'cli', 'import.ts'), '--institution=TEST_HOSPITAL', exportedFile], { cwd: projectRoot, env: cliEnvironment });
    assert.match(imported.stdout + imported.stderr, /1/);
    const again = await admin(cliEnvironment, 'store', 'verify');
    assert.equal(again.code, 0, again.stdout);
    assert.equal((JSON.parse(again.stdout) as { consistent: boolean }).consistent, true);

    // A receipt whose object is gone is named too.
    const lost = restoredReceipts[0]!;
    const lostKey = (await query<{ key: string }>(restoredDatabase.url, `SELECT object_key AS key FROM receipts WHERE sop_instance_uid = '${lost.sop}'`))[0]!.key;
    const restoredObjects = await openLocalObjectStore(path.join(restoredDataDir, 'objects'));
    await restoredObjects.delete(lostKey);
    await restoredObjects.close();
    const broken = await admin(cliEnvironment, 'store', 'verify');
    assert.equal(broken.code, 1);
    const brokenReport = JSON.parse(broken.stdout) as { missingObjects: { count: number; listed: Array<{ objectKey: string; sopInstanceUid: string }> } };
    assert.equal(brokenReport.missingObjects.count, 1);
    assert.deepEqual(brokenReport.missingObjects.listed.map((entry) => entry.objectKey), [lostKey]);
  } finally {
    await restored?.stop();
    await source.shutdown();
    await restoredDatabase.drop();
    await fsp.rm(workDir, { recursive: true, force: true });
  }
});
