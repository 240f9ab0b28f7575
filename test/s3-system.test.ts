import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startS3Server } from './support/s3.ts';
import { startTestSystem } from './support/system.ts';

const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

describe('the whole system on S3-compatible storage', () => {
  it('stores through STOW-RS into S3, indexes, draws the thumbnail there, and returns the bytes unchanged', async (t) => {
    if (!requirePeer(t, fs.existsSync(PYDICOM_TEST_FILES), 'python3-pydicom test files')) return;
    const s3 = await startS3Server();
    const system = await startTestSystem(s3.env);
    try {
      assert.match(system.runtime.store.description, /^S3 bucket yingyun-test at http:\/\/127\.0\.0\.1:/);
      const part10 = fs.readFileSync(path.join(PYDICOM_TEST_FILES, 'MR_small.dcm'));
      const boundary = 'S3Boundary';
      const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), part10, Buffer.from(`\r\n--${boundary}--\r\n`)]);
      const stow = await system.fetch(`${system.dicomWebUrl}/studies`, {
        method: 'POST',
        body,
        headers: { 'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}` },
      });
      assert.equal(stow.status, 200);
      const retrieveUrl = ((await stow.json()) as Record<string, { Value: Array<Record<string, { Value: string[] }>> }>)['00081199']!.Value[0]!['00081190']!.Value[0]!;
      await system.runtime.queue.whenIdle();

      const { rows } = await system.runtime.db.pool.query('SELECT r.object_key, i.thumbnail_key FROM instances i JOIN receipts r ON r.id = i.receipt_id');
      assert.equal(rows.length, 1);
      assert.ok(sha256(await system.runtime.store.get(rows[0].object_key)) === sha256(part10), 'the object in the bucket is what was sent');
      assert.equal((await system.runtime.store.get(rows[0].thumbnail_key)).subarray(0, 2).toString('hex'), 'ffd8');

      const retrieved = await system.fetch(`${retrieveUrl}`, { headers: { Accept: 'multipart/related; type="application/dicom"' } });
      assert.equal(retrieved.status, 200);
      const multipart = Buffer.from(await retrieved.arrayBuffer());
      assert.notEqual(multipart.indexOf(part10), -1, 'the retrieved part holds the original bytes');
    } finally {
      await system.shutdown();
      await s3.stop();
    }
  });
});
