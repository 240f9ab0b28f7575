import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { freePort, stopChild, waitForPort } from '../../bench/peers.ts';

export interface ToolResult {
  code: number | null;
  output: string;
}

/** Runs a DCMTK tool with TCP_NODELAY, as DCMTK peers should be run against any fast server. */
export function runDcmtk(tool: string, args: string[], timeoutMs = 60_000): Promise<ToolResult> {
  return new Promise((resolve) => {
    const child = spawn(tool, args, { env: { ...process.env, TCP_NODELAY: '1' } });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('exit', (code) => {
      clearTimeout(timer);
      resolve({ code, output });
    });
  });
}

/** DCMTK's storescp as a destination: each received instance in a file of its own, exactly as received. */
export interface StorescpDestination {
  port: number;
  /** The files written so far, one per C-STORE received (a duplicate is a second file). */
  files(): Buffer[];
  /** What storescp logged (-v: one "Association Received" per association). */
  log(): string;
  stop(): Promise<void>;
}

/**
 * Starts storescp on `port` (a free one if not given; the same one again to bring a stopped
 * destination back), writing into `directory` with unique file names (+uf) and bit-preserving (+B),
 * so a duplicate delivery shows as a second file and the dataset is the one sent. `+xi`: it accepts
 * Implicit VR Little Endian only.
 */
export async function startStorescpDestination(aeTitle: string, directory: string, port?: number, transferSyntaxes: '+xa' | '+xi' = '+xa'): Promise<StorescpDestination> {
  fs.mkdirSync(directory, { recursive: true });
  const listenOn = port ?? (await freePort());
  const child: ChildProcess = spawn('storescp', ['-v', '+B', '+uf', transferSyntaxes, '-aet', aeTitle, '-od', directory, String(listenOn)], { env: { ...process.env, TCP_NODELAY: '1' } });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitForPort(listenOn);
  return {
    port: listenOn,
    files: () => fs.readdirSync(directory).map((name) => fs.readFileSync(path.join(directory, name))),
    log: () => log,
    stop: () => stopChild(child),
  };
}
