import assert from 'node:assert/strict';
import fs from 'node:fs';
import http from 'node:http';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dicomParser from 'dicom-parser';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const havePydicom = fs.existsSync(PYDICOM_TEST_FILES);
const PYDICOM_FILES = 'pydicom test files (python3-pydicom)';
const read = (name: string) => fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));

interface Part {
  body: Buffer;
  type?: string;
}

function multipart(parts: Part[], boundary = 'stow-test-boundary', { preamble = '', epilogue = '' } = {}): Buffer {
  return Buffer.concat([
    Buffer.from(preamble),
    ...parts.flatMap((part) => [Buffer.from(`--${boundary}\r\nContent-Type: ${part.type ?? 'application/dicom'}\r\n\r\n`), part.body, Buffer.from('\r\n')]),
    Buffer.from(`--${boundary}--\r\n${epilogue}`),
  ]);
}

const CONTENT_TYPE = 'multipart/related; type="application/dicom"; boundary=stow-test-boundary';

function uidsOf(part10: Buffer) {
  const dataSet = dicomParser.parseDicom(part10, { untilTag: 'x7fe00010' });
  return { sopClassUid: dataSet.string('x00080016')!, sopInstanceUid: dataSet.string('x00080018')!, studyInstanceUid: dataSet.string('x0020000d')!, seriesInstanceUid: dataSet.string('x0020000e')! };
}

const items = (dataset: DicomJsonDataset, tag: string) => (dataset[tag]?.Value ?? []) as DicomJsonDataset[];
const first = (dataset: DicomJsonDataset, tag: string) => dataset[tag]?.Value?.[0];

async function stow(system: TestSystem, body: RequestInit["body"], init: { contentType?: string; accept?: string; study?: string } = {}) {
  const headers: Record<string, string> = { 'Content-Type': init.contentType ?? CONTENT_TYPE };
  if (init.accept) headers.Accept = init.accept;
  const response = await system.fetch(`${system.dicomWebUrl}/studies${init.study ? `/${init.study}` : ''}`, { method: 'POST', headers, body, duplex: 'half' } as RequestInit);
  const text = await response.text();
  return { status: response.status, contentType: response.headers.get('content-type') ?? '', body: text ? JSON.parse(text) : undefined };
}

async function assertProblem(result: Awaited<ReturnType<typeof stow>>, status: number, detail: RegExp) {
  assert.equal(result.status, status, JSON.stringify(result.body));
  assert.match(result.contentType, /^application\/problem\+json/);
  assert.equal(result.body.status, status);
  assert.match(result.body.detail, detail);
}

