import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { ObjectStore } from '../archive/storage/object-store.ts';
import { FileSystemObjectStore } from '../archive/storage/fs-store.ts';
import { openLocalObjectStore } from '../archive/storage/open.ts';
import { encodeFooter, recordLength } from '../archive/storage/segment-format.ts';
import { SegmentObjectStore } from '../archive/storage/segment-store.ts';

/**
 * The segment log behind the local object store (archive/storage/segment-store.ts): what a reopened
 * store (a restart) and a second store on the same folder (another process) read back, torn tails,
 * segments rolling over, objects too large for a segment, and deletes.
 */
async function withRoot(run: (root: string, open: () => Promise<ObjectStore>) => Promise<void>): Promise<void> {
  const root = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-segments-'));
  const opened: ObjectStore[] = [];
  try {
    await run(root, async () => {
      const store = await openLocalObjectStore(root, 'segments');
      opened.push(store);
      return store;
    });
  } finally {
    await Promise.all(opened.map((store) => store.close()));
    await fs.rm(root, { recursive: true, force: true });
  }
}

const keyOf = (index: number) => `instances/1.2.3/1.2.3.4/1.2.3.4.${index}.${createHash('sha256').update(String(index)).digest('hex').slice(0, 16)}.dcm`;

describe('local segment log object store', () => {
  it('stores concurrent puts across several segments and reads every one back after a restart', async () => {
    await withRoot(async (root, open) => {
      // Segments of 4 MiB rather than 256: 60 × 200 KB roll over at least twice, written 20 at a time
      // so that flushes are shared and writes finish out of order.
      const store = new SegmentObjectStore(root, new FileSystemObjectStore(root), 4 * 1024 * 1024);
      const bodies = Array.from({ length: 60 }, () => randomBytes(200_000 + Math.floor(Math.random() * 1000)));
      for (let start = 0; start < bodies.length; start += 20) {
        await Promise.all(bodies.slice(start, start + 20).map((body, offset) => store.put(keyOf(start + offset), body, 'application/dicom')));
      }
      const segments = (await fs.readdir(path.join(root, '.segments'))).filter((name) => name.endsWith('.seg'));
      assert.ok(segments.length >= 3, `rolled over into ${segments.length} segments`);
      assert.deepEqual((await fs.readdir(root)).filter((name) => !name.startsWith('.')), [], 'no file per object');
      await store.close();
      const restarted = await open();
      for (const [index, body] of bodies.entries()) assert.ok((await restarted.get(keyOf(index))).equals(body), `object ${index} after a restart`);
      const listed = [];
      for await (const key of restarted.list('instances/')) listed.push(key);
      assert.deepEqual(listed, bodies.map((_, index) => keyOf(index)).sort((a, b) => Buffer.compare(Buffer.from(a), Buffer.from(b))));
    });
  });

  it('lets another process read what one stored, and a delete hide it from both after a restart', async () => {
    await withRoot(async (root, open) => {
      const gateway = await open();
      const worker = await open();
      const body = randomBytes(50_000);
      await gateway.put(keyOf(1), body, 'application/dicom');
      assert.ok((await worker.get(keyOf(1))).equals(body), "read on in the other writer's segment");
      assert.ok((await worker.getRange(keyOf(1), 100, 1000)).equals(body.subarray(100, 1100)));
      const streamed: Buffer[] = [];
      for await (const chunk of await worker.stream(keyOf(1))) streamed.push(chunk as Buffer);
      assert.ok(Buffer.concat(streamed).equals(body));
      await worker.delete(keyOf(1));
      assert.equal(await worker.exists(keyOf(1)), false);
      const restarted = await open();
      assert.equal(await restarted.exists(keyOf(1)), false, 'the delete record outlives the restart');
      await restarted.put(keyOf(1), body, 'application/dicom');
      assert.ok((await (await open()).get(keyOf(1))).equals(body), 'stored again after its delete');
    });
  });

  it('reads a log up to a torn record and no further, and goes on writing in a new segment', async () => {
    await withRoot(async (root, open) => {
      const store = await open();
      const first = randomBytes(10_000);
      const second = randomBytes(10_000);
      await store.put(keyOf(1), first, 'application/dicom');
      await store.put(keyOf(2), second, 'application/dicom');
      const [segment] = await fs.readdir(path.join(root, '.segments'));
      const file = path.join(root, '.segments', segment!);
      // A crash while the second record's body was being written: its last bytes never reached the disk.
      const bytes = await fs.readFile(file);
      const secondEnds = bytes.indexOf(second) + second.length;
      await fs.writeFile(file, Buffer.concat([bytes.subarray(0, secondEnds - 100), Buffer.alloc(bytes.length - secondEnds + 100)]));
      const restarted = await open();
      assert.ok((await restarted.get(keyOf(1))).equals(first));
      assert.equal(await restarted.exists(keyOf(2)), false, 'a torn record is not an object');
      await restarted.put(keyOf(3), first, 'application/dicom');
      assert.equal((await fs.readdir(path.join(root, '.segments'))).length, 2, 'the restarted store writes a segment of its own');
      assert.ok((await (await open()).get(keyOf(3))).equals(first));
    });
  });

  it('keeps an object larger than a segment may hold, and an upload that outgrows memory, as files of their own', async () => {
    await withRoot(async (root, open) => {
      const store = await open();
      const large = randomBytes(9 * 1024 * 1024);
      await store.put(keyOf(1), large, 'application/dicom');
      const upload = store.openUpload();
      for (let at = 0; at < large.length; at += 1024 * 1024) await upload.write(large.subarray(at, at + 1024 * 1024));
      await upload.finish(keyOf(2));
      const small = store.openUpload();
      small.write(Buffer.from('a small '));
      small.write(Buffer.from('upload'));
      await small.finish(keyOf(3));
      const restarted = await open();
      assert.ok((await restarted.get(keyOf(1))).equals(large));
      assert.ok((await restarted.get(keyOf(2))).equals(large));
      assert.equal((await restarted.get(keyOf(3))).toString(), 'a small upload');
      assert.ok((await fs.stat(path.join(root, keyOf(1)))).isFile(), 'the large object is a file');
      const dropped = store.openUpload();
      dropped.write(Buffer.from('never'));
      await dropped.discard();
      assert.equal(await restarted.exists(keyOf(4)), false);
    });
  });

  it("cuts a stopping process's segment after its last record, and reads it back sealed", async () => {
    await withRoot(async (root, open) => {
      const store = await open();
      const body = randomBytes(100_000);
      await store.put(keyOf(1), body, 'application/dicom');
      await store.close();
      const [segment] = await fs.readdir(path.join(root, '.segments'));
      const { size } = await fs.stat(path.join(root, '.segments', segment!));
      assert.ok(size < 101_000, `${size} bytes left of a 4 MiB segment`);
      assert.ok((await (await open()).get(keyOf(1))).equals(body));
    });
  });

  it('reads an open segment whose last object ends in bytes that look like a footer as open, and refuses what it cannot write', async () => {
    await withRoot(async (root, open) => {
      const gateway = await open();
      const first = randomBytes(1000);
      await gateway.put(keyOf(1), first, 'application/dicom');
      // An object whose last 32 bytes read as a footer naming exactly where they lie in the segment:
      // were it trusted, another process would take the open segment for sealed and stop reading it.
      const secondAt = recordLength(keyOf(1), first.length);
      const forgedFooterAt = secondAt + recordLength(keyOf(2), 5000 + 32) - 32;
      await gateway.put(keyOf(2), Buffer.concat([randomBytes(5000), encodeFooter(forgedFooterAt)]), 'application/dicom');
      const worker = await open();
      assert.equal(await worker.exists(keyOf(2)), true);
      await gateway.put(keyOf(3), randomBytes(1000), 'application/dicom');
      assert.equal(await worker.exists(keyOf(3)), true, 'what the gateway stored after it is still read');
      // A key the log cannot hold is refused before any space is handed out, and the log goes on.
      await assert.rejects(gateway.put(`instances/${'1'.repeat(70_000)}.dcm`, Buffer.from('x'), 'application/dicom'), /too long/);
      await gateway.put(keyOf(4), first, 'application/dicom');
      assert.ok((await worker.get(keyOf(4))).equals(first));
      await gateway.close();
      await assert.rejects(gateway.put(keyOf(5), first, 'application/dicom'), /closed/);
    });
  });

  it('cuts off what a failed flush left, so no other process or restart takes a refused object for stored', async () => {
    await withRoot(async (root, open) => {
      const gateway = await open();
      await gateway.put(keyOf(1), randomBytes(1000), 'application/dicom');
      // The disk reports an I/O error on the next flush (fdatasync) of any file, once.
      const probe = await fs.open(path.join(root, 'probe'), 'w');
      const prototype = Object.getPrototypeOf(probe) as { datasync: () => Promise<void> };
      await probe.close();
      const datasync = prototype.datasync;
      let failNext = true;
      prototype.datasync = function (this: unknown) {
        if (!failNext) return datasync.call(this);
        failNext = false;
        return Promise.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
      };
      try {
        await assert.rejects(gateway.put(keyOf(2), randomBytes(40_000), 'application/dicom'), /EIO/);
      } finally {
        prototype.datasync = datasync;
      }
      const restarted = await open();
      assert.equal(await restarted.exists(keyOf(2)), false, 'the refused object is not read back');
      assert.equal(await restarted.exists(keyOf(1)), true);
      await gateway.put(keyOf(3), randomBytes(1000), 'application/dicom');
      assert.equal(await restarted.exists(keyOf(3)), true, 'the gateway goes on in a new segment');
    });
  });
});
