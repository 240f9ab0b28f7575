import { createRequire } from 'node:module';
import dcmjsImaging from 'dcmjs-imaging';
import sharp, { type Sharp } from 'sharp';
import { decodeFrame, isJpegXl } from '../retrieve/decode.ts';
import { renderNativeGrayscale } from './native-grayscale.ts';

const { DicomImage, NativePixelDecoder, WindowLevel, log: imagingLog } = dcmjsImaging;
// dcmjs-imaging logs every decoder message at info, and the dcmjs it parses with warns on every
// multi-valued Specific Character Set (text is not what it draws; our own parser decodes it).
imagingLog.setLevel('silent');
const imagingRequire = createRequire(createRequire(import.meta.url).resolve('dcmjs-imaging'));
(imagingRequire('dcmjs') as { log: { setLevel(level: string): void } }).log.setLevel('error');

export type RenderedFormat = 'jpeg' | 'png' | 'webp';

const CONTENT_TYPES: Record<RenderedFormat, string> = { jpeg: 'image/jpeg', png: 'image/png', webp: 'image/webp' };

/** Video transfer syntaxes: their frames need a video decoder we do not ship. */
const VIDEO_TRANSFER_SYNTAXES = new Set([
  '1.2.840.10008.1.2.4.100',
  '1.2.840.10008.1.2.4.101',
  '1.2.840.10008.1.2.4.102',
  '1.2.840.10008.1.2.4.103',
  '1.2.840.10008.1.2.4.104',
  '1.2.840.10008.1.2.4.105',
  '1.2.840.10008.1.2.4.106',
  '1.2.840.10008.1.2.4.107',
  '1.2.840.10008.1.2.4.108',
]);

/**
 * The instance has no image we can draw (no Pixel Data, video, a codec we lack, corrupt pixel data).
 * Deterministic for the same bytes, so callers record the reason instead of retrying.
 */
export class RenderUnsupported extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'RenderUnsupported';
  }
}

export interface RenderOptions {
  /** 0-based; by default the middle frame, which represents a multi-frame instance best. */
  frame?: number;
  window?: { center: number; width: number };
  /** Longest side of the output in pixels; never enlarges. */
  maxSize?: number;
  /** Exact output size (WADO-RS viewport); the image is fitted inside it. */
  viewport?: { width: number; height: number };
  format: RenderedFormat;
  quality?: number;
}

export interface RenderedImage {
  bytes: Buffer;
  contentType: string;
  width: number;
  height: number;
}

let codecs: Promise<void> | undefined;

/** The WASM codecs (RLE, JPEG, JPEG-LS, JPEG 2000, HTJ2K, JPEG XL) are loaded once, on first use. */
function loadCodecs(): Promise<void> {
  codecs ??= NativePixelDecoder.initializeAsync({
    webAssemblyModulePathOrUrl: createRequire(import.meta.url).resolve('dcmjs-imaging/build/dcmjs-native-codecs.wasm'),
  });
  return codecs;
}

/**
 * Renders one frame of a stored Part 10 object: decodes it (every transfer syntax but video),
 * applies the Modality LUT (rescale), the VOI (the requested window, else the image's own Window
 * Center/Width, else one computed from the pixel range), inverts MONOCHROME1 and converts colour
 * models, then encodes with sharp.
 */
export async function renderFrame(part10: Buffer, options: RenderOptions): Promise<RenderedImage> {
  const grayscale = renderNativeGrayscale(part10, options.frame, options.window);
  if (grayscale) return encode(sharp(grayscale.pixels, { raw: { width: grayscale.width, height: grayscale.height, channels: 1 } }), options);
  await loadCodecs();
  let image: InstanceType<typeof DicomImage>;
  try {
    image = new DicomImage(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer);
  } catch (error) {
    throw new RenderUnsupported(`cannot read the dataset for rendering: ${describe(error)}`, { cause: error });
  }
  const transferSyntaxUid = image.getTransferSyntaxUid();
  if (VIDEO_TRANSFER_SYNTAXES.has(transferSyntaxUid)) {
    throw new RenderUnsupported(`video (transfer syntax ${transferSyntaxUid}) has no still image to render`);
  }
  if (!image.getElement('PixelData') && !image.getElement('FloatPixelData') && !image.getElement('DoubleFloatPixelData')) {
    throw new RenderUnsupported('the instance has no pixel data');
  }
  const frames = Math.max(1, image.getNumberOfFrames() || 1);
  const frame = options.frame ?? Math.floor((frames - 1) / 2);
  if (!Number.isInteger(frame) || frame < 0 || frame >= frames) {
    throw new RangeError(`frame ${frame + 1} does not exist; the instance has ${frames}`);
  }
  let rendered: ReturnType<typeof image.render>;
  try {
    const drawn = isJpegXl(transferSyntaxUid) ? await decodeJpegXlFrameFirst(image, frame, frames) : frame;
    rendered = image.render({
      frame: drawn,
      windowLevel: options.window ? new WindowLevel(options.window.width, options.window.center) : undefined,
    });
  } catch (error) {
    throw new RenderUnsupported(`cannot decode the pixel data: ${describe(error)}`, { cause: error });
  }
  return encode(sharp(Buffer.from(rendered.pixels), { raw: { width: rendered.width, height: rendered.height, channels: 4 } }).removeAlpha(), options);
}

