import dicomParser from 'dicom-parser';
import { buildFileMetaHeader } from '../dicom/part10.ts';

const IMPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const EXPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const EXPLICIT_BIG_ENDIAN = '1.2.840.10008.1.2.2';

/** Value representations of PS3.5 Table 6.2-1: two letters after a tag mean explicit VR only if they are one of these. */
const VALUE_REPRESENTATIONS = new Set(
  'AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV'.split(' '),
);

export interface WrappedDataset {
  part10: Buffer;
  transferSyntaxUid: string;
}

/**
 * Old archives and some modalities wrote bare datasets: no preamble, no "DICM", no File Meta
 * Information, so nothing says how they are encoded. When the bytes unambiguously start a dataset
 * (the first element is in group 0008, as identifying attributes always come first) this works out
 * the encoding from the first element — byte order from the group number, explicit VR when two
 * valid VR letters follow the tag — and puts a File Meta Information header in front (PS3.10 7.1),
 * leaving the dataset's own bytes untouched. Anything else is null: the ingest path then rejects it
 * as not Part 10, with that reason.
 */
export function wrapRawDataset(bytes: Buffer): WrappedDataset | null {
  if (bytes.length < 16) return null;
  if (bytes.length >= 132 && bytes.toString('latin1', 128, 132) === 'DICM') return null;
  const explicit = VALUE_REPRESENTATIONS.has(bytes.toString('latin1', 4, 6));
  let transferSyntaxUid: string;
  if (bytes.readUInt16LE(0) === 0x0008) transferSyntaxUid = explicit ? EXPLICIT_LITTLE_ENDIAN : IMPLICIT_LITTLE_ENDIAN;
  else if (bytes.readUInt16BE(0) === 0x0008 && explicit) transferSyntaxUid = EXPLICIT_BIG_ENDIAN;
  else return null;

  let sopClassUid: string | undefined;
  let sopInstanceUid: string | undefined;
  try {
    const dataSet = dicomParser.parseDicom(bytes, { TransferSyntaxUID: transferSyntaxUid, untilTag: 'x00080018' } as dicomParser.ParseDicomOptions);
    sopClassUid = dataSet.string('x00080016');
    sopInstanceUid = dataSet.string('x00080018');
  } catch {
    return null;
  }
  if (!sopClassUid || !sopInstanceUid) return null;
  const header = buildFileMetaHeader({ sopClassUid, sopInstanceUid, transferSyntaxUid });
  return { part10: Buffer.concat([header, bytes]), transferSyntaxUid };
}
