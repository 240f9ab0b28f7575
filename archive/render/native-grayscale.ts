import dicomParser from 'dicom-parser';

/** Little endian native transfer syntaxes: the pixel data lies in the file as it is drawn. */
const NATIVE_LITTLE_ENDIAN = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1']);

export interface GrayscaleFrame {
  /** One byte per pixel, rows top to bottom. */
  pixels: Buffer;
  width: number;
  height: number;
}

/**
 * The common case drawn directly: one frame of an uncompressed little endian MONOCHROME1/2 image of
 * 8 or 16 bits, through the Modality LUT (rescale), a linear VOI window and, for MONOCHROME1, the
 * inversion — the same steps, with the same rounding and the same automatic window, as
 * dcmjs-imaging's grayscale pipeline, in one pass over the frame. Most archived images (CT, MR,
 * CR/DX) are like this, and a thumbnail drawn this way costs a fraction of the general decoder's
 * time. Returns null for anything else (compressed, colour, overlays, LUT sequences, non-square
 * pixels, a VOI function other than LINEAR, float pixels), which the general path draws.
 */
export function renderNativeGrayscale(part10: Buffer, frame: number | undefined, window?: { center: number; width: number }): GrayscaleFrame | null {
  let dataset: dicomParser.DataSet;
  try {
    dataset = dicomParser.parseDicom(part10, { untilTag: 'x7fe00010' } as dicomParser.ParseDicomOptions);
  } catch {
    return null;
  }
  if (!NATIVE_LITTLE_ENDIAN.has(dataset.string('x00020010')?.trim() ?? '')) return null;
  const photometric = dataset.string('x00280004')?.trim();
  if (photometric !== 'MONOCHROME1' && photometric !== 'MONOCHROME2') return null;
  const samplesPerPixel = dataset.uint16('x00280002') ?? 1;
  const rows = dataset.uint16('x00280010') ?? 0;
  const columns = dataset.uint16('x00280011') ?? 0;
  const bitsAllocated = dataset.uint16('x00280100') ?? 0;
  const bitsStored = dataset.uint16('x00280101') ?? bitsAllocated;
  const highBit = dataset.uint16('x00280102') ?? bitsStored - 1;
  const signed = dataset.uint16('x00280103') === 1;
  // Signed 8-bit images are rare enough to leave to the general path, which reads them its own way.
  if (signed && bitsAllocated === 8) return null;
  if (samplesPerPixel !== 1 || rows === 0 || columns === 0 || (bitsAllocated !== 8 && bitsAllocated !== 16)) return null;
  if (bitsStored < 1 || bitsStored > bitsAllocated || highBit < bitsStored - 1 || highBit >= bitsAllocated) return null;
  if (!drawnAsIs(dataset)) return null;
  const pixelData = dataset.elements.x7fe00010;
  if (!pixelData || pixelData.encapsulatedPixelData || pixelData.length === undefined) return null;
  const frameBytes = rows * columns * (bitsAllocated / 8);
  const frames = Math.max(1, dataset.intString('x00280008') ?? 1);
  const index = frame ?? Math.floor((frames - 1) / 2);
  if (!Number.isInteger(index) || index < 0 || index >= frames) return null;
  const start = pixelData.dataOffset + index * frameBytes;
  if (start + frameBytes > part10.length || (index + 1) * frameBytes > pixelData.length) return null;

  const stored = storedValues(part10, start, rows * columns, bitsAllocated, bitsStored, highBit, signed);
  const slope = dataset.floatString('x00281053') ?? 1;
  const intercept = dataset.floatString('x00281052') ?? 0;
  const voi = window ?? ownWindow(dataset) ?? automaticWindow(dataset, stored, { bitsStored, signed, slope, intercept });
  const pixels = Buffer.allocUnsafe(rows * columns);
  const centreMinusHalf = voi.center - 0.5;
  const widthMinusOne = voi.width - 1;
  const invert = photometric === 'MONOCHROME1';
  for (let i = 0; i < stored.length; i++) {
    const value = Math.trunc(stored[i]! * slope + intercept);
    let output: number;
    if (voi.width === 1) output = value < centreMinusHalf ? 0 : 255;
    else output = Math.min(255, Math.max(0, Math.trunc(((value - centreMinusHalf) / widthMinusOne + 0.5) * 255)));
    pixels[i] = invert ? 255 - output : output;
  }
  return { pixels, width: columns, height: rows };
}

