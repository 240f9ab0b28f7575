import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { after, before, describe, it, type TestContext } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { DeadLetter, DestinationQueue, RoutingRule } from '../archive/db/routing-repository.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { freePort } from '../bench/peers.ts';
import { makeChestRadiograph, makeCtSeries, makeMrSeries, STUDIES } from '../fixtures/generate.ts';
import { startStorescpDestination, type StorescpDestination } from './support/dcmtk.ts';
import { datasetDigest, FAST_FORWARDING, MAX_ATTEMPTS, waitFor, wholeFiles } from './support/forwarding.ts';
import { commandExists, redisAvailable, requirePeer, testRedisUrl } from './support/peers.ts';
import { QUARANTINE_INSTITUTION_ID } from './support/runtime.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const available = commandExists('storescp');

/** The same suite on both queue backends: the forward job's ids, delays and debounce must hold on each. */
const BACKENDS = [
  { name: 'in-process jobs', environment: {} as Record<string, string>, needsRedis: false },
  { name: 'BullMQ on Redis', environment: { REDIS_URL: testRedisUrl, YINGYUN_QUEUE_NAME: `yingyun-routing-${randomBytes(6).toString('hex')}` }, needsRedis: true },
];

for (const backend of BACKENDS) describe(`routing rules forward what arrives (C-STORE SCU to DCMTK storescp; ${backend.name})`, () => {
  let system: TestSystem;
  let workstation: StorescpDestination;
  let workstationDirectory: string;
  let downPort: number;
  const temporary = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-routing-'));
  /** Every instance ingested, by SOP Instance UID: the stored bytes' dataset digest. */
  const stored = new Map<string, string>();

  const api = async <T>(method: string, route: string, body?: unknown): Promise<{ status: number; body: T }> => {
    const response = await system.fetch(`${system.httpUrl}${route}`, { method, headers: body === undefined ? {} : { 'Content-Type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    const text = await response.text();
    return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
  };
  const ingest = async (part10: Buffer, callingAeTitle = 'COUNTY_PACS') => {
    const { parsed } = await system.runtime.ingest.ingest({ part10 }, { via: 'dimse', name: callingAeTitle, institutionId: system.institutionId });
    stored.set(parsed.sopInstanceUid, datasetDigest(part10));
    return parsed;
  };
  const queueOf = async (aeTitle: string) => (await api<DestinationQueue[]>('GET', '/api/admin/forward-queues')).body.find((queue) => queue.name === aeTitle);
  /**
   * The workstation's files: their SOP Instance UIDs (with repeats, if any came twice), each checked to
   * be the stored dataset. While sends are under way, a file storescp is still writing is left out;
   * once they are done (`settled`), every file must be whole.
   */
  const receivedUids = (settled = true) =>
    workstation.files().flatMap((part10) => {
      let sopInstanceUid: string;
      try {
        sopInstanceUid = parseInstance(part10).sopInstanceUid;
      } catch (error) {
        if (settled) throw error;
        return [];
      }
      assert.equal(datasetDigest(part10), stored.get(sopInstanceUid), `${sopInstanceUid}: the dataset received is the one stored, byte for byte`);
      return [sopInstanceUid];
    });

  let redisUp = false;
  const peersPresent = (t: TestContext) => requirePeer(t, available, 'DCMTK (storescp)') && (!backend.needsRedis || requirePeer(t, redisUp, `Redis at ${testRedisUrl}`));

  before(async () => {
    redisUp = backend.needsRedis && (await redisAvailable());
    if (!available || (backend.needsRedis && !redisUp)) return;
    system = await startTestSystem({ ...FAST_FORWARDING, ...backend.environment });
    workstationDirectory = path.join(temporary, 'workstation');
    workstation = await startStorescpDestination('READING_WS', workstationDirectory);
    downPort = await freePort();
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'READING_WS', host: '127.0.0.1', port: workstation.port });
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'ARCHIVE_DOWN', host: '127.0.0.1', port: downPort });
  });
  after(async () => {
    await workstation?.stop();
    await system?.shutdown();
    fs.rmSync(temporary, { recursive: true, force: true });
  });

  it('an administrator sets up the rules; a refused rule says why', async (t) => {
    if (!peersPresent(t)) return;
    const ctMr = await api<RoutingRule>('POST', '/api/admin/routing-rules', {
      name: 'County CT and MR to the reading centre',
      sourceInstitution: 'TEST_HOSPITAL',
      callingAeTitle: 'COUNTY_*',
      modalities: ['CT', 'MR'],
      destination: { dicomPeer: 'READING_WS' },
    });
    assert.equal(ctMr.status, 201, JSON.stringify(ctMr.body));
    assert.deepEqual(ctMr.body.modalities, ['CT', 'MR']);
    assert.deepEqual(ctMr.body.destination, { peerId: (await system.runtime.institutions.findPeerByAeTitle('READING_WS'))!.id });
    // The same CT also by description: one item per instance and destination, however many rules name it.
    assert.equal((await api('POST', '/api/admin/routing-rules', { name: 'Chest CT', studyDescription: 'CT胸部*', callingAeTitle: 'COUNTY_PACS', destination: { dicomPeer: 'READING_WS' } })).status, 201);
    assert.equal((await api('POST', '/api/admin/routing-rules', { name: 'CR to the old archive', attribute: { tag: '00080060', pattern: 'C?' }, modalities: ['CR'], destination: { dicomPeer: 'ARCHIVE_DOWN' } })).status, 201);

    const refused = await api<{ detail: string }>('POST', '/api/admin/routing-rules', { name: 'nowhere', destination: { dicomPeer: 'NO_SUCH_AE' } });
    assert.equal(refused.status, 404);
    assert.match(refused.body.detail, /no DICOM peer NO_SUCH_AE/);
    const malformed = await api<{ detail: string }>('POST', '/api/admin/routing-rules', { name: 'bad tag', attribute: { tag: '0008', pattern: 'x' }, destination: { dicomPeer: 'READING_WS' } });
    assert.equal(malformed.status, 400);
    assert.match(malformed.body.detail, /attribute\.tag/);
    assert.equal((await api<RoutingRule[]>('GET', '/api/admin/routing-rules')).body.length, 3);
    // Paused and resumed: a paused rule is listed but not evaluated.
    const paused = await api<RoutingRule>('PATCH', `/api/admin/routing-rules/${ctMr.body.id}`, { enabled: false });
    assert.deepEqual([paused.status, paused.body.enabled], [200, false]);
    assert.equal((await system.runtime.routing.listRules()).length, 3);
    assert.deepEqual([(await api<RoutingRule>('PATCH', `/api/admin/routing-rules/${ctMr.body.id}`, { enabled: true })).body.enabled], [true]);
    assert.equal((await api('PATCH', `/api/admin/routing-rules/${ctMr.body.id}`, { enabled: 'yes' })).status, 400);
    assert.equal((await api('DELETE', '/api/admin/routing-rules/999999')).status, 404);
  });

  it('forwards every CT and MR from the county once, over one association per batch, and not its CR or another sender\'s CT', async (t) => {
    if (!peersPresent(t)) return;
    const ct = [...makeCtSeries({ study: STUDIES.wangPriorCt, slices: 4, rows: 64, columns: 64 })].map((instance) => instance.bytes);
    const mr = [...makeMrSeries({ study: STUDIES.zhangMr, slices: 2, weighting: 'T2', rows: 64, columns: 64 })].map((instance) => instance.bytes);
    const expected = new Set<string>();
    // Stored together, as a modality sends a series: one after the other, a loaded machine could stretch
    // them past the forward job's batching window (seen at load 38), which is not what this test is about.
    for (const stored of await Promise.all([...ct, ...mr].map((part10) => ingest(part10)))) expected.add(stored.sopInstanceUid);
    // Another PACS of the same hospital (the AE pattern) sending a CT of another study description.
    const [other] = [...makeCtSeries({ study: STUDIES.wangCurrentCt, slices: 1, rows: 64, columns: 64 })];
    await ingest(other!.bytes, 'CITY_PACS');
    // An unregistered COUNTY_PACS's chest CT (the 'Chest CT' rule's criteria) waits in the quarantine, not passed on.
    const [quarantined] = [...makeCtSeries({ study: STUDIES.wangCurrentCt, seed: 'quarantined', slices: 1, rows: 64, columns: 64 })];
    await system.runtime.ingest.ingest({ part10: quarantined!.bytes }, { via: 'dimse', name: 'COUNTY_PACS', institutionId: QUARANTINE_INSTITUTION_ID });

    const uids = await waitFor('the six CT and MR instances at the workstation', () => {
      const received = receivedUids(false);
      return received.length >= expected.size ? received : undefined;
    });
    await system.runtime.queue.whenIdle();
    assert.deepEqual(new Set(uids), expected);
    assert.equal(receivedUids().length, expected.size, 'each once');
    const associations = (workstation.log().match(/Association Received/g) ?? []).length;
    assert.ok(associations <= 2, `a study goes in one batch (${associations} associations for two studies)`);
    const queue = await queueOf('READING_WS');
    assert.equal(queue, undefined, 'nothing left in the workstation queue');

    // Indexing again (a re-run job, the reconciler) queues nothing twice.
    const { rows } = await system.runtime.db.pool.query<{ id: string }>(`SELECT id FROM receipts WHERE sop_instance_uid = $1`, [ct[0] && parseInstance(ct[0]).sopInstanceUid]);
    const receipt = (await system.runtime.jobs.receipts.get(rows[0]!.id))!;
    await system.runtime.routing.routeArrived(receipt);
    await system.runtime.queue.whenIdle();
    const counted = await system.runtime.db.pool.query<{ items: number }>(`SELECT count(*)::int AS items FROM forward_items WHERE receipt_id = $1`, [receipt.id]);
    assert.equal(counted.rows[0]!.items, 1, 'one item for the instance, though two rules name the destination and it was routed twice');
    assert.equal(receivedUids().length, expected.size);
  });

  it('retries while the destination is down and delivers everything once it is back: nothing lost, nothing twice', async (t) => {
    if (!peersPresent(t)) return;
    await workstation.stop();
    const before = receivedUids().length;
    const series = [...makeCtSeries({ study: STUDIES.wangPriorCt, seriesNumber: 7, slices: 5, rows: 64, columns: 64 })].map((instance) => instance.bytes);
    const expected = new Set<string>();
    for (const part10 of series) expected.add((await ingest(part10)).sopInstanceUid);

    const retrying = await waitFor('the items to fail and wait for their retry', async () => {
      const queue = await queueOf('READING_WS');
      return queue && queue.retrying === expected.size ? queue : undefined;
    });
    assert.equal(retrying.dead, 0);
    assert.ok(retrying.oldestQueuedAt, 'the queue says how old its oldest item is');
    const { rows } = await system.runtime.db.pool.query<{ last_error: string }>(`SELECT last_error FROM forward_items WHERE state = 'pending' AND attempts > 0 LIMIT 1`);
    assert.match(rows[0]!.last_error, /no association with READING_WS/);

    workstation = await startStorescpDestination('READING_WS', workstationDirectory, workstation.port);
    const uids = await waitFor('the five instances after the workstation came back', () => {
      const received = receivedUids(false).filter((uid) => expected.has(uid));
      return received.length >= expected.size ? received : undefined;
    });
    await waitFor('an empty queue', async () => ((await queueOf('READING_WS')) === undefined ? true : undefined));
    await system.runtime.queue.whenIdle();
    assert.deepEqual(new Set(uids), expected);
    assert.equal(receivedUids().length - before, expected.size, 'none twice');
  });

  it('puts what never gets through in the dead letters after the last attempt; a retry from the API delivers it', async (t) => {
    if (!peersPresent(t)) return;
    const cr = makeChestRadiograph({ study: STUDIES.liJiCr, modality: 'CR', rows: 64, columns: 64 }).bytes;
    const { sopInstanceUid } = await ingest(cr);
    const [dead] = await waitFor('the CR in the dead letters', async () => {
      const letters = (await api<DeadLetter[]>('GET', '/api/admin/forward-queues/dead-letters')).body;
      return letters.length > 0 ? letters : undefined;
    });
    assert.equal(dead!.sopInstanceUid, sopInstanceUid);
    assert.equal(dead!.attempts, MAX_ATTEMPTS);
    assert.match(dead!.lastError ?? '', /no association with ARCHIVE_DOWN/);
    const queue = (await queueOf('ARCHIVE_DOWN'))!;
    assert.deepEqual({ pending: queue.pending, inFlight: queue.inFlight, dead: queue.dead }, { pending: 0, inFlight: 0, dead: 1 });

    const archive = await startStorescpDestination('ARCHIVE_DOWN', path.join(temporary, 'archive'), downPort);
    try {
      const retried = await api<{ retried: number }>('POST', '/api/admin/forward-queues/dead-letters/retry', { destination: dead!.destination });
      assert.deepEqual(retried, { status: 200, body: { retried: 1 } });
      const files = await waitFor('the CR at the archive', () => wholeFiles(archive.files()));
      await system.runtime.queue.whenIdle();
      assert.equal(files.length, 1);
      assert.equal(datasetDigest(files[0]!), stored.get(sopInstanceUid));
      assert.deepEqual((await api<DeadLetter[]>('GET', '/api/admin/forward-queues/dead-letters')).body, []);
      await system.runtime.audit.drain();
      const audited = await system.runtime.db.pool.query(`SELECT 1 FROM audit_events WHERE event_type = 'admin-change' AND detail->>'change' = 'forward-dead-letters-retried' AND user_name = 'test-admin'`);
      assert.equal(audited.rowCount, 1, 'the retry is audited');
    } finally {
      await archive.stop();
    }
  });

  it('the command line lists the queues and retries dead letters, which the running archive then sends', async (t) => {
    if (!peersPresent(t)) return;
    const cr = makeChestRadiograph({ study: STUDIES.liJiCr, modality: 'CR', seriesNumber: 2, rows: 64, columns: 64 }).bytes;
    const { sopInstanceUid } = await ingest(cr);
    await waitFor('the second CR in the dead letters', async () => ((await api<DeadLetter[]>('GET', '/api/admin/forward-queues/dead-letters')).body.length > 0 ? true : undefined));
    const admin = (...args: string[]) =>
      promisify(execFile)(process.execPath, ['--import', 'tsx', 'archive/cli/admin.ts', ...args], {
        cwd: path.resolve(import.meta.dirname, '..'),
        env: { ...process.env, DATABASE_URL: system.databaseUrl, YINGYUN_DATA_DIR: system.dataDir, YINGYUN_LOG_LEVEL: 'silent' },
      });
    const listed = JSON.parse((await admin('forward', 'dead-letters')).stdout) as DeadLetter[];
    assert.deepEqual(listed.map((letter) => letter.sopInstanceUid), [sopInstanceUid]);
    const queues = JSON.parse((await admin('forward', 'queues')).stdout) as DestinationQueue[];
    assert.equal(queues.find((queue) => queue.name === 'ARCHIVE_DOWN')?.dead, 1);

    const archive = await startStorescpDestination('ARCHIVE_DOWN', path.join(temporary, 'archive-cli'), downPort);
    try {
      assert.deepEqual(JSON.parse((await admin('forward', 'retry', '--destination', listed[0]!.destination)).stdout), { retried: 1 });
      // The command line's own queue has no workers: the archive's reconciler finds the item due and sends it.
      const files = await waitFor('the CR at the archive', () => wholeFiles(archive.files()));
      assert.equal(files.length, 1);
      assert.equal(datasetDigest(files[0]!), stored.get(sopInstanceUid));
    } finally {
      await archive.stop();
    }
  });
});
