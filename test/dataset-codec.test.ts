import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeText, encodeText, UnencodableText } from '../archive/dicom/charset.ts';
import { decodeDataset, encodeDataset } from '../archive/dicom/dataset-codec.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';

const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';

function identifier(characterSet: Array<string | null> | undefined): DicomJsonDataset {
  return {
    ...(characterSet ? { '00080005': { vr: 'CS', Value: characterSet } } : {}),
    '00080020': { vr: 'DA', Value: ['20240101-20241231'] },
    '00080052': { vr: 'CS', Value: ['STUDY'] },
    '00080061': { vr: 'CS', Value: ['CT', 'MR'] },
    '00081030': { vr: 'LO', Value: ['胸部 CT 平扫'] },
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }] },
    '00100020': { vr: 'LO' },
    '0020000D': { vr: 'UI', Value: ['1.2.3.4.5'] },
    '00201208': { vr: 'IS', Value: [12] },
    '00280010': { vr: 'US', Value: [512] },
    '00400275': {
      vr: 'SQ',
      Value: [{ '00401001': { vr: 'SH', Value: ['申请单7'] }, '0032000A': { vr: 'CS' } }, {}],
    },
  };
}

// DICOM JSON writes an empty first value (the default repertoire) as null.
for (const characterSet of [['ISO_IR 192'], ['GB18030'], ['GBK'], [null, 'ISO 2022 IR 58']]) {
  for (const transferSyntax of [EXPLICIT, IMPLICIT]) {
    test(`round trip in ${characterSet.map((term) => term ?? '').join('\\')} (${transferSyntax === EXPLICIT ? 'explicit' : 'implicit'} VR)`, () => {
      const dataset = identifier(characterSet);
      const decoded = decodeDataset(encodeDataset(dataset, transferSyntax), transferSyntax);
      assert.deepEqual(decoded, dataset);
    });
  }
}

test('the default repertoire round-trips ASCII and refuses anything else', () => {
  const ascii: DicomJsonDataset = { '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Doe^John' }] }, '00100020': { vr: 'LO', Value: ['ID-1'] } };
  assert.deepEqual(decodeDataset(encodeDataset(ascii, EXPLICIT), EXPLICIT), ascii);
  assert.throws(() => encodeDataset(identifier(undefined), EXPLICIT), UnencodableText);
});

test('ISO_IR 100 round-trips Latin-1 and refuses Han characters', () => {
  const latin: DicomJsonDataset = { '00080005': { vr: 'CS', Value: ['ISO_IR 100'] }, '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Müller^Jérôme' }] } };
  assert.deepEqual(decodeDataset(encodeDataset(latin, IMPLICIT), IMPLICIT), latin);
  assert.throws(() => encodeDataset({ ...latin, '00100010': { vr: 'PN', Value: [{ Alphabetic: '王' }] } }, IMPLICIT), UnencodableText);
});

test('ISO 2022 IR 58 designates GB 2312 in G1 before each run, again after each PN delimiter (PS3.5 6.1.2.5.3)', () => {
  const bytes = encodeText('Wang^XiaoDong=王^小东', ['', 'ISO 2022 IR 58'], 'person-name');
  const escape = [0x1b, 0x24, 0x29, 0x41];
  const expected = Buffer.from([
    ...Buffer.from('Wang^XiaoDong=', 'latin1'),
    ...escape,
    0xcd, 0xf5, // 王
    0x5e,
    ...escape,
    0xd0, 0xa1, 0xb6, 0xab, // 小东
  ]);
  assert.deepEqual(bytes, expected);
  assert.equal(decodeText(bytes, ['', 'ISO 2022 IR 58'], 'person-name'), 'Wang^XiaoDong=王^小东');
});

test('GB 2312 bytes under \\ISO 2022 IR 58 without the escape sequence are read as GB 2312, the one G1 set declared', () => {
  const bytes = Buffer.from([...Buffer.from('Wang^XiaoDong=', 'latin1'), 0xcd, 0xf5, 0x5e, 0xd0, 0xa1, 0xb6, 0xab]);
  assert.equal(decodeText(bytes, ['', 'ISO 2022 IR 58'], 'person-name'), 'Wang^XiaoDong=王^小东');
  // With two G1 sets declared the bytes cannot be told apart: Latin-1 keeps every byte visible.
  assert.equal(decodeText(Buffer.from([0xcd, 0xf5]), ['', 'ISO 2022 IR 58', 'ISO 2022 IR 149'], 'person-name'), 'Íõ');
});

test('ISO 2022 IR 58 refuses a character outside GB 2312 rather than writing GBK bytes', () => {
  // 镕 is in GBK (and GB18030) but not in GB 2312.
  assert.throws(() => encodeText('朱镕基', ['', 'ISO 2022 IR 58'], 'person-name'), UnencodableText);
  assert.equal(decodeText(encodeText('朱镕基', ['GB18030'], 'person-name'), ['GB18030'], 'person-name'), '朱镕基');
});

test('an item declaring its own character set is written in it', () => {
  const dataset: DicomJsonDataset = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00400275': { vr: 'SQ', Value: [{ '00080005': { vr: 'CS', Value: ['GB18030'] }, '00401001': { vr: 'SH', Value: ['王'] } }] },
  };
  const bytes = encodeDataset(dataset, EXPLICIT);
  assert.ok(bytes.includes(Buffer.from([0xcd, 0xf5])), 'GB18030 bytes of 王 in the item');
  assert.deepEqual(decodeDataset(bytes, EXPLICIT), dataset);
});

test('a decimal string longer than DS allows is rounded to 16 characters', () => {
  const dataset: DicomJsonDataset = { '00101030': { vr: 'DS', Value: [0.1 + 0.2, 70.5, 1234567.123456789] } };
  const decoded = decodeDataset(encodeDataset(dataset, EXPLICIT), EXPLICIT);
  assert.deepEqual(decoded['00101030']!.Value, [0.3, 70.5, 1234567.12345679]);
});
