import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { createTestDatabase } from '../support/database.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, type SentInstance } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { startGatewayProcess } from '../support/services.ts';

/**
 * A 2 GB multi-frame instance (Multi-frame Grayscale Byte Secondary Capture, 2,000 frames of 1024 x 1024),
 * written to disk a frame at a time and sent with storescu to Yingyun in a process of its own: it is
 * stored whole (the receipt's digests are those of what was sent, the object reads back with them) while
 * the gateway's memory stays bounded (it streams the object to disk, never holding it).
 */
const ROWS = 1024;
const COLUMNS = 1024;
const FRAMES = 2000;
/** How much the gateway's peak resident set may grow while it receives the 2 GB object. */
const RSS_GROWTH_LIMIT_BYTES = 512 * 1024 * 1024;
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const MULTIFRAME_GRAYSCALE_BYTE_SC = '1.2.840.10008.5.1.4.1.1.7.2';

/** One Explicit VR Little Endian element (OB with the long header form). */
function element(group: number, elementNumber: number, vr: string, value: Buffer): Buffer {
  const padded = value.length % 2 ? Buffer.concat([value, Buffer.from(vr === 'UI' || vr === 'OB' ? [0] : [0x20])]) : value;
  const long = vr === 'OB' || vr === 'OW';
  const header = Buffer.alloc(long ? 12 : 8);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(elementNumber, 2);
  header.write(vr, 4, 'latin1');
  if (long) header.writeUInt32LE(padded.length, 8);
  else header.writeUInt16LE(padded.length, 6);
  return Buffer.concat([header, padded]);
}
const text = (value: string) => Buffer.from(value, 'latin1');
const us = (value: number) => Buffer.from(Uint16Array.of(value).buffer);

/** Writes the instance frame by frame; returns what storescu will send and the dataset's SHA-256. */
async function writeLargeInstance(file: string): Promise<SentInstance> {
  const uid = () => `2.25.${BigInt(`0x${randomBytes(15).toString('hex')}`)}`;
  const [studyInstanceUid, seriesInstanceUid, sopInstanceUid] = [uid(), uid(), uid()];
  const metaElements = Buffer.concat([
    element(0x0002, 0x0001, 'OB', Buffer.from([0, 1])),
    element(0x0002, 0x0002, 'UI', text(MULTIFRAME_GRAYSCALE_BYTE_SC)),
    element(0x0002, 0x0003, 'UI', text(sopInstanceUid)),
    element(0x0002, 0x0010, 'UI', text(EXPLICIT_VR_LITTLE_ENDIAN)),
    element(0x0002, 0x0012, 'UI', text('1.2.826.0.1.3680043.10.1234.1')),
  ]);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaElements.length);
  const pixelBytes = ROWS * COLUMNS * FRAMES;
  const pixelHeader = Buffer.alloc(12);
  pixelHeader.writeUInt16LE(0x7fe0, 0);
  pixelHeader.writeUInt16LE(0x0010, 2);
  pixelHeader.write('OB', 4, 'latin1');
  pixelHeader.writeUInt32LE(pixelBytes, 8);
  const header = Buffer.concat([
    element(0x0008, 0x0016, 'UI', text(MULTIFRAME_GRAYSCALE_BYTE_SC)),
    element(0x0008, 0x0018, 'UI', text(sopInstanceUid)),
    element(0x0008, 0x0020, 'DA', text('20261206')),
    element(0x0008, 0x0060, 'CS', text('OT')),
    element(0x0008, 0x0064, 'CS', text('WSD')),
    element(0x0010, 0x0010, 'PN', text('Fault^Large')),
    element(0x0010, 0x0020, 'LO', text('FAULT-LARGE-1')),
    element(0x0020, 0x000d, 'UI', text(studyInstanceUid)),
    element(0x0020, 0x000e, 'UI', text(seriesInstanceUid)),
    element(0x0020, 0x0013, 'IS', text('1')),
    element(0x0028, 0x0002, 'US', us(1)),
    element(0x0028, 0x0004, 'CS', text('MONOCHROME2')),
    element(0x0028, 0x0008, 'IS', text(String(FRAMES))),
    element(0x0028, 0x0010, 'US', us(ROWS)),
    element(0x0028, 0x0011, 'US', us(COLUMNS)),
    element(0x0028, 0x0100, 'US', us(8)),
    element(0x0028, 0x0101, 'US', us(8)),
    element(0x0028, 0x0102, 'US', us(7)),
    element(0x0028, 0x0103, 'US', us(0)),
    pixelHeader,
  ]);
  const dataset = createHash('sha256');
  const out = fs.createWriteStream(file);
  const write = (bytes: Buffer) => (out.write(bytes) ? Promise.resolve() : new Promise<void>((resolve) => out.once('drain', () => resolve())));
  await write(Buffer.concat([Buffer.alloc(128), text('DICM'), element(0x0002, 0x0000, 'UL', groupLength), metaElements]));
  await write(header);
  dataset.update(header);
  const frame = Buffer.alloc(ROWS * COLUMNS);
  for (let index = 0; index < FRAMES; index += 1) {
    // A gradient that moves with the frame number: every frame differs, so a misplaced frame changes the digest.
    for (let row = 0; row < ROWS; row += 1) frame.fill((row + index) & 0xff, row * COLUMNS, (row + 1) * COLUMNS);
    await write(frame);
    dataset.update(frame);
  }
  await new Promise<void>((resolve, reject) => out.end((error?: Error | null) => (error ? reject(error) : resolve())));
  return { file, studyInstanceUid, seriesInstanceUid, sopInstanceUid, datasetSha256: dataset.digest('hex') };
}

