import { execFileSync } from 'node:child_process';
import net from 'node:net';
import type { TestContext } from 'node:test';

/**
 * Suites that need a system peer (DCMTK, Redis, Chromium…) run whenever it is present. Without it
 * they are skipped with the reason, except under CI=true, where a missing peer fails the run:
 * .ci/run installs every peer, so a skip there would hide lost coverage.
 */
export function requirePeer(t: TestContext, available: boolean, what: string): boolean {
  if (available) return true;
  if (process.env.CI === 'true') throw new Error(`${what} is required when CI=true (.ci/run installs it)`);
  t.skip(`${what} is not installed here`);
  return false;
}

export function commandExists(command: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${command}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

export function tcpReachable(host: string, port: number, timeoutMs = 1000): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (result: boolean) => {
      socket.destroy();
      resolve(result);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}

export const PYDICOM_TEST_FILES = '/usr/lib/python3/dist-packages/pydicom/data/test_files';

export const testRedisUrl = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export async function redisAvailable(): Promise<boolean> {
  const url = new URL(testRedisUrl);
  return tcpReachable(url.hostname, Number(url.port || 6379));
}
