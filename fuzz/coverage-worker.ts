import inspector from 'node:inspector';
import { parentPort, workerData } from 'node:worker_threads';
import { mutate, Random } from './mutate.ts';
import type { FuzzTarget } from './target.ts';
import { SHARED_HEADER_BYTES, type WorkerMessage, type WorkerOptions } from './worker-messages.ts';

/**
 * The fuzzing loop, in a worker thread so the parent can stop an input that never returns
 * (Worker.terminate interrupts running JavaScript). Coverage is V8's precise block coverage, read
 * and reset through the inspector. Reading it costs more than a parse, so mutated inputs run in
 * batches with one reading per batch; only a batch that reached a block no input reached before is
 * run again input by input, to find which inputs join the corpus.
 */

interface ScriptCoverage {
  scriptId: string;
  url: string;
  functions: Array<{ ranges: Array<{ startOffset: number; endOffset: number; count: number }> }>;
}

const BATCH = 32;
const options = workerData as WorkerOptions;
const session = new inspector.Session();
session.connect();

/** The same-thread inspector session answers synchronously, so no await is needed per input. */
function post<T>(method: string, params?: object): T {
  let result: T | undefined;
  let failure: Error | null = null;
  session.post(method, params ?? {}, (error, value) => {
    failure = error;
    result = value as T;
  });
  if (failure) throw failure;
  if (result === undefined) throw new Error(`inspector ${method} did not answer synchronously`);
  return result;
}

post('Profiler.enable');
post('Profiler.startPreciseCoverage', { callCount: true, detailed: true });
// Imported once block coverage is on, so the target's code is compiled with its counters.
const { target } = (await import(options.targetModule)) as { target: FuzzTarget };

const blocks = new Set<string>();

/** Per function (script:offset), the blocks V8 has reported unexecuted in it at some reading. */
const unexecutedSeen = new Map<string, Set<string>>();

/**
 * Reads and resets the counters: the target's blocks reached since the last reading. V8 folds a
 * block that ran as often as its enclosing function into that function's range, so a block is
 * seen to run either by a count of its own or by the disappearance of the zero-count range it
 * had in an earlier reading.
 */
function reached(): string[] {
  const { result } = post<{ result: ScriptCoverage[] }>('Profiler.takePreciseCoverage');
  const found: string[] = [];
  for (const script of result) {
    if (!target.coverage.test(script.url)) continue;
    for (const fn of script.functions) {
      const whole = fn.ranges[0]!;
      if (whole.count === 0) continue;
      const functionKey = `${script.scriptId}:${whole.startOffset}`;
      found.push(functionKey);
      const unexecutedNow = new Set<string>();
      for (const range of fn.ranges.slice(1)) {
        const block = `${script.scriptId}:${range.startOffset}:${range.endOffset}`;
        if (range.count > 0) found.push(block);
        else unexecutedNow.add(block);
      }
      const seen = unexecutedSeen.get(functionKey) ?? new Set<string>();
      for (const block of seen) if (!unexecutedNow.has(block)) found.push(block);
      for (const block of unexecutedNow) seen.add(block);
      unexecutedSeen.set(functionKey, seen);
    }
  }
  return found;
}

/** Adds what was reached to the coverage; true when any of it is new. */
function addCoverage(found: string[]): boolean {
  const before = blocks.size;
  for (const block of found) blocks.add(block);
  return blocks.size > before;
}

const random = new Random(options.seed);
const counters = new Int32Array(options.current, 0, 3);
const currentBytes = new Uint8Array(options.current, SHARED_HEADER_BYTES);
const send = (message: WorkerMessage) => parentPort!.postMessage(message);
let executed = 0;
const corpus: Buffer[] = [];
const progress = () => ({ inputs: executed, blocks: blocks.size, corpus: corpus.length });

/**
 * Runs one input; a first run (not a rerun for attribution) is counted and judged. False when it
 * crashed or hung: such an input is reported, not mutated further (its variants would all be the same finding).
 */
function execute(input: Buffer, firstRun: boolean): boolean {
  currentBytes.set(input.subarray(0, currentBytes.length));
  Atomics.store(counters, 2, input.length);
  Atomics.add(counters, 0, 1);
  const started = performance.now();
  let crash: unknown;
  try {
    target.run(input);
  } catch (error) {
    if (!target.expected(error)) crash = error;
  }
  const milliseconds = performance.now() - started;
  const ok = crash === undefined && milliseconds <= options.timeLimitMs;
  if (!firstRun) return ok;
  executed++;
  Atomics.store(counters, 1, executed);
  if (crash !== undefined) {
    const message = crash instanceof Error ? (crash.stack ?? crash.message) : `thrown ${typeof crash}: ${String(crash)}`;
    send({ type: 'finding', kind: 'crash', input, message, milliseconds });
  } else if (milliseconds > options.timeLimitMs) {
    send({ type: 'finding', kind: 'hang', input, message: `took ${milliseconds.toFixed(0)} ms, over the ${options.timeLimitMs} ms limit`, milliseconds });
  }
  return ok;
}

// Coverage of module loading and of the harness itself is not the target's.
reached();
// Buffers cross to a worker as plain Uint8Arrays.
const starting = options.corpus?.map((input) => Buffer.from(input.buffer, input.byteOffset, input.byteLength)) ?? (await target.seeds());
for (const input of starting) {
  if (executed >= options.inputs) break;
  const trimmed = input.subarray(0, target.maxLength);
  execute(trimmed, true);
  addCoverage(reached());
  // Every seed stays in the corpus, even one that adds no coverage of its own: it is real input.
  corpus.push(trimmed);
  if (!options.corpus) send({ type: 'corpus', input: trimmed });
}
if (corpus.length === 0) corpus.push(Buffer.alloc(0));
let nextReport = 1000;
while (executed < options.inputs) {
  const batch: Buffer[] = [];
  let ran = 0;
  while (ran < BATCH && executed < options.inputs) {
    const input = mutate(corpus[random.below(corpus.length)]!, { random, dictionary: target.dictionary, other: corpus[random.below(corpus.length)], maxLength: target.maxLength });
    if (execute(input, true)) batch.push(input);
    ran++;
  }
  if (reached().some((block) => !blocks.has(block))) {
    for (const input of batch) {
      execute(input, false);
      if (addCoverage(reached())) {
        corpus.push(input);
        send({ type: 'corpus', input });
      }
    }
  }
  if (executed >= nextReport) {
    send({ type: 'progress', ...progress() });
    nextReport += 1000;
  }
}
post('Profiler.stopPreciseCoverage');
session.disconnect();
send({ type: 'done', ...progress() });
