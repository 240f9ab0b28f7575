import type pg from 'pg';
import type { InsertedReceipt, NewReceipt, ReceiptsRepository } from './receipts-repository.ts';

/** Receipts in one transaction at most: a group's members all wait for its last insert. */
const MAX_GROUP = 64;
/**
 * Group transactions committing at once, each on its own connection. One at a time, four senders
 * queued behind each other's inserts (2,000 small instances over 4 associations: 21 ms of commit wait
 * per instance in groups of 2, against 3 ms for the object's whole write and flush), while the
 * durable floor's four connections committing side by side took 2.5 times as many instances per
 * second: PostgreSQL runs their inserts on separate cores and shares one WAL flush between commits
 * that meet (its own group commit). Receipts still gather into groups once every slot is busy.
 */
export const TRANSACTIONS_IN_FLIGHT = 4;
const DEADLOCK_DETECTED = '40P01';

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
/**
 * How long a confirmation waits for a receipt to carry it before it is committed alone. Only crash
 * recovery reads it (the answer to the sender does not wait for it), so it may wait for the next
 * receipt rather than cost a WAL flush of its own while instances keep coming.
 */
const CONFIRMATION_IDLE_MS = 50;
/** How long an unconfirmed receipt may stay so before the reconciler takes its flush for cut off. */
export interface UnconfirmedGrace {
  seconds: number;
  /** Plus one second per this many bytes of the object: the slowest flush we still wait for. */
  flushBytesPerSecond: number;
}

/**
 * A receipt still unconfirmed after its grace is the reconciler's to resolve (its flush was cut off
 * by a crash): short, so that after a crash what was acknowledged is indexed soon, but longer for a
 * large object, whose flush may take long on a slow disk (2 GB at 5 MB/s: 400 s) and would otherwise be
 * taken for lost on every retry. Constants, not settings, because the ingest path of every process
 * relies on them: one whose flush took longer than a third of its grace confirms before it answers, and
 * answers a failure if the receipt was resolved meanwhile, so a slow flush can never be mistaken for a
 * lost one and then acknowledged.
 */
export const UNCONFIRMED_RECEIPT_GRACE: UnconfirmedGrace = { seconds: 30, flushBytesPerSecond: 5_000_000 };

export function graceSecondsFor(sizeBytes: number, grace: UnconfirmedGrace = UNCONFIRMED_RECEIPT_GRACE): number {
  return grace.seconds + sizeBytes / grace.flushBytesPerSecond;
}

interface Member {
  receipt: NewReceipt;
  writableInstitutionIds: readonly string[] | 'all';
  resolve(inserted: InsertedReceipt): void;
  reject(error: unknown): void;
}

/**
 * Group commit of receipts: up to TRANSACTIONS_IN_FLIGHT transactions commit side by side, and every
 * receipt handed over while all of them are busy goes into the next one, whichever association,
 * STOW-RS request or import it came from, so they share one WAL flush. Nothing waits for a window to
 * fill: a receipt that finds a free slot is committed at once (as one statement), and groups grow only
 * with the load, as PostgreSQL's own group commit does for separate connections — which is also what
 * happens between separate gateway processes, each with its own committer.
 *
 * Receipts are inserted unconfirmed (migration 029) while their objects are flushed; `confirm` marks an
 * object durable, riding on the next group's first statement. A failed transaction fails every member
 * of its group (none of them is visible); each sender gets its failure and may send again.
 */
export class ReceiptCommitter {
  private waiting: Member[] = [];
  private confirmations: string[] = [];
  private inFlight = 0;
  private idleConfirmation?: NodeJS.Timeout;
  /** Transactions committed and receipts they carried, for the benchmark and the tests. */
  readonly counts = { transactions: 0, receipts: 0 };

  /** Receipts waiting for a transaction, and transactions under way: what a test waits on instead of a clock. */
  get backlog(): { waiting: number; inFlight: number } {
    return { waiting: this.waiting.length, inFlight: this.inFlight };
  }

  constructor(
    private readonly pool: pg.Pool,
    private readonly receipts: ReceiptsRepository,
  ) {}

