/** What the coverage fuzzer (coverage-fuzzer.ts) and its worker thread (coverage-worker.ts) pass each other. */

export interface WorkerOptions {
  targetModule: string;
  inputs: number;
  seed: number;
  timeLimitMs: number;
  /** Inputs to start from: the target's seeds on a first start, the corpus so far after a restart. */
  corpus?: Buffer[];
  /** Shared with the parent: [0] runs started (reruns too), [1] inputs finished, [2] current input's length, then its bytes. */
  current: SharedArrayBuffer;
}

export const SHARED_HEADER_BYTES = 16;

export type WorkerMessage =
  | { type: 'progress'; inputs: number; blocks: number; corpus: number }
  | { type: 'corpus'; input: Uint8Array }
  | { type: 'finding'; kind: 'crash' | 'hang'; input: Uint8Array; message: string; milliseconds: number }
  | { type: 'done'; inputs: number; blocks: number; corpus: number };
