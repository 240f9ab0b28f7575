import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import type { DataSet, Element } from 'dicom-parser';
import { IMPLEMENTATION_CLASS_UID } from '../archive/dicom/part10.ts';
import { actionFor, CONFIDENTIALITY_PROFILE } from '../archive/privacy/confidentiality-profile.ts';
import { deidentify, MalformedInstanceError, remapUid, type DeidentifyOptions } from '../archive/privacy/deidentify.ts';
import { makeChestRadiograph, makeCtSeries, makeSecondaryCaptures, makeUltrasoundCine, SOP_CLASS, STUDIES } from '../fixtures/generate.ts';
import { parseWithDicomParser as parse, rawValue } from './support/dicom-parser.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';

const havePydicom = fs.existsSync(PYDICOM_TEST_FILES);
const sample = (name: string) => fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));
/** Every test that reads pydicom's sample files starts with this. */
const needPydicom = (t: TestContext) => requirePeer(t, havePydicom, 'python3-pydicom test files');

const SECRET = Buffer.from('yingyun test deployment secret 0001');
const PSEUDONYM = { patientId: 'ANON-3F2A', patientName: 'ANON^3F2A' };

function optionsWith(overrides: Partial<DeidentifyOptions> = {}): DeidentifyOptions {
  return { retainLongitudinalDates: false, retainPatientCharacteristics: false, uidSecret: SECRET, pseudonym: PSEUDONYM, ...overrides };
}

function items(dataSet: DataSet, tag: string): DataSet[] {
  return (dataSet.elements[tag]?.items ?? []).map((item) => item.dataSet!);
}

/** Present with a zero-length value: the Z action. */
function assertEmpty(dataSet: DataSet, tag: string): void {
  assert.equal(dataSet.elements[tag]?.length, 0, `${tag} is present and empty`);
}

/** Every element at every depth, with the tag as 'GGGGEEEE'. */
function* allElements(dataSet: DataSet): Generator<[string, Element, DataSet]> {
  for (const element of Object.values(dataSet.elements)) {
    yield [element.tag.slice(1).toUpperCase(), element, dataSet];
    for (const item of element.items ?? []) if (item.dataSet) yield* allElements(item.dataSet);
  }
}

function codeValues(dataSet: DataSet): string[] {
  return items(dataSet, 'x00120064').map((item) => `${item.string('x00080100')}/${item.string('x00080102')}`);
}

const ROWS = new Map(CONFIDENTIALITY_PROFILE.map((row) => [row.tag, row]));