const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';

/**
 * dcmjs-imaging draws JPEG XL of fewer than 16 bits stored wrongly (a flat grey): libjxl hands its
 * samples out scaled to the full 16-bit range, beyond Bits Stored. So the frame is decoded by
 * decodeFrame, which scales them back (as for WADO-RS frames), and drawn as the image's only, native,
 * frame; returns the frame to draw.
 */
async function decodeJpegXlFrameFirst(image: InstanceType<typeof DicomImage>, frame: number, frames: number): Promise<number> {
  const fragments = image.getElement('PixelData') as unknown as ArrayBuffer[];
  // One item per frame, as dcmjs reads them; a single frame may come in several fragments.
  const encoded =
    fragments.length === frames ? Buffer.from(fragments[frame]!) : frames === 1 ? Buffer.concat(fragments.map((fragment) => Buffer.from(fragment))) : undefined;
  if (!encoded) throw new RenderUnsupported(`${fragments.length} JPEG XL fragments for ${frames} frames`);
  const number = (keyword: string, fallback: number) => Number(image.getElement(keyword) ?? fallback);
  const bitsAllocated = number('BitsAllocated', 16);
  const decoded = await decodeFrame(
    {
      rows: number('Rows', 0),
      columns: number('Columns', 0),
      numberOfFrames: frames,
      samplesPerPixel: number('SamplesPerPixel', 1),
      bitsAllocated,
      bitsStored: number('BitsStored', bitsAllocated),
      highBit: number('HighBit', bitsAllocated - 1),
      pixelRepresentation: number('PixelRepresentation', 0),
      photometricInterpretation: String(image.getElement('PhotometricInterpretation') ?? 'MONOCHROME2'),
      planarConfiguration: number('PlanarConfiguration', 0),
      encapsulated: true,
    },
    image.getTransferSyntaxUid(),
    encoded,
  );
  const setElement = image.setElement.bind(image) as (keyword: string, value: unknown) => void;
  setElement('PixelData', [decoded.buffer.slice(decoded.byteOffset, decoded.byteOffset + decoded.byteLength)]);
  setElement('NumberOfFrames', 1);
  image.setTransferSyntaxUid(EXPLICIT_VR_LITTLE_ENDIAN);
  return 0;
}

/** Fits the drawn frame to the requested size and encodes it in the requested format. */
async function encode(image: Sharp, options: RenderOptions): Promise<RenderedImage> {
  let pipeline = image;
  if (options.viewport) {
    pipeline = pipeline.resize(options.viewport.width, options.viewport.height, { fit: 'contain', background: '#000' });
  } else if (options.maxSize) {
    pipeline = pipeline.resize(options.maxSize, options.maxSize, { fit: 'inside', withoutEnlargement: true });
  }
  const quality = options.quality ?? 85;
  const encoded =
    options.format === 'png' ? pipeline.png() : options.format === 'webp' ? pipeline.webp({ quality }) : pipeline.jpeg({ quality });
  const { data, info } = await encoded.toBuffer({ resolveWithObject: true });
  return { bytes: data, contentType: CONTENT_TYPES[options.format], width: info.width, height: info.height };
}

/**
 * The rendered format an Accept header asks for, honouring q-values and wildcards; JPEG when the
 * client does not care. null means nothing we can produce is acceptable (406).
 */
export function chooseRenderedFormat(accept: string | undefined): RenderedFormat | null {
  if (!accept || accept.trim() === '') return 'jpeg';
  const ranges = accept
    .split(',')
    .map((part, order) => {
      const [type = '', ...parameters] = part.trim().toLowerCase().split(';');
      const q = parameters.map((parameter) => parameter.trim()).find((parameter) => parameter.startsWith('q='));
      return { type: type.trim(), quality: q ? Number(q.slice(2)) : 1, order };
    })
    .filter((range) => Number.isFinite(range.quality) && range.quality > 0)
    .sort((a, b) => b.quality - a.quality || a.order - b.order);
  for (const range of ranges) {
    if (range.type === '*/*' || range.type === 'image/*' || range.type === 'image/jpeg') return 'jpeg';
    if (range.type === 'image/png') return 'png';
    if (range.type === 'image/webp') return 'webp';
  }
  return null;
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
