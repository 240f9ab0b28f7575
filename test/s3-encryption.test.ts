import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, it } from 'node:test';
import { loadConfig } from '../archive/config.ts';
import { openObjectStore } from '../archive/storage/open.ts';
import { startS3Server } from './support/s3.ts';

/**
 * A forwarding HTTP proxy in front of the S3 server that notes each request's method and headers:
 * s3rver stores objects but does not implement server-side encryption, so what we can check here is
 * that every write asks for it, on the wire, and still succeeds.
 */
async function recordingProxy(target: string): Promise<{ url: string; requests: { method: string; headers: http.IncomingHttpHeaders }[]; close(): Promise<void> }> {
  const requests: { method: string; headers: http.IncomingHttpHeaders }[] = [];
  const upstream = new URL(target);
  const server = http.createServer((request, response) => {
    requests.push({ method: request.method!, headers: request.headers });
    const forwarded = http.request({ host: upstream.hostname, port: upstream.port, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode!, answer.headers);
      answer.pipe(response);
    });
    forwarded.on('error', () => response.destroy());
    request.pipe(forwarded);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe('S3 server-side encryption (S3_SSE)', () => {
  for (const [sse, kmsKeyId] of [['AES256', undefined], ['aws:kms', 'arn:aws:kms:cn-north-1:000000000000:key/yingyun-test']] as const) {
    it(`asks for ${sse} on every object written, originals and thumbnails alike`, async () => {
      const s3 = await startS3Server();
      const proxy = await recordingProxy(s3.env.S3_ENDPOINT!);
      try {
        const config = loadConfig({ ...s3.env, S3_ENDPOINT: proxy.url, S3_SSE: sse, ...(kmsKeyId ? { S3_SSE_KMS_KEY_ID: kmsKeyId } : {}), YINGYUN_DATA_DIR: '/nonexistent' });
        const store = await openObjectStore(config);
        await store.put('instances/1/2/3.dcm', Buffer.from('DICM object'), 'application/dicom');
        await store.putDerived('thumbnails/1/2/3.jpg', Buffer.from('jpeg'), 'image/jpeg');
        assert.equal((await store.get('instances/1/2/3.dcm')).toString(), 'DICM object', 'stored and readable');
        // The object writes, not the bucket's creation: they carry the objects' media types.
        const objectWrites = proxy.requests.filter((request) => request.method === 'PUT' && ['application/dicom', 'image/jpeg'].includes(request.headers['content-type'] ?? ''));
        assert.equal(objectWrites.length, 2, 'the original and the thumbnail');
        for (const write of objectWrites) {
          assert.equal(write.headers['x-amz-server-side-encryption'], sse);
          if (kmsKeyId) assert.equal(write.headers['x-amz-server-side-encryption-aws-kms-key-id'], kmsKeyId);
        }
      } finally {
        await proxy.close();
        await s3.stop();
      }
    });
  }

  it('refuses an unknown algorithm before starting', () => {
    assert.throws(() => loadConfig({ S3_SSE: 'ROT13' }), /S3_SSE/);
  });
});
