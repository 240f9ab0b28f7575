/**
 * What a coverage-guided fuzz target module exports (as `target`): the code under test is run on
 * each input in a worker thread, and V8's block coverage of the scripts `coverage` selects decides
 * which inputs are kept to mutate further.
 */
export interface FuzzTarget {
  name: string;
  /** Which loaded scripts (by URL) count as coverage: the code under test, not the harness. */
  coverage: RegExp;
  /** Real inputs the corpus starts from. */
  seeds(): Promise<Buffer[]>;
  /** Tokens the mutator inserts whole (magic strings, tags, VRs, item types). */
  dictionary: readonly Buffer[];
  /** Inputs are cut to this many bytes. */
  maxLength: number;
  /** Runs one input. Throws only errors `expected` accepts (the product's clear refusals). */
  run(input: Buffer): void;
  /** Whether an error is the product's clear refusal of bad input; anything else is a crash. */
  expected(error: unknown): boolean;
}

export const tokens = (...values: Array<string | number[]>): Buffer[] =>
  values.map((value) => (typeof value === 'string' ? Buffer.from(value, 'latin1') : Buffer.from(value)));
