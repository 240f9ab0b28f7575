import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { parseInstance } from '../archive/dicom/parse.ts';
import { encodeHtj2k, encodeJpeg2000, encodeJpegXl, part10Of, testFrame, type GreyFrame } from './support/codecs.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { dicomWebClient, type DicomWebClient } from './support/dicomweb-client.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { ingest } from './support/wado.ts';

/**
 * Every compressed transfer syntax docs/conformance.md says the archive decodes (WADO-RS frames as
 * application/octet-stream, and /rendered): a known image written in each by a real encoder (DCMTK,
 * OpenJPEG, OpenJPH, libjxl; pydicom has no HTJ2K or JPEG XL samples, and test/wado-frames.test.ts
 * decodes its RLE, JPEG 2000 and JPEG-LS ones too), then decoded by the archive and compared with the
 * image — equal for a lossless syntax, close for a lossy one.
 */

interface Case {
  name: string;
  transferSyntaxUid: string;
  frame: GreyFrame;
  make: (frame: GreyFrame) => Promise<Buffer>;
  /**
   * What the decoded frame must equal: the image itself, or for lossy JPEG, which DCMTK decodes too,
   * DCMTK's decoding of the same file (the codec's own loss at edges is larger than any decoder slip).
   */
  reference?: (part10: Buffer) => Promise<GreyFrame>;
  /** Largest difference of one pixel from the reference: 0 for lossless syntaxes. */
  maxError: number;
}

const haveDcmtk = ['dcmcjpeg', 'dcmdjpeg', 'dcmcjpls', 'dcmcrle'].every(commandExists);
const twelveBits = testFrame(12);
const eightBits = testFrame(8);

