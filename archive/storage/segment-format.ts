import type { FileHandle } from 'node:fs/promises';
import zlib from 'node:zlib';

/**
 * The on-disk form of the segment log (segment-store.ts): records appended one after another into a
 * file and, once it is full (or its process stops), a footer after the last record.
 *
 * A record: a 32-byte header, the key (UTF-8) and, for a put, the object's bytes.
 *
 *     0  u32  magic 'YYS1'
 *     4  u8   kind (1 put, 2 delete)
 *     5  u8   0
 *     6  u16  key length
 *     8  u32  body length
 *    12  u32  CRC-32 of the body
 *    16  u64  sequence (orders the records of one key across every writer's segments)
 *    24  u32  CRC-32 of bytes 0–23 and the key
 *    28  u32  0
 *
 * Both checksums make a torn write show as the end of the log: a hole where a write was not made yet
 * (zeros) fails the magic, a header half on disk fails its checksum, a body half on disk fails the other.
 *
 * The footer (the file's last 32 bytes): magic 'YYSE', 0, u64 end of the records, u32 CRC-32 of bytes
 * 0–15. It is written only after every record before it was flushed, so a sealed segment is read
 * without checking its bodies.
 */
export const RECORD_HEADER_BYTES = 32;
export const FOOTER_BYTES = 32;
const RECORD_MAGIC = 0x59595331;
const FOOTER_MAGIC = 0x59595345;
const KINDS = { put: 1, delete: 2 } as const;
export type RecordKind = keyof typeof KINDS;

export interface SegmentRecord {
  kind: RecordKind;
  key: string;
  sequence: bigint;
  /** Where the body starts in the segment file, and its length. */
  bodyAt: number;
  bodyLength: number;
  /** Where the next record starts. */
  end: number;
}

export function recordLength(key: string, bodyLength: number): number {
  return RECORD_HEADER_BYTES + Buffer.byteLength(key) + bodyLength;
}

/** The header and key of a record, to be written followed by its body. */
export function encodeRecordHead(kind: RecordKind, key: string, body: readonly Buffer[], sequence: bigint): Buffer {
  const keyBytes = Buffer.from(key);
  if (keyBytes.length > 0xffff) throw new Error(`object key too long for the segment log (${keyBytes.length} bytes)`);
  const bodyLength = body.reduce((sum, part) => sum + part.length, 0);
  const head = Buffer.alloc(RECORD_HEADER_BYTES + keyBytes.length);
  head.writeUInt32LE(RECORD_MAGIC, 0);
  head.writeUInt8(KINDS[kind], 4);
  head.writeUInt16LE(keyBytes.length, 6);
  head.writeUInt32LE(bodyLength, 8);
  head.writeUInt32LE(body.reduce((crc, part) => zlib.crc32(part, crc), 0), 12);
  head.writeBigUInt64LE(sequence, 16);
  keyBytes.copy(head, RECORD_HEADER_BYTES);
  head.writeUInt32LE(headCrc(head, keyBytes.length), 24);
  return head;
}

function headCrc(head: Buffer, keyLength: number): number {
  return zlib.crc32(head.subarray(RECORD_HEADER_BYTES, RECORD_HEADER_BYTES + keyLength), zlib.crc32(head.subarray(0, 24)));
}

export function encodeFooter(recordsEnd: number): Buffer {
  const footer = Buffer.alloc(FOOTER_BYTES);
  footer.writeUInt32LE(FOOTER_MAGIC, 0);
  footer.writeBigUInt64LE(BigInt(recordsEnd), 8);
  footer.writeUInt32LE(zlib.crc32(footer.subarray(0, 16)), 16);
  return footer;
}

/** The end of the records of a sealed segment, or undefined for one still open (or never sealed). */
export async function readFooter(file: FileHandle, fileSize: number): Promise<number | undefined> {
  if (fileSize < FOOTER_BYTES) return undefined;
  const footer = await readExactly(file, fileSize - FOOTER_BYTES, FOOTER_BYTES);
  if (!footer || footer.readUInt32LE(0) !== FOOTER_MAGIC || footer.readUInt32LE(16) !== zlib.crc32(footer.subarray(0, 16))) return undefined;
  // Written right after the last record, so it is the file's last bytes and names where it starts.
  const end = Number(footer.readBigUInt64LE(8));
  return end === fileSize - FOOTER_BYTES ? end : undefined;
}

/**
 * The records from `from` up to `limit`, stopping at the first that is not whole: the end of what was
 * written, or a write still under way (another process's open segment), read again later from there.
 * With `checkBodies`, each body is read and its checksum compared; a sealed segment's are known whole.
 */
export async function* readRecords(file: FileHandle, from: number, limit: number, checkBodies: boolean): AsyncGenerator<SegmentRecord> {
  let at = from;
  while (at + RECORD_HEADER_BYTES <= limit) {
    const fixed = await readExactly(file, at, RECORD_HEADER_BYTES);
    if (!fixed || fixed.readUInt32LE(0) !== RECORD_MAGIC) return;
    const kindCode = fixed.readUInt8(4);
    const kind = (Object.keys(KINDS) as RecordKind[]).find((name) => KINDS[name] === kindCode);
    const keyLength = fixed.readUInt16LE(6);
    const bodyLength = fixed.readUInt32LE(8);
    const bodyAt = at + RECORD_HEADER_BYTES + keyLength;
    if (!kind || bodyAt + bodyLength > limit) return;
    const keyBytes = await readExactly(file, at + RECORD_HEADER_BYTES, keyLength);
    if (!keyBytes) return;
    const head = Buffer.concat([fixed, keyBytes]);
    if (head.readUInt32LE(24) !== headCrc(head, keyLength)) return;
    if (checkBodies) {
      const body = await readExactly(file, bodyAt, bodyLength);
      if (!body || zlib.crc32(body) !== fixed.readUInt32LE(12)) return;
    }
    yield { kind, key: keyBytes.toString(), sequence: fixed.readBigUInt64LE(16), bodyAt, bodyLength, end: bodyAt + bodyLength };
    at = bodyAt + bodyLength;
  }
}

async function readExactly(file: FileHandle, at: number, length: number): Promise<Buffer | undefined> {
  const buffer = Buffer.allocUnsafe(length);
  let filled = 0;
  while (filled < length) {
    const { bytesRead } = await file.read(buffer, filled, length - filled, at + filled);
    if (bytesRead === 0) return undefined;
    filled += bytesRead;
  }
  return buffer;
}

/** Writes all of `parts` at `position` (a write may take fewer bytes than asked). */
export async function writeAllAt(file: FileHandle, parts: readonly Buffer[], position: number): Promise<void> {
  let pending = parts.filter((part) => part.length > 0);
  let at = position;
  while (pending.length > 0) {
    const { bytesWritten } = await file.writev(pending, at);
    if (bytesWritten === 0) throw new Error('no space left to write the record');
    at += bytesWritten;
    let skip = bytesWritten;
    const rest: Buffer[] = [];
    for (const part of pending) {
      if (skip >= part.length) skip -= part.length;
      else {
        rest.push(skip > 0 ? part.subarray(skip) : part);
        skip = 0;
      }
    }
    pending = rest;
  }
}
