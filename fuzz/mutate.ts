/**
 * Byte mutations shared by the coverage-guided fuzzers and the protocol fuzzer, in the manner of
 * libFuzzer's and AFL's havoc stage: bit flips, interesting integers (both byte orders, since
 * DICOM lengths are little endian and PDU lengths big endian), block insertion, deletion and
 * duplication, dictionary tokens and splicing with another input. All randomness comes from one
 * seeded generator, so a run is repeatable from its seed.
 */

/** mulberry32: small, fast and good enough to drive mutations; seeded so a run can be replayed. */
export class Random {
  private state: number;

  constructor(seed: number) {
    this.state = seed >>> 0;
  }

  next(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }

  /** An integer in [0, bound). */
  below(bound: number): number {
    return Math.floor(this.next() * bound);
  }

  pick<T>(values: readonly T[]): T {
    return values[this.below(values.length)]!;
  }

  chance(probability: number): boolean {
    return this.next() < probability;
  }
}

const INTERESTING_8 = [0x00, 0x01, 0x7f, 0x80, 0xff, 0x20, 0x5c, 0x1b];
const INTERESTING_16 = [0x0000, 0x0001, 0x00ff, 0x0100, 0x7fff, 0x8000, 0xfffe, 0xffff, 0xe000, 0xe00d, 0xe0dd];
const INTERESTING_32 = [0, 1, 2, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff, 0x10000, 0x1000000];

export interface MutationContext {
  random: Random;
  /** Tokens worth inserting whole: magic strings, VRs, tags, UIDs, item types. */
  dictionary: readonly Buffer[];
  /** Another input to splice with, when the corpus has one. */
  other?: Buffer;
  maxLength: number;
}

type Mutator = (input: Buffer, context: MutationContext) => Buffer;

function position(input: Buffer, random: Random, width = 1): number {
  return input.length <= width ? 0 : random.below(input.length - width + 1);
}

const mutators: Mutator[] = [
  function flipBit(input, { random }) {
    if (input.length === 0) return input;
    const output = Buffer.from(input);
    const at = random.below(output.length);
    output[at]! ^= 1 << random.below(8);
    return output;
  },
  function randomByte(input, { random }) {
    if (input.length === 0) return Buffer.from([random.below(256)]);
    const output = Buffer.from(input);
    output[random.below(output.length)] = random.below(256);
    return output;
  },
  function interestingByte(input, { random }) {
    if (input.length === 0) return input;
    const output = Buffer.from(input);
    output[random.below(output.length)] = random.pick(INTERESTING_8);
    return output;
  },
  function interestingWord(input, { random }) {
    if (input.length < 2) return input;
    const output = Buffer.from(input);
    const at = position(output, random, 2);
    const value = random.pick(INTERESTING_16);
    if (random.chance(0.5)) output.writeUInt16LE(value, at);
    else output.writeUInt16BE(value, at);
    return output;
  },
  function interestingLength(input, { random }) {
    if (input.length < 4) return input;
    const output = Buffer.from(input);
    const at = position(output, random, 4);
    // Either a classic boundary value or one near the bytes that actually remain, the lengths
    // that make a parser read exactly to, or just past, the end.
    const remaining = output.length - at;
    const value = random.chance(0.5) ? random.pick(INTERESTING_32) : Math.max(0, remaining + random.below(9) - 4);
    if (random.chance(0.5)) output.writeUInt32LE(value >>> 0, at);
    else output.writeUInt32BE(value >>> 0, at);
    return output;
  },
  function addToNumber(input, { random }) {
    if (input.length < 2) return input;
    const output = Buffer.from(input);
    const at = position(output, random, 2);
    const delta = random.below(35) - 17;
    if (random.chance(0.5)) output.writeUInt16LE((output.readUInt16LE(at) + delta) & 0xffff, at);
    else output.writeUInt16BE((output.readUInt16BE(at) + delta) & 0xffff, at);
    return output;
  },
  function deleteBlock(input, { random }) {
    if (input.length < 2) return input;
    const at = random.below(input.length);
    const length = 1 + random.below(Math.min(input.length - at, random.chance(0.8) ? 16 : 512));
    return Buffer.concat([input.subarray(0, at), input.subarray(at + length)]);
  },
  function insertRandomBytes(input, { random }) {
    const at = random.below(input.length + 1);
    const length = 1 + random.below(random.chance(0.8) ? 8 : 128);
    const bytes = Buffer.alloc(length);
    const fill = random.chance(0.5) ? random.below(256) : -1;
    for (let index = 0; index < length; index++) bytes[index] = fill >= 0 ? fill : random.below(256);
    return Buffer.concat([input.subarray(0, at), bytes, input.subarray(at)]);
  },
  function duplicateBlock(input, { random }) {
    if (input.length === 0) return input;
    const from = random.below(input.length);
    const length = 1 + random.below(Math.min(input.length - from, 256));
    const at = random.below(input.length + 1);
    return Buffer.concat([input.subarray(0, at), input.subarray(from, from + length), input.subarray(at)]);
  },
  function overwriteWithBlock(input, { random }) {
    if (input.length < 2) return input;
    const from = random.below(input.length);
    const length = 1 + random.below(Math.min(input.length - from, 64));
    const output = Buffer.from(input);
    input.copy(output, position(output, random, length), from, from + length);
    return output;
  },
  function insertToken(input, { random, dictionary }) {
    if (dictionary.length === 0) return input;
    const token = random.pick(dictionary);
    const at = random.below(input.length + 1);
    return Buffer.concat([input.subarray(0, at), token, input.subarray(at)]);
  },
  function overwriteWithToken(input, { random, dictionary }) {
    if (dictionary.length === 0 || input.length === 0) return input;
    const token = random.pick(dictionary);
    const output = Buffer.from(input);
    token.copy(output, position(output, random, token.length));
    return output;
  },
  function truncate(input, { random }) {
    return input.length < 2 ? input : input.subarray(0, random.below(input.length));
  },
  function splice(input, { random, other }) {
    if (!other || other.length === 0 || input.length === 0) return input;
    return Buffer.concat([input.subarray(0, random.below(input.length)), other.subarray(random.below(other.length))]);
  },
];

/** One to eight stacked mutations (AFL's havoc), the result capped at maxLength. */
export function mutate(input: Buffer, context: MutationContext): Buffer {
  let output = input;
  const rounds = 1 << context.random.below(4);
  for (let round = 0; round < rounds; round++) output = context.random.pick(mutators)(output, context);
  return output.length > context.maxLength ? output.subarray(0, context.maxLength) : output;
}