describe('deidentify: the Basic Profile on a real CT (pydicom CT_small.dcm)', () => {
  it('replaces, empties or removes the identifying attributes, at every depth, and all private attributes', (t) => {
    if (!needPydicom(t)) return;
    const input = sample('CT_small.dcm');
    const original = parse(input);
    const { part10 } = deidentify(input, optionsWith());
    const output = parse(part10);

    assert.equal(output.string('x00100010'), 'ANON^3F2A');
    assert.equal(output.string('x00100020'), 'ANON-3F2A');
    for (const tag of ['x00100030', 'x00080090', 'x00080050', 'x00200010', 'x00100040', 'x00080020', 'x00080030']) assertEmpty(output, tag);
    // X/Z/D attributes: the last alternative, a dummy, keeps any IOD conformant (see confidentiality-profile.ts).
    assert.equal(output.string('x00080080'), 'ANONYMIZED');
    assert.equal(output.string('x00081010'), 'ANONYMIZED');
    assert.equal(output.string('x00080021'), '19000101');
    for (const tag of ['x00101002', 'x00101010', 'x00101030']) assert.equal(output.elements[tag], undefined, `${tag} removed`);

    const privateTags = (dataSet: DataSet) => [...allElements(dataSet)].filter(([tag]) => Number.parseInt(tag.slice(0, 4), 16) % 2 === 1);
    assert.ok(privateTags(original).length > 100, 'the sample carries private attributes');
    assert.deepEqual(privateTags(output), []);
    for (const [tag] of allElements(output)) assert.notEqual(ROWS.get(tag)?.basic, 'X', `${tag} (${ROWS.get(tag)?.name}) is X in Table E.1-1`);
    for (const identifying of ['CompressedSamples^CT1', '1CT1', 'JFK IMAGING CENTER', 'CT01_OC0', 'ABCD1234', '1234ABCD', '20040119', '19970430']) {
      assert.equal(part10.indexOf(identifying, 0, 'latin1'), -1, `${identifying} is gone`);
    }
  });

  it('replaces every instance UID by remapUid, keeps the SOP Class UID, and rebuilds File Meta', (t) => {
    if (!needPydicom(t)) return;
    const input = sample('CT_small.dcm');
    const original = parse(input);
    const result = deidentify(input, optionsWith());
    const output = parse(result.part10);

    const sopInstanceUid = remapUid(original.string('x00080018')!, SECRET);
    assert.equal(result.sopInstanceUid, sopInstanceUid);
    assert.equal(output.string('x00080018'), sopInstanceUid);
    assert.equal(output.string('x00020003'), sopInstanceUid, 'Media Storage SOP Instance UID matches');
    assert.equal(result.studyInstanceUid, remapUid(original.string('x0020000d')!, SECRET));
    for (const tag of ['x0020000d', 'x0020000e', 'x00200052', 'x00080014']) assert.equal(output.string(tag), remapUid(original.string(tag)!, SECRET), tag);
    assert.equal(output.string('x00080016'), SOP_CLASS.CT);
    assert.equal(output.string('x00020002'), SOP_CLASS.CT);
    assert.equal(output.string('x00020010'), original.string('x00020010'));
    assert.equal(output.string('x00020012'), IMPLEMENTATION_CLASS_UID, 'File Meta names the de-identifier');
    assert.ok(result.part10.subarray(0, 128).equals(Buffer.alloc(128)), 'the preamble is blank');
    for (const tag of ['x00080018', 'x0020000d', 'x0020000e', 'x00200052', 'x00080014']) {
      assert.equal(result.part10.indexOf(original.string(tag)!, 0, 'latin1'), -1, `the original ${tag} appears nowhere`);
    }
  });

  it('records the de-identification (PS3.15 E.1.1, E.3)', (t) => {
    if (!needPydicom(t)) return;
    const output = parse(deidentify(sample('CT_small.dcm'), optionsWith()).part10);
    assert.equal(output.string('x00120062'), 'YES');
    assert.equal(output.string('x00120063'), 'Basic Application Confidentiality Profile');
    assert.deepEqual(codeValues(output), ['113100/DCM']);
    assert.equal(items(output, 'x00120064')[0]!.string('x00080104'), 'Basic Application Confidentiality Profile');
    assert.equal(output.string('x00280303'), 'REMOVED');
  });
});

