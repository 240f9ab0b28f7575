import fsp from 'node:fs/promises';
import path from 'node:path';
import { timed, type StageRecorder } from '../ingest-stages.ts';
import { syncDirectory } from './file-upload.ts';
import { encodeFooter, FOOTER_BYTES, writeAllAt } from './segment-format.ts';

/** Zeros written per call while a segment is prepared. */
const ZERO_CHUNK_BYTES = 4 * 1024 * 1024;

/**
 * One segment file this process appends to. Space is handed out in order (`reserve`), the records are
 * written side by side, and one fdatasync serves every record written before it started: the group
 * flush of every association, STOW-RS request and import writing at that moment. The file was filled
 * with zeros before its first record, so that flush carries the records' data and nothing else (no new
 * file, no rename, no folder entry, no block allocation to journal).
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
  private sealing?: Promise<void>;

  private constructor(
    readonly file: string,
    private readonly handle: fsp.FileHandle,
    /** Bytes records may use: the file less its footer. */
    readonly capacity: number,
  ) {}

  /**
   * Creates `file` filled with `size` zeros, flushed with its folder entry, and opens it for appending.
   * A file that cannot be completed (a full disk) is removed.
   */
  static async prepare(file: string, size: number): Promise<SegmentWriter> {
    const handle = await fsp.open(file, 'wx+');
    try {
      const zeros = Buffer.alloc(Math.min(ZERO_CHUNK_BYTES, size));
      for (let at = 0; at < size; at += zeros.length) await writeAllAt(handle, [zeros.subarray(0, Math.min(zeros.length, size - at))], at);
      await handle.sync();
      await syncDirectory(path.dirname(file));
      return new SegmentWriter(file, handle, size - FOOTER_BYTES);
    } catch (error) {
      await handle.close().catch(() => undefined);
      await fsp.rm(file, { force: true });
      throw error;
    }
  }

  /** Bytes handed out so far. */
  get reserved(): number {
    return this.reservedUpTo;
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
      this.fail(error as Error);
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
   * No more records: once the last reserved one is written, the footer follows it, the zeros after
   * are cut off, and the file is flushed and closed. Readers then trust its records without reading
   * their bodies, and a process stopping early does not leave the rest of its segment unused.
   */
  seal(): Promise<void> {
    this.sealing ??= (async () => {
      try {
        await this.durable(this.reservedUpTo);
        await writeAllAt(this.handle, [encodeFooter(this.reservedUpTo)], this.reservedUpTo);
        await this.handle.truncate(this.reservedUpTo + FOOTER_BYTES);
        await this.handle.sync();
      } finally {
        await this.handle.close();
      }
    })();
    return this.sealing;
  }

  /** Closes a segment that never received a record and removes it. */
  async discardUnused(): Promise<boolean> {
    if (this.reservedUpTo > 0) return false;
    this.sealing ??= this.handle.close();
    await this.sealing;
    await fsp.rm(this.file, { force: true });
    return true;
  }

  private durable(end: number): Promise<void> {
    if (this.failure) return Promise.reject(this.failure);
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
          this.fail(error as Error);
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

  private fail(error: Error): void {
    this.failure ??= error;
    for (const waiter of this.waiters) waiter.reject(this.failure);
    this.waiters = [];
  }
}
