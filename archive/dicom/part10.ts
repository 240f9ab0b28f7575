/**
 * The File Meta Information Yingyun writes in front of a dataset received over DIMSE (PS3.10 7.1),
 * so every stored object is a Part 10 file any DICOM tool can open.
 */

/** Yingyun's Implementation Class UID: a UUID-derived UID (PS3.5 B.2), fixed for this implementation. */
export const IMPLEMENTATION_CLASS_UID = '2.25.176915346125486219438921367465374180127';
export const IMPLEMENTATION_VERSION_NAME = 'YINGYUN_010';

export function buildFileMetaHeader(meta: {
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  sourceAeTitle?: string;
}): Buffer {
  const elements = [
    element(0x0001, 'OB', Buffer.from([0x00, 0x01])),
    element(0x0002, 'UI', uid(meta.sopClassUid)),
    element(0x0003, 'UI', uid(meta.sopInstanceUid)),
    element(0x0010, 'UI', uid(meta.transferSyntaxUid)),
    element(0x0012, 'UI', uid(IMPLEMENTATION_CLASS_UID)),
    element(0x0013, 'SH', text(IMPLEMENTATION_VERSION_NAME)),
    ...(meta.sourceAeTitle ? [element(0x0016, 'AE', text(meta.sourceAeTitle))] : []),
  ];
  const groupLength = elements.reduce((sum, bytes) => sum + bytes.length, 0);
  const lengthElement = Buffer.alloc(12);
  lengthElement.writeUInt16LE(0x0002, 0);
  lengthElement.writeUInt16LE(0x0000, 2);
  lengthElement.write('UL', 4, 'latin1');
  lengthElement.writeUInt16LE(4, 6);
  lengthElement.writeUInt32LE(groupLength, 8);
  return Buffer.concat([Buffer.alloc(128), Buffer.from('DICM', 'latin1'), lengthElement, ...elements]);
}

/** UIDs are padded with NUL to an even length (PS3.5 9.1). */
function uid(value: string): Buffer {
  return Buffer.from(value.length % 2 ? `${value}\0` : value, 'latin1');
}

/** Other strings are padded with a space. */
function text(value: string): Buffer {
  return Buffer.from(value.length % 2 ? `${value} ` : value, 'latin1');
}

function element(elementNumber: number, vr: 'OB' | 'UI' | 'SH' | 'AE', value: Buffer): Buffer {
  // Explicit VR little endian; OB has the long form (2 reserved bytes, 4-byte length).
  const longForm = vr === 'OB';
  const header = Buffer.alloc(longForm ? 12 : 8);
  header.writeUInt16LE(0x0002, 0);
  header.writeUInt16LE(elementNumber, 2);
  header.write(vr, 4, 'latin1');
  if (longForm) header.writeUInt32LE(value.length, 8);
  else header.writeUInt16LE(value.length, 6);
  return Buffer.concat([header, value]);
}

/**
 * PS3.5 A.5: a deflated bytestream of odd length takes one trailing NUL (after the deflate end
 * marker, so inflating ignores it). Writers that leave it out make an odd-length dataset, which DCMTK
 * refuses in P-DATA ("Odd Fragment Length"); the pad is what the standard asks of the bytes, not a
 * re-encoding. Anything not deflated is returned as it is.
 */
export function padDeflatedDataset(dataset: Buffer, transferSyntaxUid: string): Buffer {
  return transferSyntaxUid === DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN && dataset.length % 2 === 1 ? Buffer.concat([dataset, Buffer.alloc(1)]) : dataset;
}

const DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1.99';

/**
 * Where the dataset starts in a Part 10 object: after the preamble, "DICM" and the File Meta group,
 * whose length (0002,0000), Type 1 and always first (PS3.10 7.1), gives it without parsing the rest.
 * Undefined for an object whose File Meta group does not start with it.
 */
export function datasetOffsetFromMetaGroupLength(part10: Buffer): number | undefined {
  const start = 132;
  if (part10.length < start + 12 || part10.toString('latin1', 128, 132) !== 'DICM') return undefined;
  const isGroupLength = part10.readUInt16LE(start) === 0x0002 && part10.readUInt16LE(start + 2) === 0x0000 && part10.toString('latin1', start + 4, start + 6) === 'UL' && part10.readUInt16LE(start + 6) === 4;
  if (!isGroupLength) return undefined;
  const offset = start + 12 + part10.readUInt32LE(start + 8);
  return offset <= part10.length ? offset : undefined;
}
