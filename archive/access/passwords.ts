import { randomBytes, scrypt, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import { dictionary } from '@zxcvbn-ts/language-common';

// scrypt from Node's own OpenSSL binding: a memory-hard KDF the issue allows (besides Argon2id),
// with no native add-on to build. N=2^15, r=8, p=1 costs ~32 MiB and ~50 ms per check here,
// OWASP's recommended minimum for scrypt.
const PARAMETERS = { N: 2 ** 15, r: 8, p: 1 } as const;
const KEY_LENGTH = 32;
const MAX_MEMORY = 64 * 1024 * 1024;

function derive(password: string, salt: Buffer, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) =>
    scrypt(password.normalize('NFC'), salt, KEY_LENGTH, { ...options, maxmem: MAX_MEMORY }, (error, key) => (error ? reject(error) : resolve(key))),
  );
}

/** `scrypt$N$r$p$salt$key` (base64): parameters travel with the hash, so they can be raised later. */
export async function hashPassword(password: string): Promise<string> {
  const salt = randomBytes(16);
  const key = await derive(password, salt, PARAMETERS);
  return ['scrypt', PARAMETERS.N, PARAMETERS.r, PARAMETERS.p, salt.toString('base64'), key.toString('base64')].join('$');
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, key] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !key) return false;
  const expected = Buffer.from(key, 'base64');
  const actual = await derive(password, Buffer.from(salt, 'base64'), { N: Number(n), r: Number(r), p: Number(p) });
  return actual.length === expected.length && timingSafeEqual(actual, expected);
}

// zxcvbn-ts's list of the ~49,000 most common passwords from public breach corpora (maintained, MIT).
const COMMON_PASSWORDS: ReadonlySet<string> = new Set((dictionary['passwords-common'] as string[]).map((password) => password.toLowerCase()));

/**
 * What a password must be (NIST SP 800-63B 5.1.1.2): long enough, not one that attackers try first
 * (a breached or common one, in any case, or one with a year or digits added), and not built on the
 * account's own name. No composition rules.
 */
export function passwordProblem(password: string, username?: string): string | null {
  if (password.length < 12) return 'a password has at least 12 characters';
  if (password.length > 256) return 'a password has at most 256 characters';
  const folded = password.normalize('NFC').toLowerCase();
  const stem = folded.replace(/[\d\W_]+$/u, '');
  if (COMMON_PASSWORDS.has(folded) || COMMON_PASSWORDS.has(stem) || new Set(folded).size < 4) return 'this password is among the most common ones attackers try first; choose another';
  if (username && username.length >= 3 && folded.includes(username.toLowerCase())) return 'a password must not contain the user name';
  return null;
}

/** A one-time password for the first administrator: 18 random bytes, base64url (24 characters). */
export function generatePassword(): string {
  return randomBytes(18).toString('base64url');
}