describe('deidentify: options', () => {
  it('Retain Longitudinal Temporal Information with Full Dates keeps dates and times, and says so', (t) => {
    if (!needPydicom(t)) return;
    const original = parse(sample('CT_small.dcm'));
    const output = parse(deidentify(sample('CT_small.dcm'), optionsWith({ retainLongitudinalDates: true })).part10);
    for (const tag of ['x00080012', 'x00080013', 'x00080020', 'x00080021', 'x00080022', 'x00080023', 'x00080030', 'x00080031', 'x00080032', 'x00080033']) {
      assert.equal(output.string(tag), original.string(tag), tag);
    }
    assert.equal(output.string('x00280303'), 'UNMODIFIED');
    assert.deepEqual(codeValues(output), ['113100/DCM', '113106/DCM']);
    assertEmpty(output, 'x00100030'); // a birth date is not longitudinal information
    assert.equal(output.elements.x00101010, undefined, 'characteristics still removed');
  });

  it('Retain Patient Characteristics keeps sex, age and weight, and says so', (t) => {
    if (!needPydicom(t)) return;
    const output = parse(deidentify(sample('CT_small.dcm'), optionsWith({ retainPatientCharacteristics: true })).part10);
    assert.equal(output.string('x00100040'), 'O');
    assert.equal(output.string('x00101010'), '000Y');
    assert.equal(output.string('x00101030'), '0.000000');
    assert.deepEqual(codeValues(output), ['113100/DCM', '113108/DCM']);
    assertEmpty(output, 'x00080020');
    assert.equal(output.string('x00280303'), 'REMOVED');
  });

  it('de-identifying an already de-identified instance adds each method once and keeps the record that dates were removed', (t) => {
    if (!needPydicom(t)) return;
    const once = deidentify(sample('CT_small.dcm'), optionsWith());
    const twice = parse(deidentify(once.part10, optionsWith({ retainLongitudinalDates: true })).part10);
    assert.deepEqual(codeValues(twice), ['113100/DCM', '113106/DCM']);
    assert.equal(twice.string('x00120063'), 'Basic Application Confidentiality Profile\\Retain Longitudinal Temporal Information Full Dates Option');
    assert.equal(twice.string('x00280303'), 'REMOVED');
  });

  it('resolves Table E.1-1 rows: compound codes, Options, private attributes, curves and overlays', () => {
    const basic = optionsWith();
    const both = optionsWith({ retainLongitudinalDates: true, retainPatientCharacteristics: true });
    assert.equal(actionFor('00100010', 'PN', basic), 'empty'); // Patient's Name, Z
    assert.equal(actionFor('00080080', 'LO', basic), 'dummy'); // Institution Name, X/Z/D
    assert.equal(actionFor('00081110', 'SQ', basic), 'empty'); // Referenced Study Sequence, X/Z
    assert.equal(actionFor('00081140', 'SQ', basic), 'keep'); // Referenced Image Sequence, X/Z/U*: its UIDs replaced inside
    assert.equal(actionFor('00081155', 'UI', basic), 'replaceUid');
    assert.equal(actionFor('00081150', 'UI', basic), 'keep'); // Referenced SOP Class UID: not listed, structural
    assert.equal(actionFor('00209312', 'UI', basic), 'replaceUid'); // Volume Frame of Reference UID: not listed, an instance's
    assert.equal(actionFor('00080022', 'DA', basic), 'empty');
    assert.equal(actionFor('00080022', 'DA', both), 'keep');
    assert.equal(actionFor('00101030', 'DS', basic), 'remove');
    assert.equal(actionFor('00101030', 'DS', both), 'keep');
    assert.equal(actionFor('00102110', 'LO', both), 'remove'); // Allergies: C under the Option, which needs a person to clean
    assert.equal(actionFor('00291010', 'OB', both), 'remove');
    assert.equal(actionFor('50023000', 'OW', basic), 'remove');
    assert.equal(actionFor('60020010', 'US', basic), 'remove');
    assert.equal(actionFor('52009229', 'SQ', basic), 'keep'); // Shared Functional Groups: not a curve group
    // Inside a sequence being replaced by dummies everything is, except code strings.
    assert.equal(actionFor('00080104', 'LO', basic, 'dummy'), 'dummy');
    assert.equal(actionFor('0040A010', 'CS', basic, 'dummy'), 'keep');
  });
});

