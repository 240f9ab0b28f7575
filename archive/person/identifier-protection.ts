import { createCipheriv, createDecipheriv, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { identifierMatchKey, type PersonIdentifier } from './identifiers.ts';

/**
 * How a strong identifier is kept so records can be matched on it without the number being
 * readable by whoever reads the table (PIPL: a resident ID number is sensitive personal information).
 *
 * - Matching: HMAC-SHA-256 under a secret key of the identifier's match key (kind, namespace,
 *   value). It must be deterministic, or equal numbers would not find each other. A plain hash would
 *   not do: there are only about 10^11 possible resident ID numbers (some 3,000 region codes × 36,500
 *   birth dates of a century × 1,000 sequence numbers), few enough for anyone with the table to hash
 *   them all; without the key they cannot.
 * - Reading: AES-256-GCM of the value, for the roles entitled to see it. It must be randomised (a
 *   fresh 96-bit nonce each time), or equal ciphertexts would betray equal numbers just as a plain
 *   hash would. The kind and namespace are authenticated as associated data, so a ciphertext copied
 *   to another identifier's row does not open there.
 *
 * The two keys are different secrets (one compromised does not give the other) and come from
 * configuration, not from the database that holds what they protect.
 */

const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** The sealed form's first byte, so a later format or key can be told apart from this one. */
const FORMAT_VERSION = 1;

export interface IdentifierKeys {
  /** 32 bytes: the HMAC key of the matching hash. */
  matching: Uint8Array;
  /** 32 bytes: the AES-256-GCM key of the readable copy. */
  encryption: Uint8Array;
}

export class IdentifierProtection {
  readonly #matching: Buffer;
  readonly #encryption: Buffer;

  constructor(keys: IdentifierKeys) {
    if (keys.matching.length !== KEY_BYTES || keys.encryption.length !== KEY_BYTES) {
      throw new Error(`identifier keys are ${KEY_BYTES} bytes each`);
    }
    if (timingSafeEqual(keys.matching, keys.encryption)) throw new Error('the matching and encryption keys of identifiers must differ');
    this.#matching = Buffer.from(keys.matching);
    this.#encryption = Buffer.from(keys.encryption);
  }

  /** The same identifier always gives the same 32 bytes; what the index matches on. */
  matchHash(identifier: PersonIdentifier): Buffer {
    return createHmac('sha256', this.#matching).update(identifierMatchKey(identifier)).digest();
  }

  /** version (1) ‖ nonce (12) ‖ tag (16) ‖ ciphertext; different every time, even for the same identifier. */
  seal(identifier: PersonIdentifier): Buffer {
    const nonce = randomBytes(NONCE_BYTES);
    const cipher = createCipheriv('aes-256-gcm', this.#encryption, nonce);
    cipher.setAAD(associatedData(identifier));
    const ciphertext = Buffer.concat([cipher.update(identifier.value, 'utf8'), cipher.final()]);
    return Buffer.concat([Buffer.of(FORMAT_VERSION), nonce, cipher.getAuthTag(), ciphertext]);
  }

  /** The value sealed for this kind and namespace; throws when the bytes were altered, moved or sealed under another key. */
  open(sealed: Uint8Array, namespace: Omit<PersonIdentifier, 'value'>): string {
    const bytes = Buffer.from(sealed);
    if (bytes.length < 1 + NONCE_BYTES + TAG_BYTES || bytes[0] !== FORMAT_VERSION) throw new Error('not a sealed identifier of format 1');
    const decipher = createDecipheriv('aes-256-gcm', this.#encryption, bytes.subarray(1, 1 + NONCE_BYTES));
    decipher.setAAD(associatedData(namespace));
    decipher.setAuthTag(bytes.subarray(1 + NONCE_BYTES, 1 + NONCE_BYTES + TAG_BYTES));
    return Buffer.concat([decipher.update(bytes.subarray(1 + NONCE_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
  }
}

function associatedData(namespace: Omit<PersonIdentifier, 'value'>): Buffer {
  return Buffer.from(`${namespace.kind}|${namespace.issuer}`, 'utf8');
}
