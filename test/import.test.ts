import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { existsSync, readFileSync } from 'node:fs';
import { parseInstance } from '../archive/dicom/parse.ts';
import { wrapRawDataset } from '../archive/import/raw-dataset.ts';

const projectRoot = path.resolve(import.meta.dirname, '..');

describe('bare datasets without File Meta Information', () => {
  it('are given File Meta for the encoding their first element shows, keeping their own bytes', (t) => {
    if (!requirePeer(t, existsSync(PYDICOM_TEST_FILES), 'pydicom test files')) return;
    const cases = [
      ['rtstruct.dcm', '1.2.840.10008.1.2'],
      ['ExplVR_LitEndNoMeta.dcm', '1.2.840.10008.1.2.1'],
      ['ExplVR_BigEndNoMeta.dcm', '1.2.840.10008.1.2.2'],
    ] as const;
    for (const [name, transferSyntaxUid] of cases) {
      const bytes = readFileSync(path.join(PYDICOM_TEST_FILES, name));
      const wrapped = wrapRawDataset(bytes);
      assert.ok(wrapped, name);
      assert.equal(wrapped.transferSyntaxUid, transferSyntaxUid, name);
      const parsed = parseInstance(wrapped.part10);
      assert.equal(parsed.transferSyntaxUid, transferSyntaxUid);
      assert.ok(parsed.metadata['0020000D'], `${name}: the dataset reads through to Study Instance UID`);
      assert.ok(wrapped.part10.subarray(parsed.datasetOffset).equals(bytes), `${name}: dataset bytes unchanged`);
    }
    // Part 10 files are left as they are; text, JSON and a dataset with a stray leading byte are not guessed at.
    for (const name of ['CT_small.dcm', 'README.txt', 'test1.json', 'no_meta.dcm']) {
      assert.equal(wrapRawDataset(readFileSync(path.join(PYDICOM_TEST_FILES, name))), null, name);
    }
  });
});

describe('npm run import', () => {
  it('imports a folder holding files, a zip and a tar.gz; reports stored, duplicates, skipped and rejected; exits 1 on rejects', async (t) => {
    if (!requirePeer(t, existsSync(PYDICOM_TEST_FILES) && commandExists('python3') && commandExists('tar'), 'pydicom test files, python3 and tar')) return;
    const work = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-import-'));
      await fs.chmod(work, 0o755);
    try {
      const folder = path.join(work, 'old-archive');
      await fs.mkdir(path.join(folder, 'cd1'), { recursive: true });
      await fs.copyFile(path.join(PYDICOM_TEST_FILES, 'CT_small.dcm'), path.join(folder, 'cd1', 'IM0001'));
      await fs.copyFile(path.join(PYDICOM_TEST_FILES, 'CT_small.dcm'), path.join(folder, 'cd1', 'IM0001-copy'));
      // A bare dataset (implicit VR, no preamble or File Meta), as old archives stored them.
      await fs.copyFile(path.join(PYDICOM_TEST_FILES, 'rtstruct.dcm'), path.join(folder, 'cd1', 'RT0001'));
      await fs.writeFile(path.join(folder, 'cd1', 'DICOMDIR'), 'media directory');
      await fs.writeFile(path.join(folder, 'notes.txt'), 'not a DICOM file');
      const staging = path.join(work, 'staging');
      await fs.mkdir(staging);
      await fs.copyFile(path.join(PYDICOM_TEST_FILES, 'MR_small.dcm'), path.join(staging, 'MR_small.dcm'));
      await fs.copyFile(path.join(PYDICOM_TEST_FILES, 'JPEG2000.dcm'), path.join(staging, 'JPEG2000.dcm'));
      assert.equal(spawnSync('python3', ['-m', 'zipfile', '-c', path.join(folder, 'study.zip'), path.join(staging, 'MR_small.dcm')]).status, 0);
      assert.equal(spawnSync('tar', ['-czf', path.join(folder, 'study.tar.gz'), '-C', staging, 'JPEG2000.dcm']).status, 0);

      const environment: NodeJS.ProcessEnv = { ...process.env, YINGYUN_DATA_DIR: path.join(work, 'data') };
      for (const name of ['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET']) delete environment[name];
      const result = spawnSync('npm', ['run', '--silent', 'import', '--', folder], { cwd: projectRoot, env: environment, encoding: 'utf8', timeout: 180_000 });
      assert.equal(result.status, 1, `exit 1 because one file was rejected:\n${result.stdout}\n${result.stderr}`);
      assert.match(result.stdout, /^rejected: 1$/m, result.stderr);
      assert.match(result.stdout, /^stored: 4$/m);
      assert.match(result.stdout, /^of those stored, bare datasets given File Meta Information: 1$/m);
      assert.match(result.stdout, /^duplicates \(already stored, identical\): 1$/m);
      assert.match(result.stdout, /^skipped: 1$/m);
      assert.match(result.stdout, /DICOMDIR: media directory file, not an instance/);
      assert.match(result.stdout, /^rejected: 1$/m);
      assert.match(result.stdout, /notes\.txt: /);
    } finally {
      await fs.rm(work, { recursive: true, force: true });
    }
  });
});