describe('deidentify: UIDs', () => {
  it('remapUid gives a 2.25 UID from HMAC-SHA256, deterministic per secret and blind to padding', () => {
    const uid = '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322';
    const remapped = remapUid(uid, SECRET);
    assert.match(remapped, /^2\.25\.(0|[1-9][0-9]*)$/);
    assert.ok(remapped.length <= 64);
    assert.ok(BigInt(remapped.slice(5)) < 2n ** 128n);
    assert.equal(remapUid(uid, SECRET), remapped);
    assert.equal(remapUid(`${uid}\0`, SECRET), remapped);
    assert.notEqual(remapUid(uid, Buffer.from('another deployment secret 000001')), remapped);
    assert.notEqual(remapUid(`${uid}1`, SECRET), remapped);
  });

  it('maps one instance and one study the same way in every file and transfer syntax', (t) => {
    if (!needPydicom(t)) return;
    const mr = ['MR_small.dcm', 'MR_small_implicit.dcm', 'MR_small_bigendian.dcm', 'MR_small_jp2klossless.dcm'].map((name) => deidentify(sample(name), optionsWith()));
    assert.equal(new Set(mr.map((result) => result.sopInstanceUid)).size, 1);
    assert.equal(new Set(mr.map((result) => result.studyInstanceUid)).size, 1);
    assert.equal(mr[0]!.sopInstanceUid, remapUid(parse(sample('MR_small.dcm')).string('x00080018')!, SECRET));

    // Two different instances of one study.
    const first = deidentify(sample('SC_rgb_small_odd.dcm'), optionsWith());
    const second = deidentify(sample('SC_rgb_jpeg_dcmtk.dcm'), optionsWith());
    assert.notEqual(first.sopInstanceUid, second.sopInstanceUid);
    assert.equal(first.studyInstanceUid, second.studyInstanceUid);
  });

  it('replaces the UIDs that RT plans and doses reference inside sequences, keeping their SOP Class UIDs', (t) => {
    if (!needPydicom(t)) return;
    for (const [name, sequence] of [
      ['rtplan.dcm', 'x300c0060'], // Referenced Structure Set Sequence
      ['rtdose.dcm', 'x300c0002'], // Referenced RT Plan Sequence
    ] as const) {
      const input = sample(name);
      const [originalReference] = items(parse(input), sequence);
      const [reference] = items(parse(deidentify(input, optionsWith()).part10), sequence);
      assert.ok(originalReference && reference, `${name} keeps ${sequence}`);
      assert.equal(reference.string('x00081155'), remapUid(originalReference.string('x00081155')!, SECRET), name);
      assert.equal(reference.string('x00081150'), originalReference.string('x00081150'), name);
    }
    const dose = parse(deidentify(sample('rtdose.dcm'), optionsWith()).part10);
    assert.equal(dose.string('x00200052'), remapUid(parse(sample('rtdose.dcm')).string('x00200052')!, SECRET));
  });

  it('keeps references between instances de-identified one by one pointing at the new UIDs', () => {
    const slices = [...makeCtSeries({ study: STUDIES.wangCurrentCt, slices: 2, rows: 32, columns: 32 })];
    const reference = (index: number) => [{ ReferencedSOPClassUID: SOP_CLASS.CT, ReferencedSOPInstanceUID: slices[index]!.description.sopInstanceUid }];
    const [keyImage] = [
      ...makeSecondaryCaptures({
        study: STUDIES.wangCurrentCt,
        seriesNumber: 90,
        count: 1,
        rows: 16,
        columns: 16,
        overrides: { SourceImageSequence: reference(0), ReferencedImageSequence: reference(1) },
      }),
    ];
    const [ct0, ct1, sc] = [...slices, keyImage!].map((instance) => deidentify(instance.bytes, optionsWith()));
    const output = parse(sc!.part10);
    assert.equal(items(output, 'x00082112')[0]!.string('x00081155'), ct0!.sopInstanceUid, 'Source Image Sequence');
    assert.equal(items(output, 'x00081140')[0]!.string('x00081155'), ct1!.sopInstanceUid, 'Referenced Image Sequence');
    assert.equal(items(output, 'x00081140')[0]!.string('x00081150'), SOP_CLASS.CT);
    assert.equal(sc!.studyInstanceUid, ct0!.studyInstanceUid);
    const [slice0, slice1] = [ct0!, ct1!].map((result) => parse(result.part10));
    assert.equal(slice0!.string('x00200052'), slice1!.string('x00200052'), 'one Frame of Reference');
    assert.equal(slice0!.string('x0020000e'), slice1!.string('x0020000e'), 'one series');
  });
});

describe('deidentify: sequences the table replaces with dummies (pydicom test-SR.dcm)', () => {
  it('keeps the Content Sequence tree but none of its text, names or dates', (t) => {
    if (!needPydicom(t)) return;
    const input = sample('test-SR.dcm');
    const original = parse(input);
    const { part10 } = deidentify(input, optionsWith());
    const output = parse(part10);
    const shape = (dataSet: DataSet) => [...allElements(dataSet)].filter(([tag]) => tag === '0040A730' || tag === '0040A010').map(([tag, element]) => `${tag}:${element.items?.length ?? 0}`);
    assert.deepEqual(shape(output), shape(original), 'content items and relationship types kept');
    const withinReplacedSequences = [...items(original, 'x0040a730'), ...items(original, 'x0040a073')].flatMap((item) => [...allElements(item)]);
    const originalTexts = withinReplacedSequences
      .filter(([tag]) => ['0040A160', '0040A123', '0040A075', '00080104', '0040A027'].includes(tag))
      .map(([tag, , dataSet]) => dataSet.string(`x${tag.toLowerCase()}`))
      .filter((text): text is string => Boolean(text && text.length > 3));
    assert.ok(originalTexts.length > 3, 'the sample has text values, names and code meanings');
    for (const text of originalTexts) assert.equal(part10.indexOf(text, 0, 'latin1'), -1, `${JSON.stringify(text)} is gone`);
    assert.equal(items(output, 'x0040a073')[0]!.string('x0040a075'), 'ANONYMIZED', 'Verifying Observer Name');
  });
});

