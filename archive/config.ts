import os from 'node:os';
import path from 'node:path';
import { z } from 'zod';
import { urgencyRulesSchema, type EdgeConfig } from './edge/edge-config.ts';
import { DEFAULT_SHARE_LINK_SETTINGS, type ShareLinkSettings } from './reading/share-links.ts';
import { DEFAULT_STATISTICS_CONFIG, statisticsConfigSchema, type StatisticsConfig } from './statistics/statistics-config.ts';

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
  YINGYUN_LOCAL_STORE: z.enum(['segments', 'files']).optional(),
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
  // `npm run worker`'s own HTTP listener (/healthz, /readyz, /metrics) on YINGYUN_HTTP_HOST; unset: none. 0: any free port.
  YINGYUN_WORKER_HTTP_PORT: optionalText.transform((value) => (value === undefined ? undefined : Number(value))).pipe(z.number().int().min(0).max(65535).optional()),
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
  // Server-side encryption of stored objects: 'AES256' (SSE-S3) or 'aws:kms' (with S3_SSE_KMS_KEY_ID).
  S3_SSE: z.enum(['AES256', 'aws:kms']).optional(),
  S3_SSE_KMS_KEY_ID: optionalText,
  // An S3 request whose connection carries nothing for this long fails (and a C-STORE waiting on it
  // answers a failure status) instead of holding the sender forever; idle time, not total, so a large
  // object's upload over a slow link is not cut off.
  S3_IDLE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  // Access (docs/security.md)
  YINGYUN_ADMIN_PASSWORD: optionalText,
  YINGYUN_SESSION_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(30),
  YINGYUN_SESSION_MAX_HOURS: z.coerce.number().int().min(1).max(24 * 30).default(12),
  YINGYUN_LOGIN_LOCK_AFTER: z.coerce.number().int().min(1).max(100).default(5),
  YINGYUN_LOGIN_LOCK_MINUTES: z.coerce.number().int().min(1).max(24 * 60).default(15),
  // PIPL and graded protection ask for at least six months of logs.
  YINGYUN_AUDIT_RETENTION_DAYS: z.coerce.number().int().min(183).default(366),
  YINGYUN_AUDIT_SOURCE_ID: z.string().default('YINGYUN'),
  // What to do with an association from an unregistered AE title or address.
  YINGYUN_DICOM_UNKNOWN_PEERS: z.enum(['reject', 'quarantine']).default('reject'),
  YINGYUN_DICOM_TLS_PORT: port.optional(),
  YINGYUN_DICOM_TLS_CERT: optionalText,
  YINGYUN_DICOM_TLS_KEY: optionalText,
  YINGYUN_DICOM_TLS_CA: optionalText,
  YINGYUN_DICOM_TLS_VERIFY_CLIENT: z.enum(['true', 'false']).default('true'),
  YINGYUN_HTTPS_CERT: optionalText,
  YINGYUN_HTTPS_KEY: optionalText,
  YINGYUN_OIDC_ISSUER: optionalText,
  YINGYUN_OIDC_CLIENT_ID: optionalText,
  YINGYUN_OIDC_CLIENT_SECRET: optionalText,
  // The address people reach Yingyun at (the OIDC redirect is built from it), e.g. https://pacs.example.cn
  YINGYUN_PUBLIC_URL: optionalText,
  // Share links (docs/security.md, cloud film): a patient's link lives 30 days by default, locks after
  // 5 wrong second factors; a doctor's share link lives 72 hours unless they say.
  YINGYUN_FILM_LINK_DAYS: z.coerce.number().int().min(1).max(366).default(30),
  YINGYUN_FILM_LOCK_AFTER: z.coerce.number().int().min(1).max(20).default(5),
  YINGYUN_SHARE_LINK_HOURS: z.coerce.number().int().min(1).max(720).default(72),
  // Tests and development only: lets a hospital's critical-finding webhook be http://127.0.0.1 or localhost.
  YINGYUN_WEBHOOK_ALLOW_LOOPBACK: z.enum(['true', 'false']).default('false'),
  // The person index's identifier keys (archive/person/person-keys.ts): 32 bytes each, base64.
  YINGYUN_PERSON_HASH_KEY: optionalText.pipe(z.string().base64().optional()),
  YINGYUN_PERSON_ENCRYPTION_KEY: optionalText.pipe(z.string().base64().optional()),
  // The region's statistics definitions (archive/statistics/statistics-config.ts) as JSON: fields given replace the defaults.
  YINGYUN_STATISTICS: optionalText,
  // The county edge (npm run edge, docs/edge.md): where and how it forwards to the region.
  YINGYUN_EDGE_REGION_URL: optionalText.pipe(z.url({ protocol: /^https?$/ }).optional()),
  YINGYUN_EDGE_REGION_TOKEN: optionalText,
  // 0: no cap. A county's uplink is shared with its HIS and PACS: cap it below what they need.
  YINGYUN_EDGE_BANDWIDTH_BYTES_PER_SECOND: z.coerce.number().int().min(0).default(0),
  YINGYUN_EDGE_RETENTION_HOURS: z.coerce.number().min(0).max(24 * 366).default(168),
  // JSON: [{"modality":"CT","bodyPart":"HEAD","priority":"STAT"}, …] for studies without a Requested Procedure Priority.
  YINGYUN_EDGE_URGENCY_RULES: optionalText,
  YINGYUN_EDGE_TIMEOUT_SECONDS: z.coerce.number().int().min(1).max(3600).default(60),
  YINGYUN_EDGE_RETRY_MAX_SECONDS: z.coerce.number().int().min(1).max(3600).default(300),
  // Routing and sending on (docs/routing.md): a failed send waits 10 s, then twice as long each time up to
  // 30 minutes; after 10 attempts (about 3 hours) it goes to the dead letters for an administrator.
  YINGYUN_FORWARD_RETRY_BASE_MS: z.coerce.number().int().min(1).default(10_000),
  YINGYUN_FORWARD_RETRY_MAX_MS: z.coerce.number().int().min(1).default(30 * 60_000),
  YINGYUN_FORWARD_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(100).default(10),
  // Instances sent over one association (or in one STOW-RS request): held in memory while sent.
  YINGYUN_FORWARD_BATCH: z.coerce.number().int().min(1).max(1000).default(50),
});

