import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { dicomWebClient, type DicomWebClient } from './support/dicomweb-client.ts';
import { requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { expectProblem, getParts, havePydicom, ingest, nativePixelData, readTestFile, sha256, type Stored } from './support/wado.ts';

/** WADO-RS retrieve of instances (PS3.18 10.4), metadata and bulk data, with real files and a real client. */
describe('WADO-RS instances, metadata and bulk data', () => {
  let system: TestSystem;
  let client: DicomWebClient;
  let ct: Stored;
  let mr: Stored;
  let rtdose: Stored;
  /** pydicom's secondary captures of one study, each in another transfer syntax. */
  let explicit: Stored;
  let j2k: Stored;
  let rle: Stored;

  before(async () => {
    system = await startTestSystem();
    client = dicomWebClient(system.dicomWebUrl, system.adminToken);
    if (!havePydicom) return;
    ct = await ingest(system, readTestFile('CT_small.dcm'));
    mr = await ingest(system, readTestFile('MR_small_bigendian.dcm'));
    rtdose = await ingest(system, readTestFile('rtdose.dcm'));
    explicit = await ingest(system, readTestFile('SC_rgb_small_odd.dcm'));
    j2k = await ingest(system, readTestFile('SC_rgb_gdcm_KY.dcm'));
    rle = await ingest(system, readTestFile('SC_rgb_rle.dcm'));
    assert.ok(j2k.study === explicit.study && rle.study === explicit.study);
  });
  after(async () => system?.shutdown());

  it('returns an instance, its series and its study byte-identical to the stored files, through dicomweb-client', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const instance = await client.retrieveInstance({ studyInstanceUID: ct.study, seriesInstanceUID: ct.series, sopInstanceUID: ct.instance });
    assert.equal(sha256(instance), sha256(ct.bytes));
    const { parts: series } = await getParts(system, `${system.dicomWebUrl}/studies/${ct.study}/series/${ct.series}`);
    assert.deepEqual(series.map((part) => sha256(part.body)), [sha256(ct.bytes)]);
    assert.equal(series[0]!.headers['content-type'], 'application/dicom; transfer-syntax=1.2.840.10008.1.2.1');
    const { parts: study } = await getParts(system, `${system.dicomWebUrl}/studies/${mr.study}`, 'multipart/related; type="application/dicom"; transfer-syntax=*');
    assert.deepEqual(study.map((part) => sha256(part.body)), [sha256(mr.bytes)]);
    assert.equal(study[0]!.headers['content-type'], 'application/dicom; transfer-syntax=1.2.840.10008.1.2.2', 'stored big endian, sent as stored');
  });

  it('serves a study of mixed transfer syntaxes by what the client accepts: all, some (with a warning) or 406', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const studyUrl = `${system.dicomWebUrl}/studies/${explicit.study}`;
    const all = await getParts(system, studyUrl);
    assert.deepEqual(new Set(all.parts.map((part) => sha256(part.body))), new Set([explicit, j2k, rle].map((stored) => sha256(stored.bytes))));

    const onlyJ2k = await getParts(system, studyUrl, 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.91');
    assert.deepEqual(onlyJ2k.parts.map((part) => sha256(part.body)), [sha256(j2k.bytes)]);
    assert.match(onlyJ2k.response.headers.get('warning') ?? '', /^299 .*2 of 3 instances .* left out/);

    const two = await getParts(system, 
      studyUrl,
      'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.91, multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.5; q=0.5',
    );
    assert.deepEqual(new Set(two.parts.map((part) => sha256(part.body))), new Set([j2k, rle].map((stored) => sha256(stored.bytes))));

    await expectProblem(
      await system.fetch(studyUrl, { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=1.2.840.10008.1.2.4.50' } }),
      406,
      /stored as .*transcoding is not offered/,
    );
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}`, { headers: { Accept: 'application/dicom+xml' } }), 406, /application\/dicom/);
  });

  it('sends one instance as single-part application/dicom when asked, with its length; HEAD works', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const single = await system.fetch(ct.url, { headers: { Accept: 'application/dicom' } });
    assert.equal(single.status, 200);
    assert.equal(single.headers.get('content-type'), 'application/dicom');
    assert.equal(Number(single.headers.get('content-length')), ct.bytes.length);
    assert.equal(sha256(await single.arrayBuffer()), sha256(ct.bytes));
    const viaQuery = await system.fetch(`${ct.url}?accept=${encodeURIComponent('application/dicom')}`);
    assert.equal(sha256(await viaQuery.arrayBuffer()), sha256(ct.bytes), 'the accept query parameter stands in for the header');
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${explicit.study}`, { headers: { Accept: 'application/dicom' } }), 406, /need multipart/);
    const head = await system.fetch(ct.url, { method: 'HEAD' });
    assert.equal(head.status, 200);
    assert.match(head.headers.get('content-type') ?? '', /^multipart\/related; type="application\/dicom"/);
  });

  it('metadata: the current versions as DICOM JSON, BulkDataURIs absolute and fetchable, in display order', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const metadata = await client.retrieveSeriesMetadata({ studyInstanceUID: ct.study, seriesInstanceUID: ct.series });
    assert.equal(metadata.length, 1);
    const dataset = metadata[0]!;
    assert.deepEqual(dataset['00100010']!.Value, [{ Alphabetic: 'CompressedSamples^CT1' }]);
    assert.equal(dataset['00080018']!.Value![0], ct.instance);
    assert.equal(dataset['00020010'], undefined, 'File Meta is not part of the metadata');
    const pixelDataUri = dataset['7FE00010']!.BulkDataURI!;
    assert.equal(pixelDataUri, `${ct.url}/bulkdata/7FE00010`);
    const { parts } = await getParts(system, pixelDataUri);
    assert.equal(parts.length, 1);
    assert.equal(parts[0]!.headers['content-location'], pixelDataUri);
    assert.equal(parts[0]!.body.length, 128 * 128 * 2);

    const study = (await (await system.fetch(`${system.dicomWebUrl}/studies/${explicit.study}/metadata`)).json()) as Array<Record<string, { Value?: unknown[] }>>;
    assert.deepEqual(study.map((instance) => instance['00080018']!.Value![0]).sort(), [explicit, j2k, rle].map((stored) => stored.instance).sort());
    const response = await system.fetch(`${mr.url}/metadata`, { headers: { Accept: 'application/dicom+json' } });
    assert.equal(response.headers.get('content-type'), 'application/dicom+json');
    const [mrMetadata] = (await response.json()) as Array<Record<string, { vr: string; Value?: unknown[]; InlineBinary?: string }>>;
    assert.deepEqual(mrMetadata!['00280010']!.Value, [64], 'numbers decoded from big endian');
    await expectProblem(await system.fetch(`${mr.url}/metadata`, { headers: { Accept: 'application/dicom+xml' } }), 406, /dicom\+json/);
  });

  it('BulkDataURIs stay valid JSON and absolute, on the gateway address whatever Host the client used', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const { default: http } = await import('node:http');
    const body = await new Promise<string>((resolve, reject) => {
      const request = http.get(`${ct.url}/metadata`, { headers: { Host: 'pacs.example:8080', Authorization: `Bearer ${system.adminToken}` } }, (response) => {
        let text = '';
        response.setEncoding('utf8');
        response.on('data', (chunk: string) => (text += chunk));
        response.on('end', () => resolve(text));
      });
      request.on('error', reject);
    });
    const [dataset] = JSON.parse(body) as Array<Record<string, { BulkDataURI?: string }>>;
    // Built from the address the connection reached (or YINGYUN_PUBLIC_URL), never from Host: a client's
    // header must not send the next request, and its credentials, elsewhere.
    const uri = dataset!['7FE00010']!.BulkDataURI!;
    assert.ok(uri.startsWith(`${system.httpUrl}/dicom-web/studies/`) && uri.endsWith('/bulkdata/7FE00010'), uri);
  });

  it('bulk data: values in little endian, single part on request, encapsulated Pixel Data as frames', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    const bigEndian = await getParts(system, `${mr.url}/bulkdata/7FE00010`);
    // MR_small.dcm holds the same image as MR_small_bigendian.dcm, in little endian.
    assert.ok(bigEndian.parts[0]!.body.equals(nativePixelData(readTestFile('MR_small.dcm'))), 'big endian Pixel Data comes back little endian');

    const single = await system.fetch(`${rtdose.url}/bulkdata/7FE00010`, { headers: { Accept: 'application/octet-stream' } });
    assert.equal(single.headers.get('content-type'), 'application/octet-stream');
    assert.equal((await single.arrayBuffer()).byteLength, 10 * 10 * 4 * 15);

    const j2kPixelData = await getParts(system, `${j2k.url}/bulkdata/7FE00010`, 'multipart/related; type="image/jp2"');
    assert.equal(j2kPixelData.parts.length, 1);
    assert.equal(j2kPixelData.parts[0]!.headers['content-type'], 'image/jp2; transfer-syntax=1.2.840.10008.1.2.4.91');
    assert.deepEqual([...j2kPixelData.parts[0]!.body.subarray(0, 4)], [0xff, 0x4f, 0xff, 0x51], 'a JPEG 2000 codestream');

    await expectProblem(await system.fetch(`${ct.url}/bulkdata/00291010`), 404, /no bulk data at 00291010/);
    await expectProblem(await system.fetch(`${ct.url}/bulkdata/etc`), 400, /not a bulk data path/);
    // An encoded separator never reaches the handler: the one normalisation point refuses it.
    await expectProblem(await system.fetch(`${ct.url}/bulkdata/..%2Fetc`), 400, /request path holds an encoded separator/);
  });

  it('answers unknown resources with 404 and malformed UIDs with 400, as problem JSON', async (t) => {
    if (!requirePeer(t, havePydicom, 'python3-pydicom test files')) return;
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/1.2.3.4.5`), 404, /no study 1\.2\.3\.4\.5/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}/series/1.2.3/metadata`), 404, /no series 1\.2\.3 in study/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/${ct.study}/series/${mr.series}/instances/${mr.instance}`), 404, /no instance/);
    await expectProblem(await system.fetch(`${system.dicomWebUrl}/studies/1.2.x/metadata`), 400, /not a UID/);
  });
});
