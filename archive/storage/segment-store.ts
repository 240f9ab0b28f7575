import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { Readable } from 'node:stream';
import type { StageRecorder } from '../ingest-stages.ts';
import type { FileSystemObjectStore } from './fs-store.ts';
import { assertSafeKey, ObjectNotFound, type IncomingObject, type ObjectStore } from './object-store.ts';
import { encodeRecordHead, FOOTER_BYTES, readFooter, readRecords, recordLength, type RecordKind, type SegmentRecord } from './segment-format.ts';
import { syncDirectory } from './file-upload.ts';
import { SegmentWriter } from './segment-writer.ts';

/**
 * Objects larger than this go to files of their own: an upload is gathered in memory until its key is
 * known, so this bounds what each association holds (a 2 GB multi-frame is never held whole), and a
 * file's own flush costs little beside 8 MB of data.
 */
const INLINE_LIMIT_BYTES = 8 * 1024 * 1024;
/** Where a segment is sealed and the next begun: few enough files to keep open, small enough to copy. */
const SEGMENT_BYTES = 256 * 1024 * 1024;
const SEGMENT_SUFFIX = '.seg';
/** Segment files kept open for reading (each one descriptor). */
const OPEN_SEGMENT_READERS = 64;

interface Location {
  segment: string;
  bodyAt: number;
  length: number;
  sequence: bigint;
}

/** What this process has read of a segment written by another process (or an earlier run). */
interface ReadProgress {
  from: number;
  sealed: boolean;
}

/**
 * The local object store as a log (issue 18, "ingest at the durable limit"): objects are appended to
 * segment files of 256 MiB, and a C-STORE's Success waits for one fdatasync of the segment, shared
 * with every object written at the same moment — instead of a new file, its flush, a rename and a
 * flush of its folder per object.
 *
 * Each process appends to segments of its own (named by a writer id), so gateways and workers sharing
 * the folder never write to the same file; a key this process does not know is looked up by reading
 * on in the other writers' segments (`catchUp`) — a worker reading what a gateway just stored, or a
 * restart reading what was stored before. The key index is in memory (about 270 bytes per object, and
 * 66 µs per object to read at start, measured at 100,000: a store of 10^7 objects wants S3 instead);
 * a later record of a key (higher sequence) replaces an earlier, a delete record removes what came
 * before it. Objects over 8 MiB, derived data (thumbnails, not flushed) and objects stored by the
 * file-per-object store before this one are files under the same root, read through `files`.
 *
 * Not built yet: compaction (the space of deleted and replaced objects stays in their segments until
 * it is rewritten; deletes are rare on a gateway, and the county edge, which deletes what it
 * forwarded, keeps files), and an index per sealed segment (a start reads every record's header).
 * Known limits: a process that knows a key sees another process's delete of it only once it reads
 * on (a miss, or a listing); and deletes are ordered by the clock, so a put made after a delete by a
 * process that has not read the delete, on a clock stepped back, stays hidden behind it.
 */
export class SegmentObjectStore implements ObjectStore {
  readonly description: string;
  private readonly folder: string;
  private readonly writerId = `${Date.now().toString(36)}-${process.pid}-${randomBytes(3).toString('hex')}`;
  private readonly locations = new Map<string, Location>();
  /** Sequence of the latest delete of each key, so an older put read later stays deleted. */
  private readonly deletions = new Map<string, bigint>();
  private readonly progress = new Map<string, ReadProgress>();
  private readonly readers: SegmentReaders;
  private active?: SegmentWriter;
  private segmentCount = 0;
  private rolling?: Promise<SegmentWriter>;
  private catchingUp?: Promise<void>;
  private lastSequence = 0n;
  private closed = false;
  private folderReady?: Promise<void>;
  /** Segments rolled over and still being sealed. */
  private readonly sealing = new Set<Promise<void>>();

  constructor(
    root: string,
    private readonly files: FileSystemObjectStore,
    private readonly segmentBytes = SEGMENT_BYTES,
  ) {
    this.folder = path.join(root, SEGMENTS_FOLDER);
    this.readers = new SegmentReaders(this.folder, OPEN_SEGMENT_READERS);
    this.description = `local segment log ${this.folder}, files under ${root}`;
  }

  /** Reads what is already stored (every segment's records); call once before use. */
  async open(): Promise<void> {
    await this.catchUp();
  }

  sweepIncoming(): Promise<number> {
    return this.files.sweepIncoming();
  }

