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
 * arrived in one socket chunk is handed on without copying.
 */
export class PduReader {
  private pending: Buffer[] = [];
  private pendingLength = 0;

  constructor(private readonly maxPduLength: number) {}

  /** Adds received bytes; returns the PDUs now complete, or throws a PduError for a bad header. */
  push(chunk: Buffer): Pdu[] {
    this.pending.push(chunk);
    this.pendingLength += chunk.length;
    const pdus: Pdu[] = [];
    while (this.pendingLength >= 6) {
      const header = this.peek(6);
      const type = header[0]!;
      const length = header.readUInt32BE(2);
      if (!KNOWN_TYPES.has(type)) {
        throw new PduError(`unrecognised PDU type 0x${type.toString(16).padStart(2, '0')} (not DICOM, or a corrupted stream)`, ABORT_REASON.unrecognisedPdu);
      }
      const limit = type === PDU_TYPE.pData ? this.maxPduLength : MAX_CONTROL_PDU_LENGTH;
      if (length > limit) throw new PduError(`PDU of type 0x${type.toString(16).padStart(2, '0')} claims ${length} bytes, more than the ${limit} allowed`);
      if (this.pendingLength < 6 + length) break;
      const whole = this.take(6 + length);
      pdus.push({ type, body: whole.subarray(6) });
    }
    return pdus;
  }

  private peek(length: number): Buffer {
    const first = this.pending[0]!;
    return first.length >= length ? first : Buffer.concat(this.pending, length);
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
      while (filled < length) {
        const chunk = this.pending[0]!;
        const part = Math.min(chunk.length, length - filled);
        chunk.copy(taken, filled, 0, part);
        filled += part;
        if (part === chunk.length) this.pending.shift();
        else this.pending[0] = chunk.subarray(part);
      }
    }
    this.pendingLength -= length;
    return taken;
  }
}