describe('STOW-RS', () => {
  let system: TestSystem;
  let ct: Buffer;
  let mr: Buffer;
  let ctUids: ReturnType<typeof uidsOf>;
  let mrUids: ReturnType<typeof uidsOf>;

  before(async () => {
    if (!havePydicom) return;
    ct = read('CT_small.dcm');
    mr = read('MR_small.dcm');
    ctUids = uidsOf(ct);
    mrUids = uidsOf(mr);
    system = await startTestSystem();
  });
  after(async () => {
    await system?.shutdown();
  });

  it('stores every part and answers 200 with the stored instances and their RetrieveURLs', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const result = await stow(system, multipart([{ body: ct }, { body: mr }], 'stow-test-boundary', { preamble: 'ignored preamble\r\n', epilogue: 'ignored epilogue' }));
    assert.equal(result.status, 200);
    assert.match(result.contentType, /^application\/dicom\+json/);
    const stored = items(result.body, '00081199');
    assert.deepEqual(
      stored.map((item) => [first(item, '00081150'), first(item, '00081155'), first(item, '00081190')]),
      [ct, mr].map((part10) => {
        const uids = uidsOf(part10);
        return [uids.sopClassUid, uids.sopInstanceUid, `${system.dicomWebUrl}/studies/${uids.studyInstanceUid}/series/${uids.seriesInstanceUid}/instances/${uids.sopInstanceUid}`];
      }),
    );
    assert.equal(result.body['00081198'], undefined, 'no FailedSOPSequence');
    assert.equal(result.body['00081190'], undefined, 'two studies: no single study RetrieveURL');
    const { rows } = await system.runtime.db.pool.query('SELECT sop_instance_uid FROM receipts ORDER BY id');
    assert.deepEqual(rows.map((row) => row.sop_instance_uid), [ctUids.sopInstanceUid, mrUids.sopInstanceUid]);
  });

  it('answers 200 again for the same instances: a duplicate is a success', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const result = await stow(system, multipart([{ body: ct }]));
    assert.equal(result.status, 200);
    assert.equal(first(items(result.body, '00081199')[0]!, '00081155'), ctUids.sopInstanceUid);
    assert.equal(first(result.body, '00081190'), `${system.dicomWebUrl}/studies/${ctUids.studyInstanceUid}`);
  });

  it('takes a quoted boundary, bare LF line ends, no type parameter, and a bare application/dicom body', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const lf = Buffer.concat([Buffer.from('--a:b c\nContent-Type: application/dicom\n\n'), mr, Buffer.from('\n--a:b c--')]);
    assert.equal((await stow(system, lf, { contentType: 'Multipart/Related; boundary="a:b c"' })).status, 200);
    const single = await stow(system, mr, { contentType: 'application/dicom' });
    assert.equal(single.status, 200);
    assert.equal(first(items(single.body, '00081199')[0]!, '00081155'), mrUids.sopInstanceUid);
  });

  it('refuses an instance of another study when the URL names one: 409, FailureReason A900', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const result = await stow(system, multipart([{ body: mr }]), { study: ctUids.studyInstanceUid });
    assert.equal(result.status, 409);
    const [failed] = items(result.body, '00081198');
    assert.equal(first(failed!, '00081155'), mrUids.sopInstanceUid);
    assert.equal(first(failed!, '00081150'), mrUids.sopClassUid);
    assert.deepEqual(failed!['00081197'], { vr: 'US', Value: [0xa900] });
    assert.equal(first(result.body, '00081190'), `${system.dicomWebUrl}/studies/${ctUids.studyInstanceUid}`);

    const mixed = await stow(system, multipart([{ body: ct }, { body: mr }]), { study: ctUids.studyInstanceUid });
    assert.equal(mixed.status, 202);
    assert.equal(items(mixed.body, '00081199').length, 1);
    assert.equal(items(mixed.body, '00081198').length, 1);
  });

  it('answers 202 for one good and one truncated file, naming the truncated one from its File Meta Information', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const truncated = ct.subarray(0, ct.length - 5000);
    const result = await stow(system, multipart([{ body: mr }, { body: truncated }]));
    assert.equal(result.status, 202);
    assert.equal(items(result.body, '00081199').length, 1);
    const [failed] = items(result.body, '00081198');
    assert.equal(first(failed!, '00081155'), ctUids.sopInstanceUid);
    assert.deepEqual(failed!['00081197'], { vr: 'US', Value: [0xc000] });
  });

  it('answers 409 when nothing could be stored, with empty UIDs for what cannot be read at all', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const result = await stow(system, multipart([{ body: read('MR_truncated.dcm') }, { body: Buffer.from('not DICOM at all') }]));
    assert.equal(result.status, 409);
    const failed = items(result.body, '00081198');
    assert.equal(failed.length, 2);
    assert.deepEqual(failed[1], { '00081150': { vr: 'UI' }, '00081155': { vr: 'UI' }, '00081197': { vr: 'US', Value: [0xc000] } });
    assert.equal(result.body['00081199'], undefined);
  });

  it('fails parts of other media types; 415 when no part is application/dicom', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const json = { type: 'application/dicom+json', body: Buffer.from('[{}]') };
    const some = await stow(system, multipart([{ body: mr }, json]));
    assert.equal(some.status, 202);
    assert.deepEqual(items(some.body, '00081198')[0]!['00081197'], { vr: 'US', Value: [0xc000] });
    await assertProblem(await stow(system, multipart([json])), 415, /only application\/dicom parts are accepted/);
    await assertProblem(
      await stow(system, multipart([json]), { contentType: 'multipart/related; type="application/dicom+json"; boundary=stow-test-boundary' }),
      415,
      /type="application\/dicom\+json" is not accepted/,
    );
    await assertProblem(await stow(system, mr, { contentType: 'application/json' }), 415, /STOW-RS takes multipart\/related/);
  });

  it('answers broken requests with problem JSON that says what is wrong', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    await assertProblem(await stow(system, multipart([{ body: mr }]), { contentType: 'multipart/related; type="application/dicom"' }), 400, /no boundary parameter/);
    await assertProblem(await stow(system, Buffer.from('garbage, no multipart here')), 400, /contains no "--stow-test-boundary" delimiter/);
    await assertProblem(await stow(system, multipart([])), 400, /no parts/);
    await assertProblem(await stow(system, multipart([{ body: mr }]), { accept: 'application/dicom+xml' }), 406, /application\/dicom\+json only/);
    await assertProblem(await stow(system, multipart([{ body: mr }]), { study: 'not-a-uid' }), 400, /is not a Study Instance UID/);
  });

  it('says which instances were stored before the body broke off', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const cut = Buffer.concat([Buffer.from('--stow-test-boundary\r\n\r\n'), mr, Buffer.from('\r\n--stow-test-boundary\r\n\r\n'), ct.subarray(0, 1000)]);
    const result = await stow(system, cut);
    await assertProblem(result, 400, /part 2 is not followed by a "--stow-test-boundary" delimiter: the body is truncated \(1 instance before that point was stored\)/);
    assert.deepEqual(result.body.storedSopInstanceUids, [mrUids.sopInstanceUid]);
  });

  it('survives hostile bodies', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const random = Buffer.alloc(200_000);
    for (let index = 0; index < random.length; index++) random[index] = (index * 7919 + 13) % 251;
    const cases = [
      random,
      Buffer.concat([Buffer.from('--stow-test-boundary\r\n'), random]),
      Buffer.from(`--stow-test-boundary\r\n\r\n${'\r\n--stow-test-boundary\r\n\r\n'.repeat(500)}--stow-test-boundary--`),
      multipart([{ body: Buffer.concat([Buffer.alloc(128), Buffer.from('DICM'), random.subarray(0, 5000)]) }]),
    ];
    for (const body of cases) {
      const result = await stow(system, body);
      assert.ok([400, 409].includes(result.status), `status ${result.status}`);
    }
    assert.equal((await system.fetch(`${system.httpUrl}/healthz`)).status, 200);
  });
});

