import path from 'node:path';
import type { Config } from '../config.ts';
import { FileSystemObjectStore } from './fs-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-store.ts';
import { SegmentObjectStore } from './segment-store.ts';

export async function openObjectStore(config: Pick<Config, 's3' | 'dataDir' | 'localStore'>): Promise<ObjectStore> {
  if (config.s3) {
    const store = new S3ObjectStore(config.s3, path.join(config.dataDir, 'spool'));
    await store.ensureBucket();
    await store.sweepSpool();
    return store;
  }
  return openLocalObjectStore(path.join(config.dataDir, 'objects'), config.localStore);
}

/** The local object store under `root`, as a process opens it: what a crash left in uploads swept, segments read. */
export async function openLocalObjectStore(root: string, kind: Config['localStore'] = 'files'): Promise<FileSystemObjectStore | SegmentObjectStore> {
  const files = new FileSystemObjectStore(root);
  await files.sweepIncoming();
  if (kind === 'files') return files;
  const store = new SegmentObjectStore(root, files);
  await store.open();
  return store;
}
