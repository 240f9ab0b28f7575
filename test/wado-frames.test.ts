import assert from 'node:assert/strict';
import { inflateRawSync } from 'node:zlib';
import { after, before, describe, it } from 'node:test';
import { parseInstance } from '../archive/dicom/parse.ts';
import type { StoredInstance } from '../archive/db/retrieve-repository.ts';
import { extractBits, FrameReader } from '../archive/retrieve/frames.ts';
import type { ObjectStore } from '../archive/storage/object-store.ts';
import { dicomWebClient, type DicomWebClient } from './support/dicomweb-client.ts';
import { requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { expectProblem, getParts, havePydicom, ingest, nativePixelData, readTestFile } from './support/wado.ts';

const EXPLICIT_LE = '1.2.840.10008.1.2.1';
const UNCOMPRESSED = `application/octet-stream; transfer-syntax=${EXPLICIT_LE}`;

/** The fragments of a file's encapsulated Pixel Data (Basic Offset Table dropped), read independently of the server. */
function fragmentsOf(part10: Buffer): Buffer[] {
  const location = parseInstance(part10).bulkData.find((bulk) => bulk.path === '7FE00010')!;
  const fragments: Buffer[] = [];
  let offset = location.offset;
  for (let first = true; part10.readUInt16LE(offset + 2) === 0xe000; first = false) {
    const length = part10.readUInt32LE(offset + 4);
    if (!first) fragments.push(part10.subarray(offset + 8, offset + 8 + length));
    offset += 8 + length;
  }
  return fragments;
}

const item = (value: Buffer, element = 0xe000) => {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0xfffe, 0);
  header.writeUInt16LE(element, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
};

function explicitElement(group: number, element: number, vr: string, value: Buffer): Buffer {
  const header = Buffer.alloc(12);
  header.writeUInt16LE(group, 0);
  header.writeUInt16LE(element, 2);
  header.write(vr, 4, 'latin1');
  header.writeUInt32LE(value.length, 8);
  return Buffer.concat([header, value]);
}

const uint64s = (values: number[]) => Buffer.concat(values.map((value) => { const bytes = Buffer.alloc(8); bytes.writeBigUInt64LE(BigInt(value)); return bytes; }));
const uint32s = (values: number[]) => Buffer.concat(values.map((value) => { const bytes = Buffer.alloc(4); bytes.writeUInt32LE(value); return bytes; }));

/**
 * The same file with its encapsulated Pixel Data re-laid: `frames` as lists of fragments, with or
 * without a Basic Offset Table, optionally with an Extended Offset Table (one fragment per frame).
 */
function relaidPixelData(part10: Buffer, frames: Buffer[][], layout: { basicOffsetTable: boolean; extendedOffsetTable?: boolean }): Buffer {
  const location = parseInstance(part10).bulkData.find((bulk) => bulk.path === '7FE00010')!;
  const prefix = part10.subarray(0, location.offset - 12); // explicit VR OB header: tag, VR, 2 reserved, length
  const frameItems = frames.map((fragments) => Buffer.concat(fragments.map((fragment) => item(fragment))));
  const offsets = frameItems.map((_, index) => frameItems.slice(0, index).reduce((sum, bytes) => sum + bytes.length, 0));
  const extended = layout.extendedOffsetTable
    ? Buffer.concat([explicitElement(0x7fe0, 0x0001, 'OV', uint64s(offsets)), explicitElement(0x7fe0, 0x0002, 'OV', uint64s(frames.map((fragments) => fragments[0]!.length)))])
    : Buffer.alloc(0);
  const pixelDataHeader = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  return Buffer.concat([prefix, extended, pixelDataHeader, item(layout.basicOffsetTable ? uint32s(offsets) : Buffer.alloc(0)), ...frameItems, item(Buffer.alloc(0), 0xe0dd)]);
}

/** File Meta rebuilt with another Transfer Syntax UID (and its group length), the dataset unchanged. */
function withTransferSyntax(part10: Buffer, transferSyntaxUid: string): Buffer {
  const datasetOffset = parseInstance(part10).datasetOffset;
  const elements: Buffer[] = [];
  for (let offset = 132; offset < datasetOffset; ) {
    const element = part10.readUInt16LE(offset + 2);
    const vr = part10.toString('latin1', offset + 4, offset + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT', 'UC', 'UR'].includes(vr);
    const length = long ? part10.readUInt32LE(offset + 8) : part10.readUInt16LE(offset + 6);
    const end = offset + (long ? 12 : 8) + length;
    if (element === 0x0010) {
      const value = Buffer.from(transferSyntaxUid.length % 2 ? `${transferSyntaxUid}\0` : transferSyntaxUid, 'latin1');
      const header = Buffer.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49, 0, 0]);
      header.writeUInt16LE(value.length, 6);
      elements.push(Buffer.concat([header, value]));
    } else if (element !== 0x0000) {
      elements.push(part10.subarray(offset, end));
    }
    offset = end;
  }
  const meta = Buffer.concat(elements);
  const groupLength = Buffer.from([0x02, 0x00, 0x00, 0x00, 0x55, 0x4c, 0x04, 0x00, 0, 0, 0, 0]);
  groupLength.writeUInt32LE(meta.length, 8);
  return Buffer.concat([part10.subarray(0, 132), groupLength, meta, part10.subarray(datasetOffset)]);
}

