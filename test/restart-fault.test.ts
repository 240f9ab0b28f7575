import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import dicomParser from 'dicom-parser';
import { generateCorpus } from '../fixtures/generate.ts';
import { embeddedEnvironment, npmStart, projectRoot, signIn, stopCleanly, type Started } from './support/npm-start.ts';
import { commandExists, requirePeer } from './support/peers.ts';

/**
 * Power loss in the middle of a send: `npm start` on embedded defaults takes C-STORE over four
 * associations, and is killed (SIGKILL to its whole process group; every other round PostgreSQL's
 * group too, so nothing at all is left) while storescu is still sending. The next `npm start` on the
 * same data folder, at once and with nobody's help, must come up; and every instance storescu saw
 * acknowledged must come back from WADO-URI with the dataset storescu sent, byte for byte.
 */
const ROUNDS = 10;
const ASSOCIATIONS = 4;
/** Each round sends this many seeds of the `small` preset: 11 Explicit VR Little Endian instances each. */
const SEEDS_PER_ROUND = 4;
const EXPLICIT_VR_LITTLE_ENDIAN = '1.2.840.10008.1.2.1';
const ADMIN_PASSWORD = 'restart-fault-Admin-1';
/**
 * A crash loses the in-process queue; the reconciler re-enqueues from the receipts what was not
 * indexed once it is this old (60 s by default, shortened so the test does not sit and wait).
 */
const ENVIRONMENT = { YINGYUN_ADMIN_PASSWORD: ADMIN_PASSWORD, YINGYUN_RECONCILE_AFTER_SECONDS: '2' };
/** How long the last start may take to index what the crashes left unindexed. */
const INDEXED_WITHIN_MS = 60_000;

interface SentFile {
  file: string;
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
}