  async put(key: string, body: Buffer, contentType: string, record?: StageRecorder): Promise<void> {
    assertSafeKey(key);
    if (body.length > INLINE_LIMIT_BYTES) return this.files.put(key, body, contentType, record);
    await this.append('put', key, [body], record);
  }

  putDerived(key: string, body: Buffer, contentType: string): Promise<void> {
    return this.files.putDerived(key, body, contentType);
  }

  openUpload(): IncomingObject {
    return new SegmentUpload(this);
  }

  /** Used by SegmentUpload once its key is known. */
  async putParts(key: string, parts: readonly Buffer[], record?: StageRecorder): Promise<void> {
    assertSafeKey(key);
    await this.append('put', key, parts, record);
  }

  /** An upload that outgrew the inline limit continues as a file of its own. */
  openFileUpload(): IncomingObject {
    return this.files.openUpload();
  }

  async get(key: string, reuse?: Buffer): Promise<Buffer> {
    const location = await this.locate(key);
    if (!location) return this.files.get(key, reuse);
    const buffer = reuse && reuse.length >= location.length ? reuse.subarray(0, location.length) : Buffer.allocUnsafe(location.length);
    await this.readInto(location, buffer, 0);
    return buffer;
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    const location = await this.locate(key);
    if (!location) return this.files.getRange(key, offset, length);
    const available = Math.max(0, Math.min(length, location.length - offset));
    const buffer = Buffer.allocUnsafe(available);
    await this.readInto(location, buffer, offset);
    return buffer;
  }

  async stream(key: string): Promise<Readable> {
    const location = await this.locate(key);
    if (!location) return this.files.stream(key);
    if (location.length === 0) return Readable.from([]);
    return fs.createReadStream(path.join(this.folder, location.segment), { start: location.bodyAt, end: location.bodyAt + location.length - 1 });
  }

  async exists(key: string): Promise<boolean> {
    // The files are asked once (through locate() they would be asked again for a key that is a file).
    assertSafeKey(key);
    if (this.locations.has(key) || (await this.files.exists(key))) return true;
    await this.catchUp();
    return this.locations.has(key);
  }

  async *list(prefix: string): AsyncIterable<string> {
    await this.catchUp();
    const inSegments = [...this.locations.keys()].filter((key) => key.startsWith(prefix)).sort(byteOrder);
    let next = 0;
    for await (const key of this.files.list(prefix)) {
      while (next < inSegments.length && byteOrder(inSegments[next]!, key) < 0) yield inSegments[next++]!;
      if (inSegments[next] === key) next++;
      yield key;
    }
    yield* inSegments.slice(next);
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    if (await this.locate(key)) await this.append('delete', key, []);
    await this.files.delete(key);
  }

  /** Seals this process's segment and closes every file it holds. */
  async close(): Promise<void> {
    this.closed = true;
    await this.rolling?.catch(() => undefined);
    const active = this.active;
    this.active = undefined;
    if (active && !(await active.discardIfEmpty())) await active.seal().catch(() => undefined);
    await Promise.all(this.sealing);
    await this.readers.closeAll();
  }

  async checkAvailable(): Promise<void> {
    await this.files.checkAvailable();
    await fsp.mkdir(this.folder, { recursive: true });
    await fsp.access(this.folder, fs.constants.W_OK);
  }

  /**
   * Appends a record to this process's current segment, rolling to a new one when it is full (or
   * failed), and resolves once it is durable; only then is it visible under its key.
   */
  private async append(kind: RecordKind, key: string, parts: readonly Buffer[], record?: StageRecorder): Promise<void> {
    const length = recordLength(key, parts.reduce((sum, part) => sum + part.length, 0));
    const sequence = this.nextSequence();
    // Encoded before any space is handed out: a reservation never written would hold back every
    // record after it in the segment for ever.
    const head = encodeRecordHead(kind, key, parts, sequence);
    if (length > this.segmentBytes - FOOTER_BYTES) throw new Error(`a record of ${length} bytes does not fit a segment of ${this.segmentBytes}`);
    let writer = this.active;
    while (!writer?.fits(length)) writer = await this.roll();
    const at = writer.reserve(length);
    await writer.write(at, [head, ...parts], length, record);
    this.apply(path.basename(writer.file), { kind, key, sequence, bodyAt: at + head.length, bodyLength: length - head.length, end: at + length });
  }

