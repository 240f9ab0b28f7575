import { execFileSync, spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort, waitForPort } from '../../bench/peers.ts';
import { projectRoot } from './npm-start.ts';

/**
 * Servers of the fault suite's own (test/faults): a scenario restarts or kills them, so they are never
 * the shared PostgreSQL on 5432 or Redis on 6379 that other suites use at the same time.
 */

/** Debian's PostgreSQL binaries (package postgresql), newest version first; undefined when absent. */
export function debianPostgresBin(): string | undefined {
  const root = '/usr/lib/postgresql';
  if (!fs.existsSync(root)) return undefined;
  const versions = fs.readdirSync(root).filter((version) => fs.existsSync(path.join(root, version, 'bin', 'pg_ctl')));
  versions.sort((a, b) => Number(b) - Number(a));
  return versions[0] ? path.join(root, versions[0], 'bin') : undefined;
}

export interface PostgresCluster {
  /** The `postgres` database as superuser (trust on 127.0.0.1). */
  url: string;
  port: number;
  /** SIGKILL to the postmaster and every backend at once: the server gone as at a crash. */
  kill(): Promise<void>;
  start(): Promise<void>;
  /** A fast shutdown and a start, as an operator's `pg_ctl restart`. */
  restart(): Promise<void>;
  /** Stops the server and removes its folder. */
  destroy(): Promise<void>;
}

/**
 * A PostgreSQL cluster of its own on a free port, made with Debian's initdb and run with pg_ctl in a
 * temporary folder. As root it runs as the `postgres` system user (PostgreSQL refuses to run as root).
 */
