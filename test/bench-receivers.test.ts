import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generateCorpus } from '../fixtures/generate.ts';
import { freePort, stopChild, waitForPort } from '../bench/peers.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');

/**
 * The benchmark's own receivers (bench/dimse-only.ts, bench/durable-floor.ts) are not run by any
 * other test; a change to the DIMSE layer that breaks them would only show in the next benchmark.
 * Each must take a C-STORE from storescu and answer Success.
 */
describe('benchmark receivers', () => {
  for (const [script, ...args] of [['dimse-only.ts'], ['durable-floor.ts', 'flush'], ['durable-floor.ts', 'segment'], ['durable-floor.ts', 'commit-only']]) {
    it(`bench/${[script, ...args].join(' ')} takes a C-STORE from storescu and answers Success`, async (t) => {
      if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
      const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-bench-receiver-'));
      const port = await freePort();
      const child = spawn(process.execPath, ['--import', 'tsx', path.join(root, 'bench', script!), ...args], {
        cwd: root,
        stdio: ['ignore', 'ignore', 'inherit'],
        env: { ...process.env, YINGYUN_DATA_DIR: workDir, YINGYUN_FLOOR_SEGMENT_MB: '4', YINGYUN_DICOM_PORT: String(port), YINGYUN_DICOM_HOST: '127.0.0.1' },
      });
      try {
        await waitForPort(port, 120_000);
        const file = path.join(workDir, 'instance.dcm');
        await fs.writeFile(file, [...generateCorpus({ preset: 'small' })].find((instance) => instance.description.modality === 'CT')!.bytes);
        const result = await runDcmtk('storescu', ['-v', '-aec', 'YINGYUN', '-aet', 'BENCH', '127.0.0.1', String(port), file]);
        assert.equal(result.code, 0, result.output);
        assert.match(result.output, /Received Store Response \(Success\)/);
      } finally {
        await stopChild(child);
        await fs.rm(workDir, { recursive: true, force: true });
      }
    });
  }
});