describe('a 2 GB multi-frame instance', () => {
  it(`is stored whole over C-STORE (${FRAMES} frames of ${ROWS} x ${COLUMNS}) with the gateway's memory bounded`, async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-large-'));
    const database = await createTestDatabase();
    const dataDir = path.join(directory, 'data');
    let gateway: Awaited<ReturnType<typeof startGatewayProcess>> | undefined;
    try {
      const instance = await writeLargeInstance(path.join(directory, 'large.dcm'));
      const size = fs.statSync(instance.file).size;
      assert.ok(size > 2_000_000_000, `the file is over 2 GB (${size} bytes)`);
      gateway = await startGatewayProcess({ DATABASE_URL: database.url, YINGYUN_DATA_DIR: dataDir, YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine', REDIS_URL: '', S3_ENDPOINT: '', S3_BUCKET: '' });
      const baseline = gateway.peakRssBytes();
      const startedAt = Date.now();
      const sent = await sendWithStorescu(gateway.dicomPort, [instance], { timeoutMs: 600_000 });
      const seconds = (Date.now() - startedAt) / 1000;
      assert.equal(sent.acknowledged.length, 1, `the 2 GB instance acknowledged:\n${sent.output.slice(-2000)}`);
      const growth = gateway.peakRssBytes() - baseline;
      assert.ok(growth < RSS_GROWTH_LIMIT_BYTES, `the gateway's peak RSS grew by ${(growth / 2 ** 20).toFixed(0)} MiB receiving ${(size / 2 ** 30).toFixed(2)} GiB`);
      const store = await openLocalObjectStore(path.join(dataDir, 'objects'));
      await assertNothingLost(database.url, store, sent.acknowledged, { indexedWithinMs: 180_000 });
      await assertIndexConsistent(database.url, store, { indexedWithinMs: 180_000 });
      t.diagnostic(`${(size / 2 ** 30).toFixed(2)} GiB sent in ${seconds.toFixed(1)} s; gateway peak RSS ${(baseline / 2 ** 20).toFixed(0)} MiB at start, +${(growth / 2 ** 20).toFixed(0)} MiB while receiving`);
    } finally {
      await gateway?.stop();
      await database.drop();
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });
});
