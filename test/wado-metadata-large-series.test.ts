import http from 'node:http';
import { gunzipSync } from 'node:zlib';
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { makeCtSeries, STUDIES } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const SLICES = 500;

/**
 * Series metadata is what a viewer waits for before it can show anything: a 500-slice CT series of
 * realistic attributes (pixels kept small: they are not read) comes back whole and in order, streamed
 * from the index. How fast is measured by `npm run bench:ingest`, not here (docs/benchmarks.md).
 */
describe('WADO-RS series metadata of a large series', () => {
  let system: TestSystem;
  let metadataUrl: string;

  before(async () => {
    system = await startTestSystem();
    let study = '';
    let series = '';
    for (const instance of makeCtSeries({ study: STUDIES.wangPriorCt, slices: SLICES, rows: 64, columns: 64 })) {
      const outcome = await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'speed-test', institutionId: system.institutionId });
      study = outcome.parsed.studyInstanceUid;
      series = outcome.parsed.seriesInstanceUid;
    }
    await system.runtime.queue.whenIdle();
    metadataUrl = `${system.dicomWebUrl}/studies/${study}/series/${series}/metadata`;
  });
  after(async () => system?.shutdown());

  it(`returns the metadata of a ${SLICES}-instance series, in Instance Number order, with absolute bulk data links`, async () => {
    const response = await system.fetch(metadataUrl, { headers: { Accept: 'application/dicom+json' } });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/dicom\+json/);
    const instances = (await response.json()) as Array<Record<string, { Value?: unknown[]; BulkDataURI?: string }>>;
    assert.equal(instances.length, SLICES);
    assert.deepEqual(instances.map((instance) => instance['00200013']!.Value![0]), Array.from({ length: SLICES }, (_, index) => index + 1), 'in Instance Number order');
    assert.match(instances[0]!['7FE00010']!.BulkDataURI!, /^http:\/\/127\.0\.0\.1:\d+\/dicom-web\/studies\/.+\/bulkdata\/7FE00010$/);
  });

  it('compresses it for clients that accept gzip, and sends it plain to those that do not', async () => {
    const plain = await rawGet(metadataUrl, { Authorization: `Bearer ${system.adminToken}` });
    const gzipped = await rawGet(metadataUrl, { 'Accept-Encoding': 'gzip', Authorization: `Bearer ${system.adminToken}` });
    assert.equal(plain.headers['content-encoding'], undefined);
    assert.equal(gzipped.headers['content-encoding'], 'gzip');
    assert.ok(gzipped.body.length * 4 < plain.body.length, `gzip ${gzipped.body.length} B vs ${plain.body.length} B`);
    assert.ok(gunzipSync(gzipped.body).equals(plain.body), 'the same JSON either way');
  });

  it('never compresses frames or instances: pixel data does not shrink and the viewer waits for every frame', async () => {
    const instances = (await (await system.fetch(metadataUrl)).json()) as Array<Record<string, { Value?: string[] }>>;
    const instanceUrl = `${metadataUrl.replace(/\/metadata$/, '')}/instances/${instances[0]!['00080018']!.Value![0]}`;
    for (const [url, accept] of [
      [`${instanceUrl}/frames/1`, 'application/octet-stream; transfer-syntax=*'],
      [`${instanceUrl}/frames/1`, 'multipart/related; type="application/octet-stream"; transfer-syntax=*'],
      [instanceUrl, 'multipart/related; type="application/dicom"; transfer-syntax=*'],
    ] as const) {
      const asked = await rawGet(url, { Accept: accept, 'Accept-Encoding': 'gzip', Authorization: `Bearer ${system.adminToken}` });
      const plain = await rawGet(url, { Accept: accept, Authorization: `Bearer ${system.adminToken}` });
      assert.equal(asked.headers['content-encoding'], undefined, accept);
      assert.ok(plain.body.length > 1000 && asked.body.length === plain.body.length, `${accept}: sent as it is`);
    }
  });
});

/** node:http, not fetch: fetch always asks for compression and undoes it, hiding what was sent. */
function rawGet(url: string, headers: Record<string, string>): Promise<{ headers: http.IncomingHttpHeaders; body: Buffer }> {
  return new Promise((resolve, reject) => {
    http
      .get(url, { headers: { Accept: 'application/dicom+json', ...headers } }, (response) => {
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('end', () => resolve({ headers: response.headers, body: Buffer.concat(chunks) }));
        response.on('error', reject);
      })
      .on('error', reject);
  });
}
