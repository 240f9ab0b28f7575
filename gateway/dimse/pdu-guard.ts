import type { Socket } from 'node:net';

/** PDU types an SCP may receive (PS3.8 9.3): A-ASSOCIATE-RQ, P-DATA-TF, A-RELEASE-RQ/RP, A-ABORT. */
const ACCEPTABLE_PDU_TYPES = new Set([0x01, 0x04, 0x05, 0x06, 0x07]);
/** An A-ASSOCIATE-RQ with many contexts and a user identity token stays far below this. */
const MAX_CONTROL_PDU_LENGTH = 1024 * 1024;

/**
 * Watches the PDU framing of a DIMSE connection before dcmjs-dimse sees it. dcmjs-dimse would
 * buffer whatever length a PDU header claims (a 4 GB garbage header exhausts memory), so an unknown
 * PDU type, a P-DATA longer than the maximum we negotiated, or a control PDU of absurd size ends
 * the connection with an A-ABORT and a reason for the log.
 */
export function guardPduFraming(socket: Socket, maxPduLength: number, onViolation: (reason: string) => void): void {
  let header = Buffer.alloc(0);
  let remainingBody = 0;
  let violated = false;
  socket.on('data', (chunk: Buffer) => {
    if (violated) return;
    let offset = 0;
    while (offset < chunk.length) {
      if (remainingBody > 0) {
        const take = Math.min(remainingBody, chunk.length - offset);
        remainingBody -= take;
        offset += take;
        continue;
      }
      const need = 6 - header.length;
      header = Buffer.concat([header, chunk.subarray(offset, offset + need)]);
      offset += Math.min(need, chunk.length - offset);
      if (header.length < 6) return;
      const type = header[0]!;
      const length = header.readUInt32BE(2);
      header = Buffer.alloc(0);
      const limit = type === 0x04 ? maxPduLength : MAX_CONTROL_PDU_LENGTH;
      let reason: string | undefined;
      if (!ACCEPTABLE_PDU_TYPES.has(type)) reason = `unrecognised PDU type 0x${type.toString(16).padStart(2, '0')} (not DICOM, or a corrupted stream)`;
      else if (length > limit) reason = `PDU of type 0x${type.toString(16).padStart(2, '0')} claims ${length} bytes, more than the ${limit} allowed`;
      if (reason) {
        violated = true;
        // A-ABORT, source: service provider (2), reason: unrecognised PDU (1) / invalid parameter value (6).
        const abort = Buffer.from([0x07, 0x00, 0x00, 0x00, 0x00, 0x04, 0x00, 0x00, 0x02, ACCEPTABLE_PDU_TYPES.has(type) ? 0x06 : 0x01]);
        socket.end(abort);
        socket.destroySoon();
        onViolation(reason);
        return;
      }
      remainingBody = length;
    }
  });
}
