import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { parseInstance } from '../archive/dicom/parse.ts';
import { dicomWebClient, type DicomWebClient } from './support/dicomweb-client.ts';
import { PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { expectProblem } from './support/wado.ts';

const havePydicom = fs.existsSync(PYDICOM_TEST_FILES);
const CHARSET_FILES = path.join(PYDICOM_TEST_FILES, '..', 'charset_files');
const read = (name: string) => fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));
const sha256 = (bytes: Buffer | ArrayBuffer) => createHash('sha256').update(Buffer.from(bytes as ArrayBuffer)).digest('hex');
const CT = { study: '1.3.6.1.4.1.5962.1.2.1.20040119072730.12322', series: '1.3.6.1.4.1.5962.1.3.1.1.20040119072730.12322', instance: '1.3.6.1.4.1.5962.1.1.1.1.1.20040119072730.12322' };

function multipart(parts: Buffer[], boundary = 'YingyunTestBoundary'): { body: Buffer; contentType: string } {
  const chunks: Buffer[] = [];
  for (const part of parts) chunks.push(Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), part, Buffer.from('\r\n'));
  chunks.push(Buffer.from(`--${boundary}--\r\n`));
  return { body: Buffer.concat(chunks), contentType: `multipart/related; type="application/dicom"; boundary=${boundary}` };
}

async function stow(system: TestSystem, url: string, parts: Buffer[]) {
  const { body, contentType } = multipart(parts);
  const response = await system.fetch(`${url}/studies`, { method: 'POST', body, headers: { 'Content-Type': contentType, Accept: 'application/dicom+json' } });
  return { status: response.status, body: (await response.json()) as Record<string, { Value?: Array<Record<string, { Value?: unknown[] }>> }> };
}