function parseEdgeConfig(env: z.infer<typeof environmentSchema>): EdgeConfig | undefined {
  if (env.YINGYUN_EDGE_REGION_URL === undefined && env.YINGYUN_EDGE_REGION_TOKEN === undefined) return undefined;
  if (env.YINGYUN_EDGE_REGION_URL === undefined || env.YINGYUN_EDGE_REGION_TOKEN === undefined) {
    throw new ConfigError('invalid configuration: YINGYUN_EDGE_REGION_URL and YINGYUN_EDGE_REGION_TOKEN go together');
  }
  let rules: unknown = [];
  if (env.YINGYUN_EDGE_URGENCY_RULES !== undefined) {
    try {
      rules = JSON.parse(env.YINGYUN_EDGE_URGENCY_RULES);
    } catch {
      throw new ConfigError('invalid configuration: YINGYUN_EDGE_URGENCY_RULES is not JSON');
    }
  }
  const urgencyRules = urgencyRulesSchema.safeParse(rules);
  if (!urgencyRules.success) throw new ConfigError(`invalid configuration: YINGYUN_EDGE_URGENCY_RULES: ${urgencyRules.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return {
    regionUrl: env.YINGYUN_EDGE_REGION_URL,
    regionToken: env.YINGYUN_EDGE_REGION_TOKEN,
    ...(env.YINGYUN_EDGE_BANDWIDTH_BYTES_PER_SECOND > 0 ? { bandwidthBytesPerSecond: env.YINGYUN_EDGE_BANDWIDTH_BYTES_PER_SECOND } : {}),
    retentionSeconds: Math.round(env.YINGYUN_EDGE_RETENTION_HOURS * 3600),
    urgencyRules: urgencyRules.data,
    idleTimeoutSeconds: env.YINGYUN_EDGE_TIMEOUT_SECONDS,
    retryMaxSeconds: env.YINGYUN_EDGE_RETRY_MAX_SECONDS,
  };
}

function parseStatisticsConfig(text: string): StatisticsConfig {
  let given: unknown;
  try {
    given = JSON.parse(text);
  } catch {
    throw new ConfigError('invalid configuration: YINGYUN_STATISTICS is not JSON');
  }
  const parsed = statisticsConfigSchema.safeParse({ ...DEFAULT_STATISTICS_CONFIG, ...(typeof given === 'object' && given !== null ? given : {}) });
  if (!parsed.success) throw new ConfigError(`invalid configuration: YINGYUN_STATISTICS: ${parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; ')}`);
  return parsed.data;
}

export interface S3Config {
  endpoint: string;
  bucket: string;
  accessKeyId: string;
  secretAccessKey: string;
  region: string;
  serverSideEncryption?: { algorithm: 'AES256' | 'aws:kms'; kmsKeyId?: string };
  idleTimeoutMs: number;
}

export interface AccessConfig {
  adminPassword?: string;
  sessionTokenMinutes: number;
  sessionMaxHours: number;
  lockAfterFailures: number;
  lockMinutes: number;
  auditRetentionDays: number;
  auditSourceId: string;
  unknownPeers: 'reject' | 'quarantine';
  oidc?: { issuer: string; clientId: string; clientSecret?: string };
  publicUrl?: string;
}

export interface ForwardingConfig {
  retryBaseMs: number;
  retryMaxMs: number;
  maxAttempts: number;
  batchSize: number;
}

export interface TlsFiles {
  certFile: string;
  keyFile: string;
  caFile?: string;
}

export interface Config {
  dataDir: string;
  /**
   * How the local object store (no S3 configured) keeps objects: a file each (the default), or appended
   * to segment logs (faster to ingest, with an index in memory that grows with the store: opt in).
   */
  localStore: 'segments' | 'files';
  http: { host: string; port: number; maxStowBytes: number; tls?: TlsFiles };
  dicom: {
    host: string;
    port: number;
    aeTitle: string;
    maxPduLength: number;
    idleSeconds: number;
    /** DICOM TLS (BCP 195) on its own port, when certificates are configured. */
    tls?: TlsFiles & { port: number; verifyClient: boolean };
  };
  access: AccessConfig;
  /** Cloud film and share links (archive/reading/share-links.ts). */
  shareLinks: ShareLinkSettings;
  /** Critical-finding webhooks may go to loopback over plain http (tests and development; never in production). */
  webhookAllowLoopback: boolean;
  /** The person index's identifier keys when configured; otherwise generated once into the data folder. */
  personKeys?: { matching: Buffer; encryption: Buffer };
  /** The region's statistics definitions; absent: the shipped defaults. */
  statistics?: StatisticsConfig;
  /** Forwarding to the region, for `npm run edge` (required by that role, ignored by the others). */
  edge?: EdgeConfig;
  databaseUrl?: string;
  redisUrl?: string;
  s3?: S3Config;
  /** Routing and sending on: retries with exponential back-off, then the dead letters (archive/routing). */
  forwarding: ForwardingConfig;
  reconcileAfterSeconds: number;
  workerConcurrency: number;
  /** Worker threads that decode and encode images (thumbnails, /rendered). */
  renderThreads: number;
  /** BullMQ queue name: several archives (or test runs) can share one Redis. */
  queueName: string;
  /** A separate worker's health and metrics listener (workers/main.ts); undefined: none. */
  workerHttpPort?: number;
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
      ...(env.S3_SSE ? { serverSideEncryption: { algorithm: env.S3_SSE, kmsKeyId: env.S3_SSE_KMS_KEY_ID } } : {}),
      idleTimeoutMs: env.S3_IDLE_TIMEOUT_SECONDS * 1000,
    };
  }
  if ((env.YINGYUN_HTTPS_CERT === undefined) !== (env.YINGYUN_HTTPS_KEY === undefined)) {
    throw new ConfigError('invalid configuration: YINGYUN_HTTPS_CERT and YINGYUN_HTTPS_KEY go together');
  }
  const dicomTlsSet = [env.YINGYUN_DICOM_TLS_PORT, env.YINGYUN_DICOM_TLS_CERT, env.YINGYUN_DICOM_TLS_KEY].filter((value) => value !== undefined).length;
  if (dicomTlsSet !== 0 && dicomTlsSet !== 3) {
    throw new ConfigError('invalid configuration: YINGYUN_DICOM_TLS_PORT, YINGYUN_DICOM_TLS_CERT and YINGYUN_DICOM_TLS_KEY go together');
  }
  if (env.YINGYUN_DICOM_TLS_VERIFY_CLIENT === 'true' && dicomTlsSet === 3 && !env.YINGYUN_DICOM_TLS_CA) {
    throw new ConfigError('invalid configuration: verifying DICOM TLS clients (YINGYUN_DICOM_TLS_VERIFY_CLIENT=true) needs YINGYUN_DICOM_TLS_CA');
  }
  if ((env.YINGYUN_OIDC_ISSUER === undefined) !== (env.YINGYUN_OIDC_CLIENT_ID === undefined)) {
    throw new ConfigError('invalid configuration: YINGYUN_OIDC_ISSUER and YINGYUN_OIDC_CLIENT_ID go together');
  }
  if ((env.YINGYUN_PERSON_HASH_KEY === undefined) !== (env.YINGYUN_PERSON_ENCRYPTION_KEY === undefined)) {
    throw new ConfigError('invalid configuration: YINGYUN_PERSON_HASH_KEY and YINGYUN_PERSON_ENCRYPTION_KEY go together');
  }
  const personKeys = env.YINGYUN_PERSON_HASH_KEY && env.YINGYUN_PERSON_ENCRYPTION_KEY
    ? { matching: Buffer.from(env.YINGYUN_PERSON_HASH_KEY, 'base64'), encryption: Buffer.from(env.YINGYUN_PERSON_ENCRYPTION_KEY, 'base64') }
    : undefined;
  if (personKeys && (personKeys.matching.length !== 32 || personKeys.encryption.length !== 32 || personKeys.matching.equals(personKeys.encryption))) {
    throw new ConfigError('invalid configuration: YINGYUN_PERSON_HASH_KEY and YINGYUN_PERSON_ENCRYPTION_KEY are two different 32-byte keys in base64 (openssl rand -base64 32)');
  }
  const statistics = env.YINGYUN_STATISTICS === undefined ? undefined : parseStatisticsConfig(env.YINGYUN_STATISTICS);
  const edge = parseEdgeConfig(env);
  return {
    ...(statistics ? { statistics } : {}),
    ...(edge ? { edge } : {}),
    dataDir: path.resolve(env.YINGYUN_DATA_DIR),
    localStore: env.YINGYUN_LOCAL_STORE ?? 'files',
    http: {
      host: env.YINGYUN_HTTP_HOST,
      port: env.YINGYUN_HTTP_PORT,
      maxStowBytes: env.YINGYUN_MAX_STOW_BYTES,
      ...(env.YINGYUN_HTTPS_CERT && env.YINGYUN_HTTPS_KEY ? { tls: { certFile: env.YINGYUN_HTTPS_CERT, keyFile: env.YINGYUN_HTTPS_KEY } } : {}),
    },
    dicom: {
      host: env.YINGYUN_DICOM_HOST,
      port: env.YINGYUN_DICOM_PORT,
      aeTitle: env.YINGYUN_AE_TITLE,
      maxPduLength: env.YINGYUN_MAX_PDU_LENGTH,
      idleSeconds: env.YINGYUN_DICOM_IDLE_SECONDS,
      ...(dicomTlsSet === 3
        ? {
            tls: {
              port: env.YINGYUN_DICOM_TLS_PORT!,
              certFile: env.YINGYUN_DICOM_TLS_CERT!,
              keyFile: env.YINGYUN_DICOM_TLS_KEY!,
              caFile: env.YINGYUN_DICOM_TLS_CA,
              verifyClient: env.YINGYUN_DICOM_TLS_VERIFY_CLIENT === 'true',
            },
          }
        : {}),
    },
    access: {
      adminPassword: env.YINGYUN_ADMIN_PASSWORD,
      sessionTokenMinutes: env.YINGYUN_SESSION_MINUTES,
      sessionMaxHours: env.YINGYUN_SESSION_MAX_HOURS,
      lockAfterFailures: env.YINGYUN_LOGIN_LOCK_AFTER,
      lockMinutes: env.YINGYUN_LOGIN_LOCK_MINUTES,
      auditRetentionDays: env.YINGYUN_AUDIT_RETENTION_DAYS,
      auditSourceId: env.YINGYUN_AUDIT_SOURCE_ID,
      unknownPeers: env.YINGYUN_DICOM_UNKNOWN_PEERS,
      ...(env.YINGYUN_OIDC_ISSUER && env.YINGYUN_OIDC_CLIENT_ID
        ? { oidc: { issuer: env.YINGYUN_OIDC_ISSUER, clientId: env.YINGYUN_OIDC_CLIENT_ID, clientSecret: env.YINGYUN_OIDC_CLIENT_SECRET } }
        : {}),
      publicUrl: env.YINGYUN_PUBLIC_URL,
    },
    shareLinks: {
      ...DEFAULT_SHARE_LINK_SETTINGS,
      patientLinkDays: env.YINGYUN_FILM_LINK_DAYS,
      lockAfterFailures: env.YINGYUN_FILM_LOCK_AFTER,
      doctorLinkHours: env.YINGYUN_SHARE_LINK_HOURS,
    },
    webhookAllowLoopback: env.YINGYUN_WEBHOOK_ALLOW_LOOPBACK === 'true',
    ...(personKeys ? { personKeys } : {}),
    databaseUrl: env.DATABASE_URL,
    redisUrl: env.REDIS_URL,
    s3,
    forwarding: {
      retryBaseMs: env.YINGYUN_FORWARD_RETRY_BASE_MS,
      retryMaxMs: env.YINGYUN_FORWARD_RETRY_MAX_MS,
      maxAttempts: env.YINGYUN_FORWARD_MAX_ATTEMPTS,
      batchSize: env.YINGYUN_FORWARD_BATCH,
    },
    reconcileAfterSeconds: env.YINGYUN_RECONCILE_AFTER_SECONDS,
    workerConcurrency: env.YINGYUN_WORKER_CONCURRENCY,
    renderThreads: env.YINGYUN_RENDER_THREADS,
    queueName: env.YINGYUN_QUEUE_NAME,
    ...(env.YINGYUN_WORKER_HTTP_PORT !== undefined ? { workerHttpPort: env.YINGYUN_WORKER_HTTP_PORT } : {}),
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
