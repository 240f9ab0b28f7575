import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import type { IngestStageSnapshot } from '../archive/ingest-stages.ts';

/**
 * The network settings every receiver gets, and the sender (storescu) too, so that no receiver is
 * measured with a handicap the others do not have:
 * - Nagle's algorithm off. DCMTK, and so storescu, storescp and Orthanc (built on DCMTK), leaves it on
 *   unless the environment variable TCP_NODELAY is 1; then every short DIMSE message waits for the peer's
 *   delayed ACK (about 40 ms), which held Orthanc at about 20 instances/s per association in the runs
 *   before 2026-12-05. Our own DIMSE servers turn it off on each socket they accept (setNoDelay).
 * - The same largest PDU: storescu sends at most 65,536 bytes per PDU, and each receiver announces that
 *   same maximum (storescp's and Orthanc's own default is 16,384), so each one receives the same PDUs.
 */
export const BENCH_NETWORK = { tcpNoDelay: true, maxPduLength: 65_536 } as const;

/** What DCMTK-based programs (storescu, storescp, Orthanc) need in their environment for BENCH_NETWORK. */
export const DCMTK_NETWORK_ENV = { TCP_NODELAY: BENCH_NETWORK.tcpNoDelay ? '1' : '0' } as const;

/** The network part of every receiver's printed settings. */
export function networkSettings(tcpNoDelayHow: string): string {
  return `TCP_NODELAY ${BENCH_NETWORK.tcpNoDelay ? 'on' : 'off'} (${tcpNoDelayHow}), max PDU ${BENCH_NETWORK.maxPduLength}`;
}

/** A receiver under test: where storescu sends, how it is set up, and how to stop it. */
export interface Receiver {
  name: string;
  aeTitle: string;
  port: number;
  /** The settings that bear on its throughput, printed with the results. */
  settings: string;
  /** Waits until everything received is fully processed (Yingyun: indexed and thumbnailed). */
  settled?(): Promise<void>;
  stop(): Promise<void>;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

export async function waitForPort(port: number, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const open = await new Promise<boolean>((resolve) => {
      const socket = net.connect({ host: '127.0.0.1', port }, () => {
        socket.destroy();
        resolve(true);
      });
      socket.once('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`nothing listens on port ${port} after ${timeoutMs} ms`);
}

export function stopChild(child: ChildProcess): Promise<void> {
  // Ended already, by its own exit or by a signal (a killed child has no exit code, only a signal).
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
    child.once('exit', () => {
      clearTimeout(kill);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

/** DCMTK's storescp writing every instance to disk: the reference receiver. */
export async function startStorescp(workDir: string, parallel: boolean): Promise<Receiver> {
  const port = await freePort();
  const outputDir = path.join(workDir, `storescp-${port}`);
  await fs.mkdir(outputDir, { recursive: true });
  // --fork gives each association its own process, as several parallel associations need.
  const args = ['-aet', 'STORESCP', '-od', outputDir, '--max-pdu', String(BENCH_NETWORK.maxPduLength), ...(parallel ? ['--fork'] : []), String(port)];
  const child = spawn('storescp', args, { stdio: 'ignore', env: { ...process.env, ...DCMTK_NETWORK_ENV } });
  await waitForPort(port);
  const settings = `${networkSettings('environment TCP_NODELAY=1')}; a file per instance in a folder, not flushed${parallel ? '; --fork, a process per association' : ''}`;
  return { name: 'DCMTK storescp', aeTitle: 'STORESCP', port, settings, stop: () => stopChild(child) };
}

/** An Orthanc process in a folder of its own: its DICOM and REST ports, and how to stop it. */
export interface OrthancProcess {
  directory: string;
  /** Its DICOM port. */
  port: number;
  /** Its REST API, on 127.0.0.1 without authentication. */
  httpPort: number;
  /** Where Orthanc writes its log (Orthanc.log and friends). */
  logDirectory: string;
  stop(): Promise<void>;
}

/**
 * Starts Orthanc on free DICOM and REST ports with its SQLite index and file storage in a folder of
 * its own, DCMTK_NETWORK_ENV in its environment (TCP_NODELAY=1) and the largest PDU of
 * BENCH_NETWORK; `settings` adds to or overrides that configuration (DicomAet, DicomModalities…).
 * Resolves once both ports answer.
 */
export async function launchOrthanc(workDir: string, settings: Record<string, unknown> = {}): Promise<OrthancProcess> {
  const port = await freePort();
  const httpPort = await freePort();
  const directory = path.join(workDir, `orthanc-${port}`);
  const logDirectory = path.join(directory, 'logs');
  await fs.mkdir(logDirectory, { recursive: true });
  const configuration = {
    Name: 'Orthanc',
    StorageDirectory: path.join(directory, 'storage'),
    IndexDirectory: path.join(directory, 'index'),
    DicomAet: 'ORTHANC',
    DicomPort: port,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    Plugins: [],
    MaximumPduLength: BENCH_NETWORK.maxPduLength,
    ...settings,
  };
  const configFile = path.join(directory, 'orthanc.json');
  await fs.writeFile(configFile, JSON.stringify(configuration));
  const child = spawn('Orthanc', [`--logdir=${logDirectory}`, configFile], { stdio: 'ignore', env: { ...process.env, ...DCMTK_NETWORK_ENV } });
  try {
    await waitForPort(port);
    await waitForPort(httpPort);
  } catch (error) {
    await stopChild(child);
    throw error;
  }
  return { directory, port, httpPort, logDirectory, stop: () => stopChild(child) };
}

/**
 * Orthanc with its default SQLite index and file storage, set up for its best receiving speed that
 * keeps what it does by default for each instance: each file flushed to disk (SyncStorageArea, as
 * Yingyun flushes its objects) and its MD5 stored (as Yingyun takes its digests). No compression,
 * no transcoding on ingest, no plugins or Lua scripts.
 */
export async function startOrthanc(workDir: string): Promise<Receiver> {
  const configuration = {
    Name: 'bench',
    StorageCompression: false,
    SyncStorageArea: true,
    StoreMD5ForAttachments: true,
    // Orthanc's default: one thread per association for up to four at once, as the benchmark sends.
    DicomThreadsCount: 4,
    ConcurrentJobs: 2,
  };
  const orthanc = await launchOrthanc(workDir, configuration);
  const settings =
    `${networkSettings('environment TCP_NODELAY=1')}; SQLite index; file storage, each file flushed (SyncStorageArea), ` +
    `MD5 stored, no compression or ingest transcoding; ${configuration.DicomThreadsCount} DICOM threads; no plugins`;
  return { name: 'Orthanc', aeTitle: 'ORTHANC', port: orthanc.port, settings, stop: orthanc.stop };
}

/** What a Yingyun gateway's GET /api/stats answers (gateway/http/server.ts), as bench:ingest and the soak read it. */
export interface GatewayStats {
  receipts: number;
  awaitingIndex: number;
  instances: number;
  awaitingThumbnail: number;
  queue: { waiting: number; active: number; delayed: number; failed: number };
  /** This process's ingest path: mean time per instance in each stage, and its group commits. */
  ingest: IngestStageSnapshot & { groupCommits: { transactions: number; receipts: number } };
}
