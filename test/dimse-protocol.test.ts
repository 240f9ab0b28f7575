import assert from 'node:assert/strict';
import net from 'node:net';
import dcmjs from 'dcmjs';
import dicomParser from 'dicom-parser';
import { after, before, describe, it } from 'node:test';
import { generateCorpus } from '../fixtures/generate.ts';
import { AcceptorAssociation, type AcceptorHandler } from '../gateway/dimse/association.ts';
import dimse from '../gateway/dimse/library.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The DICOM Upper Layer and DIMSE as our acceptor speaks them (gateway/dimse/association.ts),
 * byte by byte from a raw socket, for what DCMTK's tools never send: split PDUs, fragmented
 * commands, PDUs out of order, unsupported operations, tiny maximum PDU lengths. A second SCU
 * implementation (dcmjs-dimse's client) stores through it too.
 */

const VERIFICATION = '1.2.840.10008.1.1';
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const IMPLICIT_LE = '1.2.840.10008.1.2';
const EXPLICIT_LE = '1.2.840.10008.1.2.1';

function item(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = type;
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value]);
}

function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header[0] = type;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

const ae = (title: string) => Buffer.from(title.padEnd(16, ' '), 'latin1');

interface RequestOptions {
  called?: string;
  calling?: string;
  protocolVersion?: number;
  applicationContext?: string;
  contexts?: Array<{ id: number; abstractSyntax: string; transferSyntaxes: string[] }>;
  maxPduLength?: number;
}

function associateRequest(options: RequestOptions = {}): Buffer {
  const fixed = Buffer.alloc(68);
  fixed.writeUInt16BE(options.protocolVersion ?? 1, 0);
  ae(options.called ?? 'YINGYUN').copy(fixed, 4);
  ae(options.calling ?? 'ECHOSCU').copy(fixed, 20);
  const contexts = (options.contexts ?? [{ id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] }]).map((context) =>
    item(
      0x20,
      Buffer.concat([
        Buffer.from([context.id, 0, 0, 0]),
        item(0x30, Buffer.from(context.abstractSyntax)),
        ...context.transferSyntaxes.map((uid) => item(0x40, Buffer.from(uid))),
      ]),
    ),
  );
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(options.maxPduLength ?? 16384, 0);
  const userInformation = item(0x50, Buffer.concat([item(0x51, maxLength), item(0x52, Buffer.from('1.2.3.4.5'))]));
  return pdu(0x01, Buffer.concat([fixed, item(0x10, Buffer.from(options.applicationContext ?? '1.2.840.10008.3.1.1.1')), ...contexts, userInformation]));
}

/** A command set (implicit VR little endian) from [group-0000 element, value] pairs. */
function commandSet(elements: Array<[number, Buffer]>): Buffer {
  const encoded = elements.map(([element, value]) => {
    const header = Buffer.alloc(8);
    header.writeUInt16LE(0, 0);
    header.writeUInt16LE(element, 2);
    header.writeUInt32LE(value.length, 4);
    return Buffer.concat([header, value]);
  });
  const length = Buffer.alloc(12);
  length.writeUInt32LE(4, 4);
  length.writeUInt32LE(encoded.reduce((sum, bytes) => sum + bytes.length, 0), 8);
  return Buffer.concat([length, ...encoded]);
}
const us = (value: number) => {
  const bytes = Buffer.alloc(2);
  bytes.writeUInt16LE(value, 0);
  return bytes;
};
const uid = (value: string) => Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');

function echoRequest(messageId: number): Buffer {
  return commandSet([
    [0x0002, uid(VERIFICATION)],
    [0x0100, us(0x0030)],
    [0x0110, us(messageId)],
    [0x0800, us(0x0101)],
  ]);
}

/** P-DATA-TF PDUs, one PDV each, carrying `bytes` in fragments of at most `fragment` bytes. */
function pData(contextId: number, command: boolean, bytes: Buffer, fragment = bytes.length): Buffer[] {
  const pdus: Buffer[] = [];
  for (let offset = 0; offset < bytes.length; offset += fragment) {
    const part = bytes.subarray(offset, offset + fragment);
    const last = offset + fragment >= bytes.length;
    const pdv = Buffer.alloc(6);
    pdv.writeUInt32BE(2 + part.length, 0);
    pdv[4] = contextId;
    pdv[5] = (command ? 1 : 0) | (last ? 2 : 0);
    pdus.push(pdu(0x04, Buffer.concat([pdv, part])));
  }
  return pdus;
}

