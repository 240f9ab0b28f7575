import fs from 'node:fs';
import { createRequire } from 'node:module';
import { pathToFileURL } from 'node:url';
import { encodePart10, TRANSFER_SYNTAX, type Dataset, type TransferSyntaxUid } from '../../fixtures/dicom/writer.ts';

/**
 * Real bitstreams of the compressed transfer syntaxes no sample file covers, made by the encoders the
 * viewer's Cornerstone codecs ship as WebAssembly: OpenJPH (HTJ2K), OpenJPEG (JPEG 2000) and libjxl
 * (JPEG XL). They encode a known image, so a test can check what a decoder makes of them: the same
 * pixels for a lossless syntax, close ones for a lossy one.
 */

const require = createRequire(import.meta.url);

/** One 16-bit grey frame, unsigned, little endian: `bitsStored` significant bits. */
export interface GreyFrame {
  rows: number;
  columns: number;
  bitsStored: number;
  pixels: Buffer;
}

/**
 * A 128 × 128 frame of smooth waves and a sharp-edged disc, like anatomy: compressible, yet with
 * edges where a lossy codec shows. 12 bits by default (CT, MR); 8 for JPEG Baseline.
 */
export function testFrame(bitsStored = 12): GreyFrame {
  const rows = 128;
  const columns = 128;
  const pixels = Buffer.alloc(rows * columns * 2);
  const top = 2 ** bitsStored - 1;
  for (let y = 0; y < rows; y++) {
    for (let x = 0; x < columns; x++) {
      const wave = 0.5 + 0.3 * Math.sin(x / 9) * Math.cos(y / 13);
      const disc = (x - 80) ** 2 + (y - 48) ** 2 < 20 ** 2 ? 0.15 : 0;
      pixels.writeUInt16LE(Math.round(top * (wave + disc)), (y * columns + x) * 2);
    }
  }
  return { rows, columns, bitsStored, pixels };
}

/** A Part 10 file of the frame: uncompressed (explicit VR little endian), or encapsulated in `transferSyntaxUid`. */
export function part10Of(frame: GreyFrame, transferSyntaxUid: string = TRANSFER_SYNTAX.explicitLittleEndian, encoded?: Buffer): Buffer {
  const bitsAllocated = frame.bitsStored <= 8 ? 8 : 16;
  const id = `${Date.now()}${process.pid}${Math.floor(Math.random() * 1e9)}`;
  const dataset: Dataset = {
    SOPClassUID: '1.2.840.10008.5.1.4.1.1.7', // Secondary Capture
    SOPInstanceUID: `2.25.${id}1`,
    StudyInstanceUID: `2.25.${id}2`,
    SeriesInstanceUID: `2.25.${id}3`,
    PatientID: 'CODEC-TEST',
    Modality: 'OT',
    SamplesPerPixel: 1,
    PhotometricInterpretation: 'MONOCHROME2',
    Rows: frame.rows,
    Columns: frame.columns,
    BitsAllocated: bitsAllocated,
    BitsStored: frame.bitsStored,
    HighBit: frame.bitsStored - 1,
    PixelRepresentation: 0,
  };
  if (!encoded) {
    const pixels = bitsAllocated === 8 ? Buffer.from(Array.from({ length: frame.rows * frame.columns }, (_, index) => frame.pixels.readUInt16LE(index * 2))) : frame.pixels;
    return encodePart10({ ...dataset, PixelData: pixels }, transferSyntaxUid as TransferSyntaxUid, 'ISO_IR 6');
  }
  // Encapsulated (PS3.5 A.4): an empty Basic Offset Table, the frame in one even-length fragment.
  const fragment = encoded.length % 2 ? Buffer.concat([encoded, Buffer.alloc(1)]) : encoded;
  const pixelData = Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]);
  return Buffer.concat([encodePart10(dataset, transferSyntaxUid as TransferSyntaxUid, 'ISO_IR 6'), pixelData, item(Buffer.alloc(0)), item(fragment), item(Buffer.alloc(0), 0xe0dd)]);
}

