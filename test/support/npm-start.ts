import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import path from 'node:path';

/** `npm start` as a newcomer runs it, for the suites that test the whole process (start, restart after a crash). */

export const projectRoot = path.resolve(import.meta.dirname, '..', '..');

export interface Started {
  child: ChildProcess;
  httpUrl: string;
  dicomPort: number;
  output: () => string;
}

/** The environment of a newcomer's machine: embedded defaults, no external services configured. */
export function embeddedEnvironment(dataDir: string): NodeJS.ProcessEnv {
  const environment: NodeJS.ProcessEnv = { ...process.env, YINGYUN_DATA_DIR: dataDir, YINGYUN_HTTP_PORT: '0', YINGYUN_DICOM_PORT: '0', YINGYUN_DICOM_HOST: '127.0.0.1' };
  for (const name of ['DATABASE_URL', 'REDIS_URL', 'S3_ENDPOINT', 'S3_BUCKET']) delete environment[name];
  return environment;
}

/** Runs `npm start` exactly as the README says, with only the data folder and ports changed. */
export async function npmStart(dataDir: string, { cwd = projectRoot, environment = {} as NodeJS.ProcessEnv } = {}): Promise<Started> {
  // Its own process group, so Ctrl-C can be delivered as a terminal does: to npm and Yingyun at once.
  const child = spawn('npm', ['start', '--silent'], { cwd, env: { ...embeddedEnvironment(dataDir), ...environment }, stdio: ['ignore', 'pipe', 'pipe'], detached: true });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = /Yingyun ready: web (http:\/\/\S+?)\/ +DICOM YINGYUN@[\d.]+:(\d+)/.exec(output);
    if (ready) return { child, httpUrl: ready[1]!, dicomPort: Number(ready[2]), output: () => output };
    if (child.exitCode !== null) throw new Error(`npm start exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) throw new Error(`npm start not ready after 120 s:\n${output}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/**
 * Ctrl-C; true when Yingyun finished its orderly stop, its database connections lasting to the end
 * (PostgreSQL, in a process group of its own, does not get the terminal's Ctrl-C), and stopped
 * embedded PostgreSQL before exiting.
 */
export async function stopCleanly(started: Started, clusterDir: string): Promise<boolean> {
  await new Promise<void>((resolve) => {
    // 'close', not 'exit': only then has everything the process wrote been read from its pipes.
    started.child.once('close', () => resolve());
    process.kill(-started.child.pid!, 'SIGINT');
  });
  const postgresStopped = await fs.access(path.join(clusterDir, 'postmaster.pid')).then(
    () => false,
    () => true,
  );
  return /"msg":"stopped cleanly"/.test(started.output()) && !/database connection lost/.test(started.output()) && postgresStopped;
}

/** Signs in with a password as the web app does; `post` then sends JSON with the session and its CSRF token. */
export async function signIn(httpUrl: string, username: string, password: string) {
  const login = await fetch(`${httpUrl}/api/auth/login`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ username, password }) });
  assert.equal(login.status, 200, `sign-in: ${await login.clone().text()}`);
  const { csrfToken } = (await login.json()) as { csrfToken: string };
  const cookie = login.headers.getSetCookie().map((header) => header.split(';')[0]).join('; ');
  return {
    async post(route: string, body: unknown): Promise<unknown> {
      const response = await fetch(`${httpUrl}${route}`, { method: 'POST', headers: { cookie, 'X-CSRF-Token': csrfToken, 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      assert.equal(response.status, 201, `${route}: ${await response.clone().text()}`);
      return response.json();
    },
  };
}

