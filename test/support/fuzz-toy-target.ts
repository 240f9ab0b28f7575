import type { FuzzTarget } from '../../fuzz/target.ts';

/**
 * A target with a planted crash two coverage steps deep ("D", then "DU": each one bit away from the
 * seed "EEAA", so only an input kept for reaching the first step leads to the second) and a planted
 * endless loop, for test/fuzz.test.ts to show the fuzzer finds what it claims to find.
 */
export const target: FuzzTarget = {
  name: 'toy',
  coverage: /fuzz-toy-target/,
  seeds: async () => [Buffer.from('EEAA'), Buffer.from('HANG')],
  dictionary: [],
  maxLength: 16,
  run(input) {
    if (input.toString('latin1', 0, 4) === 'HANG') for (;;);
    if (input[0] === 0x44) {
      if (input[1] === 0x55) throw new TypeError('planted crash');
    }
  },
  expected: () => false,
};
