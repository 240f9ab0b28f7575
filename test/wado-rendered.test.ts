import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import sharp from 'sharp';
import { renderFrame } from '../archive/render/render.ts';
import { dicomWebClient, type DicomWebClient } from './support/dicomweb-client.ts';
import { requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { expectProblem, getParts, havePydicom, ingest, readTestFile, sha256, type Stored } from './support/wado.ts';

async function imageOf(response: Response): Promise<{ format?: string; width?: number; height?: number; bytes: Buffer }> {
  assert.equal(response.status, 200, `${response.url}: ${response.status}`);
  const bytes = Buffer.from(await response.arrayBuffer());
  const { format, width, height } = await sharp(bytes).metadata();
  return { format, width, height, bytes };
}

/** Rendered and thumbnail resources (PS3.18 10.4.1.1.3, 10.4.1.1.4) and WADO-URI (PS3.18 9). */
describe('WADO-RS rendered images and thumbnails, and WADO-URI', () => {
  let system: TestSystem;
  let client: DicomWebClient;
  let ct: Stored;
  let rtdose: Stored;
  let report: Stored;
  /** pydicom's secondary captures of one study: JPEG, JPEG 2000 and RLE. */
  let captures: Stored[];

  before(async () => {
    system = await startTestSystem();
    client = dicomWebClient(system.dicomWebUrl, system.adminToken);
    if (!havePydicom) return;
    ct = await ingest(system, readTestFile('CT_small.dcm'));
    rtdose = await ingest(system, readTestFile('rtdose.dcm'));
    report = await ingest(system, readTestFile('test-SR.dcm'));
    captures = [];
    for (const name of ['SC_rgb_jpeg_dcmtk.dcm', 'SC_rgb_gdcm_KY.dcm', 'SC_rgb_rle.dcm']) captures.push(await ingest(system, readTestFile(name)));
  });
  after(async () => system?.shutdown());

  it('renders an instance as JPEG (default), PNG or WebP, honouring viewport, window and quality', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const viaClient = await client.retrieveInstanceRendered({ studyInstanceUID: ct.study, seriesInstanceUID: ct.series, sopInstanceUID: ct.instance, mediaTypes: [{ mediaType: 'image/jpeg' }] });
    // dicomweb-client 0.11 resolves a single-part response as a one-element array.
    const rendered = Array.isArray(viaClient) ? (viaClient as ArrayBuffer[])[0]! : viaClient;
    const jpeg = await sharp(Buffer.from(rendered)).metadata();
    assert.deepEqual([jpeg.format, jpeg.width, jpeg.height], ['jpeg', 128, 128]);
    for (const [accept, format] of [['image/png', 'png'], ['image/webp', 'webp'], ['image/gif, image/png;q=0.5', 'png'], ['*/*', 'jpeg']] as const) {
      const image = await imageOf(await system.fetch(`${ct.url}/rendered`, { headers: { Accept: accept } }));
      assert.equal(image.format, format, accept);
    }
    assert.equal((await imageOf(await system.fetch(`${ct.url}/rendered?viewport=64,48`))).width, 64);
    const narrow = await imageOf(await system.fetch(`${ct.url}/rendered?window=40,80`));
    const wide = await imageOf(await system.fetch(`${ct.url}/rendered?window=40,4000`));
    assert.notEqual(sha256(narrow.bytes), sha256(wide.bytes), 'the window changes the picture');
    const rough = await imageOf(await system.fetch(`${ct.url}/rendered?quality=5`));
    const fine = await imageOf(await system.fetch(`${ct.url}/rendered?quality=95`));
    assert.ok(rough.bytes.length < fine.bytes.length);

    await expectProblem(await system.fetch(`${ct.url}/rendered`, { headers: { Accept: 'image/gif' } }), 406, /image\/jpeg, image\/png or image\/webp/);
    await expectProblem(await system.fetch(`${ct.url}/rendered?window=40`), 400, /window/);
    await expectProblem(await system.fetch(`${ct.url}/rendered?viewport=64,64,0,0,32,32`), 400, /source region/);
    await expectProblem(await system.fetch(`${ct.url}/rendered?quality=0`), 400, /quality/);
    await expectProblem(await system.fetch(`${report.url}/rendered`), 406, /cannot render this: the instance has no pixel data/);
  });

  it('renders frames one by one, several as multipart, and whole series and studies as multipart', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const frame = await imageOf(await system.fetch(`${rtdose.url}/frames/15/rendered`, { headers: { Accept: 'image/png' } }));
    assert.deepEqual([frame.format, frame.width], ['png', 10]);
    const { parts, response } = await getParts(system, `${rtdose.url}/frames/1,2,3/rendered`, 'image/png');
    assert.match(response.headers.get('content-type') ?? '', /type="image\/png"/);
    assert.equal(parts.length, 3);
    for (const part of parts) assert.equal((await sharp(part.body).metadata()).format, 'png');
    await expectProblem(await system.fetch(`${rtdose.url}/frames/16/rendered`), 400, /frame 16 does not exist/);

    const study = await getParts(system, `${system.dicomWebUrl}/studies/${captures[0]!.study}/rendered`);
    assert.equal(study.parts.length, 3);
    for (const part of study.parts) assert.deepEqual([(await sharp(part.body).metadata()).width, part.headers['content-type']], [100, 'image/jpeg']);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${report.study}/rendered`), 406, /none of its instances has an image/);
  });

  it('serves stored thumbnails when JPEG will do, draws others on demand, and says why a report has none', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    // The thumbnail job stored it (maxSize 256, JPEG); the resource serves those very bytes.
    const stored = await renderFrame(ct.bytes, { format: 'jpeg', maxSize: 256 });
    const instance = await imageOf(await system.fetch(`${ct.url}/thumbnail`));
    assert.equal(sha256(instance.bytes), sha256(stored.bytes));
    const series = await imageOf(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}/series/${ct.series}/thumbnail`));
    const study = await imageOf(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}/thumbnail`));
    assert.deepEqual([series.format, series.width, study.format, study.width], ['jpeg', 128, 'jpeg', 128]);
    assert.equal(sha256(study.bytes), sha256(series.bytes), 'a study is represented by its first series');

    const png = await imageOf(await system.fetch(`${system.dicomWebUrl}/studies/${captures[0]!.study}/thumbnail`, { headers: { Accept: 'image/png' } }));
    assert.deepEqual([png.format, png.width], ['png', 100]);
    assert.equal((await imageOf(await system.fetch(`${ct.url}/thumbnail?viewport=32,32`))).width, 32);
    const frameThumbnail = await imageOf(await system.fetch(`${rtdose.url}/frames/3/thumbnail`));
    assert.deepEqual([frameThumbnail.format, frameThumbnail.width], ['jpeg', 10]);
    await expectProblem(await system.fetch(`${rtdose.url}/frames/1,2/thumbnail`), 400, /one image/);
    await expectProblem(await system.fetch(`${report.url}/thumbnail`), 406, /no pixel data/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${report.study}/thumbnail`), 406, /has an image to draw/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/1.2.3/thumbnail`), 404, /no study 1\.2\.3/);
  });

  it('draws a thumbnail again when its stored file was lost (thumbnails are stored unflushed)', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const { rows } = await system.runtime.db.pool.query<{ instanceKey: string; seriesKey: string }>(
      `SELECT i.thumbnail_key AS "instanceKey", se.thumbnail_key AS "seriesKey"
       FROM instances i JOIN series se ON se.id = i.series_pk WHERE i.sop_instance_uid = $1`,
      [ct.instance],
    );
    const before = await imageOf(await system.fetch(`${ct.url}/thumbnail`));
    for (const key of [rows[0]!.instanceKey, rows[0]!.seriesKey]) await system.runtime.store.delete(key);
    const after = await imageOf(await system.fetch(`${ct.url}/thumbnail`));
    assert.equal(sha256(after.bytes), sha256(before.bytes), 'drawn again, identical');
    const series = await imageOf(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}/series/${ct.series}/thumbnail`));
    assert.deepEqual([series.format, series.width], ['jpeg', 128]);
  });

  it('WADO-URI: the object as stored, or a rendered frame of the requested size', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const wado = (uids: Stored, extra = '') => `${system.httpUrl}/wado?requestType=WADO&studyUID=${uids.study}&seriesUID=${uids.series}&objectUID=${uids.instance}${extra}`;
    const dicom = await system.fetch(wado(ct, '&contentType=application/dicom'));
    assert.equal(dicom.headers.get('content-type'), 'application/dicom');
    assert.equal(sha256(await dicom.arrayBuffer()), sha256(ct.bytes));
    const sameSyntax = await system.fetch(wado(ct, '&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.1'));
    assert.equal(sha256(await sameSyntax.arrayBuffer()), sha256(ct.bytes));
    await expectProblem(await system.fetch(wado(ct, '&contentType=application/dicom&transferSyntax=1.2.840.10008.1.2.4.50')), 406, /transcoding is not offered/);

    const jpeg = await imageOf(await system.fetch(wado(ct)));
    assert.deepEqual([jpeg.format, jpeg.width], ['jpeg', 128]);
    assert.deepEqual(Object.values(await imageOf(await system.fetch(wado(ct, '&contentType=image/png&rows=64')))).slice(0, 3), ['png', 64, 64]);
    assert.equal((await imageOf(await system.fetch(wado(captures[0]!, '&columns=50&rows=200')))).width, 50, 'fits inside rows×columns, keeping the aspect ratio');
    assert.equal((await imageOf(await system.fetch(wado(rtdose, '&frameNumber=15&windowCenter=100&windowWidth=200&imageQuality=80')))).width, 10);

    await expectProblem(await system.fetch(wado(rtdose, '&frameNumber=16')), 400, /frame 16 does not exist/);
    await expectProblem(await system.fetch(wado(rtdose, '&frameNumber=0')), 400, /frameNumber/);
    await expectProblem(await system.fetch(wado(ct, '&windowCenter=40')), 400, /windowWidth/);
    await expectProblem(await system.fetch(wado(ct, '&anonymize=yes')), 400, /anonymize/);
    await expectProblem(await system.fetch(wado(ct, '&contentType=text/html')), 406, /not offered/);
    await expectProblem(await system.fetch(wado(report)), 406, /no pixel data/);
    await expectProblem(await system.fetch(`${system.httpUrl}/wado?studyUID=${ct.study}&seriesUID=${ct.series}&objectUID=${ct.instance}`), 400, /requestType=WADO/);
    await expectProblem(await system.fetch(`${system.httpUrl}/wado?requestType=WADO&studyUID=${ct.study}&seriesUID=x&objectUID=${ct.instance}`), 400, /seriesUID/);
    await expectProblem(await system.fetch(wado({ ...ct, instance: '1.2.3' })), 404, /no instance 1\.2\.3/);
  });
});
