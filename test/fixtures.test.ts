import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import {
  generateCorpus,
  INSTITUTIONS,
  makeCtSeries,
  makeSecondaryCaptures,
  PATIENTS,
  RESIDENT_ID_ISSUER,
  SOP_CLASS,
  STUDIES,
  TRANSFER_SYNTAX,
  writeCorpus,
  type FixtureInstance,
} from '../fixtures/generate.ts';
import { parseWithDicomParser as parse, rawValue } from './support/dicom-parser.ts';
import { commandExists, requirePeer } from './support/peers.ts';

const root = path.resolve(import.meta.dirname, '..');
const small = () => [...generateCorpus({ preset: 'small' })];

/**
 * Decodes PN bytes the way a receiver must, independently of the generator's encoder: TextDecoder
 * (ICU) for the single-byte-code sets, and for ISO 2022 IR 58 each component's ESC $ ) A removed and
 * the GR bytes decoded as EUC-CN (a subset of GBK).
 */
function decodePersonName(bytes: Buffer, characterSet: string): string {
  const trimmed = bytes.toString('latin1').replace(/[ \0]+$/, '').length;
  const value = bytes.subarray(0, trimmed);
  switch (characterSet) {
    case 'ISO_IR 192':
      return new TextDecoder('utf-8', { fatal: true }).decode(value);
    case 'GB18030':
    case 'GBK':
      return new TextDecoder(characterSet.toLowerCase(), { fatal: true }).decode(value);
    case 'ISO 2022 IR 58': {
      const designation = Buffer.from([0x1b, 0x24, 0x29, 0x41]);
      const pieces: string[] = [];
      let start = 0;
      for (let index = 0; index <= value.length; index++) {
        if (index === value.length || value[index] === 0x5e || value[index] === 0x3d) {
          let component = value.subarray(start, index);
          if (component.subarray(0, 4).equals(designation)) component = component.subarray(4);
          assert.ok(!component.includes(0x1b), 'one designation per component, at its start');
          pieces.push(new TextDecoder('gbk', { fatal: true }).decode(component));
          if (index < value.length) pieces.push(String.fromCharCode(value[index]!));
          start = index + 1;
        }
      }
      return pieces.join('');
    }
    default:
      throw new Error(`no decoder for ${characterSet}`);
  }
}

function find(instances: FixtureInstance[], predicate: (instance: FixtureInstance) => boolean): FixtureInstance {
  const found = instances.find(predicate);
  assert.ok(found, 'the small preset has the instance the test needs');
  return found;
}

