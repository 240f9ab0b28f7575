import { randomBytes } from 'node:crypto';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Administration, COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
import { freePort, stopChild } from '../../bench/peers.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { createTestDatabase, type TestDatabase } from './database.ts';
import { projectRoot } from './npm-start.ts';
import { testRedisUrl } from './peers.ts';
import { openTestRuntime } from './runtime.ts';
import { startS3Server } from './s3.ts';
import { startGatewayProcess, type GatewayProcess } from './services.ts';

export interface WorkerProcess {
  child: ChildProcess;
  /** Its own listener (YINGYUN_WORKER_HTTP_PORT): /healthz, /readyz, /metrics. */
  httpUrl: string;
  output(): string;
  stop(): Promise<void>;
}

/** `node workers/main.ts` as a child process, ready once its /readyz answers 200. */
export async function startWorkerProcess(environment: Record<string, string>): Promise<WorkerProcess> {
  const port = await freePort();
  const child = spawn(process.execPath, ['--import', 'tsx', path.join(projectRoot, 'workers', 'main.ts')], {
    cwd: projectRoot,
    env: { ...process.env, YINGYUN_HTTP_HOST: '127.0.0.1', YINGYUN_WORKER_HTTP_PORT: String(port), YINGYUN_LOG_LEVEL: 'warn', ...environment },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const httpUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 120_000;
  for (;;) {
    const ready = await fetch(`${httpUrl}/readyz`).then(
      (response) => response.ok,
      () => false,
    );
    if (ready) break;
    if (child.exitCode !== null) throw new Error(`worker exited ${child.exitCode}:\n${output}`);
    if (Date.now() > deadline) {
      // Not left running behind the failed start.
      await stopChild(child);
      throw new Error(`worker not ready after 120 s:\n${output}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return {
    child,
    httpUrl,
    output: () => output,
    stop: () => stopChild(child),
  };
}

export interface ScaledStack {
  gateways: GatewayProcess[];
  workers: WorkerProcess[];
  /** An in-process runtime on the same database, store and queue (it runs no jobs): for administration and checks. */
  runtime: Runtime;
  databaseUrl: string;
  /** A system administrator's API token (GET /metrics, /api/admin/status). */
  adminToken: string;
  /** Sums a counter or histogram count over the workers' /metrics, e.g. `yingyun_job_duration_seconds_count{job_type="index-instance",outcome="completed"}`. */
  workerFigure(series: string): Promise<number[]>;
  stop(): Promise<void>;
}

/** AE titles registered for the stack's hospital, as the DCMTK tools call with. */
export const SCALED_STACK_PEERS = ['STORESCU', 'BENCH'];

/**
 * The multi-process deployment of docker-compose.yml on one machine: `gateways` gateway processes and
 * `workers` worker processes (separate `node` children) sharing one PostgreSQL database (fresh), Redis
 * (BullMQ under a queue name of their own) and an S3-compatible server (s3rver).
 */
export async function startScaledStack(options: { gateways: number; workers: number; environment?: Record<string, string> }): Promise<ScaledStack> {
  const database: TestDatabase = await createTestDatabase();
  const s3 = await startS3Server();
  const folders: string[] = [];
  const shared = {
    DATABASE_URL: database.url,
    REDIS_URL: testRedisUrl,
    YINGYUN_QUEUE_NAME: `scale_${process.pid}_${randomBytes(3).toString('hex')}`,
    YINGYUN_AE_TITLE: 'YINGYUN',
    ...s3.env,
    ...options.environment,
  };
  // Each process its own data folder: the S3 store's spool is local to a process, as in containers.
  const dataDir = async () => {
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-scale-'));
    folders.push(folder);
    return folder;
  };
  // Migrated by this runtime first, so the processes do not race for the schema.
  const runtime = await openTestRuntime({ runWorkers: false, databaseUrl: database.url, dataDir: await dataDir(), environment: shared });
  const gateways: GatewayProcess[] = [];
  const workers: WorkerProcess[] = [];
  const teardown = async () => {
    await Promise.all([...gateways, ...workers].map((process) => process.stop()));
    await runtime.dispose();
    await s3.stop();
    await database.drop();
    await Promise.all(folders.map((folder) => fs.rm(folder, { recursive: true, force: true })));
  };
  try {
    const administration = new Administration(runtime.institutions, runtime.users, runtime.auth, runtime.audit);
    await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'SCALE_HOSPITAL', name: '扩展测试医院', kind: 'hospital' });
    for (const aeTitle of SCALED_STACK_PEERS) await administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'SCALE_HOSPITAL', aeTitle });
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'scale-admin', displayName: 'Scale Administrator', role: 'system_admin', institutionCode: 'SCALE_HOSPITAL' });
    const { token: adminToken } = await administration.createToken(COMMAND_LINE_ACTOR, { username: 'scale-admin', label: 'scale-out' });
    await Promise.all([
      ...Array.from({ length: options.gateways }, async () => startGatewayProcess({ ...shared, YINGYUN_DATA_DIR: await dataDir() }, 'gateway').then((gateway) => void gateways.push(gateway))),
      ...Array.from({ length: options.workers }, async () => startWorkerProcess({ ...shared, YINGYUN_DATA_DIR: await dataDir() }).then((worker) => void workers.push(worker))),
    ]);
    return {
      gateways,
      workers,
      runtime,
      databaseUrl: database.url,
      adminToken,
      async workerFigure(series) {
        return Promise.all(
          workers.map(async (worker) => {
            const body = await (await fetch(`${worker.httpUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } })).text();
            const line = body.split('\n').find((candidate) => candidate.startsWith(`${series} `));
            return line ? Number(line.slice(series.length + 1)) : 0;
          }),
        );
      },
      stop: teardown,
    };
  } catch (error) {
    await teardown();
    throw error;
  }
}