describe('deidentify: pixel data and transfer syntaxes', () => {
  const samples = [
    'CT_small.dcm', // explicit VR little endian
    'MR_small_implicit.dcm',
    'MR_small_bigendian.dcm',
    'JPEG2000.dcm', // one fragment, empty Basic Offset Table
    'SC_rgb_rle_2frame.dcm', // RLE, two frames, Basic Offset Table
    'MR_small_jpeg_ls_lossless.dcm',
    'image_dfl.dcm', // deflated explicit VR little endian
  ];

  it('writes the input transfer syntax and keeps Pixel Data byte for byte, fragments and offset table included', (t) => {
    if (!needPydicom(t)) return;
    for (const name of samples) {
      const input = parse(sample(name));
      const output = parse(deidentify(sample(name), optionsWith()).part10);
      assert.equal(output.string('x00020010'), input.string('x00020010'), name);
      assert.ok(rawValue(output, 'x7fe00010').equals(rawValue(input, 'x7fe00010')), `${name}: Pixel Data unchanged`);
      assert.deepEqual(output.elements.x7fe00010!.fragments?.length, input.elements.x7fe00010!.fragments?.length, name);
      assert.deepEqual(output.elements.x7fe00010!.basicOffsetTable, input.elements.x7fe00010!.basicOffsetTable, name);
    }
  });

  it('DCMTK reads every output, with no complaint it did not have about the input', (t) => {
    if (!needPydicom(t) || !requirePeer(t, commandExists('dcmdump'), 'DCMTK (dcmdump)')) return;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-deidentify-'));
    // Without -q, dcmdump reports on stderr what it cannot read or finds amiss (E: and W: lines).
    const complaints = (file: string) => {
      const dump = spawnSync('dcmdump', [file], { encoding: 'utf8' });
      assert.equal(dump.status, 0, `${file}: ${dump.stderr}`);
      return dump.stderr.split('\n').filter(Boolean);
    };
    try {
      for (const name of [...samples, 'rtplan.dcm', 'rtdose.dcm', 'test-SR.dcm', 'waveform_ecg.dcm', 'liver_1frame.dcm']) {
        const file = path.join(work, name);
        fs.writeFileSync(file, deidentify(sample(name), optionsWith()).part10);
        const aboutInput = complaints(path.join(PYDICOM_TEST_FILES, name));
        assert.deepEqual(complaints(file).filter((line) => !aboutInput.includes(line)), [], name);
      }
    } finally {
      fs.rmSync(work, { recursive: true, force: true });
    }
  });
});

describe('deidentify: character sets', () => {
  it('keeps Specific Character Set and leaves none of the Chinese names, IDs or institution behind', () => {
    for (const study of [STUDIES.wangCurrentCt, STUDIES.wangPriorCt]) {
      const [slice] = [...makeCtSeries({ study, slices: 1, rows: 16, columns: 16 })];
      const input = parse(slice!.bytes);
      const { part10 } = deidentify(slice!.bytes, optionsWith());
      const output = parse(part10);
      assert.ok(rawValue(output, 'x00080005').equals(rawValue(input, 'x00080005')), study.institution.characterSet);
      const otherIds = items(input, 'x00101002').map((item) => rawValue(item, 'x00100020'));
      assert.ok(otherIds.length > 0, 'the fixture has a resident ID in Other Patient IDs Sequence');
      for (const tag of ['x00100010', 'x00100020', 'x00080050', 'x00080090', 'x00080080', 'x00081030']) {
        assert.equal(part10.indexOf(rawValue(input, tag)), -1, `${study.institution.characterSet}: ${tag} is gone`);
      }
      for (const id of otherIds) assert.equal(part10.indexOf(id), -1, 'resident ID is gone');
      assert.equal(output.string('x00100010'), PSEUDONYM.patientName);
      assert.ok(rawValue(output, 'x00080070').equals(rawValue(input, 'x00080070')), 'kept text is byte for byte the same');
    }
  });
});

