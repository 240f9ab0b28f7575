import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';

/** A receiver under test: where storescu sends, and how to stop it. */
export interface Receiver {
  name: string;
  aeTitle: string;
  port: number;
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
  if (child.exitCode !== null) return Promise.resolve();
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
  const args = ['-aet', 'STORESCP', '-od', outputDir, ...(parallel ? ['--fork'] : []), String(port)];
  const child = spawn('storescp', args, { stdio: 'ignore', env: { ...process.env, TCP_NODELAY: '1' } });
  await waitForPort(port);
  return { name: 'DCMTK storescp', aeTitle: 'STORESCP', port, stop: () => stopChild(child) };
}

/** Orthanc with its default SQLite index and file storage, in a folder of its own. */
export async function startOrthanc(workDir: string): Promise<Receiver> {
  const port = await freePort();
  const httpPort = await freePort();
  const directory = path.join(workDir, `orthanc-${port}`);
  await fs.mkdir(directory, { recursive: true });
  const configuration = {
    Name: 'bench',
    StorageDirectory: path.join(directory, 'storage'),
    IndexDirectory: path.join(directory, 'index'),
    DicomAet: 'ORTHANC',
    DicomPort: port,
    HttpPort: httpPort,
    RemoteAccessAllowed: false,
    AuthenticationEnabled: false,
    DicomCheckCalledAet: false,
    Plugins: [],
    StorageCompression: false,
    ConcurrentJobs: 2,
  };
  const configFile = path.join(directory, 'orthanc.json');
  await fs.writeFile(configFile, JSON.stringify(configuration));
  const child = spawn('Orthanc', [configFile], { stdio: 'ignore' });
  await waitForPort(port);
  return { name: 'Orthanc', aeTitle: 'ORTHANC', port, stop: () => stopChild(child) };
}
