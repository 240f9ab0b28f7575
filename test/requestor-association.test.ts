import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { datasetOffsetFromMetaGroupLength } from '../archive/dicom/part10.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { COMMAND, COMMAND_FIELD } from '../gateway/dimse/command-set.ts';
import { PduReader } from '../gateway/dimse/pdu-reader.ts';
import { buildAbort, buildAssociateAccept, buildAssociateReject, parseAssociateRequest, PDU_TYPE } from '../gateway/dimse/pdu.ts';
import { AssociationError, RequestorAssociation } from '../gateway/dimse/requestor-association.ts';
import { startStorescpDestination, type StorescpDestination } from './support/dcmtk.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';

const CT = path.join(PYDICOM_TEST_FILES, 'CT_small.dcm');
const CT_IMAGE_STORAGE = '1.2.840.10008.5.1.4.1.1.2';
const EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const TIMEOUTS = { associationTimeoutMs: 10_000, idleTimeoutMs: 10_000 };

/** A hand-driven acceptor built from our PDU builders: answers the A-ASSOCIATE-RQ as `answer` says, then does what `onPData` says. */
async function scriptedAcceptor(answer: 'accept' | 'reject', onPData: (socket: net.Socket) => void): Promise<{ port: number; close(): void }> {
  const server = net.createServer((socket) => {
    const reader = new PduReader(1 << 20);
    socket.on('data', (chunk: Buffer) => {
      for (const pdu of reader.push(chunk)) {
        if (pdu.type === PDU_TYPE.associateRq) {
          const request = parseAssociateRequest(pdu.body);
          socket.write(
            answer === 'reject'
              ? buildAssociateReject(1, 1, 7)
              : buildAssociateAccept(request, request.contexts.map((context) => ({ id: context.id, result: 0, transferSyntaxUid: context.transferSyntaxUids[0]! })), { maxPduLength: 16_384, implementationClassUid: '1.2.3', implementationVersionName: 'SCRIPTED' }),
          );
        } else if (pdu.type === PDU_TYPE.pData) onPData(socket);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as net.AddressInfo).port, close: () => server.close() };
}

const storeElements = (sopInstanceUid: string) =>
  [
    [COMMAND.affectedSopClassUid, { uid: CT_IMAGE_STORAGE }],
    [COMMAND.commandField, { us: COMMAND_FIELD.cStoreRq }],
    [COMMAND.priority, { us: 0 }],
    [COMMAND.affectedSopInstanceUid, { uid: sopInstanceUid }],
  ] as const;

describe('requestor association (gateway/dimse/requestor-association.ts)', () => {
  let work: string;
  let storescp: StorescpDestination | undefined;
  const haveDcmtk = commandExists('storescp');

  before(async () => {
    work = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-requestor-'));
    if (haveDcmtk) storescp = await startStorescpDestination('STORESCP', path.join(work, 'received'));
  });
  after(async () => {
    await storescp?.stop();
    await fs.rm(work, { recursive: true, force: true });
  });

  test('C-STORE to DCMTK storescp: the refused context is told apart, two requests on one association, the dataset arrives byte for byte, then A-RELEASE', async (t) => {
    if (!requirePeer(t, haveDcmtk, 'DCMTK storescp')) return;
    const part10 = await fs.readFile(CT);
    const { sopInstanceUid, transferSyntaxUid } = parseInstance(part10);
    assert.equal(transferSyntaxUid, EXPLICIT_LITTLE_ENDIAN);
    const dataset = part10.subarray(datasetOffsetFromMetaGroupLength(part10));
    assert.equal(datasetOffsetFromMetaGroupLength(part10), parseInstance(part10).datasetOffset);
    const association = await RequestorAssociation.open({ aeTitle: 'STORESCP', host: '127.0.0.1', port: storescp!.port }, 'YINGYUN', {
      contexts: [
        { id: 1, abstractSyntaxUid: CT_IMAGE_STORAGE, transferSyntaxUids: [EXPLICIT_LITTLE_ENDIAN] },
        { id: 3, abstractSyntaxUid: '1.2.826.0.1.3680043.2.1143.999', transferSyntaxUids: [EXPLICIT_LITTLE_ENDIAN] },
      ],
      ...TIMEOUTS,
    });
    assert.deepEqual(association.acceptedContext(1), { id: 1, result: 0, transferSyntaxUid: EXPLICIT_LITTLE_ENDIAN });
    assert.equal(association.acceptedContext(3), undefined);
    for (let round = 0; round < 2; round++) {
      const response = await association.request(1, storeElements(sopInstanceUid), dataset);
      assert.equal(response.commandField, COMMAND_FIELD.cStoreRq | 0x8000);
      assert.equal(response.number(COMMAND.status), 0x0000);
      assert.equal(response.number(COMMAND.messageIdBeingRespondedTo), round + 1);
    }
    await association.release();
    await assert.rejects(association.request(1, storeElements(sopInstanceUid), dataset), AssociationError);
    const files = storescp!.files();
    assert.equal(files.length, 2);
    for (const file of files) assert.ok(file.subarray(datasetOffsetFromMetaGroupLength(file)).equals(dataset), 'the dataset storescp wrote is the one sent');
  });

  test('an A-ASSOCIATE-RJ rejects open() saying why; a closed port too', async () => {
    const acceptor = await scriptedAcceptor('reject', () => undefined);
    try {
      await assert.rejects(
        RequestorAssociation.open({ aeTitle: 'NOBODY', host: '127.0.0.1', port: acceptor.port }, 'YINGYUN', { contexts: [{ id: 1, abstractSyntaxUid: CT_IMAGE_STORAGE, transferSyntaxUids: [EXPLICIT_LITTLE_ENDIAN] }], ...TIMEOUTS }),
        (error: Error) => error instanceof AssociationError && /rejected-permanent, DICOM UL service-user, called-AE-title-not-recognized/.test(error.message),
      );
    } finally {
      acceptor.close();
    }
    const closed = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const { port } = server.address() as net.AddressInfo;
        server.close(() => resolve(port));
      });
    });
    await assert.rejects(RequestorAssociation.open({ aeTitle: 'NOBODY', host: '127.0.0.1', port: closed }, 'YINGYUN', { contexts: [{ id: 1, abstractSyntaxUid: CT_IMAGE_STORAGE, transferSyntaxUids: [EXPLICIT_LITTLE_ENDIAN] }], ...TIMEOUTS }), /ECONNREFUSED/);
  });

  test('an A-ABORT from the peer, and a peer that never answers, reject the outstanding request', async () => {
    const aborting = await scriptedAcceptor('accept', (socket) => socket.end(buildAbort(2, 0)));
    const silent = await scriptedAcceptor('accept', () => undefined);
    try {
      const contexts = [{ id: 1, abstractSyntaxUid: CT_IMAGE_STORAGE, transferSyntaxUids: [EXPLICIT_LITTLE_ENDIAN] }];
      const aborted = await RequestorAssociation.open({ aeTitle: 'ABORTING', host: '127.0.0.1', port: aborting.port }, 'YINGYUN', { contexts, ...TIMEOUTS });
      await assert.rejects(aborted.request(1, storeElements('1.2.3'), Buffer.alloc(64)), /the peer aborted the association \(source 2, reason 0\)/);
      const unanswered = await RequestorAssociation.open({ aeTitle: 'SILENT', host: '127.0.0.1', port: silent.port }, 'YINGYUN', { contexts, associationTimeoutMs: 10_000, idleTimeoutMs: 300 });
      await assert.rejects(unanswered.request(1, storeElements('1.2.3'), Buffer.alloc(64)), /no answer for 0.3 s/);
    } finally {
      aborting.close();
      silent.close();
    }
  });
});