/** WADO-RS frames (PS3.18 10.4.1.1.4 and 8.7.3.3): native, decoded and as-stored compressed frames. */
describe('WADO-RS frames', () => {
  let system: TestSystem;
  let client: DicomWebClient;
  before(async () => {
    system = await startTestSystem();
    client = dicomWebClient(system.dicomWebUrl, system.adminToken);
  });
  after(async () => system?.shutdown());

  it('sends native frames uncompressed in little endian, whatever the stored byte order, and decodes RLE, JPEG 2000 and JPEG-LS to the same pixels', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const reference = nativePixelData(readTestFile('MR_small.dcm'));
    assert.equal(reference.length, 64 * 64 * 2);
    // The same SOP Instance in each transfer syntax: every ingest is a new current version of it.
    for (const name of ['MR_small.dcm', 'MR_small_implicit.dcm', 'MR_small_bigendian.dcm', 'MR_small_expb.dcm', 'MR_small_RLE.dcm', 'MR_small_jp2klossless.dcm', 'MR_small_jpeg_ls_lossless.dcm']) {
      const stored = await ingest(system, readTestFile(name));
      const [frame] = await client.retrieveInstanceFrames({ studyInstanceUID: stored.study, seriesInstanceUID: stored.series, sopInstanceUID: stored.instance, frameNumbers: [1] });
      assert.ok(Buffer.from(frame!).equals(reference), `${name}: frame 1 equals MR_small.dcm's pixels`);
      const { parts, response } = await getParts(system, `${stored.url}/frames/1`);
      assert.match(response.headers.get('content-type') ?? '', /^multipart\/related; type="application\/octet-stream"/);
      assert.equal(parts[0]!.headers['content-type'], UNCOMPRESSED, name);
    }
  });

  it('multi-frame: frames in the requested order, from native and big endian objects alike', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const reference = nativePixelData(readTestFile('rtdose.dcm'));
    const frameLength = 10 * 10 * 4;
    const expected = [15, 1, 7].map((frame) => reference.subarray((frame - 1) * frameLength, frame * frameLength));
    // (rtdose_rle.dcm would add RLE, but it has no SOP Class UID, so ingest refuses it.)
    for (const name of ['rtdose.dcm', 'rtdose_expb.dcm']) {
      const stored = await ingest(system, readTestFile(name));
      const { parts } = await getParts(system, `${stored.url}/frames/15,1,7`);
      assert.equal(parts.length, 3, name);
      parts.forEach((part, index) => assert.ok(part.body.equals(expected[index]!), `${name}: part ${index + 1}`));
    }
  });

  it('passes compressed frames through as stored, labelled per PS3.18 Table 8.7.3-5', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const jpeg = await ingest(system, readTestFile('SC_rgb_jpeg_dcmtk.dcm'));
    const bitstream = Buffer.concat(fragmentsOf(jpeg.bytes));
    assert.deepEqual([...bitstream.subarray(0, 2)], [0xff, 0xd8]);
    const uids = { studyInstanceUID: jpeg.study, seriesInstanceUID: jpeg.series, sopInstanceUID: jpeg.instance };
    const [viaClient] = await client.retrieveInstanceFrames({ ...uids, frameNumbers: [1], mediaTypes: [{ mediaType: 'image/jpeg', transferSyntaxUID: '1.2.840.10008.1.2.4.50' }] });
    assert.ok(Buffer.from(viaClient!).equals(bitstream), 'the JPEG bitstream, byte for byte');

    const asJpeg = await getParts(system, `${jpeg.url}/frames/1`, 'multipart/related; type="image/jpeg"');
    assert.match(asJpeg.response.headers.get('content-type') ?? '', /^multipart\/related; type="image\/jpeg"/);
    assert.equal(asJpeg.parts[0]!.headers['content-type'], 'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50');
    const anyTransferSyntax = await getParts(system, `${jpeg.url}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=*');
    assert.equal(anyTransferSyntax.parts[0]!.headers['content-type'], 'application/octet-stream; transfer-syntax=1.2.840.10008.1.2.4.50');
    assert.ok(anyTransferSyntax.parts[0]!.body.equals(bitstream));
    const decoded = await getParts(system, `${jpeg.url}/frames/1`, 'multipart/related; type="application/octet-stream"');
    assert.equal(decoded.parts[0]!.headers['content-type'], UNCOMPRESSED);
    assert.equal(decoded.parts[0]!.body.length, 100 * 100 * 3, 'decoded to RGB');
    const single = await system.fetch(`${jpeg.url}/frames/1`, { headers: { Accept: 'image/jpeg' } });
    assert.equal(single.headers.get('content-type'), 'image/jpeg; transfer-syntax=1.2.840.10008.1.2.4.50');
    assert.ok(Buffer.from(await single.arrayBuffer()).equals(bitstream), 'one frame as a single part on request');

    await expectProblem(
      await system.fetch(`${jpeg.url}/frames/1`, { headers: { Accept: 'multipart/related; type="image/jp2"' } }),
      406,
      /stored as 1\.2\.840\.10008\.1\.2\.4\.50: ask for multipart\/related; type="image\/jpeg"/,
    );
    const ct = await ingest(system, readTestFile('CT_small.dcm'));
    await expectProblem(await system.fetch(`${ct.url}/frames/1`, { headers: { Accept: 'multipart/related; type="image/jpeg"' } }), 406, /stored uncompressed/);
  });

  it('finds frames by Basic Offset Table, fragment count, or codestream starts; multi-fragment frames are joined', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const original = readTestFile('SC_rgb_rle_2frame.dcm');
    const frames = fragmentsOf(original).map((fragment) => [fragment]);
    assert.equal(frames.length, 2);
    const asReceived = await ingest(system, original);
    const expectedRgb = (await getParts(system, `${asReceived.url}/frames/1,2`)).parts.map((part) => part.body);
    assert.equal(expectedRgb[0]!.length, 100 * 100 * 3);
    assert.ok(!expectedRgb[0]!.equals(expectedRgb[1]!), 'two different frames');

    const split = (fragment: Buffer) => [fragment.subarray(0, 64), fragment.subarray(64)];
    const variants: Record<string, Buffer> = {
      'no offset table': relaidPixelData(original, frames, { basicOffsetTable: false }),
      'basic offset table, two fragments per frame': relaidPixelData(original, frames.map(([fragment]) => split(fragment!)), { basicOffsetTable: true }),
    };
    for (const [variant, part10] of Object.entries(variants)) {
      const stored = await ingest(system, part10);
      const { parts } = await getParts(system, `${stored.url}/frames/2,1`);
      assert.ok(parts[0]!.body.equals(expectedRgb[1]!) && parts[1]!.body.equals(expectedRgb[0]!), variant);
      const asStored = await getParts(system, `${stored.url}/frames/2`, 'multipart/related; type="image/dicom-rle"');
      assert.ok(asStored.parts[0]!.body.equals(frames[1]![0]!), `${variant}: the RLE frame as stored`);
    }

    // JPEG Lossless frames split over fragments, no offset table: a frame starts at each SOI marker.
    const jpegFrame = Buffer.concat(fragmentsOf(readTestFile('SC_rgb_jpeg_gdcm.dcm')));
    const jpegTwoFrames = relaidPixelData(withTransferSyntax(original, '1.2.840.10008.1.2.4.70'), [split(jpegFrame), split(jpegFrame)], { basicOffsetTable: false });
    const stored = await ingest(system, jpegTwoFrames);
    const asStored = await getParts(system, `${stored.url}/frames/1,2`, 'multipart/related; type="image/jpeg"');
    assert.ok(asStored.parts.every((part) => part.body.equals(jpegFrame)));
    const decoded = await getParts(system, `${stored.url}/frames/2`);
    assert.ok(decoded.parts[0]!.body.equals(expectedRgb[0]!), 'JPEG Lossless and RLE of the same picture decode to the same pixels');
  });

  it('finds frames by the Extended Offset Table, reading only their byte ranges', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    // Ingest cannot take such a file yet (dicom-parser does not know VR OV), so the reader is driven directly.
    const original = readTestFile('SC_rgb_rle_2frame.dcm');
    const frames = fragmentsOf(original).map((fragment) => [fragment]);
    const part10 = relaidPixelData(original, frames, { basicOffsetTable: false, extendedOffsetTable: true });
    const parsed = parseInstance(original);
    const pixelDataOffset = parsed.bulkData.find((bulk) => bulk.path === '7FE00010')!.offset + 2 * 12 + 2 * 16;
    const offsets = [0, 8 + frames[0]![0]!.length];
    const ranges: Array<[number, number]> = [];
    const store = {
      getRange: async (_key: string, offset: number, length: number) => {
        ranges.push([offset, length]);
        return part10.subarray(offset, offset + length);
      },
    } as unknown as ObjectStore;
    const instance: StoredInstance = {
      studyInstanceUid: parsed.studyInstanceUid,
      seriesInstanceUid: parsed.seriesInstanceUid,
      sopInstanceUid: parsed.sopInstanceUid,
      sopClassUid: parsed.sopClassUid,
      objectKey: 'in-memory',
      transferSyntaxUid: parsed.transferSyntaxUid,
      sizeBytes: part10.length,
      bulkData: [{ path: '7FE00010', vr: 'OB', offset: pixelDataOffset, length: -1 }],
      pixel: parsed.pixel!,
      datasetOffset: parsed.datasetOffset,
      deflated: false,
      extendedOffsetTable: { vr: 'OV', InlineBinary: uint64s(offsets).toString('base64') },
      extendedOffsetTableLengths: { vr: 'OV', InlineBinary: uint64s(frames.map(([fragment]) => fragment!.length)).toString('base64') },
      thumbnailKey: null,
    };
    const reader = new FrameReader(store, instance);
    assert.ok((await reader.stored(2)).equals(frames[1]![0]!));
    const fragmentsStart = pixelDataOffset + 8;
    assert.deepEqual(ranges.at(-1), [fragmentsStart + offsets[1]!, 8 + frames[1]![0]!.length], 'one read of exactly that fragment');
    assert.ok((await reader.stored(1)).equals(frames[0]![0]!));
  });

  it('reads frames of deflated and 1-bit objects', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const deflatedFile = readTestFile('image_dfl.dcm');
    const parsed = parseInstance(deflatedFile);
    const inflated = Buffer.concat([deflatedFile.subarray(0, parsed.datasetOffset), inflateRawSync(deflatedFile.subarray(parsed.datasetOffset))]);
    const location = parsed.bulkData.find((bulk) => bulk.path === '7FE00010')!;
    const deflated = await ingest(system, deflatedFile);
    const { parts } = await getParts(system, `${deflated.url}/frames/1`);
    assert.ok(parts[0]!.body.equals(inflated.subarray(location.offset, location.offset + 512 * 512)));

    const bitmap = await ingest(system, readTestFile('liver_1frame.dcm'));
    const bits = await getParts(system, `${bitmap.url}/frames/1`);
    assert.ok(bits.parts[0]!.body.equals(nativePixelData(bitmap.bytes).subarray(0, (512 * 512) / 8)));
  });

  it('unpacks 1-bit frames that do not start on a byte boundary', () => {
    // DICOM packs 1-bit pixels from the least significant bit of each byte.
    const pixels = [1, 0, 1, 1, 0, 0, 1, 1, 0, 1, 1, 1, 1, 0, 0, 1, 0, 1, 1, 0, 1, 0, 0, 1];
    const packed = Buffer.alloc(3);
    pixels.forEach((bit, index) => (packed[index >> 3]! |= bit << (index & 7)));
    const pack = (bits: number[]) => {
      const bytes = Buffer.alloc(Math.ceil(bits.length / 8));
      bits.forEach((bit, index) => (bytes[index >> 3]! |= bit << (index & 7)));
      return bytes;
    };
    for (const [firstBit, count] of [[0, 5], [5, 5], [10, 5], [3, 12], [7, 17]] as const) {
      assert.deepEqual(extractBits(packed, firstBit, count), pack(pixels.slice(firstBit, firstBit + count)), `bits ${firstBit}..${firstBit + count - 1}`);
    }
  });

  it('answers bad frame lists with 400 and frames of instances without pixels with 404', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const ct = await ingest(system, readTestFile('CT_small.dcm'));
    await expectProblem(await system.fetch(`${ct.url}/frames/2`), 400, /frame 2 does not exist; .* has 1 frame/);
    await expectProblem(await system.fetch(`${ct.url}/frames/0`), 400, /frame numbers/);
    await expectProblem(await system.fetch(`${ct.url}/frames/1,1`), 400, /names a frame twice/);
    await expectProblem(await system.fetch(`${ct.url}/frames/one`), 400, /frame numbers/);
    const report = await ingest(system, readTestFile('test-SR.dcm'));
    await expectProblem(await system.fetch(`${report.url}/frames/1`), 404, /has no Pixel Data/);
  });
});
