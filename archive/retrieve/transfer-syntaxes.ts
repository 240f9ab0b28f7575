/** What retrieval needs to know about each transfer syntax: byte order, encapsulation, media types. */
export const TRANSFER_SYNTAX = {
  implicitLittleEndian: '1.2.840.10008.1.2',
  explicitLittleEndian: '1.2.840.10008.1.2.1',
  encapsulatedUncompressed: '1.2.840.10008.1.2.1.98',
  deflatedExplicitLittleEndian: '1.2.840.10008.1.2.1.99',
  explicitBigEndian: '1.2.840.10008.1.2.2',
  rleLossless: '1.2.840.10008.1.2.5',
} as const;

const NATIVE = new Set<string>([
  TRANSFER_SYNTAX.implicitLittleEndian,
  TRANSFER_SYNTAX.explicitLittleEndian,
  TRANSFER_SYNTAX.deflatedExplicitLittleEndian,
  TRANSFER_SYNTAX.explicitBigEndian,
]);

/** Pixel Data is a plain value in these; every other transfer syntax encapsulates it in fragments. */
export function isNativeTransferSyntax(transferSyntaxUid: string): boolean {
  return NATIVE.has(transferSyntaxUid);
}

/**
 * PS3.18 Table 8.7.3-5: the media type of compressed pixel data in each transfer syntax. Frames of
 * a transfer syntax not listed there are labelled application/octet-stream.
 */
const FRAME_MEDIA_TYPES: Array<[string, RegExp]> = [
  ['image/jpeg', /^1\.2\.840\.10008\.1\.2\.4\.(50|51|57|70)$/],
  ['image/dicom-rle', /^1\.2\.840\.10008\.1\.2\.5$/],
  ['image/jls', /^1\.2\.840\.10008\.1\.2\.4\.(80|81)$/],
  ['image/jp2', /^1\.2\.840\.10008\.1\.2\.4\.(90|91)$/],
  ['image/jpx', /^1\.2\.840\.10008\.1\.2\.4\.(92|93)$/],
  ['image/jphc', /^1\.2\.840\.10008\.1\.2\.4\.20[1-3]$/],
  ['image/jxl', /^1\.2\.840\.10008\.1\.2\.4\.11[0-2]$/],
  ['video/mpeg', /^1\.2\.840\.10008\.1\.2\.4\.10[01]$/],
  ['video/mp4', /^1\.2\.840\.10008\.1\.2\.4\.10[2-6]$/],
  ['video/H265', /^1\.2\.840\.10008\.1\.2\.4\.10[78]$/],
];

export function frameMediaType(transferSyntaxUid: string): string {
  return FRAME_MEDIA_TYPES.find(([, pattern]) => pattern.test(transferSyntaxUid))?.[0] ?? 'application/octet-stream';
}

/**
 * Names clients still send for the media types above: dicomweb-client (and so OHIF) asks for
 * image/x-dicom-rle, image/x-jls and image/jhc, from drafts of the standard.
 */
const MEDIA_TYPE_ALIASES: Record<string, string> = {
  'image/x-dicom-rle': 'image/dicom-rle',
  'image/x-jls': 'image/jls',
  'image/jhc': 'image/jphc',
  'video/h265': 'video/H265',
};

export function canonicalMediaType(mediaType: string): string {
  const lower = mediaType.toLowerCase();
  return MEDIA_TYPE_ALIASES[lower] ?? lower;
}

/**
 * The decoders dcmjs-imaging ships (WebAssembly): every image compression in DICOM except JPEG 2000
 * Part 2 multi-component and video. Encapsulated Uncompressed needs no decoder at all.
 */
const DECODABLE = /^1\.2\.840\.10008\.1\.2\.(5|1\.98|4\.(50|51|57|70|80|81|90|91|110|111|112|201|202|203))$/;

export function isDecodableTransferSyntax(transferSyntaxUid: string): boolean {
  return DECODABLE.test(transferSyntaxUid);
}
