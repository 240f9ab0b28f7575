import { randomBytes } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import type { Config } from '../config.ts';
import type { IdentifierKeys } from './identifier-protection.ts';

/**
 * Where the person index's two keys come from: YINGYUN_PERSON_HASH_KEY / _ENCRYPTION_KEY when
 * configured (a deployment of several processes must give them all the same keys), otherwise a file
 * generated once in the data folder beside the embedded cluster and the local objects, readable by
 * this user only. Never PostgreSQL: a database holding both the sealed identifiers and their keys
 * would protect nothing against whoever copies it.
 */
export const PERSON_KEYS_FILE = path.join('keys', 'person-identifiers.json');

export async function loadPersonKeys(config: Pick<Config, 'dataDir' | 'personKeys'>): Promise<IdentifierKeys> {
  if (config.personKeys) return config.personKeys;
  const file = path.join(config.dataDir, PERSON_KEYS_FILE);
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const generated = { matching: randomBytes(32).toString('base64'), encryption: randomBytes(32).toString('base64') };
  try {
    // 'wx': two processes starting on one data folder cannot both write; the second reads the first's.
    await fs.writeFile(file, `${JSON.stringify(generated)}\n`, { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  const stored = JSON.parse(await fs.readFile(file, 'utf8')) as { matching: string; encryption: string };
  return { matching: Buffer.from(stored.matching, 'base64'), encryption: Buffer.from(stored.encryption, 'base64') };
}
