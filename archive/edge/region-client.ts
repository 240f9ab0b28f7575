import http from 'node:http';
import https from 'node:https';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import { multipartBoundary, multipartCloseDelimiter, multipartPartHeader } from '../../gateway/http/dicomweb/multipart.ts';
import { throttled, type TokenBucket } from './token-bucket.ts';

/**
 * The edge's side of the link to the regional Yingyun: STOW-RS (PS3.18 10.5) of stored Part 10
 * objects, and the region's SHA-256 of what it stored (POST /api/instance-digests). No STOW-RS client
 * existed in the code base when this was written (archive/routing had none), so this is it.
 */
export interface RegionLink {
  /** Base URL of the region, e.g. https://yingyun.region.example.cn (its /dicom-web/studies takes the instances). */
  url: string;
  /** An API token of the county's account at the region (a role with `store`), sent as Bearer. */
  token: string;
  /** A request that neither sends nor receives a byte for this long is given up (a link silently down). */
  idleTimeoutMs: number;
}

export interface OutgoingObject {
  sopInstanceUid: string;
  sizeBytes: number;
  open(): Promise<Readable>;
}

export interface StowResult {
  stored: string[];
  /** Instances the region refused, with its Failure Reason (0008,1197). */
  failed: Array<{ sopInstanceUid: string; reason: number }>;
}

/** The link failed as a whole (unreachable, cut, timed out, refused our credentials, answered 5xx): retry later. */
export class RegionUnavailable extends Error {}

const stowResponseSchema = z.object({
  '00081199': z.object({ Value: z.array(z.record(z.string(), z.any())).optional() }).optional(),
  '00081198': z.object({ Value: z.array(z.record(z.string(), z.any())).optional() }).optional(),
});

const digestsSchema = z.object({ instances: z.array(z.object({ sopInstanceUid: z.string(), objectSha256: z.array(z.string()) })) });

export class RegionClient {
  constructor(private readonly link: RegionLink) {}