interface ReceivedPdu {
  type: number;
  body: Buffer;
}

/** A raw connection that collects whole PDUs as the server sends them. */
class RawPeer {
  private readonly socket: net.Socket;
  private buffered = Buffer.alloc(0);
  private readonly pdus: ReceivedPdu[] = [];
  private waiting?: () => void;
  closed = false;

  private constructor(port: number) {
    this.socket = net.connect({ host: '127.0.0.1', port });
    this.socket.on('data', (chunk: Buffer) => {
      this.buffered = Buffer.concat([this.buffered, chunk]);
      while (this.buffered.length >= 6 && this.buffered.length >= 6 + this.buffered.readUInt32BE(2)) {
        const length = this.buffered.readUInt32BE(2);
        this.pdus.push({ type: this.buffered[0]!, body: this.buffered.subarray(6, 6 + length) });
        this.buffered = this.buffered.subarray(6 + length);
      }
      this.waiting?.();
    });
    this.socket.on('close', () => {
      this.closed = true;
      this.waiting?.();
    });
    this.socket.on('error', () => undefined);
  }

  static async open(port: number): Promise<RawPeer> {
    const peer = new RawPeer(port);
    await new Promise<void>((resolve, reject) => peer.socket.once('connect', resolve).once('error', reject));
    return peer;
  }

  send(...chunks: Buffer[]): void {
    for (const chunk of chunks) this.socket.write(chunk);
  }

  /** Sends the bytes one at a time, each in its own TCP segment. */
  async trickle(bytes: Buffer): Promise<void> {
    for (const byte of bytes) {
      this.socket.write(Buffer.from([byte]));
      await new Promise((resolve) => setImmediate(resolve));
    }
  }

  async next(timeoutMs = 5000): Promise<ReceivedPdu> {
    const deadline = Date.now() + timeoutMs;
    while (this.pdus.length === 0) {
      if (this.closed) throw new Error('connection closed with no PDU');
      if (Date.now() > deadline) throw new Error('no PDU in time');
      await new Promise<void>((resolve) => {
        this.waiting = resolve;
        setTimeout(resolve, 50);
      });
    }
    return this.pdus.shift()!;
  }

  /** The whole command set of the next DIMSE response, reassembled from its PDVs. */
  async response(): Promise<{ fields: Map<number, Buffer>; pdus: number; largestPdu: number }> {
    const fragments: Buffer[] = [];
    let pdus = 0;
    let largestPdu = 0;
    for (;;) {
      const { type, body } = await this.next();
      assert.equal(type, 0x04, 'a P-DATA-TF');
      pdus++;
      largestPdu = Math.max(largestPdu, body.length);
      let offset = 0;
      let last = false;
      while (offset < body.length) {
        const length = body.readUInt32BE(offset);
        assert.equal(body[offset + 5]! & 1, 1, 'a command fragment');
        fragments.push(body.subarray(offset + 6, offset + 4 + length));
        last = (body[offset + 5]! & 2) !== 0;
        offset += 4 + length;
      }
      if (last) break;
    }
    const bytes = Buffer.concat(fragments);
    const fields = new Map<number, Buffer>();
    for (let offset = 0; offset < bytes.length; ) {
      const element = bytes.readUInt16LE(offset + 2);
      const length = bytes.readUInt32LE(offset + 4);
      fields.set(element, bytes.subarray(offset + 8, offset + 8 + length));
      offset += 8 + length;
    }
    return { fields, pdus, largestPdu };
  }

  async closedByServer(timeoutMs = 7000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));
    return this.closed;
  }

  end(): void {
    this.socket.destroy();
  }
}

/** Presentation context answers of an A-ASSOCIATE-AC: ID → [result, transfer syntax]. */
function contextAnswers(body: Buffer): Map<number, [number, string]> {
  const answers = new Map<number, [number, string]>();
  for (let offset = 68; offset < body.length; ) {
    const type = body[offset]!;
    const length = body.readUInt16BE(offset + 2);
    if (type === 0x21) {
      const value = body.subarray(offset + 4, offset + 4 + length);
      answers.set(value[0]!, [value[2]!, value.subarray(8, 8 + value.readUInt16BE(6)).toString('latin1')]);
    }
    offset += 4 + length;
  }
  return answers;
}