describe('STOW-RS size limit', () => {
  let system: TestSystem;
  let ct: Buffer;
  let mr: Buffer;

  before(async () => {
    if (!havePydicom) return;
    ct = read('CT_small.dcm');
    mr = read('MR_small.dcm');
    system = await startTestSystem({ YINGYUN_MAX_STOW_BYTES: '65536' });
  });
  after(async () => {
    await system?.shutdown();
  });

  it('refuses a body over the limit by its Content-Length, before reading it', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const result = await stow(system, multipart([{ body: ct }, { body: ct }, { body: ct }]));
    await assertProblem(result, 413, /at most 65536 bytes/);
    assert.equal((await system.runtime.db.pool.query('SELECT count(*)::int AS n FROM receipts')).rows[0].n, 0);
  });

  it('stops reading a chunked body at the limit, and names what was stored before it', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const body = multipart([{ body: mr }, ...Array.from({ length: 20 }, () => ({ body: ct }))]);
    const stream = new ReadableStream<Uint8Array>({
      start(controller) {
        for (let offset = 0; offset < body.length; offset += 16_384) controller.enqueue(body.subarray(offset, offset + 16_384));
        controller.close();
      },
    });
    const result = await stow(system, stream);
    // The MR (9.8 kB) and the first CT (39 kB) fit under 64 KiB; the repeated CTs are duplicates of that one.
    await assertProblem(result, 413, /at most 65536 bytes.*\(2 instances before that point were stored\)/);
    assert.deepEqual(result.body.storedSopInstanceUids, [uidsOf(mr).sopInstanceUid, uidsOf(ct).sopInstanceUid]);
  });

  it('answers the 413 even to a client that keeps sending, and then closes the connection', async (t) => {
    if (!requirePeer(t, havePydicom, PYDICOM_FILES)) return;
    const url = new URL(`${system.dicomWebUrl}/studies`);
    const status = await new Promise<number>((resolve, reject) => {
      const request = http.request(url, { method: 'POST', headers: { 'Content-Type': CONTENT_TYPE, 'Transfer-Encoding': 'chunked', Authorization: `Bearer ${system.adminToken}` } }, (response) => {
        response.resume();
        resolve(response.statusCode!);
      });
      request.on('error', reject);
      const chunk = Buffer.alloc(64 * 1024, 0x41);
      let sent = 0;
      const send = () => {
        // Far more than the limit: the server must answer and close, not read all of it.
        while (sent < 200 && request.write(chunk)) sent++;
        if (sent < 200) request.once('drain', send);
        else request.end();
      };
      request.write(Buffer.from('--stow-test-boundary\r\n\r\n'));
      send();
    });
    assert.equal(status, 413);
    const small = await stow(system, multipart([{ body: mr }]));
    assert.equal(small.status, 200, 'the server still answers');
  });
});
