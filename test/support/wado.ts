import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { parseInstance } from '../../archive/dicom/parse.ts';
import { PYDICOM_TEST_FILES } from './peers.ts';
import type { TestSystem } from './system.ts';

/** Helpers shared by the WADO-RS / WADO-URI suites (test/wado*.test.ts). */

export const havePydicom = fs.existsSync(PYDICOM_TEST_FILES);

export function readTestFile(name: string): Buffer {
  return fs.readFileSync(path.join(PYDICOM_TEST_FILES, name));
}

export function sha256(bytes: Buffer | ArrayBuffer | Uint8Array): string {
  return createHash('sha256').update(Buffer.from(bytes as ArrayBuffer)).digest('hex');
}

export interface Stored {
  study: string;
  series: string;
  instance: string;
  /** `${dicomWebUrl}/studies/…/instances/…` */
  url: string;
  bytes: Buffer;
}

/** Ingests Part 10 bytes by the one ingest path and waits until they are indexed and drawn. */
export async function ingest(system: TestSystem, part10: Buffer): Promise<Stored> {
  const outcome = await system.runtime.ingest.ingest({ part10 }, { via: 'import', name: 'wado-test', institutionId: system.institutionId });
  await system.runtime.queue.whenIdle();
  const { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: instance } = outcome.parsed;
  return { study, series, instance, url: `${system.dicomWebUrl}/studies/${study}/series/${series}/instances/${instance}`, bytes: part10 };
}

/** The uncompressed Pixel Data value of a native little-endian file, straight from its bytes. */
export function nativePixelData(part10: Buffer): Buffer {
  const parsed = parseInstance(part10);
  const location = parsed.bulkData.find((bulk) => bulk.path === '7FE00010')!;
  return part10.subarray(location.offset, location.offset + location.length);
}

export interface Part {
  headers: Record<string, string>;
  body: Buffer;
}

/** Splits a multipart/related response body (independently of the server's own multipart code). */
export function multipartParts(body: Buffer, contentType: string): Part[] {
  const boundary = /boundary="?([^";]+)"?/.exec(contentType)?.[1];
  assert.ok(boundary, `a boundary in ${contentType}`);
  const delimiter = Buffer.from(`\r\n--${boundary}`);
  const parts: Part[] = [];
  let position = body.indexOf(`--${boundary}`);
  assert.equal(position, 0, 'the body starts with the first delimiter');
  position += boundary.length + 2;
  while (body.subarray(position, position + 2).toString() !== '--') {
    const headerEnd = body.indexOf('\r\n\r\n', position);
    const headers: Record<string, string> = {};
    for (const line of body.toString('latin1', position + 2, headerEnd).split('\r\n')) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
    }
    const next = body.indexOf(delimiter, headerEnd + 4);
    assert.ok(next > 0, 'every part is closed by a delimiter');
    parts.push({ headers, body: body.subarray(headerEnd + 4, next) });
    position = next + delimiter.length;
  }
  return parts;
}

export async function getParts(system: TestSystem, url: string, accept?: string): Promise<{ response: Response; parts: Part[] }> {
  const response = await system.fetch(url, { headers: accept ? { Accept: accept } : {} });
  assert.equal(response.status, 200, `${url}: ${response.status} ${response.status === 200 ? '' : await response.clone().text()}`);
  const contentType = response.headers.get('content-type') ?? '';
  assert.match(contentType, /^multipart\/related/);
  return { response, parts: multipartParts(Buffer.from(await response.arrayBuffer()), contentType) };
}

export async function expectProblem(response: Response, status: number, detail: RegExp): Promise<void> {
  assert.equal(response.status, status, `${response.url}: expected ${status}, got ${response.status}`);
  assert.match(response.headers.get('content-type') ?? '', /application\/problem\+json/);
  const problem = (await response.json()) as { status: number; title: string; detail: string };
  assert.equal(problem.status, status);
  assert.match(problem.detail, detail);
}
