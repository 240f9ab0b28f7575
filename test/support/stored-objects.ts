import fs from 'node:fs/promises';
import path from 'node:path';
import { openLocalObjectStore } from '../../archive/storage/open.ts';

/**
 * Changes the last byte of an object where the local store keeps it — its own file, or its bytes
 * inside a segment log — as a disk or an operator might, behind the store's back.
 */
export async function alterStoredObject(objectsRoot: string, key: string): Promise<void> {
  const store = await openLocalObjectStore(objectsRoot);
  const bytes = await store.get(key);
  await store.close();
  const candidates = [path.join(objectsRoot, key)];
  const segments = path.join(objectsRoot, '.segments');
  for (const name of await fs.readdir(segments).catch(() => [])) candidates.push(path.join(segments, name));
  for (const file of candidates) {
    const content = await fs.readFile(file).catch(() => undefined);
    const at = content?.indexOf(bytes) ?? -1;
    if (!content || at < 0) continue;
    const last = at + bytes.length - 1;
    content.writeUInt8(content.readUInt8(last) ^ 0xff, last);
    await fs.writeFile(file, content);
    return;
  }
  throw new Error(`the bytes of ${key} are in no file under ${objectsRoot}`);
}
