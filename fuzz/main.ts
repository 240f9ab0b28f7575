import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { runCoverageFuzzer, type CoverageFuzzResult } from './coverage-fuzzer.ts';
import { runProtocolFuzzer, type ProtocolFuzzResult } from './protocol-fuzzer.ts';

/**
 * `npm run fuzz`: the DICOM parser and PDU reader fuzzers (coverage-guided) and the protocol fuzzer
 * (mutated associations against a running gateway), one after the other — one fuzzing process at a
 * time on a shared machine. Exits 1 on any crash, hang or failed liveness check.
 *   --inputs N       inputs per fuzzer (100000)
 *   --only NAME      dicom, pdu or protocol
 *   --seed N         replay a run
 *   --findings DIR   where crashing and hanging inputs are written
 */

const { values } = parseArgs({
  options: {
    inputs: { type: 'string', default: '100000' },
    only: { type: 'string' },
    seed: { type: 'string', default: '1' },
    findings: { type: 'string', default: path.join(os.tmpdir(), 'yingyun-fuzz-findings') },
  },
});
const inputs = Number(values.inputs);
const seed = Number(values.seed);
const selected = (name: string) => values.only === undefined || values.only === name;
const results: Array<CoverageFuzzResult | ProtocolFuzzResult> = [];
const log = (line: string) => process.stderr.write(`${line}\n`);

for (const name of ['dicom', 'pdu']) {
  if (!selected(name)) continue;
  log(`fuzz ${name}: ${inputs} inputs`);
  const result = await runCoverageFuzzer({
    targetModule: new URL(`./targets/${name}.ts`, import.meta.url).href,
    inputs,
    seed,
    findingsDir: values.findings,
    onProgress: (progress) => {
      if (progress.inputs % 10_000 < 1000) log(`  ${name}: ${progress.inputs} inputs, ${progress.blocks} blocks, corpus ${progress.corpus}`);
    },
  });
  results.push(result);
}
if (selected('protocol')) {
  log(`fuzz protocol: ${inputs} inputs`);
  results.push(await runProtocolFuzzer({ inputs, seed, findingsDir: values.findings, onProgress: (progress) => {
    log(`  protocol: ${progress.inputs} inputs in ${progress.seconds.toFixed(0)} s, ${progress.inputsPerSecond.toFixed(0)} inputs/s, ${progress.crashes} crashes, ${progress.hangs} hangs, ${progress.answers} distinct answers${progress.rssBytes ? `, server RSS ${(progress.rssBytes / 2 ** 20).toFixed(0)} MiB` : ''}`);
  } }));
}

const mib = (bytes: number) => `${(bytes / 2 ** 20).toFixed(0)} MiB`;
console.log('fuzzer    inputs    coverage                               crashes  hangs  inputs/s  seconds');
for (const result of results) {
  const coverage =
    'answers' in result
      ? `${result.answers} distinct answers; RSS ${mib(result.rssStartBytes)}→${mib(result.rssMaxBytes)} max`
      : `${result.blocks} blocks, corpus ${result.corpus}`;
  const crashes = 'answers' in result ? result.crashes : result.crashes.reduce((sum, finding) => sum + finding.occurrences, 0);
  const hangs = 'answers' in result ? result.hangs : result.hangs.reduce((sum, finding) => sum + finding.occurrences, 0);
  console.log(
    `${result.target.padEnd(9)} ${String(result.inputs).padStart(7)}   ${coverage.padEnd(38)} ${String(crashes).padStart(7)} ${String(hangs).padStart(6)} ${result.inputsPerSecond.toFixed(0).padStart(9)} ${result.seconds.toFixed(0).padStart(8)}`,
  );
}
let failed = false;
for (const result of results) {
  if ('answers' in result) {
    log(`protocol: ${result.batches} batches, every one followed by a C-ECHO of ours${result.echoscuChecks ? ' and echoscu' : ''}: ${result.failedLivenessChecks} failed; slowest input ${result.slowestInputMs.toFixed(0)} ms, slowest close after ours ${result.slowestCloseMs.toFixed(0)} ms; most frequent answers: ${result.topAnswers.map(([answer, count]) => `${answer} ×${count}`).join('; ')}`);
    if (result.crashes || result.hangs || result.failedLivenessChecks) failed = true;
    for (const file of result.findings) log(`  finding: ${file}`);
    continue;
  }
  if (result.restarts) log(`${result.target}: the worker was restarted ${result.restarts} times`);
  for (const finding of [...result.crashes, ...result.hangs]) {
    failed = true;
    log(`${result.target} ${finding.kind} ×${finding.occurrences}: ${finding.file}\n${finding.message.split('\n').slice(0, 6).join('\n')}`);
  }
}
process.exit(failed ? 1 : 0);
