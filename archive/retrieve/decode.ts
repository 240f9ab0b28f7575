import { createRequire } from 'node:module';
import dcmjsImaging from 'dcmjs-imaging';
import type { PixelDescription } from '../dicom/types.ts';
import { TRANSFER_SYNTAX } from './transfer-syntaxes.ts';

/**
 * The per-codec decoders of dcmjs-imaging's WebAssembly module. Its typings declare only
 * initialisation; the decode functions are the ones its own DicomImage calls, taking the image
 * description as an object with getters and one frame's compressed bytes.
 */
interface FrameDescription {
  getWidth(): number;
  getHeight(): number;
  getBitsAllocated(): number;
  getBitsStored(): number;
  getSamplesPerPixel(): number;
  getPixelRepresentation(): number;
  getPlanarConfiguration(): number;
  getPhotometricInterpretation(): string;
}
type Decode = (description: FrameDescription, encoded: Uint8Array, options?: { convertColorspaceToRgb?: boolean }) => Uint8Array;
interface Decoders {
  decodeRle: Decode;
  decodeJpeg: Decode;
  decodeJpegLs: Decode;
  decodeJpeg2000: Decode;
  decodeJpegXl: Decode;
}

const { NativePixelDecoder } = dcmjsImaging;
const decoders = NativePixelDecoder as unknown as typeof NativePixelDecoder & Decoders;

export class FrameDecodeError extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'FrameDecodeError';
  }
}

let initialised: Promise<void> | undefined;

function initialise(): Promise<void> {
  initialised ??= NativePixelDecoder.isInitialized()
    ? Promise.resolve()
    : NativePixelDecoder.initializeAsync({
        webAssemblyModulePathOrUrl: createRequire(import.meta.url).resolve('dcmjs-imaging/build/dcmjs-native-codecs.wasm'),
      });
  return initialised;
}

function decoderFor(transferSyntaxUid: string): { decode: Decode; options?: { convertColorspaceToRgb: boolean } } | null {
  if (transferSyntaxUid === TRANSFER_SYNTAX.rleLossless) return { decode: decoders.decodeRle };
  // Lossy JPEG colour is YCbCr inside the bitstream whatever the header says; decoded frames are
  // RGB, as dcmjs-imaging renders them and as viewers expect uncompressed colour to be.
  if (/\.4\.(50|51)$/.test(transferSyntaxUid)) return { decode: decoders.decodeJpeg, options: { convertColorspaceToRgb: true } };
  if (/\.4\.(57|70)$/.test(transferSyntaxUid)) return { decode: decoders.decodeJpeg };
  if (/\.4\.(80|81)$/.test(transferSyntaxUid)) return { decode: decoders.decodeJpegLs };
  // OpenJPEG (2.5) decodes HTJ2K's block coder too; dcmjs-imaging's own DicomImage routes HTJ2K here alike.
  if (/\.4\.(90|91|201|202|203)$/.test(transferSyntaxUid)) return { decode: decoders.decodeJpeg2000 };
  if (isJpegXl(transferSyntaxUid)) return { decode: decoders.decodeJpegXl };
  return null;
}

/**
 * One frame's compressed bitstream → its uncompressed pixels in little endian, laid out as the
 * Image Pixel attributes describe (for PS3.18 application/octet-stream frames).
 */
export async function decodeFrame(pixel: PixelDescription, transferSyntaxUid: string, encoded: Buffer): Promise<Buffer> {
  const decoder = decoderFor(transferSyntaxUid);
  if (!decoder || typeof decoder.decode !== 'function') throw new FrameDecodeError(`no decoder for transfer syntax ${transferSyntaxUid}`);
  await initialise();
  const description: FrameDescription = {
    getWidth: () => pixel.columns,
    getHeight: () => pixel.rows,
    getBitsAllocated: () => pixel.bitsAllocated,
    getBitsStored: () => pixel.bitsStored,
    getSamplesPerPixel: () => pixel.samplesPerPixel,
    getPixelRepresentation: () => pixel.pixelRepresentation,
    // dcmjs-imaging hands the codecs the opposite of this value (its own Pixel class compensates), so
    // the attribute's value is inverted here to get frames laid out as Planar Configuration says.
    getPlanarConfiguration: () => (pixel.planarConfiguration === 1 ? 0 : 1),
    getPhotometricInterpretation: () => pixel.photometricInterpretation,
  };
  let decoded: Uint8Array;
  try {
    decoded = decoder.decode.call(decoders, description, new Uint8Array(encoded.buffer, encoded.byteOffset, encoded.byteLength), decoder.options);
  } catch (error) {
    throw new FrameDecodeError(`cannot decode the ${transferSyntaxUid} frame: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  const expected = Math.ceil((pixel.rows * pixel.columns * pixel.samplesPerPixel * pixel.bitsAllocated) / 8);
  if (decoded.byteLength < expected) {
    throw new FrameDecodeError(`the ${transferSyntaxUid} frame decoded to ${decoded.byteLength} bytes; its image needs ${expected}`);
  }
  const frame = Buffer.from(decoded.buffer, decoded.byteOffset, expected);
  return isJpegXl(transferSyntaxUid) ? fromFullRange(frame, pixel) : frame;
}

export function isJpegXl(transferSyntaxUid: string): boolean {
  return /\.4\.(110|111|112)$/.test(transferSyntaxUid);
}

/**
 * libjxl, asked for 16-bit samples, scales a codestream of fewer bits to the full 16-bit range: a 12-bit
 * CT value of 1154 comes back as 18468. The codestream's depth is Bits Stored (what encoders write for
 * DICOM), so the samples are scaled back to it; the rounding inverts libjxl's exactly.
 */
function fromFullRange(frame: Buffer, pixel: PixelDescription): Buffer {
  if (pixel.bitsAllocated !== 16 || pixel.bitsStored >= 16) return frame;
  const top = 2 ** pixel.bitsStored - 1;
  const scaled = Buffer.allocUnsafe(frame.length);
  for (let offset = 0; offset + 1 < frame.length; offset += 2) scaled.writeUInt16LE(Math.round((frame.readUInt16LE(offset) * top) / 0xffff), offset);
  return scaled;
}