describe('fixtures', () => {
  it('writes Part 10 files that dicom-parser reads, with the File Meta Information and modules filled in', () => {
    const instances = small();
    assert.ok(instances.length >= 10);
    const modalities = new Set<string>();
    for (const { bytes, description } of instances) {
      assert.equal(bytes.toString('latin1', 128, 132), 'DICM');
      const dataSet = parse(bytes);
      assert.equal(dataSet.string('x00020010'), description.transferSyntaxUid);
      assert.equal(dataSet.string('x00020002'), description.sopClassUid);
      assert.equal(dataSet.string('x00020003'), description.sopInstanceUid);
      assert.equal(dataSet.string('x00080018'), description.sopInstanceUid);
      assert.equal(dataSet.string('x0020000d'), description.studyInstanceUid);
      for (const tag of ['x00100020', 'x00100021', 'x00100030', 'x00100040', 'x00080020', 'x00080030', 'x00080050', 'x00200010', 'x00080060', 'x00200011', 'x00200013', 'x00080080', 'x00081010', 'x00080008']) {
        assert.ok(dataSet.elements[tag], `${description.modality} has ${tag}`);
      }
      // Every element has an even length (PS3.5 7.1.1).
      for (const element of Object.values(dataSet.elements)) assert.equal(element.length % 2, 0, `${element.tag} has an even length`);
      const rows = dataSet.uint16('x00280010')!;
      const columns = dataSet.uint16('x00280011')!;
      const frames = Number(dataSet.string('x00280008') ?? 1);
      const samples = dataSet.uint16('x00280002')!;
      const bytesPerSample = dataSet.uint16('x00280100')! / 8;
      assert.equal(dataSet.elements.x7fe00010!.length, rows * columns * frames * samples * bytesPerSample);
      modalities.add(dataSet.string('x00080060')!);
    }
    assert.deepEqual([...modalities].sort(), ['CR', 'CT', 'DX', 'MR', 'OT', 'US']);
    assert.deepEqual(new Set(instances.map((instance) => instance.description.transferSyntaxUid)), new Set(Object.values(TRANSFER_SYNTAX)));
  });

  it('computes the File Meta group length over the meta elements that follow it', () => {
    for (const { bytes, description } of small()) {
      const groupLength = bytes.readUInt32LE(132 + 8);
      const datasetStart = 132 + 12 + groupLength;
      // The meta group ends exactly where the dataset's first element (group 0008) begins.
      if (description.transferSyntaxUid === TRANSFER_SYNTAX.deflatedExplicitLittleEndian) continue;
      const group = description.transferSyntaxUid === TRANSFER_SYNTAX.explicitBigEndian ? bytes.readUInt16BE(datasetStart) : bytes.readUInt16LE(datasetStart);
      assert.equal(group, 0x0008, description.transferSyntaxUid);
    }
  });

  it('round-trips Chinese names in GB18030, GBK, ISO 2022 IR 58 and UTF-8', () => {
    const instances = small();
    const expected: Record<string, string> = {
      [PATIENTS.wangAtQingshi.id]: 'Wang^XiaoDong=王^小东',
      [PATIENTS.wangAtYunxi.id]: 'Wang^XiaoDong=王^小东',
      [PATIENTS.liJi.id]: 'Li^Ji=李^𠮷',
      [PATIENTS.taoZhe.id]: 'Tao^Zhe=陶^喆',
      [PATIENTS.chenJing.id]: 'Chen^Jing=陈^静',
      [PATIENTS.zhangXiuying.id]: 'Zhang^XiuYing=张^秀英',
    };
    const seen = new Set<string>();
    for (const { bytes, description } of instances) {
      if (description.characterSet === 'ISO_IR 6') continue;
      const dataSet = parse(bytes);
      const declared = dataSet.string('x00080005');
      if (declared === undefined) continue; // the deliberately undeclared instance has its own test
      seen.add(description.characterSet);
      assert.equal(declared, description.characterSet === 'ISO 2022 IR 58' ? '\\ISO 2022 IR 58' : description.characterSet);
      const name = decodePersonName(rawValue(dataSet, 'x00100010'), description.characterSet);
      assert.equal(name, expected[description.patientId]);
    }
    assert.deepEqual([...seen].sort(), ['GB18030', 'GBK', 'ISO 2022 IR 58', 'ISO_IR 192']);
  });

  it('writes Wang^XiaoDong=王^小东 under ISO 2022 IR 58 with the bytes of PS3.5 Annex J', () => {
    const { bytes } = find(small(), (instance) => instance.description.patientId === PATIENTS.wangAtYunxi.id);
    const esc = '\x1b$)A';
    const expected = Buffer.concat([
      Buffer.from(`Wang^XiaoDong=${esc}`, 'latin1'),
      Buffer.from([0xcd, 0xf5]),
      Buffer.from(`^${esc}`, 'latin1'),
      Buffer.from([0xd0, 0xa1, 0xb6, 0xab]),
      Buffer.from(' ', 'latin1'), // padding to an even length
    ]);
    assert.deepEqual(rawValue(parse(bytes), 'x00100010'), expected);
  });

  it('writes 𠮷 as a four-byte GB18030 sequence, and GB18030 bytes with no declaration when asked', () => {
    const instances = small();
    const declared = find(instances, (instance) => instance.description.patientId === PATIENTS.liJi.id && instance.description.modality === 'CR');
    const name = rawValue(parse(declared.bytes), 'x00100010');
    assert.equal(name.length, 'Li^Ji='.length + 2 + 1 + 4 + 1); // 李 two bytes, 𠮷 four, one pad
    const undeclared = find(instances, (instance) => instance.description.patientId === PATIENTS.liJi.id && instance.description.modality === 'OT');
    const dataSet = parse(undeclared.bytes);
    assert.equal(dataSet.elements.x00080005, undefined);
    assert.equal(decodePersonName(rawValue(dataSet, 'x00100010'), 'GB18030'), 'Li^Ji=李^𠮷');
  });

  it('refuses text a character set cannot carry instead of writing question marks', () => {
    const study = { ...STUDIES.wangCurrentCt, patient: PATIENTS.taoZhe };
    assert.throws(() => [...makeCtSeries({ study, slices: 1, rows: 16, columns: 16 })], /喆.*not in GB2312/);
    const chineseFirstGroup = { ...STUDIES.wangCurrentCt, referringPhysicianName: '赵^卫国' };
    assert.throws(() => [...makeCtSeries({ study: chineseFirstGroup, slices: 1, rows: 16, columns: 16 })], /ideographic group/);
    const gbk = { ...STUDIES.taoDx, patient: PATIENTS.liJi };
    assert.throws(() => [...makeSecondaryCaptures({ study: gbk, count: 1 })], /cannot be encoded in GBK/);
  });

  it('gives one person two local Patient IDs at two hospitals and the same resident ID number', () => {
    const instances = small();
    const prior = parse(find(instances, (instance) => instance.description.patientId === PATIENTS.wangAtQingshi.id).bytes);
    const current = parse(find(instances, (instance) => instance.description.patientId === PATIENTS.wangAtYunxi.id).bytes);
    assert.notEqual(prior.string('x00100020'), current.string('x00100020'));
    assert.equal(prior.string('x00100021'), INSTITUTIONS.qingshi.patientIdIssuer);
    assert.equal(current.string('x00100021'), INSTITUTIONS.yunxi.patientIdIssuer);
    const residentIds = [prior, current].map((dataSet) => {
      const item = dataSet.elements.x00101002!.items![0]!.dataSet!;
      assert.equal(item.string('x00100021'), RESIDENT_ID_ISSUER);
      return item.string('x00100020')!;
    });
    assert.equal(residentIds[0], residentIds[1]);
    const residentId = residentIds[0]!;
    assert.match(residentId, /^\d{17}[\dX]$/);
    // GB 11643 check character.
    const weights = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
    const sum = weights.reduce((total, weight, index) => total + weight * Number(residentId[index]), 0);
    assert.equal(residentId[17], '10X98765432'[sum % 11]);
    assert.ok(prior.string('x00080020')! < current.string('x00080020')!, 'the Qingshi study is the prior');
    assert.notEqual(prior.string('x0020000d'), current.string('x0020000d'));
  });

  it('is deterministic: the same seed gives the same bytes, another seed other UIDs', () => {
    const first = small();
    const again = small();
    assert.equal(first.length, again.length);
    first.forEach((instance, index) => {
      assert.equal(instance.relativePath, again[index]!.relativePath);
      assert.ok(instance.bytes.equals(again[index]!.bytes), `${instance.relativePath} is byte-identical`);
    });
    const reseeded = [...generateCorpus({ preset: 'small', seed: 'another' })];
    assert.notEqual(reseeded[0]!.description.sopInstanceUid, first[0]!.description.sopInstanceUid);
    const uids = first.flatMap((instance) => [instance.description.sopInstanceUid, instance.description.seriesInstanceUid, instance.description.studyInstanceUid]);
    for (const uid of uids) {
      assert.match(uid, /^2\.25\.[1-9]\d*$/);
      assert.ok(uid.length <= 64);
    }
    assert.equal(new Set(first.map((instance) => instance.description.sopInstanceUid)).size, first.length);
  });

  it('writes the same pixels in explicit VR big endian, byte-swapped per 16-bit word', () => {
    const options = { study: STUDIES.wangCurrentCt, seriesNumber: 7, slices: 1, rows: 32, columns: 32 };
    const [little] = [...makeCtSeries(options)];
    const [big] = [...makeCtSeries({ ...options, transferSyntaxUid: TRANSFER_SYNTAX.explicitBigEndian })];
    const littlePixels = rawValue(parse(little!.bytes), 'x7fe00010');
    const bigPixels = Buffer.from(rawValue(parse(big!.bytes), 'x7fe00010')).swap16();
    assert.ok(littlePixels.equals(bigPixels));
  });

  it('draws anatomy: air, lung, soft tissue and bone where a chest CT has them', () => {
    const [slice] = [...makeCtSeries({ study: STUDIES.wangPriorCt, seriesNumber: 8, slices: 1 })];
    const dataSet = parse(slice!.bytes);
    const pixels = rawValue(dataSet, 'x7fe00010');
    const intercept = Number(dataSet.string('x00281052'));
    const spacing = Number(dataSet.string('x00280030')!.split('\\')[0]);
    assert.equal(dataSet.uint16('x00280103'), 1, 'signed');
    assert.equal(dataSet.string('x00281050'), '40\\-600');
    // Mean HU of a 7×7 patch at (x, y) mm from the isocentre.
    const meanHu = (x: number, y: number) => {
      const column = Math.round(256 + x / spacing);
      const row = Math.round(256 + y / spacing);
      let sum = 0;
      for (let dy = -3; dy <= 3; dy++) for (let dx = -3; dx <= 3; dx++) sum += pixels.readInt16LE(2 * ((row + dy) * 512 + column + dx));
      return sum / 49 + intercept;
    };
    assert.ok(Math.abs(meanHu(-150, -150) + 1000) < 30, 'air around the patient');
    assert.ok(meanHu(-90, -10) < -700, 'right lung');
    assert.ok(meanHu(0, 118) > 300, 'spinous process');
    assert.ok(Math.abs(meanHu(-40, -95) - 40) < 30, 'anterior chest wall muscle');
    assert.ok(meanHu(0, -100) > 300, 'sternum');
    assert.equal(meanHu(165, -130), -1024, 'outside the reconstruction circle');
  });

  it('generates a bench-size CT (500 slices of 512×512)', (t) => {
    const study = { ...STUDIES.wangPriorCt, accessionNumber: 'BENCHTIMING' };
    const started = performance.now();
    let bytes = 0;
    for (const slice of makeCtSeries({ study, slices: 500, sliceThickness: 0.625, kernel: 'LUNG' })) bytes += slice.bytes.length;
    const seconds = (performance.now() - started) / 1000;
    t.diagnostic(`500 CT slices 512×512, ${(bytes / 1024 / 1024).toFixed(0)} MiB, generated in ${seconds.toFixed(2)} s`);
    assert.ok(bytes > 500 * 512 * 512 * 2);
  });

  it('passes dcmdump without warnings, and DCMTK decodes every character set to the same names', (t) => {
    if (!requirePeer(t, commandExists('dcmdump'), 'DCMTK dcmdump')) return;
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fixtures-'));
    try {
      const instances = small();
      for (const instance of instances) {
        fs.mkdirSync(path.dirname(path.join(directory, instance.relativePath)), { recursive: true });
        fs.writeFileSync(path.join(directory, instance.relativePath), instance.bytes);
      }
      const files = instances.map((instance) => path.join(directory, instance.relativePath));
      const plain = spawnSync('dcmdump', ['-ll', 'warn', ...files], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
      assert.equal(plain.status, 0, plain.stderr);
      assert.equal(plain.stderr, '');
      for (const instance of instances) {
        if (!parse(instance.bytes).elements.x00080005) continue; // undeclared: DCMTK has nothing to convert from
        const converted = execFileSync('dcmdump', ['-ll', 'warn', '+U8', '+P', 'PatientName', path.join(directory, instance.relativePath)], { encoding: 'utf8' });
        const expectedName = Object.values(PATIENTS).find((patient) => patient.id === instance.description.patientId)!.name;
        assert.ok(converted.includes(`[${expectedName}]`), `${instance.relativePath}: ${converted}`);
      }
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('writes a preset to a folder, from the library and from the CLI', async () => {
    const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fixtures-'));
    try {
      const summary = await writeCorpus(path.join(directory, 'library'), { preset: 'small' });
      assert.equal(summary.instances, small().length);
      assert.ok(summary.studies.some((study) => study.institution === INSTITUTIONS.yunxi.name && study.modalities.includes('CT')));
      const cli = spawnSync(process.execPath, ['--import', 'tsx', 'fixtures/cli.ts', '--out', path.join(directory, 'cli'), '--preset', 'small'], { cwd: root, encoding: 'utf8' });
      assert.equal(cli.status, 0, cli.stderr);
      const written = fs.readdirSync(path.join(directory, 'cli'), { recursive: true }).filter((name) => String(name).endsWith('.dcm'));
      assert.equal(written.length, summary.instances);
      const sample = summary.studies[0]!;
      assert.ok(cli.stdout.includes(sample.description));
      const wrong = spawnSync(process.execPath, ['--import', 'tsx', 'fixtures/cli.ts', '--out', directory, '--preset', 'huge'], { cwd: root, encoding: 'utf8' });
      assert.equal(wrong.status, 2);
      assert.match(wrong.stderr, /unknown preset 'huge'/);
    } finally {
      fs.rmSync(directory, { recursive: true, force: true });
    }
  });

  it('uses the storage SOP classes of each modality', () => {
    const bySopClass = new Map(small().map((instance) => [instance.description.modality, instance.description.sopClassUid]));
    assert.equal(bySopClass.get('CT'), SOP_CLASS.CT);
    assert.equal(bySopClass.get('MR'), SOP_CLASS.MR);
    assert.equal(bySopClass.get('CR'), SOP_CLASS.CR);
    assert.equal(bySopClass.get('DX'), SOP_CLASS.DX);
    assert.equal(bySopClass.get('US'), SOP_CLASS.US);
    assert.equal(bySopClass.get('OT'), SOP_CLASS.SC);
  });
});
