import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import type { Readable } from 'node:stream';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
  type S3ClientConfig,
} from '@aws-sdk/client-s3';
import type { S3Config } from '../config.ts';
import { timed, type StageRecorder } from '../ingest-stages.ts';
import { FileUpload, sweepInterruptedUploads } from './file-upload.ts';
import { assertSafeKey, ObjectNotFound, type IncomingObject, type ObjectStore } from './object-store.ts';

/**
 * Objects in any S3-compatible service. Path-style addressing, because MinIO, Ceph RGW and most
 * on-premises endpoints do not resolve bucket sub-domains.
 */
/** Tries of one request: the SDK's for whole bodies, ours (sendSpooled) for a spooled one. */
const MAX_ATTEMPTS = 3;
const RETRY_DELAY_MS = 100;
/** A spooled upload's try that failed within this is tried again (sendSpooled). */
const QUICK_FAILURE_MS = 5_000;

export class S3ObjectStore implements ObjectStore {
  readonly description: string;
  private readonly client: S3Client;
  private readonly singleAttemptClient: S3Client;
  private spoolReady?: Promise<unknown>;

  /**
   * `spoolDirectory`: a local folder where an object arriving piece by piece (a C-STORE) waits until
   * its key is known, so it is sent from disk rather than held in memory.
   */
  constructor(
    private readonly config: S3Config,
    private readonly spoolDirectory: string,
  ) {
    this.description = `S3 bucket ${config.bucket} at ${config.endpoint}`;
    const options: S3ClientConfig = {
      endpoint: config.endpoint,
      region: config.region,
      forcePathStyle: true,
      credentials: { accessKeyId: config.accessKeyId, secretAccessKey: config.secretAccessKey },
      // Newer SDKs add CRC checksums to every request by default; many S3-compatible servers reject
      // them. We verify content ourselves with the SHA-256 kept in the receipt.
      requestChecksumCalculation: 'WHEN_REQUIRED',
      responseChecksumValidation: 'WHEN_REQUIRED',
      maxAttempts: MAX_ATTEMPTS,
      // Without these an S3 service that takes a request and never answers holds the C-STORE waiting
      // on it, and the sender's association, forever (test/faults/s3.test.ts).
      requestHandler: { connectionTimeout: config.idleTimeoutMs, socketTimeout: config.idleTimeoutMs },
    };
    this.client = new S3Client(options);
    this.singleAttemptClient = new S3Client({ ...options, maxAttempts: 1 });
  }

  /** Creates the bucket when it does not exist yet (first start against a fresh MinIO). */
  async ensureBucket(): Promise<void> {
    try {
      await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
    } catch (error) {
      if (!isNotFound(error)) throw error;
      await this.client.send(new CreateBucketCommand({ Bucket: this.config.bucket }));
    }
  }

  put(key: string, body: Buffer, contentType: string, record?: StageRecorder): Promise<void> {
    return timed(record, 'object flush', () => this.send(key, body, body.length, contentType));
  }

  openUpload(): IncomingObject {
    this.spoolReady ??= fsp.mkdir(this.spoolDirectory, { recursive: true });
    const spooled = path.join(this.spoolDirectory, `${randomBytes(8).toString('hex')}.tmp`);
    return new FileUpload(spooled, this.spoolReady.then(() => undefined), async ({ temporary, size }, key, record) => {
      await timed(record, 'object flush', () => this.sendSpooled(key, temporary, size));
      return 'copied';
    });
  }

  /** Removes what uploads interrupted by a crash or a kill left in the spool folder. */
  sweepSpool(): Promise<number> {
    return sweepInterruptedUploads(this.spoolDirectory);
  }

