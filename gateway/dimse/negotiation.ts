import type { RejectionKind } from '../../archive/dicom/types.ts';

export const VERIFICATION_SOP_CLASS = '1.2.840.10008.1.1';

/** Transfer syntaxes accepted for storage, by UID, with their names for messages. */
export const TRANSFER_SYNTAX_NAMES: ReadonlyMap<string, string> = new Map([
  ['1.2.840.10008.1.2', 'Implicit VR Little Endian'],
  ['1.2.840.10008.1.2.1', 'Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.1.98', 'Encapsulated Uncompressed Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.1.99', 'Deflated Explicit VR Little Endian'],
  ['1.2.840.10008.1.2.2', 'Explicit VR Big Endian'], // retired, still sent by old modalities
  ['1.2.840.10008.1.2.4.50', 'JPEG Baseline (Process 1)'],
  ['1.2.840.10008.1.2.4.51', 'JPEG Extended (Process 2 & 4)'],
  ['1.2.840.10008.1.2.4.57', 'JPEG Lossless (Process 14)'],
  ['1.2.840.10008.1.2.4.70', 'JPEG Lossless SV1'],
  ['1.2.840.10008.1.2.4.80', 'JPEG-LS Lossless'],
  ['1.2.840.10008.1.2.4.81', 'JPEG-LS Near-Lossless'],
  ['1.2.840.10008.1.2.4.90', 'JPEG 2000 Lossless'],
  ['1.2.840.10008.1.2.4.91', 'JPEG 2000'],
  ['1.2.840.10008.1.2.4.92', 'JPEG 2000 Part 2 Multi-component Lossless'],
  ['1.2.840.10008.1.2.4.93', 'JPEG 2000 Part 2 Multi-component'],
  ['1.2.840.10008.1.2.4.100', 'MPEG2 Main Profile / Main Level'],
  ['1.2.840.10008.1.2.4.101', 'MPEG2 Main Profile / High Level'],
  ['1.2.840.10008.1.2.4.102', 'MPEG-4 AVC/H.264 High Profile / Level 4.1'],
  ['1.2.840.10008.1.2.4.103', 'MPEG-4 AVC/H.264 BD-compatible'],
  ['1.2.840.10008.1.2.4.104', 'MPEG-4 AVC/H.264 High Profile for 2D Video'],
  ['1.2.840.10008.1.2.4.105', 'MPEG-4 AVC/H.264 High Profile for 3D Video'],
  ['1.2.840.10008.1.2.4.106', 'MPEG-4 AVC/H.264 Stereo High Profile'],
  ['1.2.840.10008.1.2.4.107', 'HEVC/H.265 Main Profile'],
  ['1.2.840.10008.1.2.4.108', 'HEVC/H.265 Main 10 Profile'],
  ['1.2.840.10008.1.2.4.110', 'JPEG XL Lossless'],
  ['1.2.840.10008.1.2.4.111', 'JPEG XL JPEG Recompression'],
  ['1.2.840.10008.1.2.4.112', 'JPEG XL'],
  ['1.2.840.10008.1.2.4.201', 'High-Throughput JPEG 2000 Lossless'],
  ['1.2.840.10008.1.2.4.202', 'High-Throughput JPEG 2000 with RPCL Options Lossless'],
  ['1.2.840.10008.1.2.4.203', 'High-Throughput JPEG 2000'],
  ['1.2.840.10008.1.2.5', 'RLE Lossless'],
]);

/**
 * Transfer syntaxes accepted for storage, stored as sent (Yingyun never transcodes on receipt).
 * Anything else is refused at negotiation, because the header could not be parsed.
 */
export const ACCEPTED_TRANSFER_SYNTAXES: ReadonlySet<string> = new Set(TRANSFER_SYNTAX_NAMES.keys());

const VERIFICATION_TRANSFER_SYNTAXES = new Set(['1.2.840.10008.1.2', '1.2.840.10008.1.2.1', '1.2.840.10008.1.2.2']);

/**
 * Storage SOP classes: every standard one (PS3.4 Annex B lives under 1.2.840.10008.5.1.4.1.1 plus a
 * few non-image stores), and any private SOP class outside the DICOM root, since vendors' private
 * storage classes must be archived too. Query/retrieve, worklist and other services are not storage.
 */
export function isStorageSopClass(uid: string): boolean {
  if (!uid.startsWith('1.2.840.10008.')) return /^[0-9]+(\.[0-9]+)*$/.test(uid);
  return (
    uid.startsWith('1.2.840.10008.5.1.4.1.1.') ||
    [
      '1.2.840.10008.5.1.4.38.1', // Hanging Protocol Storage
      '1.2.840.10008.5.1.4.39.1', // Color Palette Storage
      '1.2.840.10008.5.1.4.43.1', // Generic Implant Template Storage
      '1.2.840.10008.5.1.4.44.1', // Implant Assembly Template Storage
      '1.2.840.10008.5.1.4.45.1', // Implant Template Group Storage
      '1.2.840.10008.5.1.4.34.10', // RT Beams Delivery Instruction Storage
    ].includes(uid)
  );
}

/** The first proposed transfer syntax we support, in the proposer's order of preference. */
export function chooseTransferSyntax(abstractSyntaxUid: string, proposed: readonly string[]): string | undefined {
  const supported = abstractSyntaxUid === VERIFICATION_SOP_CLASS ? VERIFICATION_TRANSFER_SYNTAXES : ACCEPTED_TRANSFER_SYNTAXES;
  return proposed.map((uid) => uid.replace(/\0+$/, '').trim()).find((uid) => supported.has(uid));
}

/** PS3.4 Table B.2-1 C-STORE statuses for each way an instance can be refused. */
export const STORE_STATUS: Record<RejectionKind | 'unexpected', number> = {
  'out-of-resources': 0xa700,
  'missing-attribute': 0xa900,
  'sop-class-mismatch': 0xa900,
  malformed: 0xc000,
  'processing-failure': 0x0110,
  'not-authorized': 0x0124,
  unexpected: 0x0110,
};
