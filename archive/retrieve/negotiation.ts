import { canonicalMediaType, frameMediaType, isDecodableTransferSyntax, isNativeTransferSyntax, TRANSFER_SYNTAX } from './transfer-syntaxes.ts';

/**
 * One media range a client accepts (Accept header or `accept` query parameter, PS3.18 8.7.5), most
 * preferred first. For `multipart/related` the type is its `type` parameter, the media type of
 * each part.
 */
export interface AcceptedMediaType {
  /** Lower case; may be a wildcard such as `*\/*` or `image/*`. */
  type: string;
  multipart: boolean;
  /** The `transfer-syntax` parameter: a UID or `*`. */
  transferSyntax?: string;
}

const UNCOMPRESSED_TYPE = `application/octet-stream; transfer-syntax=${TRANSFER_SYNTAX.explicitLittleEndian}`;

function isWildcard(type: string): boolean {
  return type === '*/*';
}

/** How instances are sent: which stored transfer syntaxes the client takes, and in which framing. */
export interface InstanceRepresentation {
  multipart: boolean;
  accepts(transferSyntaxUid: string): boolean;
}

/**
 * Instances are sent as stored, never transcoded. application/dicom without a transfer-syntax
 * parameter is taken to mean "as stored", as `*` does; a named transfer syntax accepts only
 * instances stored in it.
 */
export function instanceRepresentation(accepted: AcceptedMediaType[]): InstanceRepresentation | null {
  const relevant = accepted.filter((range) => isWildcard(range.type) || range.type === 'application/*' || range.type === 'application/dicom');
  if (relevant.length === 0) return null;
  const anyTransferSyntax = relevant.some((range) => range.type !== 'application/dicom' || range.transferSyntax === undefined || range.transferSyntax === '*');
  const named = new Set(relevant.map((range) => range.transferSyntax).filter((uid): uid is string => uid !== undefined && uid !== '*'));
  return {
    multipart: relevant.some((range) => range.multipart || isWildcard(range.type)),
    accepts: (transferSyntaxUid) => anyTransferSyntax || named.has(transferSyntaxUid),
  };
}

/** How frames (and encapsulated Pixel Data) are sent: decoded to native pixels, or as stored. */
export interface FrameRepresentation {
  form: 'uncompressed' | 'stored';
  /** The media type of each part, without parameters (the multipart `type`). */
  mediaType: string;
  /** The Content-Type of each part, with its transfer-syntax parameter. */
  contentType: string;
  multipart: boolean;
}

/**
 * PS3.18 8.7.3.3: the first acceptable range we can satisfy for frames stored in `stored`.
 * application/octet-stream without transfer-syntax (or with Explicit VR Little Endian) means
 * uncompressed little-endian pixels, decoded when stored compressed; with `*` a compressed frame
 * is sent as stored. A compressed media type (image/jpeg, image/jp2…) is satisfied by frames stored
 * in a transfer syntax of that type, never by encoding.
 */
export function frameRepresentation(accepted: AcceptedMediaType[], stored: string): FrameRepresentation | null {
  const native = isNativeTransferSyntax(stored);
  const decodable = native || isDecodableTransferSyntax(stored);
  const storedMediaType = frameMediaType(stored);
  const uncompressed = (multipart: boolean): FrameRepresentation | null =>
    decodable ? { form: 'uncompressed', mediaType: 'application/octet-stream', contentType: UNCOMPRESSED_TYPE, multipart } : null;
  const asStored = (mediaType: string, multipart: boolean): FrameRepresentation => ({
    form: 'stored',
    mediaType,
    contentType: `${mediaType}; transfer-syntax=${stored}`,
    multipart,
  });
  for (const range of accepted) {
    const type = canonicalMediaType(range.type);
    const transferSyntax = range.transferSyntax;
    let choice: FrameRepresentation | null = null;
    if (isWildcard(type)) {
      // The default media type for frames (PS3.18 Table 8.7.3-4) when it can be made.
      choice = uncompressed(true) ?? asStored(storedMediaType, true);
    } else if (type === 'application/octet-stream' || type === 'application/*') {
      // Native frames are always sent as Explicit VR Little Endian, whatever the object's own encoding.
      const wantsUncompressed =
        transferSyntax === undefined || transferSyntax === TRANSFER_SYNTAX.explicitLittleEndian || (native && (transferSyntax === '*' || transferSyntax === stored));
      if (wantsUncompressed) choice = uncompressed(range.multipart);
      else if (transferSyntax === '*' || transferSyntax === stored) choice = asStored('application/octet-stream', range.multipart);
    } else if (!native && (type === storedMediaType || type === `${storedMediaType.split('/')[0]}/*`)) {
      if (transferSyntax === undefined || transferSyntax === '*' || transferSyntax === stored) choice = asStored(storedMediaType, range.multipart);
    }
    if (choice) return choice;
  }
  return null;
}

/** Bulk data other than Pixel Data: its bytes, little endian, as application/octet-stream. */
export function bulkDataRepresentation(accepted: AcceptedMediaType[]): { multipart: boolean } | null {
  const range = accepted.find(
    (candidate) =>
      (isWildcard(candidate.type) || candidate.type === 'application/*' || candidate.type === 'application/octet-stream') &&
      (candidate.transferSyntax === undefined || candidate.transferSyntax === '*' || candidate.transferSyntax === TRANSFER_SYNTAX.explicitLittleEndian),
  );
  return range ? { multipart: range.multipart || isWildcard(range.type) } : null;
}