/** Nothing in the dataset changes how its stored values become grey levels beyond rescale and a linear window. */
function drawnAsIs(dataset: dicomParser.DataSet): boolean {
  for (const tag of Object.keys(dataset.elements)) {
    // Overlay planes (60xx groups), which the general path burns in.
    if (tag >= 'x60000000' && tag < 'x60ff0000') return false;
  }
  if (dataset.elements.x00283000 || dataset.elements.x00283010) return false; // Modality / VOI LUT Sequence
  if (dataset.elements.x7fe00008 || dataset.elements.x7fe00009) return false; // float pixel data
  const voiFunction = dataset.string('x00281056')?.trim();
  if (voiFunction && voiFunction !== 'LINEAR') return false;
  const presentationShape = dataset.string('x20500020')?.trim();
  if (presentationShape && presentationShape !== 'IDENTITY') return false;
  const spacing = [dataset.floatString('x00280030', 0), dataset.floatString('x00280030', 1)];
  if (spacing[0] !== undefined && spacing[1] !== undefined && spacing[0] !== spacing[1]) return false;
  const aspect = [dataset.intString('x00280034', 0), dataset.intString('x00280034', 1)];
  if (aspect[0] !== undefined && aspect[1] !== undefined && aspect[0] !== aspect[1]) return false;
  return true;
}

/** Stored pixel values: the bits from High Bit down, sign-extended when Pixel Representation says so. */
function storedValues(part10: Buffer, start: number, count: number, bitsAllocated: number, bitsStored: number, highBit: number, signed: boolean): Int32Array {
  const values = new Int32Array(count);
  const shift = highBit + 1 - bitsStored;
  const mask = bitsStored >= 32 ? 0xffffffff : (1 << bitsStored) - 1;
  const signBit = 1 << (bitsStored - 1);
  const wide = bitsAllocated === 16;
  for (let i = 0; i < count; i++) {
    const raw = wide ? part10.readUInt16LE(start + 2 * i) : part10[start + i]!;
    let value = (raw >>> shift) & mask;
    if (signed && value & signBit) value -= mask + 1;
    values[i] = value;
  }
  return values;
}

/** The dataset's first valid Window Center/Width pair (width at least 1). */
function ownWindow(dataset: dicomParser.DataSet): { center: number; width: number } | undefined {
  const centers = dataset.string('x00281050')?.split('\\') ?? [];
  const widths = dataset.string('x00281051')?.split('\\') ?? [];
  if (centers.length !== widths.length) return undefined;
  for (let i = 0; i < centers.length; i++) {
    const center = parseFloat(centers[i]!);
    const width = parseFloat(widths[i]!);
    if (!Number.isNaN(center) && !Number.isNaN(width) && width >= 1) return { center, width };
  }
  return undefined;
}

/**
 * No window given: Smallest/Largest Image Pixel Value when the dataset has them, else the frame's
 * own range (Pixel Padding Value left out), each rescaled — as dcmjs-imaging computes it.
 */
function automaticWindow(
  dataset: dicomParser.DataSet,
  stored: Int32Array,
  { bitsStored, signed, slope, intercept }: { bitsStored: number; signed: boolean; slope: number; intercept: number },
): { center: number; width: number } {
  const read = (tag: string) => (dataset.elements[tag] ? (signed ? dataset.int16(tag) : dataset.uint16(tag)) : undefined);
  const smallest = read('x00280106');
  const largest = read('x00280107');
  if (smallest !== undefined && largest !== undefined && smallest < largest) {
    const low = Math.trunc(smallest * slope + intercept);
    const high = Math.trunc(largest * slope + intercept);
    return { width: Math.abs(high - low), center: (high + low) / 2 };
  }
  if (bitsStored === 1) return { width: 2, center: 1 };
  const padding = read('x00280120');
  let minimum = stored[0] ?? 0;
  let maximum = minimum;
  for (let i = 0; i < stored.length; i++) {
    const value = stored[i]!;
    if (value === padding) continue;
    if (value > maximum) maximum = value;
    if (value < minimum) minimum = value;
  }
  const low = Math.trunc(minimum * slope + intercept);
  const high = Math.trunc(maximum * slope + intercept);
  return { width: Math.max(1, Math.abs(high - low)), center: (high + low) / 2 };
}
