import fsp from 'node:fs/promises';
import path from 'node:path';
import { timed, type StageRecorder } from '../ingest-stages.ts';
import { syncDirectory } from './file-upload.ts';
import { encodeFooter, FOOTER_BYTES, writeAllAt } from './segment-format.ts';

/**
 * One segment file this process appends to. Space is handed out in order (`reserve`), the records are
 * written side by side, and one fdatasync serves every record written before it started: the group
 * flush of every association, STOW-RS request and import writing at that moment. It carries the
 * records' data and the file's new length, and nothing else (no new file, rename or folder entry).
 * The file is not filled with zeros beforehand, which would spare that flush the length and block
 * allocation: measured on this machine's disk (docs/benchmarks.md), the zeros cost more disk time than
 * they save, most of all for CT.
 *
 * A record is durable — its `append` resolves — only once every record before it in the file is too:
 * the log is read back after a crash up to its first gap, so a record flushed past a gap would be lost
 * with it. After a failed write or flush nothing more is written here (a failed fdatasync may have
 * dropped pages it will not report again); the store goes on in a new segment.
 */
export class SegmentWriter {
  private reservedUpTo = 0;
  /** Every byte below this is written; `completed` holds writes that finished ahead of a gap. */
  private writtenUpTo = 0;
  private readonly completed = new Map<number, number>();
  private flushedUpTo = 0;
  private flushing = false;
  private waiters: Array<{ end: number; resolve: () => void; reject: (error: Error) => void }> = [];
  private failure?: Error;
  private cutOff?: Promise<void>;
  private sealing?: Promise<void>;

  private constructor(
    readonly file: string,
    private readonly handle: fsp.FileHandle,
    /** Bytes records may use: the file less its footer. */
    readonly capacity: number,
  ) {}

  /** Creates `file`, its folder entry flushed, to hold up to `size` bytes of records and footer. */
  static async create(file: string, size: number): Promise<SegmentWriter> {
    const handle = await fsp.open(file, 'wx+');
    try {
      await syncDirectory(path.dirname(file));
      return new SegmentWriter(file, handle, size - FOOTER_BYTES);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fsp.rm(file, { force: true });
      throw error;
    }
  }

  fits(length: number): boolean {
    return !this.failure && !this.sealing && this.reservedUpTo + length <= this.capacity;
  }

  /** Hands out the next `length` bytes; call only after `fits`. */
  reserve(length: number): number {
    const at = this.reservedUpTo;
    this.reservedUpTo += length;
    return at;
  }

  /** Writes a reserved record and resolves once it, and everything before it, is on disk. */
  async write(at: number, parts: readonly Buffer[], length: number, record?: StageRecorder): Promise<void> {
    try {
      if (this.failure) throw this.failure;
      await timed(record, 'object write', () => writeAllAt(this.handle, parts, at));
    } catch (error) {
      await this.fail(error as Error);
      throw error;
    }
    this.completed.set(at, at + length);
    for (let end = this.completed.get(this.writtenUpTo); end !== undefined; end = this.completed.get(this.writtenUpTo)) {
      this.completed.delete(this.writtenUpTo);
      this.writtenUpTo = end;
    }
    await timed(record, 'object flush', () => this.durable(at + length));
  }

  /**
   * No more records: once the last reserved one is written, the footer follows it and the file is
   * flushed and closed. Readers then trust its records without reading their bodies.
   */
  seal(): Promise<void> {
    this.sealing ??= (async () => {
      try {
        await this.durable(this.reservedUpTo);
        await writeAllAt(this.handle, [encodeFooter(this.reservedUpTo)], this.reservedUpTo);
        await this.handle.datasync();
      } finally {
        await this.handle.close();
      }
    })();
    return this.sealing;
  }

  /**
   * Closes and removes a segment no durable record is in: never written to, or abandoned after a
   * failed write (a full disk would otherwise leave an empty segment per refused object).
   */
  async discardIfEmpty(): Promise<boolean> {
    if (this.flushedUpTo > 0 || (!this.failure && this.reservedUpTo > 0)) return false;
    this.sealing ??= this.handle.close();
    await this.sealing.catch(() => undefined);
    await fsp.rm(this.file, { force: true });
    return true;
  }

  private durable(end: number): Promise<void> {
    if (this.failure) return this.cutOff!.then(() => Promise.reject(this.failure));
    if (this.flushedUpTo >= end) return Promise.resolve();
    return new Promise((resolve, reject) => {
      this.waiters.push({ end, resolve, reject });
      void this.flushWhileWaited();
    });
  }

  /** One flush at a time; each covers everything written when it starts, and the next starts at once if it is awaited. */
  private async flushWhileWaited(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      while (!this.failure && this.waiters.some((waiter) => waiter.end <= this.writtenUpTo)) {
        const target = this.writtenUpTo;
        try {
          await this.handle.datasync();
        } catch (error) {
          void this.fail(error as Error);
          return;
        }
        this.flushedUpTo = target;
        const still = [];
        for (const waiter of this.waiters) {
          if (waiter.end <= target) waiter.resolve();
          else still.push(waiter);
        }
        this.waiters = still;
      }
    } finally {
      this.flushing = false;
    }
  }

  /**
   * What lies past the last flush was never acknowledged: it is cut off before anyone waiting hears
   * of the failure, so no other process or restart reads a refused object (a write still landing
   * later leaves zeros before it, where readers stop).
   */
  private fail(error: Error): Promise<void> {
    if (!this.failure) {
      this.failure = error;
      const waiters = this.waiters;
      this.waiters = [];
      this.cutOff = this.handle.truncate(this.flushedUpTo).catch(() => undefined);
      void this.cutOff.then(() => waiters.forEach((waiter) => waiter.reject(error)));
    }
    return this.cutOff!;
  }
}
