import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import dicomParser, { type DataSet } from 'dicom-parser';
import { DICOM_PARSER_OPTIONS } from '../archive/dicom/parse.ts';
import { buildFileMetaHeader } from '../archive/dicom/part10.ts';
import { canTranscode, transcode, TranscodeError } from '../archive/retrieve/transcode.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';

const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const file = (name: string) => fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));
const available = fs.existsSync(PYDICOM_TEST_FILES);

/** A transcoded dataset read back independently: dicom-parser over it as a Part 10 object in its new transfer syntax. */
function readBack(dataset: Buffer, transferSyntaxUid: string): DataSet {
  const meta = buildFileMetaHeader({ sopClassUid: '1.2.3', sopInstanceUid: '1.2.3.4', transferSyntaxUid });
  return dicomParser.parseDicom(Buffer.concat([meta, dataset]), DICOM_PARSER_OPTIONS);
}

function pixelData(dataSet: DataSet): Buffer {
  const element = dataSet.elements.x7fe00010!;
  assert.ok(!element.encapsulatedPixelData, 'Pixel Data is native');
  return Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset + element.dataOffset, element.length);
}

const text = (dataSet: DataSet, tag: string) => dataSet.string(tag);

describe('transcoding for retrieval (archive/retrieve/transcode.ts)', () => {
  for (const target of [EXPLICIT, IMPLICIT]) {
    for (const name of ['MR_small_RLE.dcm', 'MR_small_jpeg_ls_lossless.dcm', 'MR_small_jp2klossless.dcm']) {
      it(`${name} → ${target}: pixel for pixel MR_small.dcm (the same image uncompressed), other attributes as stored`, async (t) => {
        if (!requirePeer(t, available, 'pydicom test files')) return;
        const result = readBack(await transcode(file(name), target), target);
        const original = dicomParser.parseDicom(file('MR_small.dcm'), DICOM_PARSER_OPTIONS);
        assert.ok(pixelData(result).equals(pixelData(original)), 'pixels identical');
        for (const tag of ['x00080018', 'x00100010', 'x00280004', 'x00280010', 'x00280011', 'x00280100', 'x00280101']) {
          assert.equal(text(result, tag) ?? result.uint16(tag), text(original, tag) ?? original.uint16(tag), tag);
        }
        assert.equal(result.elements.x7fe00010!.vr ?? 'OW', 'OW');
      });
    }
  }

  it('RLE, JPEG lossless and JPEG-LS colour and multi-frame: pixel for pixel what DCMTK decompresses', async (t) => {
    if (!requirePeer(t, available && commandExists('dcmdrle') && commandExists('dcmcjpeg') && commandExists('dcmdjpeg') && commandExists('dcmdjpls'), 'DCMTK and pydicom test files')) return;
    const work = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-transcode-'));
    t.after(() => fs.rmSync(work, { recursive: true, force: true }));
    // JPEG lossless (process 14, selection value 1) is made here: pydicom ships no sample of it.
    const uncompressed = path.join(work, 'uncompressed.dcm');
    const jpegLossless = path.join(work, 'jpeg-lossless.dcm');
    for (const [tool, args] of [['dcmdrle', [path.join(PYDICOM_TEST_FILES, 'SC_rgb_rle_2frame.dcm'), uncompressed]], ['dcmcjpeg', ['+e1', uncompressed, jpegLossless]]] as const) {
      const made = await runDcmtk(tool, [...args]);
      assert.equal(made.code, 0, made.output);
    }
    const cases: Array<[string, string]> = [
      [path.join(PYDICOM_TEST_FILES, 'SC_rgb_rle_2frame.dcm'), 'dcmdrle'],
      [path.join(PYDICOM_TEST_FILES, 'SC_rgb_rle_16bit_2frame.dcm'), 'dcmdrle'],
      [path.join(PYDICOM_TEST_FILES, 'MR_small_jpeg_ls_lossless.dcm'), 'dcmdjpls'],
      [jpegLossless, 'dcmdjpeg'],
    ];
    for (const [source, decompressor] of cases) {
      const oracle = path.join(work, `${path.basename(source)}.${decompressor}.dcm`);
      const decompressed = await runDcmtk(decompressor, ['+te', source, oracle]);
      assert.equal(decompressed.code, 0, decompressed.output);
      const expected = dicomParser.parseDicom(fs.readFileSync(oracle), DICOM_PARSER_OPTIONS);
      const result = readBack(await transcode(fs.readFileSync(source), EXPLICIT), EXPLICIT);
      assert.ok(pixelData(result).equals(pixelData(expected)), `${path.basename(source)}: pixels identical to ${decompressor}'s`);
      assert.equal(text(result, 'x00280004'), text(expected, 'x00280004'));
      assert.equal(text(result, 'x00280008') ?? '1', text(expected, 'x00280008') ?? '1');
    }
  });

  it('a lossy JPEG source becomes RGB and keeps Lossy Image Compression 01', async (t) => {
    if (!requirePeer(t, available, 'pydicom test files')) return;
    for (const name of ['SC_rgb_jpeg_dcmtk.dcm', 'JPGExtended.dcm']) {
      const source = dicomParser.parseDicom(file(name), DICOM_PARSER_OPTIONS);
      const result = readBack(await transcode(file(name), EXPLICIT), EXPLICIT);
      const samples = source.uint16('x00280002') ?? 1;
      assert.equal(text(result, 'x00280004'), samples === 3 ? 'RGB' : text(source, 'x00280004'), name);
      assert.equal(text(result, 'x00282110'), '01', name);
      const expectedBytes = source.uint16('x00280010')! * source.uint16('x00280011')! * samples * (source.uint16('x00280100')! / 8);
      assert.equal(pixelData(result).length, expectedBytes + (expectedBytes % 2), name);
    }
  });

  it('between Explicit and Implicit VR Little Endian, sequences included; deflated is inflated', async (t) => {
    if (!requirePeer(t, available, 'pydicom test files')) return;
    const implicit = readBack(await transcode(file('MR_small.dcm'), IMPLICIT), IMPLICIT);
    const asStoredImplicit = dicomParser.parseDicom(file('MR_small_implicit.dcm'), DICOM_PARSER_OPTIONS);
    assert.ok(pixelData(implicit).equals(pixelData(asStoredImplicit)));
    const explicit = readBack(await transcode(file('MR_small_implicit.dcm'), EXPLICIT), EXPLICIT);
    assert.ok(pixelData(explicit).equals(pixelData(asStoredImplicit)));
    assert.equal(explicit.elements.x00100010!.vr, 'PN');
    // rtplan.dcm nests sequences three deep.
    const plan = readBack(await transcode(file('rtplan.dcm'), IMPLICIT), IMPLICIT);
    const original = dicomParser.parseDicom(file('rtplan.dcm'), DICOM_PARSER_OPTIONS);
    const beams = (dataSet: DataSet) => dataSet.elements.x300a00b0!.items!.map((item) => item.dataSet!.string('x300a00c2'));
    assert.deepEqual(beams(plan), beams(original));
    const inflated = readBack(await transcode(file('image_dfl.dcm'), EXPLICIT), EXPLICIT);
    assert.equal(inflated.string('x00080018'), dicomParser.parseDicom(file('image_dfl.dcm'), DICOM_PARSER_OPTIONS).string('x00080018'));
  });

  it('refuses what it cannot make, with the reason', async (t) => {
    if (!requirePeer(t, available, 'pydicom test files')) return;
    assert.equal(canTranscode('1.2.840.10008.1.2.2', EXPLICIT), false);
    assert.equal(canTranscode('1.2.840.10008.1.2.4.80', '1.2.840.10008.1.2.4.50'), false);
    assert.equal(canTranscode('1.2.840.10008.1.2.4.80', IMPLICIT), true);
    await assert.rejects(transcode(file('MR_small_bigendian.dcm'), EXPLICIT), (error: Error) => error instanceof TranscodeError && /no transcoding from 1\.2\.840\.10008\.1\.2\.2/.test(error.message));
  });
});
