import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { once } from 'node:events';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { stopChild } from '../bench/peers.ts';
import { encodePart10, TRANSFER_SYNTAX } from '../fixtures/dicom/writer.ts';
import { createTestDatabase, type TestDatabase } from './support/database.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';

const MIB = 1024 * 1024;
const INSTANCES = 4;
const FRAMES = 512;
const ROWS = 512;
const COLUMNS = 512;
/** 512 frames of 512 × 512 16-bit pixels: 256 MiB of pixel data per instance, 1 GiB in all. */
const PIXEL_BYTES = FRAMES * ROWS * COLUMNS * 2;

/**
 * A Multi-frame Grayscale Word Secondary Capture instance of PIXEL_BYTES pixels, written to disk a
 * MiB at a time: the test process never holds an instance either.
 */
async function writeLargeInstance(file: string, index: number): Promise<string> {
  const sopInstanceUid = `2.25.${Date.now()}${process.pid}${index}`;
  const header = encodePart10(
    {
      SOPClassUID: '1.2.840.10008.5.1.4.1.1.7.3',
      SOPInstanceUID: sopInstanceUid,
      StudyInstanceUID: `2.25.${process.pid}7${Date.now()}`,
      SeriesInstanceUID: `2.25.${process.pid}8${Date.now()}${index}`,
      PatientID: 'MEMORY-TEST',
      Modality: 'OT',
      SamplesPerPixel: 1,
      PhotometricInterpretation: 'MONOCHROME2',
      NumberOfFrames: FRAMES,
      Rows: ROWS,
      Columns: COLUMNS,
      BitsAllocated: 16,
      BitsStored: 16,
      HighBit: 15,
      PixelRepresentation: 0,
    },
    TRANSFER_SYNTAX.explicitLittleEndian,
    'ISO_IR 6',
  );
  const pixelHeader = Buffer.alloc(12);
  pixelHeader.writeUInt16LE(0x7fe0, 0);
  pixelHeader.writeUInt16LE(0x0010, 2);
  pixelHeader.write('OW', 4, 'latin1');
  pixelHeader.writeUInt32LE(PIXEL_BYTES, 8);
  const out = fs.createWriteStream(file);
  out.write(Buffer.concat([header, pixelHeader]));
  const block = Buffer.alloc(MIB);
  for (let offset = 0; offset < block.length; offset += 2) block.writeUInt16LE((offset / 2 + index * 997) & 0xffff, offset);
  for (let written = 0; written < PIXEL_BYTES; written += block.length) {
    if (!out.write(block)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
  return sopInstanceUid;
}

function residentBytes(pid: number): number {
  const status = fs.readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/^VmRSS:\s+(\d+) kB/m.exec(status)![1]) * 1024;
}

describe('C-STORE of large instances', () => {
  const available = commandExists('storescu') && fs.existsSync('/proc/self/status');
  let workDir: string;
  let database: TestDatabase;

  before(async () => {
    workDir = await fsp.mkdtemp(path.join(os.tmpdir(), 'yingyun-memory-'));
  });
  after(async () => {
    await database?.drop();
    await fsp.rm(workDir, { recursive: true, force: true });
  });

  it('streams four 256 MiB multi-frame instances, sent at once, to the object store with the gateway resident memory growing by a small fraction of them', { timeout: 600_000 }, async (t) => {
    if (!requirePeer(t, available, 'DCMTK storescu on Linux')) return;
    database = await createTestDatabase();
    const files = Array.from({ length: INSTANCES }, (_, index) => path.join(workDir, `large-${index}.dcm`));
    const sopInstanceUids = await Promise.all(files.map((file, index) => writeLargeInstance(file, index)));

    // A gateway-only process without Redis: its index jobs are queued in it and never run, so what is
    // measured is the receiving alone, not a thumbnail drawn of the first instance meanwhile.
    const gateway = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts', '--role=gateway'], {
      env: {
        ...process.env,
        DATABASE_URL: database.url,
        REDIS_URL: '',
        YINGYUN_DATA_DIR: path.join(workDir, 'data'),
        YINGYUN_HTTP_HOST: '127.0.0.1',
        YINGYUN_HTTP_PORT: '0',
        YINGYUN_DICOM_HOST: '127.0.0.1',
        YINGYUN_DICOM_PORT: '0',
        YINGYUN_AE_TITLE: 'YINGYUN',
        YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine',
        YINGYUN_LOG_LEVEL: 'warn',
      },
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    t.after(() => stopChild(gateway));
    let output = '';
    gateway.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    while (!/DICOM YINGYUN@127\.0\.0\.1:(\d+)/.test(output)) {
      if (gateway.exitCode !== null) assert.fail(`the gateway stopped: ${output}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const dicomPort = /DICOM YINGYUN@127\.0\.0\.1:(\d+)/.exec(output)![1]!;

    const before = residentBytes(gateway.pid!);
    let peak = before;
    const sampling = setInterval(() => (peak = Math.max(peak, residentBytes(gateway.pid!))), 25);
    const started = Date.now();
    const results = await Promise.all(files.map((file) => runDcmtk('storescu', ['-aec', 'YINGYUN', '-aet', 'MEMORY_TEST', '127.0.0.1', dicomPort, file], 540_000)));
    clearInterval(sampling);
    const seconds = (Date.now() - started) / 1000;
    for (const result of results) assert.equal(result.code, 0, result.output);

    const pool = new pg.Pool({ connectionString: database.url, max: 1 });
    try {
      const { rows } = await pool.query<{ size_bytes: string }>('SELECT size_bytes FROM receipts WHERE sop_instance_uid = ANY($1)', [sopInstanceUids]);
      assert.equal(rows.length, INSTANCES, 'every instance has its receipt');
      for (const row of rows) assert.ok(Number(row.size_bytes) > PIXEL_BYTES);
    } finally {
      await pool.end();
    }
    const total = INSTANCES * PIXEL_BYTES;
    const growth = peak - before;
    t.diagnostic(`${INSTANCES} × ${PIXEL_BYTES / MIB} MiB in ${seconds.toFixed(1)} s; gateway RSS ${(before / MIB).toFixed(0)} MiB before, peak ${(peak / MIB).toFixed(0)} MiB (+${(growth / MIB).toFixed(0)} MiB)`);
    // Held whole, the instances would be over a GiB (and grew it by 900 MiB when they were); streamed,
    // the growth is socket buffers, writes waiting for the disk (8 MiB an instance at most), headers,
    // and garbage not yet collected: less than one of the four instances.
    assert.ok(growth < total / INSTANCES, `RSS grew by ${(growth / MIB).toFixed(0)} MiB while ${total / MIB} MiB arrived`);
  });
});
