import { ABORT_REASON, PDU_TYPE, PduError } from './pdu.ts';

/** An A-ASSOCIATE-RQ with many contexts and a user identity token stays far below this. */
export const MAX_CONTROL_PDU_LENGTH = 1024 * 1024;

const KNOWN_TYPES = new Set<number>(Object.values(PDU_TYPE));

export interface Pdu {
  type: number;
  body: Buffer;
}

/**
 * Cuts a byte stream into PDUs (PS3.8 9.3). The length a header claims is checked before anything
 * is buffered — a P-DATA-TF up to the maximum we announced, any other PDU up to 1 MiB — so a
 * garbage or hostile header ends the association instead of reserving gigabytes. A PDU that
 * arrived in one socket chunk is handed on without copying; one that arrived in many tiny chunks
 * costs time in proportion to its bytes, not their square (the PDU fuzzer's first hang: 9.6 KB sent
 * a byte per segment took 21 s).
 */
export class PduReader {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  constructor(private readonly maxPduLength: number) {}

  /** The header of the PDU being received, read and checked once however many chunks its body takes. */
  private header?: { type: number; length: number };

  /** Adds received bytes; returns the PDUs now complete, or throws a PduError for a bad header. */
  push(chunk: Buffer): Pdu[] {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const pdus: Pdu[] = [];
    while (this.pendingLength >= 6) {
      this.header ??= this.readHeader();
      const { type, length } = this.header;
      if (this.pendingLength < 6 + length) break;
      this.header = undefined;
      const whole = this.take(6 + length);
      pdus.push({ type, body: whole.subarray(6) });
    }
    return pdus;
  }

  private readHeader(): { type: number; length: number } {
    const header = this.peek(6);
    const type = header[0]!;
    const length = header.readUInt32BE(2);
    if (!KNOWN_TYPES.has(type)) {
      throw new PduError(`unrecognised PDU type 0x${type.toString(16).padStart(2, '0')} (not DICOM, or a corrupted stream)`, ABORT_REASON.unrecognisedPdu);
    }
    const limit = type === PDU_TYPE.pData ? this.maxPduLength : MAX_CONTROL_PDU_LENGTH;
    if (length > limit) throw new PduError(`PDU of type 0x${type.toString(16).padStart(2, '0')} claims ${length} bytes, more than the ${limit} allowed`);
    return { type, length };
  }

  /** The first `length` bytes, copied from only the chunks that hold them. */
  private peek(length: number): Buffer {
    const first = this.pending[0]!;
    if (first.length >= length) return first;
    const chunks: Buffer[] = [];
    let gathered = 0;
    for (const chunk of this.pending) {
      chunks.push(chunk);
      gathered += chunk.length;
      if (gathered >= length) break;
    }
    return Buffer.concat(chunks, length);
  }

  private take(length: number): Buffer {
    const first = this.pending[0]!;
    let taken: Buffer;
    if (first.length >= length) {
      taken = first.subarray(0, length);
      if (first.length === length) this.pending.shift();
      else this.pending[0] = first.subarray(length);
    } else {
      taken = Buffer.allocUnsafe(length);
      let filled = 0;
      let used = 0;
      while (filled < length) {
        const chunk = this.pending[used]!;
        const part = Math.min(chunk.length, length - filled);
        chunk.copy(taken, filled, 0, part);
        filled += part;
        if (part === chunk.length) used++;
        else this.pending[used] = chunk.subarray(part);
      }
      // One splice, not a shift per chunk: a PDU that came a byte per segment is thousands of chunks.
      this.pending.splice(0, used);
    }
    this.pendingLength -= length;
    return taken;
  }
}
