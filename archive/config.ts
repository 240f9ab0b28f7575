import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';

/**
 * Configuration is read from the environment once, at start-up, and validated here so that a
 * typo fails loudly before any port opens. Everything else receives a typed `Config`.
 */
const port = z.coerce.number().int().min(0).max(65535);
const optionalText = z
  .string()
  .optional()
  .transform((value) => (value === undefined || value.trim() === '' ? undefined : value.trim()));

const environmentSchema = z.object({
  YINGYUN_DATA_DIR: z.string().default('./data'),
  YINGYUN_HTTP_HOST: z.string().default('127.0.0.1'),
  YINGYUN_HTTP_PORT: port.default(8080),
  YINGYUN_DICOM_HOST: z.string().default('0.0.0.0'),
  YINGYUN_DICOM_PORT: port.default(11112),
  YINGYUN_AE_TITLE: z
    .string()
    .default('YINGYUN')
    .refine((title) => /^[\x20-\x7e]{1,16}$/.test(title) && title.trim() !== '' && !title.includes('\\'), {
      message: 'an AE title is 1 to 16 printable ASCII characters, not all spaces, without a backslash',
    }),
  YINGYUN_MAX_PDU_LENGTH: z.coerce.number().int().min(4096).max(4_194_304).default(262_144),
  YINGYUN_DICOM_IDLE_SECONDS: z.coerce.number().int().min(1).max(86_400).default(60),
  YINGYUN_MAX_STOW_BYTES: z.coerce.number().int().min(1024).default(2 * 1024 * 1024 * 1024),
  YINGYUN_RECONCILE_AFTER_SECONDS: z.coerce.number().int().min(1).default(60),
  YINGYUN_QUEUE_NAME: z.string().regex(/^[A-Za-z0-9_-]{1,64}$/).default('yingyun'),
  // Jobs wait on files and the database between renders: with 2 at once the render threads sat idle
  // (500 CT thumbnails settled in 12 s after the last Success; with 4, 8.5 s: docs/benchmarks.md).
  YINGYUN_WORKER_CONCURRENCY: z.coerce.number().int().min(1).max(64).default(4),
  // One per core: the threads run at a lower priority, so receiving still comes first, and once
  // the senders stop every core draws.
  YINGYUN_RENDER_THREADS: z.coerce.number().int().min(1).max(64).default(os.availableParallelism()),
  YINGYUN_LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
  DATABASE_URL: optionalText,
  REDIS_URL: optionalText,
  S3_ENDPOINT: optionalText,
  S3_BUCKET: optionalText,
  S3_ACCESS_KEY_ID: optionalText,
  S3_SECRET_ACCESS_KEY: optionalText,
  S3_REGION: z.string().default('us-east-1'),
});

export interface S3Config {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
}

export interface Config {
  dataDir: string;
  http: { host: string; port: number; maxStowBytes: number };
  dicom: { host: string; port: number; aeTitle: string; maxPduLength: number; idleSeconds: number };
  databaseUrl?: string;
  redisUrl?: string;
  s3?: S3Config;
  reconcileAfterSeconds: number;
  workerConcurrency: number;
  /** Worker threads that decode and encode images (thumbnails, /rendered). */
  renderThreads: number;
  /** BullMQ queue name: several archives (or test runs) can share one Redis. */
  queueName: string;
  logLevel: string;
}

export class ConfigError extends Error {}

export function loadConfig(environment: NodeJS.ProcessEnv = process.env): Config {
  const parsed = environmentSchema.safeParse(environment);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    throw new ConfigError(`invalid configuration:\n  ${problems.join('\n  ')}`);
  }
  const env = parsed.data;
  let s3: S3Config | undefined;
  if (env.S3_ENDPOINT || env.S3_BUCKET) {
    if (!env.S3_ENDPOINT || !env.S3_BUCKET || !env.S3_ACCESS_KEY_ID || !env.S3_SECRET_ACCESS_KEY) {
      throw new ConfigError(
        'invalid configuration: S3_ENDPOINT, S3_BUCKET, S3_ACCESS_KEY_ID and S3_SECRET_ACCESS_KEY go together',
      );
    }
    s3 = {
      endpoint: env.S3_ENDPOINT,
      bucket: env.S3_BUCKET,
      accessKeyId: env.S3_ACCESS_KEY_ID,
      secretAccessKey: env.S3_SECRET_ACCESS_KEY,
      region: env.S3_REGION,
    };
  }
  return {
    dataDir: path.resolve(env.YINGYUN_DATA_DIR),
    http: { host: env.YINGYUN_HTTP_HOST, port: env.YINGYUN_HTTP_PORT, maxStowBytes: env.YINGYUN_MAX_STOW_BYTES },
    dicom: {
      host: env.YINGYUN_DICOM_HOST,
      port: env.YINGYUN_DICOM_PORT,
      aeTitle: env.YINGYUN_AE_TITLE,
      maxPduLength: env.YINGYUN_MAX_PDU_LENGTH,
      idleSeconds: env.YINGYUN_DICOM_IDLE_SECONDS,
    },
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    s3,
    reconcileAfterSeconds: env.YINGYUN_RECONCILE_AFTER_SECONDS,
    workerConcurrency: env.YINGYUN_WORKER_CONCURRENCY,
    renderThreads: env.YINGYUN_RENDER_THREADS,
    queueName: env.YINGYUN_QUEUE_NAME,
    logLevel: env.YINGYUN_LOG_LEVEL,
  };
}

/** For entry points: the configuration, or a clear message and exit code 2 before anything starts. */
export function loadConfigOrExit(environment: NodeJS.ProcessEnv = process.env): Config {
  try {
    return loadConfig(environment);
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}

/** A connection URL fit for a log line: the password replaced. */
export function redactPassword(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return '(unparseable URL)';
  }
}
