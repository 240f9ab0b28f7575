import fs from 'node:fs/promises';
import path from 'node:path';
import { buildAssociateAccept, CONTEXT_RESULT, parseAssociateRequest } from '../../gateway/dimse/pdu.ts';

/** What DCMTK's echoscu, storescu, findscu and movescu sent our gateway (fuzz/capture-pdus.ts). */
export const CAPTURED_PDUS = path.join(import.meta.dirname, '../../fixtures/fuzz/pdus');

/** The captured requestor byte streams, by name, in name order. */
export async function capturedStreams(): Promise<Array<{ name: string; bytes: Buffer }>> {
  const names = (await fs.readdir(CAPTURED_PDUS)).filter((name) => name.endsWith('.bin')).sort();
  return Promise.all(names.map(async (name) => ({ name: name.replace(/\.bin$/, ''), bytes: await fs.readFile(path.join(CAPTURED_PDUS, name)) })));
}

/**
 * Seeds of the PDU target: each captured stream behind a first byte that chooses how it is cut
 * into chunks (whole, and one byte at a time), and our A-ASSOCIATE-AC to echoscu's request, so the
 * requestor's reading of an accept starts from a real one too.
 */
export async function realPduStreams(): Promise<Buffer[]> {
  const streams = await capturedStreams();
  const seeds = streams.flatMap(({ bytes }) => [Buffer.concat([Buffer.from([0x3f]), bytes]), Buffer.concat([Buffer.from([0x00]), bytes])]);
  const echo = streams.find(({ name }) => name === 'c-echo');
  if (echo) {
    const request = parseAssociateRequest(echo.bytes.subarray(6, 6 + echo.bytes.readUInt32BE(2)));
    const answers = request.contexts.map((context) => ({ id: context.id, result: CONTEXT_RESULT.acceptance, transferSyntaxUid: context.transferSyntaxUids[0]! }));
    seeds.push(Buffer.concat([Buffer.from([0x3f]), buildAssociateAccept(request, answers, { maxPduLength: 16384, implementationClassUid: '1.2.826.0.1.3680043.10.1', implementationVersionName: 'YINGYUN' })]));
  }
  return seeds;
}
