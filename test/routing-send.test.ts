import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { DicomwebNode, SendProgress } from '../archive/db/routing-repository.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { makeCtSeries, makeMrSeries, STUDIES } from '../fixtures/generate.ts';
import { startStorescpDestination, type StorescpDestination } from './support/dcmtk.ts';
import { datasetDigest, FAST_FORWARDING, waitFor, wholeFiles } from './support/forwarding.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const available = commandExists('storescp');

describe('sending on: manual sends with progress, and STOW-RS to another Yingyun', () => {
  let system: TestSystem;
  /** The city's Yingyun: a DICOMweb destination. */
  let city: TestSystem;
  let workstation: StorescpDestination;
  const temporary = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-routing-send-'));
  let ctStudy: string;
  let ctSeries: string[];
  const stored = new Map<string, string>();

  const api = async <T>(method: string, route: string, body?: unknown, token?: string): Promise<{ status: number; body: T; location: string | null }> => {
    const response = await system.fetch(`${system.httpUrl}${route}`, {
      method,
      headers: { ...(body === undefined ? {} : { 'Content-Type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T, location: response.headers.get('location') };
  };
  const ingest = async (part10: Buffer) => {
    const { parsed } = await system.runtime.ingest.ingest({ part10 }, { via: 'dimse', name: 'COUNTY_PACS', institutionId: system.institutionId });
    stored.set(parsed.sopInstanceUid, datasetDigest(part10));
    return parsed;
  };
  /** Follows a send's progress as the viewer does, until every instance is sent or failed; returns each answer seen. */
  const followSend = async (location: string): Promise<SendProgress[]> => {
    const seen: SendProgress[] = [];
    await waitFor(`send ${location} to finish`, async () => {
      const { status, body } = await api<SendProgress>('GET', location);
      assert.equal(status, 200);
      seen.push(body);
      return body.sent + body.failed === body.total ? true : undefined;
    });
    return seen;
  };

  before(async () => {
    if (!available) return;
    system = await startTestSystem(FAST_FORWARDING);
    city = await startTestSystem();
    workstation = await startStorescpDestination('READING_WS', path.join(temporary, 'workstation'));
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'READING_WS', host: '127.0.0.1', port: workstation.port });
    const series1 = [...makeCtSeries({ study: STUDIES.wangPriorCt, slices: 3, rows: 64, columns: 64 })].map((instance) => instance.bytes);
    const series2 = [...makeCtSeries({ study: STUDIES.wangPriorCt, seriesNumber: 2, slices: 2, rows: 64, columns: 64 })].map((instance) => instance.bytes);
    for (const part10 of [...series1, ...series2]) ctStudy = (await ingest(part10)).studyInstanceUid;
    ctSeries = [parseInstance(series1[0]!).seriesInstanceUid, parseInstance(series2[0]!).seriesInstanceUid];
    await system.runtime.queue.whenIdle();
  });
  after(async () => {
    await workstation?.stop();
    await city?.shutdown();
    await system?.shutdown();
    fs.rmSync(temporary, { recursive: true, force: true });
  });

  it('sends a study to a DICOM peer on request: 202 at once, then the progress until all are sent, audited as an export', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp)')) return;
    const queued = await api<SendProgress>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'READING_WS' } });
    assert.equal(queued.status, 202, JSON.stringify(queued.body));
    assert.equal(queued.body.total, 5);
    assert.equal(queued.body.sent + queued.body.failed, 0, 'queued, not sent while the request waited');
    assert.equal(queued.location, `/api/sends/${queued.body.id}`);
    const seen = await followSend(queued.location!);
    const last = seen.at(-1)!;
    assert.deepEqual({ total: last.total, sent: last.sent, failed: last.failed, pending: last.pending, inFlight: last.inFlight }, { total: 5, sent: 5, failed: 0, pending: 0, inFlight: 0 });
    for (const progress of seen) assert.ok(progress.sent + progress.failed + progress.pending + progress.inFlight === progress.total, 'every instance counted once in each answer');

    const files = await waitFor('the five files whole', () => wholeFiles(workstation.files()));
    assert.equal(files.length, 5);
    for (const part10 of files) assert.equal(datasetDigest(part10), stored.get(parseInstance(part10).sopInstanceUid), 'the stored dataset, byte for byte');

    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ study_uids: string[]; detail: Record<string, unknown> }>(
      `SELECT study_uids, detail FROM audit_events WHERE event_type = 'export' AND detail->>'target' = 'node' ORDER BY id`,
    );
    assert.equal(rows.length, 1);
    assert.deepEqual(rows[0]!.study_uids, [ctStudy]);
    assert.deepEqual(rows[0]!.detail.destination, { dicomPeer: 'READING_WS' });
    assert.equal(rows[0]!.detail.instances, 5);
  });

  it('sends one series; refuses an unknown peer, a peer without an address, a series not in the study, and a role that may not export', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp)')) return;
    const before = workstation.files().length;
    const queued = await api<SendProgress>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'READING_WS' }, seriesInstanceUid: ctSeries[1] });
    assert.equal(queued.status, 202);
    assert.equal(queued.body.total, 2);
    assert.equal((await followSend(queued.location!)).at(-1)!.sent, 2);
    await waitFor('two more files', () => (wholeFiles(workstation.files())?.length === before + 2 ? true : undefined));

    const unknown = await api<{ detail: string }>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'NOBODY' } });
    assert.deepEqual([unknown.status, unknown.body.detail], [404, 'no DICOM peer NOBODY']);
    const addressless = await api<{ detail: string }>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'STORESCU' } });
    assert.equal(addressless.status, 400);
    assert.match(addressless.body.detail, /has no host and port/);
    const otherSeries = await api<{ detail: string }>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'READING_WS' }, seriesInstanceUid: '1.2.3.4' });
    assert.equal(otherSeries.status, 404);

    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'qc', displayName: 'QC', role: 'qc_staff', institutionCode: 'TEST_HOSPITAL' });
    const { token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'qc', label: 'test' });
    assert.equal((await api('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'READING_WS' } }, token)).status, 403);
    assert.equal((await api('GET', queued.location!, undefined, token)).status, 403);
    assert.equal((await api('GET', '/api/admin/forward-queues', undefined, token)).status, 403);
  });

  it('gives up at once on what the peer will never take (a transfer syntax it does not accept): a dead letter after one attempt, with the reason', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp)')) return;
    const implicitOnly = await startStorescpDestination('IMPLICIT_ONLY', path.join(temporary, 'implicit-only'), undefined, '+xi');
    try {
      await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'IMPLICIT_ONLY', host: '127.0.0.1', port: implicitOnly.port });
      const queued = await api<SendProgress>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomPeer: 'IMPLICIT_ONLY' }, seriesInstanceUid: ctSeries[0] });
      const last = (await followSend(queued.location!)).at(-1)!;
      assert.deepEqual({ sent: last.sent, failed: last.failed }, { sent: 0, failed: 3 });
      const { rows } = await system.runtime.db.pool.query<{ attempts: number; last_error: string }>(`SELECT attempts, last_error FROM forward_items WHERE send_id = $1`, [queued.body.id]);
      for (const row of rows) {
        assert.equal(row.attempts, 1, 'not retried: it cannot succeed until the peer or the study changes');
        assert.match(row.last_error, /^not sent: IMPLICIT_ONLY accepts SOP class .* only in Implicit VR Little Endian/);
      }
      assert.equal(implicitOnly.files().length, 0);
    } finally {
      await implicitOnly.stop();
    }
  });

  it('forwards by rule to a DICOMweb node by STOW-RS (another Yingyun), and sends a study there on request', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp)')) return;
    const node = await api<DicomwebNode>('POST', '/api/admin/dicomweb-nodes', { name: 'city-cloud', url: city.dicomWebUrl, bearerToken: city.adminToken });
    assert.equal(node.status, 201, JSON.stringify(node.body));
    assert.equal(node.body.hasToken, true);
    assert.equal(JSON.stringify(node.body).includes(city.adminToken), false, 'the token is never listed');
    assert.equal((await api('POST', '/api/admin/routing-rules', { name: 'MR to the city', modalities: ['MR'], destination: { dicomwebNode: 'city-cloud' } })).status, 201);

    const mr = [...makeMrSeries({ study: STUDIES.zhangMr, slices: 3, weighting: 'T1', rows: 64, columns: 64 })].map((instance) => instance.bytes);
    for (const part10 of mr) await ingest(part10);
    const cityDigests = async () => new Map((await city.runtime.db.pool.query<{ sop_instance_uid: string; dataset_sha256: string }>('SELECT sop_instance_uid, dataset_sha256 FROM receipts')).rows.map((row) => [row.sop_instance_uid, row.dataset_sha256]));
    const arrived = await waitFor('the MR series at the city', async () => {
      const digests = await cityDigests();
      return digests.size >= mr.length ? digests : undefined;
    });
    assert.equal(arrived.size, mr.length, 'each once');
    for (const part10 of mr) assert.equal(arrived.get(parseInstance(part10).sopInstanceUid), datasetDigest(part10), 'the stored dataset, byte for byte');

    const queued = await api<SendProgress>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomwebNode: 'city-cloud' } });
    assert.equal(queued.status, 202);
    const last = (await followSend(queued.location!)).at(-1)!;
    assert.deepEqual({ sent: last.sent, failed: last.failed }, { sent: 5, failed: 0 });
    const atCity = await cityDigests();
    for (const [sopInstanceUid, digest] of stored) if (!mr.some((part10) => parseInstance(part10).sopInstanceUid === sopInstanceUid)) assert.equal(atCity.get(sopInstanceUid), digest);
  });

  it('a DICOMweb node that refuses (a wrong token) keeps the items for retries, then the dead letters', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp)')) return;
    assert.equal((await api('POST', '/api/admin/dicomweb-nodes', { name: 'city-wrong-token', url: city.dicomWebUrl, bearerToken: 'not-a-token' })).status, 201);
    const queued = await api<SendProgress>('POST', `/api/studies/${ctStudy}/send`, { destination: { dicomwebNode: 'city-wrong-token' }, seriesInstanceUid: ctSeries[1] });
    const last = (await followSend(queued.location!)).at(-1)!;
    assert.deepEqual({ sent: last.sent, failed: last.failed }, { sent: 0, failed: 2 });
    const { rows } = await system.runtime.db.pool.query<{ last_error: string }>(`SELECT last_error FROM forward_items WHERE send_id = $1`, [queued.body.id]);
    for (const row of rows) assert.match(row.last_error, /answered HTTP 401/);
  });
});
