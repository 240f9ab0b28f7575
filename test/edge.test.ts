import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runDcmtk } from './support/dcmtk.ts';
import { prepareEdgeSite, regionAccountForEdge, startEdgeProcess, waitFor, writeInstances, type EdgeProcess, type EdgeSite } from './support/edge.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { startThrottlingProxy, type ThrottlingProxy } from './support/throttling-proxy.ts';

/**
 * County edge store-and-forward (issue 17): a region (this process) and an edge (`npm run edge`'s
 * command as a child process) on 127.0.0.1, with a WAN-like proxy between them (latency, bandwidth
 * cap, cut). storescu sends to the edge while the link is down; after a 10 s outage every instance
 * reaches the region exactly once, with the SHA-256 the edge stored, and the edge's copies go. Then
 * the edge is killed with SIGKILL in the middle of forwarding and restarted: nothing lost or doubled.
 */
const dcmtk = commandExists('storescu');
const OUTAGE_MS = Number(process.env.YINGYUN_EDGE_OUTAGE_SECONDS ?? 10) * 1000;

describe('county edge store-and-forward', { timeout: 300_000 }, () => {
  let region: TestSystem;
  let proxy: ThrottlingProxy;
  let site: EdgeSite;
  let edge: EdgeProcess | undefined;
  let filesDir: string;
  let regionToken: string;

  before(async () => {
    if (!dcmtk) return;
    region = await startTestSystem();
    regionToken = await regionAccountForEdge(region);
    proxy = await startThrottlingProxy({ targetPort: region.httpPort, latencyMs: 20, bytesPerSecond: 4_000_000 });
    site = await prepareEdgeSite();
    filesDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-edge-files-'));
  });

  after(async () => {
    if (!dcmtk) return;
    await edge?.stop();
    await proxy.close();
    await site.dispose();
    await region.shutdown();
    await fs.rm(filesDir, { recursive: true, force: true });
  });

  const startEdge = () =>
    startEdgeProcess(site, {
      YINGYUN_EDGE_REGION_URL: `http://127.0.0.1:${proxy.port}`,
      YINGYUN_EDGE_REGION_TOKEN: regionToken,
      YINGYUN_EDGE_RETENTION_HOURS: '0',
      YINGYUN_EDGE_RETRY_MAX_SECONDS: '2',
      YINGYUN_EDGE_TIMEOUT_SECONDS: '5',
    });
  const edgeGet = (target: string, headers: Record<string, string> = {}) => fetch(`${edge!.httpUrl}${target}`, { headers: { authorization: `Bearer ${site.adminToken}`, ...headers } });
  const status = async () => (await (await edgeGet('/api/edge/status')).json()) as { link: { state: string; lastError: string | null }; backlog: { count: number; bytes: number; deleted: number; verifiedKept: number } };
  const send = async (files: Array<{ file: string }>) => {
    const result = await runDcmtk('storescu', ['-aec', 'YINGYUN', '-aet', 'STORESCU', '127.0.0.1', String(edge!.dicomPort), ...files.map(({ file }) => file)], 120_000);
    assert.equal(result.code, 0, result.output);
  };
  /** Per instance: how many receipts the region holds, and their SHA-256s. */
  const atRegion = async (uids: string[]) =>
    new Map(
      (await region.runtime.db.pool.query<{ sop: string; copies: number; digests: string[] }>(
        'SELECT sop_instance_uid AS sop, count(*)::int AS copies, array_agg(object_sha256) AS digests FROM receipts WHERE sop_instance_uid = ANY ($1) GROUP BY 1',
        [uids],
      )).rows.map((row) => [row.sop, row]),
    );
  const atEdge = async (uids: string[]) =>
    (await site.pool.query<{ sop: string; sha: string; key: string; state: string }>(
      'SELECT f.sop_instance_uid AS sop, f.object_sha256 AS sha, f.object_key AS key, f.state FROM edge_forwards f WHERE f.sop_instance_uid = ANY ($1)',
      [uids],
    )).rows;
  /** Every instance once at the region with the edge's SHA-256, verified and deleted at the edge, its file gone. */
  const assertForwardedOnce = async (uids: string[]) => {
    const regionCopies = await atRegion(uids);
    const edgeRows = await atEdge(uids);
    assert.equal(edgeRows.length, uids.length, 'one queue row per instance at the edge');
    for (const row of edgeRows) {
      const held = regionCopies.get(row.sop);
      assert.ok(held, `${row.sop} is at the region`);
      assert.equal(held.copies, 1, `${row.sop} is at the region exactly once`);
      assert.deepEqual(held.digests, [row.sha], `${row.sop} has the edge's SHA-256 at the region`);
      assert.equal(row.state, 'deleted');
      await assert.rejects(fs.access(path.join(site.dataDir, 'objects', row.key)), `${row.key} deleted at the edge`);
    }
  };

  it('keeps what the PACS sends through a 10 s outage, then forwards each instance once, verified, and deletes it here', async (t) => {
    if (!requirePeer(t, dcmtk, 'DCMTK (storescu)')) return;
    edge = await startEdge();
    proxy.cut();
    const files = await writeInstances(filesDir, 'edge-outage', 24);
    const uids = files.map((file) => file.sopInstanceUid);
    const outageStarted = Date.now();
    await send(files);
    // Acknowledged by the edge while the region is unreachable: queued here, on local disk.
    await waitFor('the link to be seen down', async () => (await status()).link.state === 'down', 20_000);
    const during = await status();
    assert.equal(during.backlog.count, files.length);
    assert.ok(during.backlog.bytes > 0);
    assert.ok(during.link.lastError, 'the status says why the link is down');
    assert.equal((await atRegion(uids)).size, 0, 'nothing reached the region through the cut link');

    const page = await (await edgeGet('/edge', { 'accept-language': 'zh-CN,zh;q=0.9' })).text();
    assert.match(page, /链路/);
    assert.match(page, /中断/);
    assert.match(page, new RegExp(`<td>${files.length}</td>`));
    const english = await (await edgeGet('/edge?lang=en')).text();
    assert.match(english, /Link/);
    const metrics = await (await edgeGet('/metrics')).text();
    assert.match(metrics, new RegExp(`yingyun_edge_backlog_instances ${files.length}`));
    assert.match(metrics, /yingyun_edge_link_up 0/);
    assert.equal((await fetch(`${edge.httpUrl}/edge`)).status, 401, 'the status page needs a sign-in');

    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - outageStarted))));
    proxy.restore();
    await waitFor('every instance forwarded, verified and deleted', async () => (await status()).backlog.deleted >= files.length, 120_000);
    const afterwards = await status();
    assert.equal(afterwards.link.state, 'up');
    assert.equal(afterwards.backlog.count, 0);
    await assertForwardedOnce(uids);
    assert.match(await (await edgeGet('/metrics')).text(), new RegExp(`yingyun_edge_verified_instances_total ${files.length}`));
  });

  it('loses and doubles nothing when the edge is killed with SIGKILL in the middle of forwarding', async (t) => {
    if (!requirePeer(t, dcmtk, 'DCMTK (storescu)')) return;
    edge ??= await startEdge();
    // A slow link, so that the kill falls in the middle of the forwarding.
    proxy.setBandwidth(100_000);
    const files = await writeInstances(filesDir, 'edge-kill', 30);
    const uids = files.map((file) => file.sopInstanceUid);
    await send(files);
    await waitFor('some instances at the region', async () => (await atRegion(uids)).size > 0, 60_000);
    const before = (await atRegion(uids)).size;
    assert.ok(before < files.length, `the kill comes mid-forward (${before} of ${files.length} at the region)`);
    await edge.kill9();
    edge = undefined;
    proxy.setBandwidth(4_000_000);
    edge = await startEdge();
    await waitFor('every instance forwarded after the restart', async () => (await atEdge(uids)).every((row) => row.state === 'deleted'), 120_000);
    await assertForwardedOnce(uids);
  });
});
