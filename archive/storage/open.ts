import path from 'node:path';
import type { Config } from '../config.ts';
import { FileSystemObjectStore } from './fs-store.ts';
import type { ObjectStore } from './object-store.ts';
import { S3ObjectStore } from './s3-store.ts';

export async function openObjectStore(config: Pick<Config, 's3' | 'dataDir'>): Promise<ObjectStore> {
  if (config.s3) {
    const store = new S3ObjectStore(config.s3, path.join(config.dataDir, 'spool'));
    await store.ensureBucket();
    await store.sweepSpool();
    return store;
  }
  const store = new FileSystemObjectStore(path.join(config.dataDir, 'objects'));
  await store.sweepIncoming();
  return store;
}