describe('decoding every compressed transfer syntax the archive claims', () => {
  let system: TestSystem;
  let client: DicomWebClient;
  let directory: string;

  /** The native file of `frame` converted by a DCMTK tool. */
  const dcmtk =
    (tool: string, ...options: string[]) =>
    async (frame: GreyFrame): Promise<Buffer> => {
      const source = path.join(directory, `native-${frame.bitsStored}.dcm`);
      const target = path.join(directory, `${tool}${options.join('')}-${frame.bitsStored}.dcm`);
      fs.writeFileSync(source, part10Of(frame));
      const result = await runDcmtk(tool, [...options, source, target]);
      assert.equal(result.code, 0, result.output);
      return fs.readFileSync(target);
    };
  /** The frame as DCMTK decodes `part10` (dcmdjpeg). */
  const dcmdjpeg = async (part10: Buffer): Promise<GreyFrame> => {
    const source = path.join(directory, 'lossy.dcm');
    const target = path.join(directory, 'lossy-decoded.dcm');
    fs.writeFileSync(source, part10);
    const result = await runDcmtk('dcmdjpeg', [source, target]);
    assert.equal(result.code, 0, result.output);
    const decoded = fs.readFileSync(target);
    const parsed = parseInstance(decoded);
    const location = parsed.bulkData.find((bulk) => bulk.path === '7FE00010')!;
    const samples = decoded.subarray(location.offset, location.offset + location.length);
    const { rows, columns, bitsStored } = parsed.pixel!;
    const pixels = parsed.pixel!.bitsAllocated === 8 ? Buffer.from(new Uint16Array(samples).buffer) : Buffer.from(samples);
    return { rows, columns, bitsStored, pixels };
  };
  /** The frame encoded by a WebAssembly encoder, in a file of `transferSyntaxUid`. */
  const wasm = (transferSyntaxUid: string, encode: (frame: GreyFrame) => Promise<Buffer>) => async (frame: GreyFrame) => part10Of(frame, transferSyntaxUid, await encode(frame));

  const cases: Case[] = [
    { name: 'JPEG Baseline (8-bit)', transferSyntaxUid: '1.2.840.10008.1.2.4.50', frame: eightBits, make: dcmtk('dcmcjpeg', '+eb'), reference: dcmdjpeg, maxError: 1 },
    { name: 'JPEG Extended (12-bit)', transferSyntaxUid: '1.2.840.10008.1.2.4.51', frame: twelveBits, make: dcmtk('dcmcjpeg', '+ee'), reference: dcmdjpeg, maxError: 1 },
    { name: 'JPEG Lossless (Process 14)', transferSyntaxUid: '1.2.840.10008.1.2.4.57', frame: twelveBits, make: dcmtk('dcmcjpeg', '+el'), maxError: 0 },
    { name: 'JPEG Lossless SV1', transferSyntaxUid: '1.2.840.10008.1.2.4.70', frame: twelveBits, make: dcmtk('dcmcjpeg', '+e1'), maxError: 0 },
    { name: 'JPEG-LS Near-Lossless (NEAR 2)', transferSyntaxUid: '1.2.840.10008.1.2.4.81', frame: twelveBits, make: dcmtk('dcmcjpls', '+en', '+md', '2'), maxError: 2 },
    { name: 'JPEG-LS Lossless', transferSyntaxUid: '1.2.840.10008.1.2.4.80', frame: twelveBits, make: dcmtk('dcmcjpls'), maxError: 0 },
    { name: 'RLE Lossless', transferSyntaxUid: '1.2.840.10008.1.2.5', frame: twelveBits, make: dcmtk('dcmcrle'), maxError: 0 },
    { name: 'JPEG 2000 Lossless', transferSyntaxUid: '1.2.840.10008.1.2.4.90', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.90', (frame) => encodeJpeg2000(frame, 'lossless')), maxError: 0 },
    { name: 'JPEG 2000 (lossy)', transferSyntaxUid: '1.2.840.10008.1.2.4.91', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.91', (frame) => encodeJpeg2000(frame, { compressionRatio: 20 })), maxError: 64 },
    { name: 'HTJ2K Lossless', transferSyntaxUid: '1.2.840.10008.1.2.4.201', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.201', (frame) => encodeHtj2k(frame, 'lossless')), maxError: 0 },
    { name: 'HTJ2K Lossless RPCL', transferSyntaxUid: '1.2.840.10008.1.2.4.202', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.202', (frame) => encodeHtj2k(frame, 'lossless-rpcl')), maxError: 0 },
    { name: 'HTJ2K (lossy)', transferSyntaxUid: '1.2.840.10008.1.2.4.203', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.203', (frame) => encodeHtj2k(frame, { quantizationStep: 0.002 })), maxError: 64 },
    { name: 'JPEG XL Lossless', transferSyntaxUid: '1.2.840.10008.1.2.4.110', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.110', (frame) => encodeJpegXl(frame, 'lossless')), maxError: 0 },
    { name: 'JPEG XL (lossy)', transferSyntaxUid: '1.2.840.10008.1.2.4.112', frame: twelveBits, make: wasm('1.2.840.10008.1.2.4.112', (frame) => encodeJpegXl(frame, { distance: 1 })), maxError: 128 },
  ];

  before(async () => {
    if (!haveDcmtk) return;
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-codecs-'));
    system = await startTestSystem();
    client = dicomWebClient(system.dicomWebUrl, system.adminToken);
  });
  after(async () => {
    await system?.shutdown();
    if (directory) fs.rmSync(directory, { recursive: true, force: true });
  });

  for (const testCase of cases) {
    it(`${testCase.name} (${testCase.transferSyntaxUid}): frames decoded to the image's pixels, and rendered as the uncompressed image is`, async (t) => {
      if (!requirePeer(t, haveDcmtk, 'DCMTK (dcmcjpeg, dcmdjpeg, dcmcjpls, dcmcrle)')) return;
      const part10 = await testCase.make(testCase.frame);
      assert.equal(transferSyntaxOf(part10), testCase.transferSyntaxUid, 'the file is in the syntax under test');
      const stored = await ingest(system, part10);

      const [frame] = await client.retrieveInstanceFrames({ studyInstanceUID: stored.study, seriesInstanceUID: stored.series, sopInstanceUID: stored.instance, frameNumbers: [1] });
      const decoded = Buffer.from(frame!);
      const reference = (await testCase.reference?.(part10)) ?? testCase.frame;
      const expected = reference.bitsStored <= 8 ? eightBitSamples(reference) : reference.pixels;
      assert.equal(decoded.length, expected.length, 'one frame of the image size');
      const error = largestDifference(decoded, expected, reference.bitsStored <= 8 ? 1 : 2);
      assert.ok(error <= testCase.maxError, `decoded pixels differ by up to ${error}; at most ${testCase.maxError} expected`);

      // The same window over both: the compressed instance draws as the reference, uncompressed, does.
      const top = 2 ** reference.bitsStored;
      const window = `${top / 2},${top}`;
      const native = await ingest(system, part10Of(reference));
      const [drawn, drawnReference] = await Promise.all([greyPixels(system, `${stored.url}/rendered?window=${window}`), greyPixels(system, `${native.url}/rendered?window=${window}`)]);
      const drawnError = largestDifference(drawn, drawnReference, 1);
      assert.ok(drawnError <= Math.max(2, Math.ceil((testCase.maxError * 256) / top) + 2), `rendered grey levels differ from the uncompressed image's by up to ${drawnError}`);
    });
  }
});

function transferSyntaxOf(part10: Buffer): string {
  const at = part10.indexOf(Buffer.from([0x02, 0x00, 0x10, 0x00, 0x55, 0x49]));
  return part10.toString('latin1', at + 8, at + 8 + part10.readUInt16LE(at + 6)).replace(/\0$/, '');
}

function eightBitSamples(frame: GreyFrame): Buffer {
  return Buffer.from(Array.from({ length: frame.rows * frame.columns }, (_, index) => frame.pixels.readUInt16LE(index * 2)));
}

function largestDifference(actual: Buffer, expected: Buffer, bytesPerSample: 1 | 2): number {
  let largest = 0;
  for (let offset = 0; offset < expected.length; offset += bytesPerSample) {
    const a = bytesPerSample === 1 ? actual[offset]! : actual.readUInt16LE(offset);
    const b = bytesPerSample === 1 ? expected[offset]! : expected.readUInt16LE(offset);
    largest = Math.max(largest, Math.abs(a - b));
  }
  return largest;
}

/** The rendered image as grey levels, losslessly (PNG). */
async function greyPixels(system: TestSystem, url: string): Promise<Buffer> {
  const response = await system.fetch(url, { headers: { Accept: 'image/png' } });
  assert.equal(response.status, 200, url);
  return sharp(Buffer.from(await response.arrayBuffer())).greyscale().raw().toBuffer();
}
