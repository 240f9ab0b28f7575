import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { runDcmtk } from './support/dcmtk.ts';
import { regionAccountForEdge, startEdgeProcess, waitFor, writeInstances, type EdgeProcess } from './support/edge.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The county edge's outage over a real link (issue 17): the edge runs in a network namespace of its own,
 * joined to this one (the region's) by a veth pair, on embedded PostgreSQL as a county installs it, with
 * the local PACS (storescu) beside it in the namespace. `ip link set … down` cuts the link — no reset, the
 * packets just stop — for YINGYUN_EDGE_OUTAGE_SECONDS: by default the two minutes under CI=true, 10 s elsewhere.
 * Needs root and `ip netns`: required when CI=true and running as root, skipped with the reason otherwise.
 */
const OUTAGE_MS = Number(process.env.YINGYUN_EDGE_OUTAGE_SECONDS ?? (process.env.CI === 'true' ? 120 : 10)) * 1000;
const suffix = String(process.pid % 10_000);
const NAMESPACE = `yyedge${suffix}`;
const REGION_SIDE = `yyr${suffix}`;
const EDGE_SIDE = `yye${suffix}`;
const SUBNET = `10.201.${process.pid % 250}`;

function ip(...args: string[]): void {
  execFileSync('ip', args, { stdio: ['ignore', 'ignore', 'pipe'] });
}

/** Why network namespaces cannot be used here, or null when they can. */
function namespacesUnavailable(): string | null {
  if (process.getuid?.() !== 0) return 'network namespaces need root';
  if (!commandExists('ip')) return 'ip (iproute2) is not installed';
  try {
    ip('netns', 'add', NAMESPACE);
    ip('netns', 'del', NAMESPACE);
    return null;
  } catch (error) {
    return `ip netns add failed: ${(error as { stderr?: Buffer }).stderr?.toString().trim() ?? String(error)}`;
  }
}

function requireNamespaces(t: TestContext): boolean {
  const reason = namespacesUnavailable();
  if (reason === null) return true;
  if (process.env.CI === 'true' && process.getuid?.() === 0) throw new Error(`${reason}: required when CI=true as root`);
  console.log(`edge-netns skipped: ${reason}`);
  t.skip(reason);
  return false;
}

describe('county edge over a veth link cut with ip link set down', { timeout: 600_000 }, () => {
  let region: TestSystem | undefined;
  let edge: EdgeProcess | undefined;
  let dataDir: string | undefined;
  let namespaceMade = false;

  after(async () => {
    await edge?.stop();
    // The embedded cluster of a root process in a private folder lives under /var/lib/yingyun (README).
    const cluster = /embedded PostgreSQL in (\/var\/lib\/yingyun\/[0-9a-f]+)\/postgres/.exec(edge?.database ?? '')?.[1];
    if (cluster) await fs.rm(cluster, { recursive: true, force: true });
    if (namespaceMade) ip('netns', 'del', NAMESPACE);
    await region?.shutdown();
    if (dataDir) await fs.rm(dataDir, { recursive: true, force: true });
  });

  it('queues through the cut and forwards every instance once after the link comes back up', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    if (!requireNamespaces(t)) return;
    ip('netns', 'add', NAMESPACE);
    namespaceMade = true;
    ip('link', 'add', REGION_SIDE, 'type', 'veth', 'peer', 'name', EDGE_SIDE);
    ip('link', 'set', EDGE_SIDE, 'netns', NAMESPACE);
    ip('addr', 'add', `${SUBNET}.1/30`, 'dev', REGION_SIDE);
    ip('link', 'set', REGION_SIDE, 'up');
    ip('-n', NAMESPACE, 'addr', 'add', `${SUBNET}.2/30`, 'dev', EDGE_SIDE);
    ip('-n', NAMESPACE, 'link', 'set', EDGE_SIDE, 'up');
    ip('-n', NAMESPACE, 'link', 'set', 'lo', 'up');

    region = await startTestSystem({ YINGYUN_HTTP_HOST: `${SUBNET}.1` });
    const regionToken = await regionAccountForEdge(region);
    dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-edge-netns-'));
    edge = await startEdgeProcess({ dataDir }, {
      YINGYUN_EDGE_REGION_URL: `http://${SUBNET}.1:${region.httpPort}`,
      YINGYUN_EDGE_REGION_TOKEN: regionToken,
      YINGYUN_EDGE_RETENTION_HOURS: '0',
      YINGYUN_EDGE_RETRY_MAX_SECONDS: '2',
      YINGYUN_EDGE_TIMEOUT_SECONDS: '5',
      // The local PACS is not registered in this fresh edge: its instances go to the quarantine institution there,
      // which changes nothing for forwarding (the region files them under the token's institution).
      YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine',
    }, NAMESPACE);

    ip('link', 'set', REGION_SIDE, 'down');
    const outageStarted = Date.now();
    const files = await writeInstances(dataDir, 'edge-netns', 20);
    const uids = files.map((file) => file.sopInstanceUid);
    const sent = await runDcmtk('ip', ['netns', 'exec', NAMESPACE, 'storescu', '-aec', 'YINGYUN', '-aet', 'COUNTY_PACS', '127.0.0.1', String(edge.dicomPort), ...files.map(({ file }) => file)], 120_000);
    assert.equal(sent.code, 0, sent.output);
    const atRegion = async () =>
      new Map((await region!.runtime.db.pool.query<{ sop: string; copies: number }>(
        'SELECT sop_instance_uid AS sop, count(*)::int AS copies FROM receipts WHERE sop_instance_uid = ANY ($1) GROUP BY 1', [uids],
      )).rows.map((row) => [row.sop, row.copies]));
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, OUTAGE_MS - (Date.now() - outageStarted))));
    assert.equal((await atRegion()).size, 0, 'nothing crossed the link while it was down');
    const localObjects = async () => (await fs.readdir(path.join(dataDir!, 'objects', 'instances'), { recursive: true })).filter((name) => String(name).endsWith('.dcm')).length;
    assert.equal(await localObjects(), files.length, 'every acknowledged instance is on the edge\'s disk');

    ip('link', 'set', REGION_SIDE, 'up');
    await waitFor('every instance at the region and deleted at the edge', async () => (await atRegion()).size === files.length && (await localObjects()) === 0, 180_000);
    for (const [sop, copies] of await atRegion()) assert.equal(copies, 1, `${sop} is at the region exactly once`);
  });
});
