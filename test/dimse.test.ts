import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dicomParser from 'dicom-parser';
import type { ObjectStore } from '../archive/storage/object-store.ts';
import { spawn } from 'node:child_process';
import os from 'node:os';
import { openLocalObjectStore } from '../archive/storage/open.ts';
import { freePort, waitForPort } from '../bench/peers.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const available = commandExists('storescu') && commandExists('echoscu') && fs.existsSync(PYDICOM_TEST_FILES);
const file = (name: string) => path.join(PYDICOM_TEST_FILES, name);
const sha256 = (bytes: Buffer) => createHash('sha256').update(bytes).digest('hex');

/** The dataset bytes of a Part 10 file: everything after the File Meta group. */
function datasetOf(part10: Buffer): Buffer {
  const meta = dicomParser.parseDicom(part10, { untilTag: 'x00080000' } as dicomParser.ParseDicomOptions);
  let end = 132;
  for (const [tag, element] of Object.entries(meta.elements)) if (tag.startsWith('x0002')) end = Math.max(end, element.dataOffset + element.length);
  return part10.subarray(end);
}

describe('DIMSE with DCMTK peers', () => {
  let system: TestSystem;
  const storeFiles = (options: string[], files: string[]) =>
    runDcmtk('storescu', ['-v', '-aec', 'YINGYUN', '-aet', 'COUNTY_PACS', ...options, '127.0.0.1', String(system.dicomPort), ...files], 120_000);
  const receiptsFor = async (sopInstanceUid: string) =>
    (await system.runtime.db.pool.query('SELECT object_key, object_sha256, dataset_sha256, transfer_syntax_uid FROM receipts WHERE sop_instance_uid = $1 ORDER BY id', [sopInstanceUid])).rows;

  before(async () => {
    if (available) system = await startTestSystem();
  });
  after(async () => {
    await system?.shutdown();
  });

  it('answers C-ECHO and rejects a called AE title that is not ours', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const echo = await runDcmtk('echoscu', ['-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort)]);
    assert.equal(echo.code, 0, echo.output);
    const wrong = await runDcmtk('echoscu', ['-aec', 'NOT_US', '127.0.0.1', String(system.dicomPort)]);
    assert.notEqual(wrong.code, 0);
    assert.match(wrong.output, /Called AE Title Not Recognized/i);
  });

  it('stores instances in each transfer syntax byte for byte as received (DCMTK storescp +B as the oracle), with their SHA-256 recorded', async (t) => {
    if (!requirePeer(t, available && commandExists('storescp'), 'DCMTK and pydicom test files')) return;
    // storescu re-encodes what it sends, so the file on disk is not the oracle: DCMTK's own receiver
    // in bit-preserving mode, sent the same file the same way, is.
    const oracleDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-storescp-'));
    const oraclePort = await freePort();
    const oracle = spawn('storescp', ['+B', '+xa', '-aet', 'ORACLE', '-od', oracleDir, String(oraclePort)], { stdio: 'ignore' });
    t.after(() => {
      oracle.kill();
      fs.rmSync(oracleDir, { recursive: true, force: true });
    });
    await waitForPort(oraclePort);
    // Each -x option makes storescu propose (and send in) that transfer syntax.
    const cases: Array<{ name: string; options: string[]; transferSyntax: string }> = [
      { name: 'CT_small.dcm', options: [], transferSyntax: '1.2.840.10008.1.2.1' },
      { name: 'MR_small_implicit.dcm', options: ['-xi'], transferSyntax: '1.2.840.10008.1.2' },
      { name: 'MR_small_bigendian.dcm', options: ['-xb'], transferSyntax: '1.2.840.10008.1.2.2' },
      { name: 'image_dfl.dcm', options: ['-xd'], transferSyntax: '1.2.840.10008.1.2.1.99' },
      { name: 'MR_small_RLE.dcm', options: ['-xr'], transferSyntax: '1.2.840.10008.1.2.5' },
      { name: 'SC_rgb_jpeg_dcmtk.dcm', options: ['-xy'], transferSyntax: '1.2.840.10008.1.2.4.50' },
      { name: 'JPGExtended.dcm', options: ['-xx'], transferSyntax: '1.2.840.10008.1.2.4.51' },
      { name: 'MR_small_jpeg_ls_lossless.dcm', options: ['-xt'], transferSyntax: '1.2.840.10008.1.2.4.80' },
      { name: 'MR_small_jp2klossless.dcm', options: ['-xv'], transferSyntax: '1.2.840.10008.1.2.4.90' },
      { name: 'JPEG2000.dcm', options: ['-xw'], transferSyntax: '1.2.840.10008.1.2.4.91' },
    ];
    for (const { name, options, transferSyntax } of cases) {
      const original = fs.readFileSync(file(name));
      const result = await storeFiles(options, [file(name)]);
      assert.equal(result.code, 0, `${name}: ${result.output}`);
      assert.match(result.output, /Received Store Response \(Success\)/, name);
      const sopInstanceUid = dicomParser.parseDicom(original, { untilTag: 'x00080018' } as dicomParser.ParseDicomOptions).string('x00080018')!;
      const receipts = await receiptsFor(sopInstanceUid);
      const receipt = receipts.find((row) => row.transfer_syntax_uid === transferSyntax);
      assert.ok(receipt, `${name} stored as ${transferSyntax}: ${JSON.stringify(receipts)}`);
      const stored = await system.runtime.store.get(receipt.object_key);
      assert.equal(sha256(stored), receipt.object_sha256, `${name}: recorded object digest`);
      const toOracle = await runDcmtk('storescu', ['-aec', 'ORACLE', ...options, '127.0.0.1', String(oraclePort), file(name)]);
      assert.equal(toOracle.code, 0, toOracle.output);
      const oracleFile = fs.readdirSync(oracleDir).map((entry) => path.join(oracleDir, entry)).find((entry) => entry.includes(sopInstanceUid));
      assert.ok(oracleFile, `storescp wrote ${sopInstanceUid}`);
      const received = datasetOf(fs.readFileSync(oracleFile));
      assert.ok(datasetOf(stored).equals(received), `${name}: stored dataset identical to the bytes on the wire`);
      assert.equal(receipt.dataset_sha256, sha256(received));
    }
  });

  it('accepts a duplicate without storing it again, and keeps a changed instance as a new version', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const first = await storeFiles([], [file('MR_small.dcm')]);
    assert.equal(first.code, 0, first.output);
    const sopInstanceUid = dicomParser.parseDicom(fs.readFileSync(file('MR_small.dcm')), { untilTag: 'x00080018' } as dicomParser.ParseDicomOptions).string('x00080018')!;
    const before = await receiptsFor(sopInstanceUid);
    const again = await storeFiles([], [file('MR_small.dcm')]);
    assert.match(again.output, /Received Store Response \(Success\)/);
    assert.equal((await receiptsFor(sopInstanceUid)).length, before.length, 'no new receipt for identical bytes');
    // The same instance losslessly compressed is different bytes under the same SOP Instance UID.
    const changed = await storeFiles(['-xr'], [file('MR_small_RLE.dcm')]);
    assert.match(changed.output, /Received Store Response \(Success\)/);
    const after = await receiptsFor(sopInstanceUid);
    assert.ok(after.length >= before.length, 'versions are kept');
    const events = await system.runtime.db.pool.query("SELECT count(*)::int AS n FROM instance_events WHERE sop_instance_uid = $1 AND kind = 'new-version'", [sopInstanceUid]);
    assert.ok(events.rows[0].n >= 1, 'the new version is recorded');
  });

  it('takes several associations at once', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const files = ['CT_small.dcm', 'MR_small.dcm', 'MR_small_implicit.dcm', 'SC_ybr_full_422_uncompressed.dcm', 'reportsi.dcm', 'rtplan.dcm', 'waveform_ecg.dcm', 'test-SR.dcm', 'rtdose.dcm'].map(file);
    const results = await Promise.all([0, 1, 2, 3].map(() => storeFiles([], files)));
    for (const result of results) {
      assert.equal(result.code, 0, result.output);
      assert.equal((result.output.match(/Received Store Response \(Success\)/g) ?? []).length, files.length);
    }
  });

  it('survives garbage, an absurd PDU length and a silent peer, and keeps serving', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const send = (bytes: Buffer) =>
      new Promise<Buffer>((resolve) => {
        const socket = net.connect({ host: '127.0.0.1', port: system.dicomPort }, () => socket.write(bytes));
        const received: Buffer[] = [];
        socket.on('data', (chunk) => received.push(chunk));
        socket.on('close', () => resolve(Buffer.concat(received)));
        socket.on('error', () => undefined);
        socket.setTimeout(5000, () => socket.destroy());
      });
    const garbage = await send(Buffer.from('GET / HTTP/1.1\r\nHost: pacs\r\n\r\n'));
    assert.equal(garbage[0], 0x07, 'answered with an A-ABORT PDU');
    const absurd = await send(Buffer.from([0x01, 0x00, 0xff, 0xff, 0xff, 0xff, 0x00, 0x01]));
    assert.equal(absurd[0], 0x07, 'an A-ASSOCIATE-RQ claiming 4 GB is aborted at once');
    const truncated = net.connect({ host: '127.0.0.1', port: system.dicomPort }, () => truncated.end(Buffer.from([0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x01])));
    truncated.on('error', () => undefined);
    const echo = await runDcmtk('echoscu', ['-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort)]);
    assert.equal(echo.code, 0, `still serving: ${echo.output}`);
  });

  it('answers Out of Resources and records nothing when the object store fails', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const ingest = system.runtime.ingest as unknown as { deps: { store: ObjectStore } };
    const realStore = ingest.deps.store;
    ingest.deps.store = Object.assign(Object.create(realStore) as ObjectStore, {
      put: async () => Promise.reject(new Error('simulated disk failure')),
      // What a C-STORE writes as it arrives fails as a full disk would, at the flush.
      openUpload: () => ({ write: () => undefined, finish: async () => Promise.reject(new Error('simulated disk failure')), discard: async () => undefined }),
    });
    try {
      const result = await storeFiles([], [file('SC_rgb_small_odd.dcm')]);
      assert.match(result.output, /Store Response \(Refused: OutOfResources\)/, result.output);
      const sopInstanceUid = dicomParser.parseDicom(fs.readFileSync(file('SC_rgb_small_odd.dcm')), { untilTag: 'x00080018' } as dicomParser.ParseDicomOptions).string('x00080018')!;
      const receipts = await system.runtime.db.pool.query('SELECT 1 FROM receipts WHERE sop_instance_uid = $1', [sopInstanceUid]);
      assert.equal(receipts.rowCount, 0);
    } finally {
      ingest.deps.store = realStore;
    }
  });

  it('refuses associations transiently while the database is down, answers Out of Resources for C-STOREs it cannot commit, and Success again once it is back', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const database = new URL(system.databaseUrl).pathname.slice(1);
    const otherPool = new (await import('pg')).default.Pool({ connectionString: system.databaseUrl.replace(`/${database}`, '/postgres') });
    const institutions = system.runtime.institutions;
    const registered = (await institutions.findPeerByAeTitle('COUNTY_PACS'))!;
    try {
      await otherPool.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS false`);
      await otherPool.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [database]);
      // The peer registry is in the database: no association, but a rejection the sender may retry.
      const down = await storeFiles([], [file('rtplan.dcm')]);
      assert.doesNotMatch(down.output, /Received Store Response \(Success\)/, down.output);
      assert.match(down.output, /Association Rejected/, down.output);
      assert.match(down.output, /Rejected Transient/, down.output);
      assert.match(down.output, /Temporary Congestion/i, down.output);
      // An association accepted just before the database went away: its C-STOREs cannot be committed.
      const findPeerByAeTitle = institutions.findPeerByAeTitle;
      institutions.findPeerByAeTitle = async () => registered;
      try {
        const midway = await storeFiles([], [file('rtplan.dcm')]);
        assert.doesNotMatch(midway.output, /Received Store Response \(Success\)/, midway.output);
        assert.match(midway.output, /Store Response \(Refused: OutOfResources\)/, midway.output);
      } finally {
        institutions.findPeerByAeTitle = findPeerByAeTitle;
      }
    } finally {
      await otherPool.query(`ALTER DATABASE ${database} ALLOW_CONNECTIONS true`);
      await otherPool.end();
    }
    const up = await storeFiles([], [file('rtplan.dcm')]);
    assert.match(up.output, /Received Store Response \(Success\)/, up.output);
  });
});

describe('DIMSE size limit (YINGYUN_MAX_STOW_BYTES)', () => {
  let system: TestSystem;
  before(async () => {
    if (available) system = await startTestSystem({ YINGYUN_MAX_STOW_BYTES: '65536' });
  });
  after(async () => {
    await system?.shutdown();
  });

  it('refuses a dataset over the limit with Out of Resources, keeps nothing of it, and stores the next one on the same association', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const large = file('waveform_ecg.dcm'); // 291 KB
    const small = file('CT_small.dcm'); // 39 KB
    const result = await runDcmtk('storescu', ['-v', '--no-halt', '-aec', 'YINGYUN', '-aet', 'COUNTY_PACS', '127.0.0.1', String(system.dicomPort), large, small], 120_000);
    const answers = [...result.output.matchAll(/Received Store Response \(([^)]*)\)/g)].map((match) => match[1]);
    assert.deepEqual(answers, ['Refused: OutOfResources', 'Success'], result.output);
    const uids = (await system.runtime.db.pool.query<{ sop_instance_uid: string }>('SELECT sop_instance_uid FROM receipts')).rows.map((row) => row.sop_instance_uid);
    const uidOf = (name: string) => dicomParser.parseDicom(fs.readFileSync(name), { untilTag: 'x00080018' } as dicomParser.ParseDicomOptions).string('x00080018')!;
    assert.deepEqual(uids, [uidOf(small)]);
    const incoming = path.join(system.dataDir, 'objects', '.incoming');
    assert.deepEqual(fs.existsSync(incoming) ? fs.readdirSync(incoming) : [], [], 'the refused upload left no temporary file');
    const store = await openLocalObjectStore(path.join(system.dataDir, 'objects'));
    const stored = [];
    for await (const key of store.list('instances/')) stored.push(key);
    await store.close();
    assert.deepEqual(stored.map((key) => key.split('/')[3]!.replace(/\.[0-9a-f]{16}\.dcm$/, '')), [uidOf(small)], 'nor any object of it');
  });
});
