import { UnencodableText } from '../../archive/dicom/charset.ts';
import { decodeDataset, encodeDataset } from '../../archive/dicom/dataset-codec.ts';
import { parseInstance, TRANSFER_SYNTAX } from '../../archive/dicom/parse.ts';
import { IngestRejection } from '../../archive/dicom/types.ts';
import { tokens, type FuzzTarget } from '../target.ts';
import { realDicomFiles } from './seeds.ts';

/**
 * The DICOM reader as the gateway uses it. Three inputs in four: parseInstance on a Part 10 object,
 * as every ingest path calls it (File Meta, transfer syntaxes with deflate, sequences, Specific
 * Character Set decoding and GB18030 detection); its metadata must serialise as JSON, as the index
 * stores it. One in four: the bytes after the "DICM" prefix as a bare dataset (a C-FIND identifier)
 * through dataset-codec.ts, decoded and encoded back as a C-FIND response would be. Preamble bytes,
 * which no parser reads, choose: byte 1 the mode and VR encoding, byte 0 a sender's character set
 * override, so the fuzzer reaches those paths too.
 */

const OVERRIDES = [undefined, 'GB18030', 'ISO_IR 100', '\\ISO 2022 IR 58', 'ISO_IR 192', 'ISO 2022 IR 6\\ISO 2022 IR 87', 'NOT A CHARSET'];

export const target: FuzzTarget = {
  name: 'dicom',
  coverage: /\/archive\/dicom\/|dicom-parser|iconv-lite/,
  seeds: () => realDicomFiles(64 * 1024),
  dictionary: tokens(
    'DICM',
    ...['SQ', 'UN', 'OB', 'OW', 'UT', 'UC', 'UR', 'PN', 'LO', 'SH', 'ST', 'LT', 'UI', 'AT', 'DS', 'IS', 'FD', 'SV', 'UV', 'US', 'UL'],
    '1.2.840.10008.1.2',
    '1.2.840.10008.1.2.1',
    '1.2.840.10008.1.2.1.99',
    '1.2.840.10008.1.2.2',
    '1.2.840.10008.1.2.4.50',
    'ISO_IR 192',
    'GB18030',
    'GBK',
    'ISO 2022 IR 58',
    'ISO 2022 IR 87',
    'ISO 2022 IR 149',
    '\\',
    '=',
    '^',
    [0x1b, 0x24, 0x29, 0x41],
    [0x1b, 0x24, 0x42],
    [0x1b, 0x28, 0x42],
    [0x1b, 0x24, 0x29, 0x43],
    [0xd5, 0xc5, 0xc8, 0xfd],
    [0x81, 0x30, 0x81, 0x30],
    [0xe5, 0xbc, 0xa0],
    // Item, Item Delimitation, Sequence Delimitation; Specific Character Set; Pixel Data; a sequence header.
    [0xfe, 0xff, 0x00, 0xe0],
    [0xfe, 0xff, 0x0d, 0xe0, 0, 0, 0, 0],
    [0xfe, 0xff, 0xdd, 0xe0, 0, 0, 0, 0],
    [0xff, 0xff, 0xff, 0xff],
    [0x08, 0x00, 0x05, 0x00],
    [0xe0, 0x7f, 0x10, 0x00],
    [0x02, 0x00, 0x10, 0x00],
    [0x08, 0x00, 0x15, 0x11, 0x53, 0x51, 0, 0, 0xff, 0xff, 0xff, 0xff],
  ),
  maxLength: 96 * 1024,
  run(input) {
    const override = OVERRIDES[input.length > 0 ? input[0]! % OVERRIDES.length : 0];
    const mode = input.length > 1 ? input[1]! % 8 : 0;
    if (mode < 6) {
      JSON.stringify(parseInstance(input, override === undefined ? {} : { characterSetOverride: override }));
      return;
    }
    const transferSyntaxUid = mode === 6 ? TRANSFER_SYNTAX.explicitLittleEndian : TRANSFER_SYNTAX.implicitLittleEndian;
    encodeDataset(decodeDataset(input.subarray(132), transferSyntaxUid, override), transferSyntaxUid);
  },
  // A text that cannot be written back in its own declared character set (after a lossy decode) is refused by name too.
  expected: (error) => error instanceof IngestRejection || error instanceof UnencodableText,
};
