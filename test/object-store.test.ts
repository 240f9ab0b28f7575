import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../archive/config.ts';
import { FileSystemObjectStore } from '../archive/storage/fs-store.ts';
import { ObjectNotFound, type ObjectStore } from '../archive/storage/object-store.ts';
import { openLocalObjectStore, openObjectStore } from '../archive/storage/open.ts';
import { startS3Server } from './support/s3.ts';

function objectStoreContract(name: string, open: () => Promise<{ store: ObjectStore; close(): Promise<void> }>) {
  describe(name, () => {
    it('stores, reads whole and by range, streams, and deletes', async () => {
      const { store, close } = await open();
      try {
        const body = randomBytes(300_000);
        const key = 'instances/1.2.3/1.2.3.4/1.2.3.4.5/abcdef.dcm';
        assert.equal(await store.exists(key), false);
        await store.put(key, body, 'application/dicom');
        assert.equal(await store.exists(key), true);
        assert.ok((await store.get(key)).equals(body));
        assert.ok((await store.getRange(key, 1000, 5000)).equals(body.subarray(1000, 6000)));
        const chunks: Buffer[] = [];
        for await (const chunk of await store.stream(key)) chunks.push(chunk as Buffer);
        assert.ok(Buffer.concat(chunks).equals(body));
        await store.delete(key);
        assert.equal(await store.exists(key), false);
        await assert.rejects(store.get(key), ObjectNotFound);
      } finally {
        await close();
      }
    });

    it('stores derived data (thumbnails) whole under its key, replacing an older version', async () => {
      const { store, close } = await open();
      try {
        await store.putDerived('thumbnails/a/1.jpg', Buffer.from('first'), 'image/jpeg');
        await store.putDerived('thumbnails/a/1.jpg', Buffer.from('second'), 'image/jpeg');
        assert.equal((await store.get('thumbnails/a/1.jpg')).toString(), 'second');
        await assert.rejects(store.putDerived('../escape.jpg', Buffer.from('x'), 'image/jpeg'), /unsafe object key/);
      } finally {
        await close();
      }
    });

    it('refuses keys that could escape the store', async () => {
      const { store, close } = await open();
      try {
        for (const key of ['../etc/passwd', 'a/../../b', '/absolute', 'a//b', 'spaces are odd']) {
          await assert.rejects(store.put(key, Buffer.from('x'), 'text/plain'), /unsafe object key/);
        }
      } finally {
        await close();
      }
    });
  });
}

objectStoreContract('local folder object store', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-objects-'));
  return { store: new FileSystemObjectStore(root), close: () => fs.rm(root, { recursive: true, force: true }) };
});

objectStoreContract('local segment log object store', async () => {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-objects-'));
  const store = await openLocalObjectStore(root, 'segments');
  return { store, close: () => store.close().then(() => fs.rm(root, { recursive: true, force: true })) };
});

objectStoreContract('S3 object store against a real S3-compatible server', async () => {
  const s3 = await startS3Server();
  // openObjectStore creates the bucket on first use, as it would against a fresh MinIO.
  const store = await openObjectStore(loadConfig(s3.env));
  return { store, close: s3.stop };
});

describe('local folder object store durability', () => {
  it('leaves no temporary file behind and replaces an object atomically', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-objects-'));
    try {
      const store = new FileSystemObjectStore(root);
      await store.put('a/b.dcm', Buffer.from('first'), 'application/dicom');
      await store.put('a/b.dcm', Buffer.from('second'), 'application/dicom');
      assert.deepEqual(await fs.readdir(path.join(root, 'a')), ['b.dcm']);
      assert.equal((await store.get('a/b.dcm')).toString(), 'second');
      // An upload: written in pieces before its key is known, visible only once finished.
      const pieces = Array.from({ length: 12 }, (_, index) => Buffer.alloc(50_000 + index, index));
      const upload = store.openUpload();
      for (const piece of pieces) upload.write(piece);
      assert.equal(await store.exists('a/uploaded.dcm'), false);
      await upload.finish('a/uploaded.dcm');
      assert.ok((await store.get('a/uploaded.dcm')).equals(Buffer.concat(pieces)), 'the pieces in order, byte for byte');
      const dropped = store.openUpload();
      dropped.write(Buffer.from('never'));
      await dropped.discard();
      assert.deepEqual(await fs.readdir(path.join(root, '.incoming')), [], 'finished and discarded uploads leave no temporary file');
      await fs.rm(path.join(root, 'a', 'uploaded.dcm'));
      // A put whose final rename fails (a folder already holds the name) after the temporary file was written.
      await fs.mkdir(path.join(root, 'a', 'taken', 'inside'), { recursive: true });
      await assert.rejects(store.put('a/taken', Buffer.from('never'), 'application/dicom'));
      assert.deepEqual((await fs.readdir(path.join(root, 'a'))).sort(), ['b.dcm', 'taken'], 'a failed put leaves no temporary file');
      const refused = store.openUpload();
      refused.write(Buffer.from('never'));
      await assert.rejects(refused.finish('a/taken'));
      assert.deepEqual(await fs.readdir(path.join(root, '.incoming')), [], 'nor does a failed upload');
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });

  it('sweeps uploads a crash left behind once they are an hour old, and not the ones still arriving', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-objects-'));
    try {
      const store = new FileSystemObjectStore(root);
      const incoming = path.join(root, '.incoming');
      await fs.mkdir(incoming);
      await fs.writeFile(path.join(incoming, 'crashed.tmp'), 'half an instance');
      const twoHoursAgo = new Date(Date.now() - 2 * 3_600_000);
      await fs.utimes(path.join(incoming, 'crashed.tmp'), twoHoursAgo, twoHoursAgo);
      await fs.writeFile(path.join(incoming, 'arriving.tmp'), 'another process is receiving this');
      assert.equal(await store.sweepIncoming(), 1);
      assert.deepEqual(await fs.readdir(incoming), ['arriving.tmp']);
    } finally {
      await fs.rm(root, { recursive: true, force: true });
    }
  });
});
