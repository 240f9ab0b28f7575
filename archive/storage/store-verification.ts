import type { ReceiptsRepository } from '../db/receipts-repository.ts';
import type { ObjectStore } from './object-store.ts';

/** Where the received instances live in the object store; every receipt's key begins with it. */
export const INSTANCE_PREFIX = 'instances/';
/** How many of each kind of discrepancy the report names; the counts are always complete. */
const LISTED_AT_MOST = 1000;

export interface StoreVerification {
  consistent: boolean;
  /** Distinct object keys the receipts name. */
  receiptObjects: number;
  /** Objects found under INSTANCE_PREFIX. */
  storedObjects: number;
  /** Receipts whose object is not in the store: acknowledged instances that cannot be served. */
  missingObjects: { count: number; listed: Array<{ objectKey: string; receiptId: string; sopInstanceUid: string }> };
  /**
   * Objects no receipt names: after a restore, instances stored after the database's backup was
   * taken (their Success came later); otherwise uploads whose receipt never committed.
   */
  unreferencedObjects: { count: number; listed: string[] };
}

/**
 * Compares the receipts with the object store in one pass: both are walked in the byte order of
 * their keys and merged, so neither side is held in memory (a region's store holds a billion objects).
 * Thumbnails and report documents are outside the check: they are drawn again when missing.
 */
export async function verifyStore(receipts: Pick<ReceiptsRepository, 'objectKeysInKeyOrder'>, store: Pick<ObjectStore, 'list'>): Promise<StoreVerification> {
  const result: StoreVerification = {
    consistent: true,
    receiptObjects: 0,
    storedObjects: 0,
    missingObjects: { count: 0, listed: [] },
    unreferencedObjects: { count: 0, listed: [] },
  };
  const receiptKeys = receipts.objectKeysInKeyOrder()[Symbol.asyncIterator]();
  const storedKeys = store.list(INSTANCE_PREFIX)[Symbol.asyncIterator]();
  let receipt = await receiptKeys.next();
  let stored = await storedKeys.next();
  const missing = (entry: { objectKey: string; receiptId: string; sopInstanceUid: string }) => {
    result.missingObjects.count++;
    if (result.missingObjects.listed.length < LISTED_AT_MOST) result.missingObjects.listed.push(entry);
  };
  const unreferenced = (key: string) => {
    result.unreferencedObjects.count++;
    if (result.unreferencedObjects.listed.length < LISTED_AT_MOST) result.unreferencedObjects.listed.push(key);
  };
  while (!receipt.done || !stored.done) {
    if (!receipt.done && (stored.done || receipt.value.objectKey < stored.value)) {
      result.receiptObjects++;
      missing(receipt.value);
      receipt = await receiptKeys.next();
    } else if (!stored.done && (receipt.done || stored.value < receipt.value.objectKey)) {
      result.storedObjects++;
      unreferenced(stored.value);
      stored = await storedKeys.next();
    } else {
      result.receiptObjects++;
      result.storedObjects++;
      receipt = await receiptKeys.next();
      stored = await storedKeys.next();
    }
  }
  result.consistent = result.missingObjects.count === 0 && result.unreferencedObjects.count === 0;
  return result;
}