export async function startPostgresCluster(bin: string): Promise<PostgresCluster> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-pg-'));
  const dataDir = path.join(directory, 'data');
  const port = await freePort();
  const asRoot = process.getuid?.() === 0;
  if (asRoot) execFileSync('chown', ['postgres:postgres', directory]);
  const run = (program: string, args: string[]) => {
    const command = asRoot ? ['runuser', ['-u', 'postgres', '--', path.join(bin, program), ...args]] as const : [path.join(bin, program), args] as const;
    const result = spawnSync(command[0], command[1], { encoding: 'utf8', cwd: directory });
    if (result.status !== 0) throw new Error(`${program} ${args.join(' ')}: ${result.stderr}${result.stdout}`);
  };
  // --no-sync only makes the empty cluster faster to create; the running server flushes as always.
  run('initdb', ['-D', dataDir, '-U', 'postgres', '-A', 'trust', '--no-sync', '-E', 'UTF8', '--locale=C']);
  const start = async () => {
    run('pg_ctl', ['start', '-w', '-D', dataDir, '-l', path.join(directory, 'log'), '-o', `-p ${port} -k ${directory} -c listen_addresses=127.0.0.1 -c max_connections=100`]);
    await waitForPort(port);
  };
  const postmasterPid = () => Number(fs.readFileSync(path.join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
  const kill = async () => {
    const postmaster = postmasterPid();
    const backends = childrenOf(postmaster);
    signal(postmaster, 'SIGKILL');
    for (const backend of backends) signal(backend, 'SIGKILL');
    await waitGone([postmaster, ...backends]);
  };
  await start();
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    kill,
    start,
    async restart() {
      run('pg_ctl', ['stop', '-w', '-m', 'fast', '-D', dataDir]);
      await start();
    },
    async destroy() {
      if (fs.existsSync(path.join(dataDir, 'postmaster.pid'))) await kill().catch(() => undefined);
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** A process's children, by their parent PID (the postmaster's backends). */
export function childrenOf(pid: number): number[] {
  const result = spawnSync('ps', ['-o', 'pid=', '--ppid', String(pid)], { encoding: 'utf8' });
  return result.stdout.split('\n').map((line) => Number(line.trim())).filter((child) => child > 0);
}

function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

async function waitGone(pids: number[]): Promise<void> {
  const alive = (pid: number) => {
    try {
      process.kill(pid, 0);
      return true;
    } catch {
      return false;
    }
  };
  const deadline = Date.now() + 10_000;
  while (pids.some(alive)) {
    if (Date.now() > deadline) throw new Error(`processes ${pids.filter(alive).join(', ')} still alive 10 s after SIGKILL`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export interface RedisServer {
  url: string;
  /** SIGKILL, then the same server on the same port again: without persistence, everything it held is gone. */
  restart(downForMs?: number): Promise<void>;
  stop(): Promise<void>;
}

/** redis-server on a free loopback port, without persistence, in a temporary folder. */
export async function startRedisServer(): Promise<RedisServer> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-redis-'));
  const port = await freePort();
  let child: ChildProcess;
  const start = async () => {
    child = spawn('redis-server', ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', directory], { stdio: 'ignore' });
    await waitForPort(port);
  };
  const kill = () =>
    new Promise<void>((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) return resolve();
      child.once('exit', () => resolve());
      child.kill('SIGKILL');
    });
  await start();
  return {
    url: `redis://127.0.0.1:${port}`,
    async restart(downForMs = 0) {
      await kill();
      await new Promise((resolve) => setTimeout(resolve, downForMs));
      await start();
    },
    async stop() {
      await kill();
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

export interface GatewayProcess {
  child: ChildProcess;
  httpUrl: string;
  dicomPort: number;
  output(): string;
  /** The process's peak resident set (VmHWM), in bytes. */
  peakRssBytes(): number;
  /** SIGTERM and wait (SIGKILL after 20 s). */
  stop(): Promise<void>;
}

/**
 * Yingyun as a child process (node gateway/main.ts, without npm in between, so `child.pid` is
 * Yingyun's own), for scenarios that kill it or measure its memory.
 */
export async function startGatewayProcess(environment: Record<string, string>, role: 'all' | 'gateway' = 'all'): Promise<GatewayProcess> {
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'gateway', 'main.ts'), `--role=${role}`], {
    cwd: projectRoot,
    env: { ...process.env, YINGYUN_HTTP_PORT: '0', YINGYUN_DICOM_PORT: '0', YINGYUN_DICOM_HOST: '127.0.0.1', YINGYUN_LOG_LEVEL: 'warn', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  // A first start makes the embedded cluster and migrates it: minutes on a busy 2-core machine.
  const deadline = Date.now() + 240_000;
  for (;;) {
    const ready = /Yingyun ready: web (http:\/\/\S+?)\/ +DICOM \S+@[\d.]+:(\d+)/.exec(output);
    if (ready) {
      return {
        child,
        httpUrl: ready[1]!,
        dicomPort: Number(ready[2]),
        output: () => output,
        peakRssBytes: () => Number(/VmHWM:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${child.pid}/status`, 'utf8'))![1]) * 1024,
        stop: () =>
          new Promise<void>((resolve) => {
            if (child.exitCode !== null || child.signalCode !== null) return resolve();
            const kill = setTimeout(() => child.kill('SIGKILL'), 20_000);
            child.once('exit', () => {
              clearTimeout(kill);
              resolve();
            });
            child.kill('SIGTERM');
          }),
      };
    }
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`Yingyun exited (${child.exitCode ?? child.signalCode}):\n${output}`);
    if (Date.now() > deadline) throw new Error(`Yingyun not ready after 240 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Where a running Yingyun on embedded defaults says its cluster is (its start-up line), and the URL of its database. */
export function embeddedDatabase(output: string): { clusterDir: string; databaseUrl: string } {
  const found = /embedded PostgreSQL in (\S+) \(port (\d+)\)/.exec(output);
  if (!found) throw new Error(`no embedded cluster in:\n${output}`);
  return { clusterDir: found[1]!, databaseUrl: `postgres://yingyun:yingyun@127.0.0.1:${found[2]}/yingyun` };
}