describe('DICOM upper layer and DIMSE of the acceptor, from a raw socket', () => {
  let system: TestSystem;

  before(async () => {
    system = await startTestSystem();
  });
  after(async () => {
    await system?.shutdown();
  });

  it('answers each proposed context: the first acceptable transfer syntax, or the reason it is refused', async () => {
    const peer = await RawPeer.open(system.dicomPort);
    peer.send(
      associateRequest({
        calling: 'STORESCU',
        contexts: [
          { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
          { id: 3, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: ['1.2.3.999', EXPLICIT_LE, IMPLICIT_LE] },
          { id: 5, abstractSyntax: '1.2.840.10008.5.1.4.31', transferSyntaxes: [IMPLICIT_LE] }, // Modality Worklist FIND: not offered
          { id: 9, abstractSyntax: '1.2.840.10008.5.1.4.1.2.2.1', transferSyntaxes: ['1.2.840.10008.1.2.4.50', EXPLICIT_LE] }, // Study Root Q/R FIND
          { id: 7, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: ['1.2.3.999'] },
        ],
      }),
    );
    const answer = await peer.next();
    assert.equal(answer.type, 0x02, 'A-ASSOCIATE-AC');
    const answers = contextAnswers(answer.body);
    assert.deepEqual(answers.get(1), [0, IMPLICIT_LE]);
    assert.deepEqual(answers.get(3), [0, EXPLICIT_LE], "the proposer's order of preference");
    assert.equal(answers.get(5)![0], 3, 'abstract-syntax-not-supported');
    assert.equal(answers.get(7)![0], 4, 'transfer-syntaxes-not-supported');
    assert.deepEqual(answers.get(9), [0, EXPLICIT_LE], 'a query/retrieve service takes its identifiers in little endian only');
    assert.equal(answer.body.subarray(4, 20).toString('latin1').trim(), 'YINGYUN', 'called AE title returned as received');
    peer.send(pdu(0x05, Buffer.alloc(4)));
    assert.equal((await peer.next()).type, 0x06, 'A-RELEASE-RP');
    assert.ok(await peer.closedByServer(), 'closed after the release if the requestor does not');
  });

  it('rejects a protocol version without version 1 and a foreign application context, with the reasons PS3.8 gives', async () => {
    const version = await RawPeer.open(system.dicomPort);
    version.send(associateRequest({ protocolVersion: 2 }));
    const rejected = await version.next();
    assert.equal(rejected.type, 0x03);
    assert.deepEqual([...rejected.body.subarray(1, 4)], [1, 2, 2], 'permanent, service-provider (ACSE), protocol-version-not-supported');
    version.end();
    const context = await RawPeer.open(system.dicomPort);
    context.send(associateRequest({ applicationContext: '1.2.3.4' }));
    const refused = await context.next();
    assert.equal(refused.type, 0x03);
    assert.deepEqual([...refused.body.subarray(1, 4)], [1, 1, 2], 'permanent, service-user, application-context-name-not-supported');
    context.end();
  });

  it('reassembles a request sent one byte per TCP segment and a command split over PDVs, and answers C-ECHO', async () => {
    const peer = await RawPeer.open(system.dicomPort);
    await peer.trickle(associateRequest());
    assert.equal((await peer.next()).type, 0x02);
    for (const part of pData(1, true, echoRequest(7), 10)) await peer.trickle(part);
    const { fields } = await peer.response();
    assert.equal(fields.get(0x0100)!.readUInt16LE(0), 0x8030, 'C-ECHO-RSP');
    assert.equal(fields.get(0x0120)!.readUInt16LE(0), 7, 'answers message 7');
    assert.equal(fields.get(0x0900)!.readUInt16LE(0), 0x0000, 'Success');
    peer.end();
  });

  it('answers a C-ECHO-RQ sent in the same segment as the A-RELEASE-RQ before it releases', async () => {
    const peer = await RawPeer.open(system.dicomPort);
    peer.send(associateRequest());
    assert.equal((await peer.next()).type, 0x02);
    // A requestor that does not wait for the answer before it asks to release (one write, one segment).
    peer.send(Buffer.concat([...pData(1, true, echoRequest(9)), pdu(0x05, Buffer.alloc(4))]));
    const { fields } = await peer.response();
    assert.equal(fields.get(0x0100)!.readUInt16LE(0), 0x8030, 'C-ECHO-RSP first');
    assert.equal(fields.get(0x0120)!.readUInt16LE(0), 9);
    assert.equal((await peer.next()).type, 0x06, 'then A-RELEASE-RP');
    peer.end();
  });

  it('fits its responses into the maximum PDU length the requestor announced', async () => {
    const peer = await RawPeer.open(system.dicomPort);
    peer.send(associateRequest({ maxPduLength: 32 }));
    assert.equal((await peer.next()).type, 0x02);
    peer.send(...pData(1, true, echoRequest(1)));
    const { fields, pdus, largestPdu } = await peer.response();
    assert.equal(fields.get(0x0900)!.readUInt16LE(0), 0x0000);
    assert.ok(pdus > 1, `the response came in ${pdus} PDUs`);
    assert.ok(largestPdu <= 32, `no PDU longer than 32 bytes (largest ${largestPdu})`);
    peer.end();
  });

  it('answers an operation it does not perform with Unrecognized Operation (0211H), reading and dropping its dataset', async () => {
    const peer = await RawPeer.open(system.dicomPort);
    peer.send(associateRequest());
    assert.equal((await peer.next()).type, 0x02);
    const find = commandSet([
      [0x0002, uid(VERIFICATION)],
      [0x0100, us(0x0020)],
      [0x0110, us(3)],
      [0x0700, us(0)],
      [0x0800, us(0x0000)],
    ]);
    peer.send(...pData(1, true, find), ...pData(1, false, Buffer.from([0x10, 0x00, 0x10, 0x00, 0x00, 0x00, 0x00, 0x00])));
    const { fields } = await peer.response();
    assert.equal(fields.get(0x0100)!.readUInt16LE(0), 0x8020, 'C-FIND-RSP');
    assert.equal(fields.get(0x0900)!.readUInt16LE(0), 0x0211);
    peer.send(...pData(1, true, echoRequest(4)));
    assert.equal((await peer.response()).fields.get(0x0900)!.readUInt16LE(0), 0x0000, 'and the association goes on');
    peer.end();
  });

  it('aborts PDUs out of order: P-DATA before the request, a PDV on a refused context, a dataset with no command', async () => {
    const early = await RawPeer.open(system.dicomPort);
    early.send(...pData(1, true, echoRequest(1)));
    const earlyAbort = await early.next();
    assert.equal(earlyAbort.type, 0x07, 'A-ABORT');
    assert.deepEqual([...earlyAbort.body.subarray(2, 4)], [2, 2], 'service-provider, unexpected-PDU');

    const refusedContext = await RawPeer.open(system.dicomPort);
    refusedContext.send(associateRequest());
    assert.equal((await refusedContext.next()).type, 0x02);
    refusedContext.send(...pData(9, true, echoRequest(1)));
    const abort = await refusedContext.next();
    assert.equal(abort.type, 0x07);
    assert.deepEqual([...abort.body.subarray(2, 4)], [2, 6], 'service-provider, invalid-PDU-parameter-value');

    const orphan = await RawPeer.open(system.dicomPort);
    orphan.send(associateRequest());
    assert.equal((await orphan.next()).type, 0x02);
    orphan.send(...pData(1, false, Buffer.alloc(8)));
    assert.equal((await orphan.next()).type, 0x07);
    for (const peer of [early, refusedContext, orphan]) assert.ok(await peer.closedByServer());
  });

  it('survives 400 mutated conversations (flipped, cut and inflated bytes in every PDU) and keeps answering C-ECHO', async () => {
    // Deterministic: the same mutations on every run, so a failure can be replayed.
    let seed = 0x5eed;
    const random = (below: number) => {
      seed = (seed * 1103515245 + 12345) & 0x7fffffff;
      return seed % below;
    };
    const conversation = [associateRequest(), ...pData(1, true, echoRequest(1), 20), pdu(0x05, Buffer.alloc(4))];
    const answers = new Map<number, number>();
    for (let round = 0; round < 400; round++) {
      const mutated = conversation.map((original) => {
        const bytes = Buffer.from(original);
        const mutation = random(4);
        if (mutation === 0) for (let flips = 1 + random(4); flips > 0; flips--) bytes[random(bytes.length)] = random(256);
        if (mutation === 1) return bytes.subarray(0, random(bytes.length));
        if (mutation === 2) bytes.writeUInt32BE(random(2) ? 0xffffffff : random(bytes.length * 2), 2);
        return bytes;
      });
      // The request first; once accepted, the rest (a requestor waits for the A-ASSOCIATE-AC).
      const first = await new Promise<number>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: system.dicomPort }, () => socket.write(mutated[0]!));
        let answered = -1;
        socket.on('data', (chunk: Buffer) => {
          if (answered >= 0) return;
          answered = chunk[0]!;
          if (answered === 0x02) socket.end(Buffer.concat(mutated.slice(1)));
        });
        socket.on('error', () => undefined);
        socket.on('close', () => resolve(answered));
        socket.setTimeout(3000, () => socket.destroy());
      });
      answers.set(first, (answers.get(first) ?? 0) + 1);
    }
    // Every conversation got an answer the standard allows first (AC, RJ or A-ABORT), or a closed connection
    // (a request cut short, then the connection ended, has nothing to answer).
    for (const first of answers.keys()) assert.ok([-1, 0x02, 0x03, 0x07].includes(first), `first PDU type ${first}`);
    assert.ok((answers.get(0x07) ?? 0) > 0 && (answers.get(0x02) ?? 0) > 0, `answers: ${JSON.stringify([...answers])}`);
    const peer = await RawPeer.open(system.dicomPort);
    peer.send(associateRequest());
    assert.equal((await peer.next()).type, 0x02);
    peer.send(...pData(1, true, echoRequest(9)));
    assert.equal((await peer.response()).fields.get(0x0900)!.readUInt16LE(0), 0x0000, 'still serving');
    peer.end();
  });

  it('stores an instance sent by another SCU implementation (dcmjs-dimse), its pixel data intact', async () => {
    // The DX of the fixtures: dcmjs, which the client encodes with, writes neither ISO 2022 code extensions nor deflate.
    const instance = [...generateCorpus({ preset: 'small' })].find((candidate) => candidate.description.modality === 'DX')!;
    const transferSyntaxUid = dicomParser.parseDicom(instance.bytes, { untilTag: 'x00020010' } as dicomParser.ParseDicomOptions).string('x00020010')!.trim();
    const message = dcmjs.data.DicomMessage.readFile(instance.bytes.buffer.slice(instance.bytes.byteOffset, instance.bytes.byteOffset + instance.bytes.byteLength) as ArrayBuffer);
    const parsed = new dimse.Dataset((dcmjs.data.DicomMetaDictionary as unknown as { naturalizeDataset(dict: unknown): Record<string, unknown> }).naturalizeDataset(message.dict), transferSyntaxUid);
    const client = new dimse.Client();
    const request = new dimse.requests.CStoreRequest(parsed);
    const statuses: number[] = [];
    request.on('response', (response: dimse.responses.CStoreResponse) => statuses.push(response.getStatus()));
    client.addRequest(request);
    await new Promise<void>((resolve, reject) => {
      client.on('closed', () => resolve());
      client.on('networkError', reject);
      client.send('127.0.0.1', system.dicomPort, 'STORESCU', 'YINGYUN');
    });
    assert.deepEqual(statuses, [0x0000]);
    const sopInstanceUid = parsed.getElement('SOPInstanceUID') as string;
    const rows = await system.runtime.db.pool.query('SELECT object_key FROM receipts WHERE sop_instance_uid = $1', [sopInstanceUid]);
    assert.equal(rows.rowCount, 1);
    // dcmjs-dimse writes the dataset anew (its own encoding of the header), so the pixels are compared.
    const pixels = (part10: Buffer) => {
      const element = dicomParser.parseDicom(part10).elements.x7fe00010!;
      return part10.subarray(element.dataOffset, element.dataOffset + element.length);
    };
    const stored = await system.runtime.store.get(rows.rows[0].object_key);
    assert.ok(pixels(stored).length > 0);
    assert.ok(pixels(stored).equals(pixels(instance.bytes)), 'the same pixel data');
  });
});