  /**
   * One roll at a time: concurrent appends that found the segment full (or failed) wait for the same
   * new one. The old one is sealed once its last records are durable, or removed if none were.
   */
  private roll(): Promise<SegmentWriter> {
    this.rolling ??= (async () => {
      try {
        if (this.closed) throw new Error(`object store ${this.folder} is closed`);
        // The segments' folder itself, made durable in the root once (its segments' entries are flushed as each is made).
        this.folderReady ??= fsp.mkdir(this.folder, { recursive: true }).then(() => syncDirectory(path.dirname(this.folder)));
        await this.folderReady.catch((error: unknown) => {
          this.folderReady = undefined;
          throw error;
        });
        const name = `${this.writerId}-${String(this.segmentCount++).padStart(6, '0')}${SEGMENT_SUFFIX}`;
        const writer = await SegmentWriter.create(path.join(this.folder, name), this.segmentBytes);
        const previous = this.active;
        this.active = writer;
        if (previous) {
          const sealed = previous.discardIfEmpty().then((removed) => (removed ? undefined : previous.seal())).catch(() => undefined);
          this.sealing.add(sealed);
          void sealed.finally(() => this.sealing.delete(sealed));
        }
        return writer;
      } finally {
        this.rolling = undefined;
      }
    })();
    return this.rolling;
  }

  /** Increasing within this process, and ahead of any other writer's earlier records (the clock's milliseconds lead). */
  private nextSequence(): bigint {
    const fromClock = BigInt(Date.now()) << 12n;
    this.lastSequence = fromClock > this.lastSequence ? fromClock : this.lastSequence + 1n;
    return this.lastSequence;
  }

  private apply(segment: string, record: SegmentRecord): void {
    if (record.sequence > this.lastSequence) this.lastSequence = record.sequence;
    const current = this.locations.get(record.key);
    if (record.kind === 'delete') {
      if ((this.deletions.get(record.key) ?? -1n) < record.sequence) this.deletions.set(record.key, record.sequence);
      if (current && current.sequence < record.sequence) this.locations.delete(record.key);
      return;
    }
    if ((this.deletions.get(record.key) ?? -1n) > record.sequence) return;
    if (!current || current.sequence < record.sequence) {
      this.locations.set(record.key, { segment, bodyAt: record.bodyAt, length: record.bodyLength, sequence: record.sequence });
    }
  }

  /** Where `key` is in a segment, reading on in other writers' segments when it is not known here. */
  private async locate(key: string): Promise<Location | undefined> {
    assertSafeKey(key);
    const known = this.locations.get(key);
    if (known || (await this.files.exists(key))) return known;
    await this.catchUp();
    return this.locations.get(key);
  }

  /** Reads the records added since the last look to every segment this process does not write. */
  /**
   * Reads on in every segment this process does not write, in a pass that starts after the call: one
   * already under way may have passed the segment a key was just written to, so it is waited for and
   * the next pass (shared by every caller meanwhile) begins after it.
   */
  private async catchUp(): Promise<void> {
    const running = this.catchingUp;
    if (running) {
      await running.catch(() => undefined);
      if (this.catchingUp && this.catchingUp !== running) return this.catchingUp;
    }
    return this.catchPass();
  }

  private catchPass(): Promise<void> {
    this.catchingUp ??= (async () => {
      try {
        let names: string[];
        try {
          names = (await fsp.readdir(this.folder)).filter((name) => name.endsWith(SEGMENT_SUFFIX) && !name.startsWith(`${this.writerId}-`));
        } catch (error) {
          if ((error as NodeJS.ErrnoException).code === 'ENOENT') return;
          throw error;
        }
        for (const name of names.sort()) await this.readOn(name);
      } finally {
        this.catchingUp = undefined;
      }
    })();
    return this.catchingUp;
  }

  private async readOn(name: string): Promise<void> {
    const progress = this.progress.get(name) ?? { from: 0, sealed: false };
    this.progress.set(name, progress);
    if (progress.sealed) return;
    try {
      await this.readers.use(name, async (handle) => {
        const { size } = await handle.stat();
        const sealedEnd = await readFooter(handle, size);
        // Another process's open segment holds records it has written but may not have flushed yet
        // (or whose flush failed: its C-STORE refused). Flushing the file from here first makes every
        // record up to `size` durable before it is taken as an object: a receipt confirmed because its
        // object "exists" (resolveUnconfirmedReceipts) then has it on disk.
        if (sealedEnd === undefined && size > progress.from) await handle.datasync();
        // A footer is trusted only if the records end exactly where it says; an object's own bytes
        // that happen to look like one, at the end of an open segment, are then read as records.
        const records = [];
        for await (const record of readRecords(handle, progress.from, sealedEnd ?? size, sealedEnd === undefined)) records.push(record);
        const end = records.at(-1)?.end ?? progress.from;
        if (sealedEnd !== undefined && end !== sealedEnd) {
          records.length = 0;
          for await (const record of readRecords(handle, progress.from, size, true)) records.push(record);
        }
        for (const record of records) {
          this.apply(name, record);
          progress.from = record.end;
        }
        if (sealedEnd !== undefined && progress.from === sealedEnd) progress.sealed = true;
      });
    } catch (error) {
      // Removed since it was listed: a segment abandoned with nothing durable in it.
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      this.progress.delete(name);
    }
  }

