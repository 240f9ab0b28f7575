import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, writeInstances, type SentInstance } from '../support/faults.ts';
import { embeddedEnvironment, npmStart, projectRoot, stopCleanly, type Started } from '../support/npm-start.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { embeddedDatabase } from '../support/services.ts';

/**
 * Power loss in the middle of a send (fault suite, scenario "kill -9 of the gateway mid-association"):
 * `npm start` on embedded defaults takes C-STORE over four associations, and is killed (SIGKILL to its
 * whole process group; every other round PostgreSQL's group too, so nothing at all is left) while
 * storescu is still sending. The next `npm start` on the same data folder, at once and with nobody's
 * help, must come up; and every instance storescu saw acknowledged must be kept, indexed and read back
 * with its receipt's SHA-256, the index consistent.
 */
const ROUNDS = 4;
const ASSOCIATIONS = 4;
const INSTANCES_PER_ROUND = 40;
/**
 * A crash loses the in-process queue; the reconciler re-enqueues from the receipts what was not
 * indexed once it is this old (60 s by default, shortened so the test does not sit and wait).
 */
const ENVIRONMENT = { YINGYUN_ADMIN_PASSWORD: 'restart-fault-Admin-1', YINGYUN_RECONCILE_AFTER_SECONDS: '2' };

describe('restart after a crash in the middle of a send (embedded defaults)', () => {
  it(`comes up at once after SIGKILL during a 4-association storescu send, ${ROUNDS} times in a row, with every acknowledged instance kept`, async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const dataDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-restart-fault-'));
    fs.chmodSync(dataDir, 0o755);
    const filesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-restart-fault-files-'));
    let running: Started | undefined;
    try {
      // What a PACS administrator does first (README), on the embedded database of this data folder.
      const admin = (...args: string[]) => {
        const result = spawnSync('npm', ['run', '--silent', 'admin', '--', ...args], { cwd: projectRoot, env: embeddedEnvironment(dataDir), encoding: 'utf8' });
        assert.equal(result.status, 0, `admin ${args.join(' ')}: ${result.stderr}`);
      };
      admin('institution', 'add', '--code', 'FAULT1', '--name', '断电测试医院', '--kind', 'hospital');
      admin('peer', 'add', '--institution', 'FAULT1', '--ae', 'FAULT_PACS', '--network', '127.0.0.1/32');

      const acknowledged: SentInstance[] = [];
      const restartSeconds: number[] = [];
      running = await npmStart(dataDir, { environment: ENVIRONMENT });
      for (let round = 1; round <= ROUNDS; round += 1) {
        const instances = writeInstances(path.join(filesDir, String(round)), `restart-fault-${round}`, INSTANCES_PER_ROUND);
        // Kill after a different share of the round's acknowledgements each time, always mid-send.
        const killAfter = 3 + ((round * 7) % Math.floor(instances.length / 2));
        const cluster = embeddedDatabase(running.output()).clusterDir;
        const everything = round % 2 === 0;
        let killed = false;
        const current = running;
        const sent = await sendWithStorescu(current.dicomPort, instances, {
          callingAeTitle: 'FAULT_PACS',
          associations: ASSOCIATIONS,
          onResponse: ({ acknowledged: soFar }) => {
            if (killed || soFar.length < killAfter) return;
            killed = true;
            const postmaster = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
            process.kill(-current.child.pid!, 'SIGKILL');
            if (everything) killCluster(postmaster);
          },
        });
        assert.ok(killed && sent.acknowledged.length < instances.length, `round ${round}: the kill came in the middle of the send (${sent.acknowledged.length} of ${instances.length} acknowledged)`);
        acknowledged.push(...sent.acknowledged);
        const restartedAt = Date.now();
        running = await npmStart(dataDir, { environment: ENVIRONMENT });
        restartSeconds.push((Date.now() - restartedAt) / 1000);
        t.diagnostic(`round ${round}: killed ${everything ? 'Yingyun and PostgreSQL' : 'Yingyun (PostgreSQL orphaned)'} after ${sent.acknowledged.length}/${instances.length} acknowledged; restarted in ${restartSeconds.at(-1)!.toFixed(1)} s`);
      }

      const { databaseUrl } = embeddedDatabase(running.output());
      const store = await openLocalObjectStore(path.join(dataDir, 'objects'));
      await assertNothingLost(databaseUrl, store, acknowledged);
      await assertIndexConsistent(databaseUrl, store);
      t.diagnostic(`${acknowledged.length} acknowledged instances kept and indexed; restarts took ${Math.min(...restartSeconds).toFixed(1)}–${Math.max(...restartSeconds).toFixed(1)} s`);
      assert.ok(await stopCleanly(running, embeddedDatabase(running.output()).clusterDir), `clean stop:\n${running.output()}`);
      running = undefined;
    } finally {
      if (running?.child.exitCode === null) {
        const cluster = embeddedDatabase(running.output()).clusterDir;
        process.kill(-running.child.pid!, 'SIGKILL');
        const postmaster = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (postmaster) killCluster(postmaster);
      }
      fs.rmSync(filesDir, { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** The postmaster leads a process group of its own: SIGKILL to it is the whole cluster gone, as at a power loss. */
function killCluster(postmaster: number): void {
  try {
    process.kill(-postmaster, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

