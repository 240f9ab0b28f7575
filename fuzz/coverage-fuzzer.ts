import { createHash } from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { Worker } from 'node:worker_threads';
import { SHARED_HEADER_BYTES, type WorkerMessage, type WorkerOptions } from './worker-messages.ts';

/**
 * Runs a coverage-guided fuzz target (fuzz/targets/*.ts) for a number of inputs and watches it: an
 * input that throws what the target does not expect is a crash, one that runs past the time limit
 * a hang, whether it finishes late (timed in the worker) or never (the worker is stopped and
 * started again from the corpus so far). Findings are written to `findingsDir`.
 *
 * Why our own loop and not Jazzer.js: @jazzer.js/core 4.0.0 ships its libFuzzer addon prebuilt for
 * glibc 2.38, which this Debian 12 (glibc 2.36) cannot load, and the 1.x/2.x releases fetch or
 * compile the addon at install time from outside the npm registry. V8's own block coverage, read
 * through node:inspector, gives the same guidance signal with no native code.
 */

export interface Finding {
  kind: 'crash' | 'hang';
  message: string;
  input: Buffer;
  /** How many inputs hit the same first line of the error. */
  occurrences: number;
  file?: string;
}

export interface CoverageFuzzResult {
  target: string;
  inputs: number;
  /** Distinct code blocks (V8 block coverage ranges) of the target's scripts reached. */
  blocks: number;
  corpus: number;
  crashes: Finding[];
  hangs: Finding[];
  seconds: number;
  inputsPerSecond: number;
  /** Times the worker was stopped (a hang that never returned) or died, and started again. */
  restarts: number;
}

export interface CoverageFuzzOptions {
  /** A module that exports `target` (fuzz/target.ts). */
  targetModule: string;
  inputs: number;
  seed?: number;
  /** An input running longer than this is a hang. */
  timeLimitMs?: number;
  findingsDir?: string;
  onProgress?: (progress: { inputs: number; blocks: number; corpus: number }) => void;
}

const WORKER = new URL('./coverage-worker.ts', import.meta.url).href;
/** Node 20 does not carry `--import tsx` into worker threads: the worker registers it first. */
const WORKER_BOOTSTRAP = `import('tsx/esm/api').then(({ register }) => { register(); return import(${JSON.stringify(WORKER)}); })`;

export async function runCoverageFuzzer(options: CoverageFuzzOptions): Promise<CoverageFuzzResult> {
  const timeLimitMs = options.timeLimitMs ?? 1000;
  const started = performance.now();
  const target = path.basename(options.targetModule).replace(/\.ts$/, '');
  const corpus: Buffer[] = [];
  const findings = new Map<string, Finding>();
  let inputs = 0;
  let blocks = 0;
  let restarts = 0;

  const record = (kind: Finding['kind'], input: Buffer, message: string) => {
    // One finding per distinct error (its message and the frame it was thrown from), counted.
    const signature = `${kind}:${message.split('\n').slice(0, 2).join('|')}`;
    const known = findings.get(signature);
    if (known) known.occurrences++;
    else findings.set(signature, { kind, message, input, occurrences: 1 });
  };

  while (inputs < options.inputs) {
    const current = new SharedArrayBuffer(SHARED_HEADER_BYTES + 1024 * 1024);
    const workerOptions: WorkerOptions = {
      targetModule: options.targetModule,
      inputs: options.inputs - inputs,
      seed: (options.seed ?? 1) + restarts,
      timeLimitMs,
      ...(restarts > 0 ? { corpus: [...corpus] } : {}),
      current,
    };
    const outcome = await runWorker(workerOptions, timeLimitMs, (message) => {
      if (message.type === 'corpus') corpus.push(Buffer.from(message.input));
      else if (message.type === 'finding') record(message.kind, Buffer.from(message.input), message.message);
      else {
        blocks = Math.max(blocks, message.blocks);
        if (message.type === 'progress') options.onProgress?.({ ...message, inputs: inputs + message.inputs });
      }
    });
    inputs += outcome.inputs;
    const counters = new Int32Array(current, 0, 3);
    if (outcome.stopped && Atomics.load(counters, 0) === 0) {
      throw new Error(`the fuzz worker for ${target} failed before its first input: ${outcome.stopped.message}`);
    }
    if (outcome.stopped) {
      restarts++;
      const input = Buffer.from(new Uint8Array(current, SHARED_HEADER_BYTES, Math.min(Atomics.load(counters, 2), current.byteLength - SHARED_HEADER_BYTES)));
      record(outcome.stopped.kind, input, outcome.stopped.message);
      inputs++;
    }
  }

  const seconds = (performance.now() - started) / 1000;
  const all = [...findings.values()];
  if (options.findingsDir) {
    await fs.mkdir(options.findingsDir, { recursive: true });
    for (const finding of all) {
      const name = `${target}-${finding.kind}-${createHash('sha1').update(finding.input).digest('hex').slice(0, 12)}`;
      finding.file = path.join(options.findingsDir, `${name}.bin`);
      await fs.writeFile(finding.file, finding.input);
      await fs.writeFile(path.join(options.findingsDir, `${name}.txt`), `${finding.message}\n(${finding.occurrences} inputs)\n`);
    }
  }
  return {
    target,
    inputs,
    blocks,
    corpus: corpus.length,
    crashes: all.filter((finding) => finding.kind === 'crash'),
    hangs: all.filter((finding) => finding.kind === 'hang'),
    seconds,
    inputsPerSecond: inputs / seconds,
    restarts,
  };
}

interface WorkerOutcome {
  /** Inputs the worker finished. */
  inputs: number;
  /** Set when the worker had to be stopped, or died, in the middle of an input. */
  stopped?: { kind: Finding['kind']; message: string };
}

function runWorker(workerOptions: WorkerOptions, timeLimitMs: number, onMessage: (message: WorkerMessage) => void): Promise<WorkerOutcome> {
  return new Promise((resolve) => {
    const worker = new Worker(WORKER_BOOTSTRAP, { eval: true, workerData: workerOptions });
    const counters = new Int32Array(workerOptions.current, 0, 3);
    let done = false;
    let stopped: WorkerOutcome['stopped'];
    let lastStarted = 0;
    let lastChange = performance.now();
    const watchdog = setInterval(() => {
      const startedInputs = Atomics.load(counters, 0);
      if (startedInputs !== lastStarted) {
        lastStarted = startedInputs;
        lastChange = performance.now();
      } else if (startedInputs > 0 && performance.now() - lastChange > timeLimitMs * 3) {
        // The worker's own timing catches a slow input that returns; this one has not returned. Three
        // times the limit, so a worker merely descheduled on a busy machine is not stopped.
        stopped = { kind: 'hang', message: `no return within ${timeLimitMs * 3} ms (the limit is ${timeLimitMs} ms): stopped` };
        void worker.terminate();
      }
    }, Math.max(20, Math.min(250, timeLimitMs / 4)));
    worker.on('message', (message: WorkerMessage) => {
      if (message.type === 'done') done = true;
      onMessage(message);
    });
    worker.on('error', (error) => {
      stopped ??= { kind: 'crash', message: `the worker died: ${error.stack ?? error.message}` };
    });
    worker.on('exit', (code) => {
      clearInterval(watchdog);
      if (!done) stopped ??= { kind: 'crash', message: `the worker exited with code ${code} before finishing` };
      const inputs = Atomics.load(counters, 1);
      resolve(stopped ? { inputs, stopped } : { inputs });
    });
  });
}