  private readInto(location: Location, buffer: Buffer, offset: number): Promise<void> {
    return this.readers.use(location.segment, async (handle) => {
      let filled = 0;
      while (filled < buffer.length) {
        const { bytesRead } = await handle.read(buffer, filled, buffer.length - filled, location.bodyAt + offset + filled);
        if (bytesRead === 0) throw new ObjectNotFound(`${location.segment}@${location.bodyAt}`);
        filled += bytesRead;
      }
    });
  }
}

/**
 * Segment files open for reading, kept open between reads (an open per read is what a file per object
 * costs), at most `limit` at once: a store of a few terabytes has thousands of segments, more than a
 * process may open. The least recently used one nobody is reading is closed first.
 */
class SegmentReaders {
  private readonly open = new Map<string, { handle: Promise<fsp.FileHandle>; users: number }>();

  constructor(
    private readonly folder: string,
    private readonly limit: number,
  ) {}

  async use<T>(name: string, read: (handle: fsp.FileHandle) => Promise<T>): Promise<T> {
    let entry = this.open.get(name);
    if (entry) this.open.delete(name); // inserted again below: the map's order is the order of use
    else entry = { handle: fsp.open(path.join(this.folder, name), 'r'), users: 0 };
    this.open.set(name, entry);
    entry.users++;
    try {
      return await read(await entry.handle);
    } catch (error) {
      if (this.open.get(name) === entry && (await entry.handle.then(() => false, () => true))) this.open.delete(name);
      throw error;
    } finally {
      entry.users--;
      this.closeIdle();
    }
  }

  async closeAll(): Promise<void> {
    const entries = [...this.open.values()];
    this.open.clear();
    await Promise.all(entries.map(async (entry) => (await entry.handle.catch(() => undefined))?.close()));
  }

  private closeIdle(): void {
    for (const [name, entry] of this.open) {
      if (this.open.size <= this.limit) return;
      if (entry.users > 0) continue;
      this.open.delete(name);
      void entry.handle.then((handle) => handle.close()).catch(() => undefined);
    }
  }
}

/**
 * Gathers an upload in memory until its key is known, then appends it as one record; one that grows
 * past the inline limit moves to a file upload, with what it had gathered, and goes on there.
 */
class SegmentUpload implements IncomingObject {
  private parts: Buffer[] = [];
  private bytes = 0;
  private file?: IncomingObject;
  private state: 'open' | 'finished' | 'discarded' = 'open';

  constructor(private readonly store: SegmentObjectStore) {}

  write(bytes: Buffer): Promise<void> | undefined {
    if (this.state !== 'open') return undefined;
    if (this.file) return this.file.write(bytes);
    this.parts.push(bytes);
    this.bytes += bytes.length;
    if (this.bytes <= INLINE_LIMIT_BYTES) return undefined;
    this.file = this.store.openFileUpload();
    const gathered = this.parts;
    this.parts = [];
    let waiting: Promise<void> | undefined;
    for (const part of gathered) waiting = this.file.write(part) ?? waiting;
    return waiting;
  }

  async finish(key: string, record?: StageRecorder): Promise<void> {
    if (this.state !== 'open') throw new Error(`upload already ${this.state}`);
    this.state = 'finished';
    if (this.file) return this.file.finish(key, record);
    const parts = this.parts;
    this.parts = [];
    await this.store.putParts(key, parts, record);
  }

  async discard(): Promise<void> {
    this.state = 'discarded';
    this.parts = [];
    await this.file?.discard();
  }
}

/** Beside the keys' top folders (instances/, thumbnails/…); a dot-name, so the file listing never walks it. */
const SEGMENTS_FOLDER = '.segments';

function byteOrder(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a), Buffer.from(b));
}