describe('restart after a crash in the middle of a send (embedded defaults)', () => {
  it(`comes up at once after SIGKILL during a 4-association storescu send, ${ROUNDS} times in a row, with every acknowledged instance retrievable`, async (t) => {
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

      const acknowledged: SentFile[] = [];
      const restartSeconds: number[] = [];
      running = await npmStart(dataDir, { environment: ENVIRONMENT });
      for (let round = 1; round <= ROUNDS; round += 1) {
        const files = writeRound(filesDir, round);
        // Kill after a different share of the round's acknowledgements each time, always mid-send.
        const killAfter = 3 + ((round * 7) % Math.floor(files.length / 2));
        const cluster = clusterDirectory(running);
        const everything = round % 2 === 0;
        const sent = await sendAndKill(running, files, killAfter, () => {
          const postmaster = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
          process.kill(-running!.child.pid!, 'SIGKILL');
          if (everything) killCluster(postmaster);
        });
        assert.ok(sent.length < files.length, `round ${round}: the kill came in the middle of the send (${sent.length} of ${files.length} acknowledged)`);
        acknowledged.push(...sent);
        const restartedAt = Date.now();
        running = await npmStart(dataDir, { environment: ENVIRONMENT });
        restartSeconds.push((Date.now() - restartedAt) / 1000);
        t.diagnostic(`round ${round}: killed ${everything ? 'Yingyun and PostgreSQL' : 'Yingyun (PostgreSQL orphaned)'} after ${sent.length}/${files.length} acknowledged; restarted in ${restartSeconds.at(-1)!.toFixed(1)} s`);
      }

      const session = await signIn(running.httpUrl, 'admin', ADMIN_PASSWORD);
      const { token } = (await session.post('/api/admin/tokens', { username: 'admin', label: 'restart-fault' })) as { token: string };
      const retrieve = async (instance: SentFile): Promise<string | undefined> => {
        const query = new URLSearchParams({ requestType: 'WADO', studyUID: instance.studyInstanceUid, seriesUID: instance.seriesInstanceUid, objectUID: instance.sopInstanceUid, contentType: 'application/dicom' });
        const response = await fetch(`${running!.httpUrl}/wado?${query}`, { headers: { authorization: `Bearer ${token}` } });
        if (response.status !== 200) return `${instance.sopInstanceUid}: ${response.status}`;
        const retrieved = Buffer.from(await response.arrayBuffer());
        // storescu sends these files' datasets unchanged (Explicit VR Little Endian); the File Meta is the archive's own.
        return datasetOf(retrieved).equals(datasetOf(fs.readFileSync(instance.file))) ? undefined : `${instance.sopInstanceUid}: different bytes`;
      };
      const deadline = Date.now() + INDEXED_WITHIN_MS;
      let unretrieved = acknowledged;
      let missing: string[] = [];
      for (;;) {
        const outcomes = await Promise.all(unretrieved.map(retrieve));
        missing = outcomes.filter((outcome): outcome is string => outcome !== undefined);
        unretrieved = unretrieved.filter((_, index) => outcomes[index] !== undefined);
        // Only "not found yet" is worth waiting for: different bytes never heal.
        if (missing.every((outcome) => !outcome.endsWith(': 404')) || Date.now() > deadline) break;
        await new Promise((resolve) => setTimeout(resolve, 1000));
      }
      assert.deepEqual(missing, [], `of ${acknowledged.length} acknowledged instances, after ${INDEXED_WITHIN_MS / 1000} s:\n${running.output().slice(-4000)}`);
      t.diagnostic(`${acknowledged.length} acknowledged instances retrieved byte-identical; restarts took ${Math.min(...restartSeconds).toFixed(1)}–${Math.max(...restartSeconds).toFixed(1)} s`);
      assert.ok(await stopCleanly(running, clusterDirectory(running)), `clean stop:\n${running.output()}`);
      running = undefined;
    } finally {
      if (running?.child.exitCode === null) {
        const cluster = clusterDirectory(running);
        process.kill(-running.child.pid!, 'SIGKILL');
        const postmaster = Number(fs.readFileSync(path.join(cluster, 'postmaster.pid'), 'utf8').split('\n')[0]);
        if (postmaster) killCluster(postmaster);
      }
      fs.rmSync(filesDir, { recursive: true, force: true });
      fs.rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

/** New instances for each round (seeds differ, so do UIDs), the Explicit VR Little Endian ones, which storescu sends unchanged. */
function writeRound(filesDir: string, round: number): SentFile[] {
  const files: SentFile[] = [];
  for (let seed = 0; seed < SEEDS_PER_ROUND; seed += 1) {
    for (const instance of generateCorpus({ preset: 'small', seed: `restart-fault-${round}-${seed}` })) {
      const { transferSyntaxUid, studyInstanceUid, seriesInstanceUid, sopInstanceUid } = instance.description;
      if (transferSyntaxUid !== EXPLICIT_VR_LITTLE_ENDIAN) continue;
      const file = path.join(filesDir, `${sopInstanceUid}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      files.push({ file, studyInstanceUid, seriesInstanceUid, sopInstanceUid });
    }
  }
  return files;
}

/**
 * Sends `files` over ASSOCIATIONS parallel storescu runs and calls `kill` once `killAfter` of them are
 * acknowledged. An instance counts as acknowledged when storescu logged a Success response for it:
 * storescu sends one file at a time, so the response follows its own "Sending file" line.
 */
async function sendAndKill(started: Started, files: SentFile[], killAfter: number, kill: () => void): Promise<SentFile[]> {
  const byFile = new Map(files.map((sent) => [sent.file, sent]));
  const acknowledged: SentFile[] = [];
  let killed = false;
  const runs = Array.from({ length: ASSOCIATIONS }, (_, index) => files.filter((_, position) => position % ASSOCIATIONS === index));
  await Promise.all(
    runs.map(
      (share) =>
        new Promise<void>((resolve) => {
          const storescu = spawn('storescu', ['-v', '-aec', 'YINGYUN', '-aet', 'FAULT_PACS', '127.0.0.1', String(started.dicomPort), ...share.map((sent) => sent.file)], {
            env: { ...process.env, TCP_NODELAY: '1' },
            stdio: ['ignore', 'ignore', 'pipe'],
          });
          let current: string | undefined;
          let pending = '';
          storescu.stderr.on('data', (chunk: Buffer) => {
            pending += chunk.toString();
            const lines = pending.split('\n');
            pending = lines.pop()!;
            for (const line of lines) {
              const sending = /^I: Sending file: (.+)$/.exec(line);
              if (sending) current = sending[1];
              else if (/^I: Received Store Response \(Success\)/.test(line) && current) {
                acknowledged.push(byFile.get(current)!);
                current = undefined;
              }
            }
            if (!killed && acknowledged.length >= killAfter) {
              killed = true;
              kill();
            }
          });
          storescu.once('close', () => resolve());
        }),
    ),
  );
  assert.ok(killed, `the kill came (${acknowledged.length} acknowledged, ${killAfter} awaited)`);
  return acknowledged;
}

/** The postmaster leads a process group of its own: SIGKILL to it is the whole cluster gone, as at a power loss. */
function killCluster(postmaster: number): void {
  try {
    process.kill(-postmaster, 'SIGKILL');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

/** Where the running Yingyun says its embedded cluster is. */
function clusterDirectory(started: Started): string {
  const directory = /embedded PostgreSQL in (\S+) \(port/.exec(started.output())?.[1];
  assert.ok(directory, `the cluster folder in:\n${started.output()}`);
  return directory;
}

function datasetOf(part10: Buffer): Buffer {
  const meta = dicomParser.parseDicom(part10, { untilTag: 'x00080000' } as dicomParser.ParseDicomOptions);
  let end = 132;
  for (const [tag, element] of Object.entries(meta.elements)) if (tag.startsWith('x0002')) end = Math.max(end, element.dataOffset + element.length);
  return part10.subarray(end);
}