describe('DICOMweb', () => {
  let system: TestSystem;
  let client: DicomWebClient;
  before(async () => {
    system = await startTestSystem();
    client = dicomWebClient(system.dicomWebUrl, system.adminToken);
  });
  after(async () => system?.shutdown());

  it('STOW-RS stores instances and reports each failure: 200, 202 and 409', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const partial = await stow(system, system.dicomWebUrl, [read('CT_small.dcm'), read('MR_truncated.dcm'), read('JPEG2000.dcm')]);
    assert.equal(partial.status, 202);
    assert.equal(partial.body['00081199']!.Value!.length, 2);
    const failed = partial.body['00081198']!.Value!;
    assert.equal(failed.length, 1);
    assert.deepEqual(failed[0]!['00081197']!.Value, [0xc000]);
    const stored = partial.body['00081199']!.Value![0]!;
    assert.equal(stored['00081155']!.Value![0], CT.instance);
    assert.equal(stored['00081190']!.Value![0], `${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}`);

    const allBad = await stow(system, system.dicomWebUrl, [Buffer.from('not dicom')]);
    assert.equal(allBad.status, 409);
    const good = await stow(system, system.dicomWebUrl, [read('MR_small.dcm'), fs.readFileSync(path.join(CHARSET_FILES, 'chrX2.dcm')), fs.readFileSync(path.join(CHARSET_FILES, 'chrX1.dcm'))]);
    assert.equal(good.status, 200);
    await system.runtime.queue.whenIdle();
  });

  it('STOW-RS rejects broken requests with problem JSON and keeps serving', async () => {
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies`, { method: 'POST', body: 'x', headers: { 'Content-Type': 'application/json' } }), 415, /multipart\/related/);
    await expectProblem(
      await system.fetch(`${system.dicomWebUrl}/studies`, { method: 'POST', body: 'garbage without boundaries', headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=abc' } }),
      400,
      /no "--abc" delimiter/,
    );
    await expectProblem(
      await system.fetch(`${system.dicomWebUrl}/studies`, { method: 'POST', body: '--abc\r\nContent-Type: application/dicom\r\n\r\nDICM', headers: { 'Content-Type': 'multipart/related; type="application/dicom"; boundary=abc' } }),
      400,
      /not followed by a "--abc" delimiter: the body is truncated/,
    );
    assert.equal((await system.fetch(`${system.httpUrl}/healthz`)).status, 200);
  });

  it('QIDO-RS finds studies by name in any component group, by date range and UID list, with paging', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const all = await client.searchForStudies();
    assert.ok(all.length >= 3);
    const ct = all.find((study) => study['0020000D']!.Value![0] === CT.study)!;
    assert.deepEqual(ct['00080061']!.Value, ['CT']);
    assert.equal(ct['00201208']!.Value![0], 1);
    assert.equal(ct['00081190']!.Value![0], `${system.dicomWebUrl}/studies/${CT.study}`);

    // Non-ASCII query values go through fetch: dicomweb-client's Node transport (xhr2) does not
    // percent-encode them, which a browser would.
    const qido = async (query: string) => (await (await system.fetch(`${system.dicomWebUrl}/studies?${query}`)).json()) as typeof all;
    const byIdeographic = await qido(`PatientName=${encodeURIComponent('王*')}`);
    assert.equal(byIdeographic.length, 2, 'GB18030 and UTF-8 encodings of 王^小东 are both found');
    for (const study of byIdeographic) {
      const name = study['00100010']!.Value![0] as { Alphabetic: string; Ideographic: string };
      assert.equal(name.Alphabetic, 'Wang^XiaoDong');
      assert.match(name.Ideographic, /^王\^小[东東]$/);
    }
    assert.equal((await client.searchForStudies({ queryParams: { PatientName: 'WANG^XIAODONG' } })).length, 2);
    assert.equal((await client.searchForStudies({ queryParams: { PatientName: 'xiao', fuzzymatching: 'true' } })).length, 2);
    assert.equal((await qido(`PatientName=${encodeURIComponent('小东')}&fuzzymatching=true`)).length, 1, 'only the GB18030 file spells it 东');

    const byDate = await client.searchForStudies({ queryParams: { StudyDate: '20040101-20041231' } });
    assert.ok(byDate.some((study) => study['0020000D']!.Value![0] === CT.study));
    assert.equal((await client.searchForStudies({ queryParams: { StudyDate: '-19990101' } })).filter((study) => study['0020000D']!.Value![0] === CT.study).length, 0);
    const byUids = await client.searchForStudies({ queryParams: { StudyInstanceUID: `${CT.study},1.2.3.4` } });
    assert.equal(byUids.length, 1);
    const page = await client.searchForStudies({ queryParams: { limit: 1, offset: 1 } });
    assert.equal(page.length, 1);
    assert.notEqual(page[0]!['0020000D']!.Value![0], all[0]!['0020000D']!.Value![0]);

    const series = await client.searchForSeries({ studyInstanceUID: CT.study });
    assert.equal(series[0]!['0020000E']!.Value![0], CT.series);
    assert.equal(series[0]!['00201209']!.Value![0], 1);
    const instances = await client.searchForInstances({ studyInstanceUID: CT.study, seriesInstanceUID: CT.series });
    assert.equal(instances[0]!['00080018']!.Value![0], CT.instance);
  });

  it('QIDO-RS answers bad queries with 400 and unacceptable media types with 406', async () => {
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies?NoSuchAttribute=1`), 400, /unknown query parameter/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies?StudyDate=2004`), 400, /not a date/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies?limit=0`), 400, /limit/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies`, { headers: { Accept: 'application/dicom+xml' } }), 406, /dicom\+json/);
    const ignored = await system.fetch(`${system.dicomWebUrl}/studies?SeriesDescription=x`);
    assert.equal(ignored.status, 200);
    assert.match(ignored.headers.get('warning') ?? '', /not supported for matching/);
  });

  it('WADO-RS returns instances byte-identical to what was stored, and metadata with working bulk data links', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const instance = await client.retrieveInstance({ studyInstanceUID: CT.study, seriesInstanceUID: CT.series, sopInstanceUID: CT.instance });
    assert.equal(sha256(instance), sha256(read('CT_small.dcm')));
    const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID: CT.study, seriesInstanceUID: CT.series });
    assert.equal(metadata.length, 1);
    assert.equal(metadata[0]!['00080060']!.Value![0], 'CT');
    const pixelData = metadata[0]!['7FE00010']!.BulkDataURI!;
    assert.equal(pixelData, `${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/bulkdata/7FE00010`);
    assert.equal((await system.fetch(pixelData)).status, 200);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/1.2.3.4.5/metadata`), 404, /no study 1\.2\.3\.4\.5/);
  });

  it('WADO-RS frames: native frames as octet-stream, compressed frames as stored or decoded', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const [frame] = await client.retrieveInstanceFrames({ studyInstanceUID: CT.study, seriesInstanceUID: CT.series, sopInstanceUID: CT.instance, frameNumbers: [1] });
    assert.equal(frame!.byteLength, 128 * 128 * 2);
    const jpeg = await system.fetch(`${system.dicomWebUrl}/studies/1.3.6.1.4.1.5962.1.2.1.20040119072730.12322`, { method: 'HEAD' });
    assert.equal(jpeg.status, 200);
    const j2k = parseInstance(read('JPEG2000.dcm'));
    const uids = { studyInstanceUID: j2k.studyInstanceUid, seriesInstanceUID: j2k.seriesInstanceUid, sopInstanceUID: j2k.sopInstanceUid };
    const [compressed] = await client.retrieveInstanceFrames({ ...uids, frameNumbers: [1], mediaTypes: [{ mediaType: 'application/octet-stream', transferSyntaxUID: '*' }] });
    const bytes = Buffer.from(compressed!);
    assert.ok(bytes[0] === 0xff && bytes[1] === 0x4f && bytes[2] === 0xff && bytes[3] === 0x51, 'a JPEG 2000 codestream (SOC, SIZ), as stored');
    const asJp2 = await system.fetch(`${system.dicomWebUrl}/studies/${j2k.studyInstanceUid}/series/${j2k.seriesInstanceUid}/instances/${j2k.sopInstanceUid}/frames/1`, {
      headers: { Accept: 'multipart/related; type="image/jp2"' },
    });
    assert.equal(asJp2.status, 200);
    assert.match(asJp2.headers.get('content-type') ?? '', /type="image\/jp2"/);
    // Asked for uncompressed, the stored JPEG 2000 frame is decoded: 1024 rows × 256 columns × 16 bits.
    const [decoded] = await client.retrieveInstanceFrames({ ...uids, frameNumbers: [1] });
    assert.equal(decoded!.byteLength, 1024 * 256 * 2);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/frames/2`), 400, /frame 2 does not exist/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/frames/0`), 400, /frame numbers/);
  });

  it('rendered images and thumbnails are decodable images of the right size; WADO-URI works', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const rendered = await (
      await system.fetch(`${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/rendered`, { headers: { Accept: 'image/png' } })
    ).arrayBuffer();
    const renderedInfo = await sharp(Buffer.from(rendered)).metadata();
    assert.equal(renderedInfo.format, 'png');
    assert.equal(renderedInfo.width, 128);
    const stats = await sharp(Buffer.from(rendered)).stats();
    assert.ok(stats.channels[0]!.stdev > 10, 'not a blank image');

    for (const url of [`/studies/${CT.study}/thumbnail`, `/studies/${CT.study}/series/${CT.series}/thumbnail`, `/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/thumbnail`]) {
      const response = await system.fetch(`${system.dicomWebUrl}${url}`);
      assert.equal(response.status, 200, url);
      const info = await sharp(Buffer.from(await response.arrayBuffer())).metadata();
      assert.equal(info.format, 'jpeg', url);
      assert.equal(info.width, 128, url);
    }
    const viewport = await system.fetch(`${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/rendered?viewport=64,64&window=40,400`);
    assert.equal((await sharp(Buffer.from(await viewport.arrayBuffer())).metadata()).width, 64);
    await expectProblem(
      await system.fetch(`${system.dicomWebUrl}/studies/${CT.study}/series/${CT.series}/instances/${CT.instance}/rendered`, { headers: { Accept: 'image/gif' } }),
      406,
      /image\/jpeg/,
    );

    const wado = `${system.httpUrl}/wado?requestType=WADO&studyUID=${CT.study}&seriesUID=${CT.series}&objectUID=${CT.instance}`;
    assert.equal(sha256(await (await system.fetch(`${wado}&contentType=application/dicom`)).arrayBuffer()), sha256(read('CT_small.dcm')));
    const jpeg = await system.fetch(wado);
    assert.equal(jpeg.headers.get('content-type'), 'image/jpeg');
    await expectProblem(await system.fetch(`${system.httpUrl}/wado?requestType=WADO&studyUID=1.2`), 400, /seriesUID/);
  });
});
