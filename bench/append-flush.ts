/**
 * `npm run bench:append-flush [folder]`: what one durable append costs on this disk, the question
 * behind the segment log's layout (archive/storage/segment-writer.ts). Writes records of a small
 * instance's size (10 KB) and a CT slice's (530 KB) one after another, each followed by fdatasync,
 * into (a) a file filled with zeros and flushed beforehand — the flush then carries data only — and
 * (b) a file that grows with each record — the flush also carries its new length and block
 * allocation. Prints milliseconds per write + fdatasync, twice each, and (a)'s cost of the zeros.
 */
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';

const folder = path.resolve(process.argv[2] ?? os.tmpdir());

async function appendAndFlush(mode: 'zeroed' | 'growing', recordBytes: number, count: number): Promise<void> {
  const file = path.join(folder, `yingyun-append-flush-${process.pid}-${mode}`);
  const handle = await fsp.open(file, 'w+');
  try {
    let zeroingMs = 0;
    if (mode === 'zeroed') {
      const started = performance.now();
      const zeros = Buffer.alloc(4 * 1024 * 1024);
      const total = recordBytes * count;
      for (let at = 0; at < total; at += zeros.length) await handle.write(zeros, 0, Math.min(zeros.length, total - at), at);
      await handle.sync();
      zeroingMs = performance.now() - started;
    }
    const record = Buffer.alloc(recordBytes, 7);
    const started = performance.now();
    for (let index = 0; index < count; index++) {
      await handle.write(record, 0, record.length, index * recordBytes);
      await handle.datasync();
    }
    const perRecord = (performance.now() - started) / count;
    const zeros = mode === 'zeroed' ? `; the zeros beforehand ${(zeroingMs / count).toFixed(3)} ms per record` : '';
    console.log(`${mode.padEnd(7)} ${String(recordBytes).padStart(7)} B: ${perRecord.toFixed(3)} ms per write + fdatasync${zeros}`);
  } finally {
    await handle.close();
    await fsp.rm(file, { force: true });
  }
}

console.log(`folder ${folder}; load average ${os.loadavg().map((load) => load.toFixed(2)).join(' ')}`);
for (const [recordBytes, count] of [[10_000, 1000], [530_000, 300]] as const) {
  for (const mode of ['zeroed', 'growing', 'zeroed', 'growing'] as const) await appendAndFlush(mode, recordBytes, count);
}