function item(value: Buffer, element = 0xe000): Buffer {
  const header = Buffer.alloc(8);
  header.writeUInt16LE(0xfffe, 0);
  header.writeUInt16LE(element, 2);
  header.writeUInt32LE(value.length, 4);
  return Buffer.concat([header, value]);
}

/** The shared interface of the Cornerstone encoders: describe the frame, fill its buffer, encode. */
interface WasmEncoder {
  getDecodedBuffer(frameInfo: { width: number; height: number; bitsPerSample: number; componentCount: number; isSigned: boolean; isUsingColorTransform?: boolean }): Uint8Array;
  encode(): void;
  getEncodedBuffer(): Uint8Array;
}

function encodeWith(encoder: WasmEncoder, frame: GreyFrame, bitsPerSample = frame.bitsStored): Buffer {
  encoder.getDecodedBuffer({ width: frame.columns, height: frame.rows, bitsPerSample, componentCount: 1, isSigned: false, isUsingColorTransform: false }).set(frame.pixels);
  encoder.encode();
  return Buffer.from(encoder.getEncodedBuffer());
}

/** OpenJPH's progression orders (ojph::PROGRESSION_ORDER). */
const RPCL = 2;

/**
 * HTJ2K (PS3.5 A.4.11): lossless, lossless with RPCL progression and TLM markers (.202's
 * requirements), or lossy (irreversible wavelet, `quantizationStep`).
 */
export async function encodeHtj2k(frame: GreyFrame, mode: 'lossless' | 'lossless-rpcl' | { quantizationStep: number }): Promise<Buffer> {
  const openjph = (await (require('@cornerstonejs/codec-openjph') as () => Promise<{ HTJ2KEncoder: new () => WasmEncoder }>)()) as {
    HTJ2KEncoder: new () => WasmEncoder & { setQuality(lossless: boolean, quantizationStep: number): void; setProgressionOrder(order: number): void; setTLMMarker(tlm: boolean): void };
  };
  const encoder = new openjph.HTJ2KEncoder();
  encoder.setQuality(typeof mode === 'string', typeof mode === 'string' ? 0 : mode.quantizationStep);
  if (mode === 'lossless-rpcl') {
    encoder.setProgressionOrder(RPCL);
    encoder.setTLMMarker(true);
  }
  return encodeWith(encoder, frame);
}

/** JPEG 2000 Part 1 by OpenJPEG: reversible (.90), or irreversible at a compression ratio (.91). */
export async function encodeJpeg2000(frame: GreyFrame, mode: 'lossless' | { compressionRatio: number }): Promise<Buffer> {
  const factory = require('@cornerstonejs/codec-openjpeg') as (options: { wasmBinary: Buffer }) => Promise<unknown>;
  const openjpeg = (await factory({ wasmBinary: fs.readFileSync(require.resolve('@cornerstonejs/codec-openjpeg/wasm')) })) as {
    J2KEncoder: new () => WasmEncoder & { setQuality(lossless: boolean, compressionRatio: number): void };
  };
  const encoder = new openjpeg.J2KEncoder();
  encoder.setQuality(mode === 'lossless', mode === 'lossless' ? 0 : mode.compressionRatio);
  return encodeWith(encoder, frame);
}

/** JPEG XL (PS3.5 A.4.12): lossless (.110), or lossy at a Butteraugli `distance` (.112). */
export async function encodeJpegXl(frame: GreyFrame, mode: 'lossless' | { distance: number }): Promise<Buffer> {
  // An ES module without typings: imported by its resolved path, and described here.
  const module = pathToFileURL(require.resolve('@cornerstonejs/codec-libjxl/encodewasmjs')).href;
  const { default: factory } = (await import(module)) as { default: (options: { wasmBinary: Buffer }) => Promise<unknown> };
  const libjxl = (await factory({ wasmBinary: fs.readFileSync(require.resolve('@cornerstonejs/codec-libjxl/encodewasm')) })) as {
    JpegXLEncoder: new () => WasmEncoder & { setLossless(lossless: boolean): void; setDistance(distance: number): void };
  };
  const encoder = new libjxl.JpegXLEncoder();
  encoder.setLossless(mode === 'lossless');
  if (mode !== 'lossless') encoder.setDistance(mode.distance);
  return encodeWith(encoder, frame);
}