  /**
   * One STOW-RS request with every object as an application/dicom part, streamed from the local store
   * through the bandwidth cap. Resolves with the region's per-instance answer; anything else rejects
   * with RegionUnavailable.
   */
  async store(objects: readonly OutgoingObject[], bucket: TokenBucket | undefined, onBytes: (bytes: number) => void, signal?: AbortSignal): Promise<StowResult> {
    const boundary = multipartBoundary();
    const partHeader = multipartPartHeader(boundary, 'application/dicom');
    const partEnd = Buffer.from('\r\n');
    const closing = multipartCloseDelimiter(boundary);
    const contentLength = objects.reduce((total, object) => total + partHeader.length + object.sizeBytes + partEnd.length, 0) + closing.length;
    async function* body(): AsyncGenerator<Buffer> {
      for (const object of objects) {
        yield partHeader;
        const stream = await object.open();
        try {
          let sent = 0;
          for await (const chunk of stream as AsyncIterable<Buffer>) {
            sent += chunk.length;
            yield chunk;
          }
          // The Content-Length was promised from the queue's size: a changed file would corrupt the body.
          if (sent !== object.sizeBytes) throw new Error(`local object of ${object.sopInstanceUid} has ${sent} bytes, not ${object.sizeBytes}`);
        } finally {
          stream.destroy();
        }
        yield partEnd;
      }
      yield closing;
    }
    const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));
    const { status, text } = await this.request('POST', '/dicom-web/studies', {
      'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
      accept: 'application/dicom+json',
      'content-length': String(contentLength),
    }, throttled(body(), bucket, sleep), onBytes, signal);
    // 200 all stored, 202 some failed, 409 none stored: each names its instances (PS3.18 10.5.3).
    if (status !== 200 && status !== 202 && status !== 409) throw new RegionUnavailable(`STOW-RS answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
    const parsed = stowResponseSchema.safeParse(parseJson(text || '{}'));
    if (!parsed.success) throw new RegionUnavailable('STOW-RS answer is not the DICOM JSON of a store response');
    const uidOf = (item: Record<string, { Value?: unknown[] }>) => String(item['00081155']?.Value?.[0] ?? '');
    return {
      stored: (parsed.data['00081199']?.Value ?? []).map(uidOf),
      failed: (parsed.data['00081198']?.Value ?? []).map((item) => ({ sopInstanceUid: uidOf(item), reason: Number(item['00081197']?.Value?.[0] ?? 0x0110) })),
    };
  }

  /** The SHA-256 of every stored object the region holds for each instance (several versions: several). */
  async digests(sopInstanceUids: readonly string[], signal?: AbortSignal): Promise<Map<string, string[]>> {
    const payload = Buffer.from(JSON.stringify({ sopInstanceUids }));
    async function* body() {
      yield payload;
    }
    const { status, text } = await this.request('POST', '/api/instance-digests', { 'content-type': 'application/json', accept: 'application/json', 'content-length': String(payload.length) }, body(), () => undefined, signal);
    if (status !== 200) throw new RegionUnavailable(`instance digests answered HTTP ${status}${text ? `: ${text.slice(0, 200)}` : ''}`);
    const parsed = digestsSchema.safeParse(parseJson(text));
    if (!parsed.success) throw new RegionUnavailable('instance digests answer is not in the expected shape');
    return new Map(parsed.data.instances.map((instance) => [instance.sopInstanceUid, instance.objectSha256]));
  }

  /** One request with a streamed body; the body's bytes are counted as they are handed to the socket. */
  private request(method: string, path: string, headers: Record<string, string>, body: AsyncIterable<Buffer>, onBytes: (bytes: number) => void, signal?: AbortSignal): Promise<{ status: number; text: string }> {
    const url = new URL(path, this.link.url.endsWith('/') ? this.link.url : `${this.link.url}/`);
    const transport = url.protocol === 'https:' ? https : http;
    return new Promise((resolve, reject) => {
      const fail = (error: unknown) => reject(error instanceof RegionUnavailable ? error : new RegionUnavailable(describe(error), { cause: error }));
      const request = transport.request(url, { method, headers: { ...headers, authorization: `Bearer ${this.link.token}` }, timeout: this.link.idleTimeoutMs, signal });
      // Once the region has answered (a refusal can come before the body ends), the rest is not sent, and
      // the connection, with its request unfinished, is not used again.
      let answered = false;
      let bodySent = false;
      request.on('timeout', () => request.destroy(new Error(`no answer for ${Math.round(this.link.idleTimeoutMs / 1000)} s`)));
      request.on('error', fail);
      request.on('response', (response) => {
        answered = true;
        const chunks: Buffer[] = [];
        response.on('data', (chunk: Buffer) => chunks.push(chunk));
        response.on('error', fail);
        response.on('end', () => {
          if (!bodySent) request.destroy();
          resolve({ status: response.statusCode ?? 0, text: Buffer.concat(chunks).toString('utf8') });
        });
      });
      void (async () => {
        try {
          for await (const chunk of body) {
            if (request.destroyed || answered) return;
            onBytes(chunk.length);
            if (!request.write(chunk)) await drainedOrClosed(request);
          }
          bodySent = true;
          request.end();
        } catch (error) {
          request.destroy(error instanceof Error ? error : new Error(String(error)));
        }
      })();
    });
  }
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new RegionUnavailable(`the region answered something other than JSON: ${text.slice(0, 200)}`);
  }
}

function drainedOrClosed(request: http.ClientRequest): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      request.off('drain', done);
      request.off('close', done);
      resolve();
    };
    request.on('drain', done);
    request.on('close', done);
  });
}

function describe(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: string }).code;
    return code && !error.message.includes(code) ? `${code}: ${error.message}` : error.message;
  }
  return String(error);
}
