import { runCoverageFuzzer } from '/work/main/fuzz/coverage-fuzzer.ts';
const r = await runCoverageFuzzer({ targetModule: new URL('file:///work/main/fuzz/targets/' + process.argv[2] + '.ts').href, inputs: Number(process.argv[3]), findingsDir: '/tmp/fz-findings', onProgress: (p) => console.log(JSON.stringify(p)) });
console.log(JSON.stringify({ ...r, crashes: r.crashes.map((c) => [c.occurrences, c.message.slice(0, 600)]), hangs: r.hangs.map((c) => [c.occurrences, c.message.slice(0, 300)]) }, null, 1));