  /** Resolves once the receipt is committed (unconfirmed) in a group, or nothing was inserted (refused, a duplicate). */
  commit(receipt: NewReceipt, writableInstitutionIds: readonly string[] | 'all'): Promise<InsertedReceipt> {
    return new Promise((resolve, reject) => {
      this.waiting.push({ receipt, writableInstitutionIds, resolve, reject });
      this.next();
    });
  }

  /** The receipt's object is durable: recorded with the next group, or alone when none comes soon. */
  confirm(receiptId: string): void {
    this.confirmations.push(receiptId);
    this.confirmWhenIdle();
  }

  private confirmWhenIdle(): void {
    this.idleConfirmation ??= setTimeout(() => {
      this.idleConfirmation = undefined;
      this.next(true);
    }, CONFIRMATION_IDLE_MS);
    this.idleConfirmation.unref();
  }

  /** Commits what is still waiting (at shutdown). */
  async drain(): Promise<void> {
    while (this.inFlight > 0 || this.waiting.length > 0 || this.confirmations.length > 0) {
      if (this.inFlight === 0) this.next(true);
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
  }

  private next(confirmationsAlone = false): void {
    while (this.inFlight < TRANSACTIONS_IN_FLIGHT) {
      if (this.waiting.length === 0 && !(confirmationsAlone && this.confirmations.length > 0)) return;
      confirmationsAlone = false;
      this.inFlight++;
      const group = this.waiting.splice(0, MAX_GROUP);
      const confirmations = this.confirmations.splice(0);
      clearTimeout(this.idleConfirmation);
      this.idleConfirmation = undefined;
      void this.commitGroup(group, confirmations).finally(() => {
        this.inFlight--;
        this.next();
        // A timer that fired while every slot was busy found nothing to do.
        if (this.inFlight === 0 && this.confirmations.length > 0) this.confirmWhenIdle();
      });
    }
  }

  private async commitGroup(group: Member[], confirmations: string[]): Promise<void> {
    if (group.length === 0) {
      // Lost only to a crash, after which the reconciler confirms from the store what these would have.
      await this.receipts.confirmObjects(confirmations).catch(() => undefined);
      return;
    }
    // In one order in every transaction: two groups in flight holding the same re-sent instances
    // then wait for each other in turn (a duplicate's insert waits for the other's uncommitted row)
    // instead of deadlocking.
    group.sort((a, b) => compare(a.receipt.sopInstanceUid, b.receipt.sopInstanceUid) || compare(a.receipt.datasetSha256, b.receipt.datasetSha256));
    try {
      const insert = () =>
        group.length === 1 ? this.receipts.insertUnconfirmed(this.pool, group[0]!.receipt, group[0]!.writableInstitutionIds, confirmations).then((one) => [one]) : this.inOneTransaction(group, confirmations);
      // A deadlock the order cannot rule out (the confirmations' row locks, the reconciler removing a
      // receipt) is broken by PostgreSQL failing one side, which tries once more before failing its senders.
      const inserted = await insert().catch((error: unknown) => {
        if ((error as { code?: string }).code !== DEADLOCK_DETECTED) throw error;
        return insert();
      });
      this.counts.transactions++;
      this.counts.receipts += group.length;
      group.forEach((member, index) => member.resolve(inserted[index]!));
    } catch (error) {
      this.confirmations.unshift(...confirmations);
      for (const member of group) member.reject(error);
    }
  }

  private async inOneTransaction(group: Member[], confirmations: string[]): Promise<InsertedReceipt[]> {
    const client = await this.pool.connect();
    try {
      await client.query('BEGIN');
      const inserted: InsertedReceipt[] = [];
      for (const [index, member] of group.entries()) {
        inserted.push(await this.receipts.insertUnconfirmed(client, member.receipt, member.writableInstitutionIds, index === 0 ? confirmations : []));
      }
      await client.query('COMMIT');
      client.release();
      return inserted;
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      // A connection that failed mid-transaction is not handed out again.
      client.release(error instanceof Error ? error : new Error(String(error)));
      throw error;
    }
  }
}