  /**
   * A spooled upload, sent again from its file after a quick failure that a retry may cure (a 5xx,
   * throttling, a refused connection): the SDK's own retry cannot, because a stream it has read once
   * is gone (a 500 on the first try failed the C-STORE; test/faults/s3.test.ts). So these go through a
   * client that tries once, and are retried here. A try that failed slowly (the idle timeout) is not
   * tried again: the sender would wait minutes, past the receipt's grace, for an answer that could
   * only be a failure (its receipt taken for lost meanwhile).
   */
  private async sendSpooled(key: string, file: string, length: number): Promise<void> {
    for (let attempt = 1; ; attempt += 1) {
      const started = performance.now();
      // Closed whatever happens: a failed request leaves its body unread, and an open stream would
      // keep the spool file's space and a descriptor after the file is removed.
      const body = fs.createReadStream(file);
      try {
        await this.send(key, body, length, 'application/dicom', this.singleAttemptClient);
        return;
      } catch (error) {
        const quick = performance.now() - started < QUICK_FAILURE_MS;
        if (attempt >= MAX_ATTEMPTS || !quick || !worthRetrying(error)) throw error;
        await new Promise((resolve) => setTimeout(resolve, RETRY_DELAY_MS * attempt));
      } finally {
        body.destroy();
      }
    }
  }

  private async send(key: string, body: Buffer | Readable, length: number, contentType: string, client = this.client): Promise<void> {
    assertSafeKey(key);
    await client.send(
      new PutObjectCommand({
        Bucket: this.config.bucket,
        Key: key,
        Body: body,
        ContentType: contentType,
        ContentLength: length,
        // Encryption at rest by the service (S3_SSE): patient data never sits in a bucket in the clear
        // when the operator asked for it, whatever the bucket's default.
        ...(this.config.serverSideEncryption
          ? { ServerSideEncryption: this.config.serverSideEncryption.algorithm, SSEKMSKeyId: this.config.serverSideEncryption.kmsKeyId }
          : {}),
      }),
    );
  }

  // An S3 PUT is atomic and its durability is the service's; derived or not, it is the same request.
  putDerived(key: string, body: Buffer, contentType: string): Promise<void> {
    return this.put(key, body, contentType);
  }

  async get(key: string): Promise<Buffer> {
    return Buffer.from(await (await this.getObject(key)).transformToByteArray());
  }

  async getRange(key: string, offset: number, length: number): Promise<Buffer> {
    if (length === 0) return Buffer.alloc(0);
    return Buffer.from(await (await this.getObject(key, `bytes=${offset}-${offset + length - 1}`)).transformToByteArray());
  }

  async stream(key: string): Promise<Readable> {
    return (await this.getObject(key)) as unknown as Readable;
  }

  async exists(key: string): Promise<boolean> {
    assertSafeKey(key);
    try {
      await this.client.send(new HeadObjectCommand({ Bucket: this.config.bucket, Key: key }));
      return true;
    } catch (error) {
      if (isNotFound(error)) return false;
      throw error;
    }
  }

  async delete(key: string): Promise<void> {
    assertSafeKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.config.bucket, Key: key }));
  }

  async close(): Promise<void> {
    // Nothing held open between calls: each request makes its own connection through the SDK's agent.
  }

  async checkAvailable(): Promise<void> {
    await this.client.send(new HeadBucketCommand({ Bucket: this.config.bucket }));
  }

  // ListObjectsV2 returns keys in UTF-8 byte order, a thousand at a time.
  async *list(prefix: string): AsyncIterable<string> {
    let continuationToken: string | undefined;
    do {
      const page = await this.client.send(new ListObjectsV2Command({ Bucket: this.config.bucket, Prefix: prefix, ContinuationToken: continuationToken }));
      for (const object of page.Contents ?? []) if (object.Key) yield object.Key;
      continuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (continuationToken);
  }

  private async getObject(key: string, range?: string) {
    assertSafeKey(key);
    try {
      const response = await this.client.send(new GetObjectCommand({ Bucket: this.config.bucket, Key: key, Range: range }));
      if (!response.Body) throw new ObjectNotFound(key);
      return response.Body;
    } catch (error) {
      if (isNotFound(error)) throw new ObjectNotFound(key);
      throw error;
    }
  }
}

/** A failure another try may cure: the service's own (5xx, throttling, a timed-out request) or the network's. */
function worthRetrying(error: unknown): boolean {
  const status = error instanceof S3ServiceException ? error.$metadata.httpStatusCode : undefined;
  return status === undefined || status >= 500 || status === 408 || status === 429;
}

function isNotFound(error: unknown): boolean {
  return (
    error instanceof S3ServiceException &&
    (error.$metadata.httpStatusCode === 404 || error.name === 'NoSuchKey' || error.name === 'NotFound' || error.name === 'NoSuchBucket')
  );
}