describe('the acceptor around a stand-in service (protocol rules alone)', () => {
  let server: net.Server;
  let port: number;
  const problems: string[] = [];
  let finishStore: () => void = () => undefined;
  const handler: AcceptorHandler = {
    decide: async (request) => ({ accept: true, contexts: request.contexts.map((context) => ({ id: context.id, result: 0, transferSyntaxUid: context.transferSyntaxUids[0]! })) }),
    // A store that answers only when the test says so.
    storeStarted: () => ({ append: () => undefined, finish: () => new Promise((resolve) => (finishStore = () => resolve({ status: 0 }))), abandon: () => undefined }),
    protocolProblem: (reason) => problems.push(reason),
    ended: () => undefined,
  };

  before(async () => {
    server = net.createServer((socket) => {
      socket.on('error', () => undefined);
      new AcceptorAssociation(socket, handler, { maxPduLength: 16384, idleMs: 400, implementationClassUid: '1.2.3', implementationVersionName: 'TEST' });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    port = (server.address() as net.AddressInfo).port;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const storeCommand = (messageId: number, sopClassUid = CT_IMAGE_STORAGE) =>
    commandSet([
      [0x0002, uid(sopClassUid)],
      [0x0100, us(0x0001)],
      [0x0110, us(messageId)],
      [0x0700, us(0)],
      [0x0800, us(0x0000)],
      [0x1000, uid(`1.2.3.${messageId}`)],
    ]);
  const storeContexts = [
    { id: 1, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] },
    { id: 3, abstractSyntax: CT_IMAGE_STORAGE, transferSyntaxes: [IMPLICIT_LE] },
  ];

  it('answers with protocol version 1 and zeroed reserved bytes, whatever the request carried there', async () => {
    const peer = await RawPeer.open(port);
    const request = associateRequest();
    request.writeUInt16BE(0x0003, 6); // versions 1 and a future 2
    request.writeUInt16BE(0xabcd, 8); // reserved
    peer.send(request);
    const accept = await peer.next();
    assert.equal(accept.type, 0x02);
    assert.equal(accept.body.readUInt16BE(0), 0x0001);
    assert.equal(accept.body.readUInt16BE(2), 0x0000);
    peer.end();
  });

  it('rejects a well-framed request with no presentation context, an even context ID or one ID twice (A-ASSOCIATE-RJ, not an abort)', async () => {
    const verification = (id: number) => ({ id, abstractSyntax: VERIFICATION, transferSyntaxes: [IMPLICIT_LE] });
    for (const contexts of [[], [verification(2)], [verification(0)], [verification(1), verification(3), verification(1)]]) {
      const peer = await RawPeer.open(port);
      peer.send(associateRequest({ contexts }));
      const rejected = await peer.next();
      assert.equal(rejected.type, 0x03, `contexts ${contexts.map((context) => context.id).join(',')}`);
      assert.deepEqual([...rejected.body.subarray(1, 4)], [1, 2, 1], 'permanent, service-provider (ACSE), no-reason-given');
      peer.end();
    }
  });

  it('answers a C-STORE sent on the Verification context with SOP Class Not Supported (0122H)', async () => {
    const peer = await RawPeer.open(port);
    peer.send(associateRequest({ contexts: storeContexts }));
    assert.equal((await peer.next()).type, 0x02);
    peer.send(...pData(1, true, storeCommand(5)), ...pData(1, false, Buffer.alloc(16)));
    const { fields } = await peer.response();
    assert.equal(fields.get(0x0100)!.readUInt16LE(0), 0x8001);
    assert.equal(fields.get(0x0900)!.readUInt16LE(0), 0x0122);
    peer.end();
  });

  it('aborts a peer that stops in the middle of a dataset, once it has been silent for the idle time', async () => {
    const peer = await RawPeer.open(port);
    peer.send(associateRequest({ contexts: storeContexts }));
    assert.equal((await peer.next()).type, 0x02);
    const [firstFragment] = pData(3, false, Buffer.alloc(64), 32);
    peer.send(...pData(3, true, storeCommand(1)), firstFragment!);
    const abort = await peer.next(3000);
    assert.equal(abort.type, 0x07, 'A-ABORT after 0.4 s of silence');
    assert.ok(await peer.closedByServer());
  });

  it('serves a peer that does not wait for answers, up to 8 operations, and aborts it beyond', async () => {
    const peer = await RawPeer.open(port);
    peer.send(associateRequest({ contexts: storeContexts }));
    assert.equal((await peer.next()).type, 0x02);
    for (let message = 1; message <= 9; message++) peer.send(...pData(3, true, storeCommand(message)), ...pData(3, false, Buffer.alloc(16)));
    const abort = await peer.next();
    assert.equal(abort.type, 0x07, 'the ninth operation outstanding is one too many');
    assert.ok(problems.some((reason) => /more than 8 operations outstanding/.test(reason)));
    finishStore();
    peer.end();
  });
});
