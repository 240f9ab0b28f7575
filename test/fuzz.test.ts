import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { decodeDataset } from '../archive/dicom/dataset-codec.ts';
import { TRANSFER_SYNTAX } from '../archive/dicom/parse.ts';
import { PduReader } from '../gateway/dimse/pdu-reader.ts';
import { runCoverageFuzzer } from '../fuzz/coverage-fuzzer.ts';
import { runProtocolFuzzer } from '../fuzz/protocol-fuzzer.ts';
import type { FuzzTarget } from '../fuzz/target.ts';
import { capturedStreams } from '../fuzz/targets/pdu-seeds.ts';
import { PYDICOM_DATA } from '../fuzz/targets/seeds.ts';

/**
 * The fuzzers (fuzz/, `npm run fuzz` runs them at full size): a short run of each must find no
 * crash and no hang and run the inputs it claims; the engine must find a planted crash and hang;
 * and every input a fuzzer found to crash or hang (fixtures/fuzz/crashes/<target>-*.bin) is fed
 * again and must now be refused cleanly, in time.
 */

const CRASHES = path.join(import.meta.dirname, '../fixtures/fuzz/crashes');
const targetModule = (name: string) => new URL(`../fuzz/targets/${name}.ts`, import.meta.url).href;
const pydicomPresent = fs.existsSync(PYDICOM_DATA);

describe('fuzzing regressions', () => {
  for (const file of fs.readdirSync(CRASHES).filter((name) => name.endsWith('.bin')).sort()) {
    it(`${file} is refused cleanly within the fuzzer's time limit`, async () => {
      const { target } = (await import(targetModule(file.split('-')[0]!))) as { target: FuzzTarget };
      const input = fs.readFileSync(path.join(CRASHES, file));
      const started = performance.now();
      try {
        target.run(input);
      } catch (error) {
        assert.ok(target.expected(error), `an unexpected error: ${error instanceof Error ? error.stack : String(error)}`);
      }
      assert.ok(performance.now() - started < 1000, `took ${(performance.now() - started).toFixed(0)} ms`);
    });
  }

  it('an empty bare dataset (an empty C-FIND identifier) decodes to an empty dataset', () => {
    assert.deepEqual(decodeDataset(Buffer.alloc(0), TRANSFER_SYNTAX.explicitLittleEndian), {});
    assert.deepEqual(decodeDataset(Buffer.alloc(0), TRANSFER_SYNTAX.implicitLittleEndian), {});
  });

  it('PduReader cuts a stream sent a byte at a time into the same PDUs as sent whole', async () => {
    const { bytes } = (await capturedStreams()).find(({ name }) => name === 'c-store-ct-implicit')!;
    const whole = new PduReader(262_144).push(bytes);
    const reader = new PduReader(262_144);
    const trickled = [...bytes].flatMap((byte) => reader.push(Buffer.from([byte])));
    assert.ok(whole.length >= 4, 'association request, command, dataset, release');
    assert.deepEqual(
      trickled.map(({ type, body }) => [type, body.toString('hex')]),
      whole.map(({ type, body }) => [type, body.toString('hex')]),
    );
  });
});

describe('coverage-guided fuzzing', () => {
  it('finds a crash two coverage steps deep and an input that never returns', async () => {
    const result = await runCoverageFuzzer({ targetModule: new URL('./support/fuzz-toy-target.ts', import.meta.url).href, inputs: 5000, timeLimitMs: 1000 });
    assert.equal(result.inputs, 5000);
    assert.equal(result.hangs.length, 1);
    assert.equal(result.hangs[0]!.input.toString('latin1'), 'HANG');
    assert.equal(result.restarts, 1, 'the worker was stopped once, for the endless loop, and started again');
    assert.ok(result.crashes.length >= 1, 'the planted crash was found');
    assert.match(result.crashes[0]!.message, /planted crash/);
    assert.equal(result.crashes[0]!.input.toString('latin1', 0, 2), 'DU');
    assert.ok(result.corpus >= 2, 'the first step was kept in the corpus');
  });

  for (const name of ['dicom', 'pdu']) {
    it(`${name}: a short run finds no crash and no hang`, { skip: name === 'dicom' && !pydicomPresent && !process.env.CI && 'pydicom test files are not installed' }, async () => {
      const { target } = (await import(targetModule(name))) as { target: FuzzTarget };
      const seeds = (await target.seeds()).length;
      const result = await runCoverageFuzzer({ targetModule: targetModule(name), inputs: 2000 });
      assert.deepEqual(result.crashes.map((finding) => finding.message), []);
      assert.deepEqual(result.hangs.map((finding) => finding.message), []);
      assert.equal(result.inputs, 2000);
      assert.equal(result.restarts, 0);
      assert.ok(seeds > 0, 'real inputs to start from');
      assert.ok(result.corpus > seeds, `mutations reached code the ${seeds} seeds did not (corpus ${result.corpus})`);
      assert.ok(result.blocks > 50, `${result.blocks} blocks reached`);
    });
  }
});

describe('protocol fuzzing', () => {
  it('a running gateway survives mutated associations and keeps answering C-ECHO', async () => {
    const result = await runProtocolFuzzer({ inputs: 200, batchSize: 100 });
    assert.equal(result.inputs, 200);
    assert.equal(result.batches, 2);
    assert.equal(result.crashes, 0);
    assert.equal(result.hangs, 0);
    assert.equal(result.failedLivenessChecks, 0);
    // Some of these inputs are written in small pieces. While a piece's first byte was taken for a PDU
    // type, each piece starting 0x01 waited 1 s for an A-ASSOCIATE-AC, and two inputs took 41 s and 54 s.
    assert.ok(result.slowestInputMs < 10_000, `the slowest input took ${result.slowestInputMs.toFixed(0)} ms`);
    assert.ok(result.answers >= 5, `the server answered in ${result.answers} distinct ways: ${JSON.stringify(result.topAnswers)}`);
    if (process.env.CI) assert.equal(result.echoscuChecks, 2, 'DCMTK echoscu checked every batch');
  });
});