describe('deidentify: overlays', () => {
  it('removes the overlay group: Overlay Data is X, and the rest would describe an overlay that is not there', () => {
    const [slice] = [
      ...makeCtSeries({
        study: STUDIES.wangPriorCt,
        slices: 1,
        rows: 16,
        columns: 16,
        overrides: { OverlayRows: 16, OverlayColumns: 16, OverlayType: 'G', OverlayOrigin: [1, 1], OverlayBitsAllocated: 1, OverlayBitPosition: 0, OverlayData: new Uint8Array(32) },
      }),
    ];
    assert.ok(parse(slice!.bytes).elements.x60003000, 'the fixture has an overlay');
    const output = parse(deidentify(slice!.bytes, optionsWith()).part10);
    assert.deepEqual(Object.keys(output.elements).filter((tag) => tag.startsWith('x6000')), []);
  });
});

describe('deidentify: burned-in annotation risk', () => {
  const risk = (part10: Buffer) => deidentify(part10, optionsWith()).burnedInAnnotationRisk;
  const smallUltrasound = (overrides?: Record<string, string>) => makeUltrasoundCine({ study: STUDIES.chenUs, frames: 2, rows: 16, columns: 16, overrides }).bytes;
  const smallCt = (overrides?: Record<string, string>) => [...makeCtSeries({ study: STUDIES.wangPriorCt, slices: 1, rows: 16, columns: 16, overrides })][0]!.bytes;

  it('is true for ultrasound and secondary capture unless Burned In Annotation says NO', (t) => {
    assert.equal(risk(smallUltrasound()), true);
    assert.equal(risk(smallUltrasound({ BurnedInAnnotation: 'NO' })), false);
    if (!needPydicom(t)) return;
    assert.equal(risk(sample('SC_rgb_small_odd.dcm')), true);
  });

  it('is false for CT and a radiograph saying NO, true wherever Burned In Annotation says YES', (t) => {
    assert.equal(risk(smallCt()), false);
    assert.equal(risk(smallCt({ BurnedInAnnotation: 'YES' })), true);
    assert.equal(risk(makeChestRadiograph({ study: STUDIES.liJiCr, modality: 'CR', rows: 16, columns: 16 }).bytes), false);
    if (!needPydicom(t)) return;
    assert.equal(risk(sample('CT_small.dcm')), false);
  });
});

describe('deidentify: malformed input and options', () => {
  it('throws MalformedInstanceError saying what is wrong', (t) => {
    const rejects = (part10: Buffer, message: RegExp) => assert.throws(() => deidentify(part10, optionsWith()), (error: unknown) => error instanceof MalformedInstanceError && message.test(error.message));
    rejects(Buffer.from('not DICOM at all'), /not a DICOM Part 10 file/);
    const ct = smallCtBytes();
    rejects(ct.subarray(0, ct.length - 100), /truncated: the value of \(7FE0,0010\)/);
    rejects(ct.subarray(0, 300), /truncated/);
    if (!needPydicom(t)) return;
    rejects(sample('MR_truncated.dcm'), /truncated/);
    rejects(sample('rtplan_truncated.dcm'), /truncated/);
    rejects(sample('meta_missing_tsyntax.dcm'), /no Transfer Syntax UID/);
    rejects(sample('no_meta.dcm'), /not a DICOM Part 10 file/);
    const deflated = Buffer.from(sample('image_dfl.dcm'));
    deflated.fill(0xff, deflated.length - 2000);
    rejects(deflated, /cannot be inflated|truncated/);
  });

  it('refuses a short UID secret and a pseudonym that is not plain ASCII', () => {
    const ct = smallCtBytes();
    assert.throws(() => deidentify(ct, optionsWith({ uidSecret: Buffer.from('short') })), /uidSecret has 5 bytes/);
    assert.throws(() => deidentify(ct, optionsWith({ pseudonym: { patientId: '匿名', patientName: 'ANON' } })), /pseudonym\.patientId/);
    assert.throws(() => deidentify(ct, optionsWith({ pseudonym: { patientId: 'A', patientName: 'A\\B' } })), /pseudonym\.patientName/);
  });
});

function smallCtBytes(): Buffer {
  return [...makeCtSeries({ study: STUDIES.wangPriorCt, slices: 1, rows: 16, columns: 16 })][0]!.bytes;
}
