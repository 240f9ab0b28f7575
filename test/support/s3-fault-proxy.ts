import http from 'node:http';
import type net from 'node:net';

/**
 * An HTTP proxy in front of a real S3-compatible server that misbehaves on object uploads (PUT of a
 * key under instances/), as an overloaded or failing S3 service does: answering 500 InternalError,
 * never answering (a timeout), or answering late. Everything else passes through untouched. On
 * 127.0.0.1 only.
 */
export type S3Fault = 'none' | 'error-500' | 'no-answer' | 'slow';

export interface S3FaultProxy {
  endpoint: string;
  /** The fault for each upload from now on: `pick` gets the upload's sequence number (1, 2, …) and its path. */
  inject(pick: (upload: number, path: string) => S3Fault): void;
  /** How many uploads got each fault so far. */
  counts: Record<S3Fault, number>;
  close(): Promise<void>;
}

const SLOW_MS = 1500;

export async function startS3FaultProxy(targetPort: number): Promise<S3FaultProxy> {
  let pick: (upload: number, path: string) => S3Fault = () => 'none';
  let uploads = 0;
  const counts: Record<S3Fault, number> = { none: 0, 'error-500': 0, 'no-answer': 0, slow: 0 };
  const sockets = new Set<net.Socket>();
  const forward = (request: http.IncomingMessage, response: http.ServerResponse) => {
    const upstream = http.request({ host: '127.0.0.1', port: targetPort, method: request.method, path: request.url, headers: request.headers }, (answer) => {
      response.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(response);
    });
    upstream.on('error', () => response.destroy());
    request.pipe(upstream);
  };
  const server = http.createServer((request, response) => {
    const isUpload = request.method === 'PUT' && /\/instances\//.test(request.url ?? '');
    const fault = isUpload ? pick(++uploads, request.url ?? '') : 'none';
    if (isUpload) counts[fault] += 1;
    if (fault === 'none') return forward(request, response);
    if (fault === 'slow') return void setTimeout(() => forward(request, response), SLOW_MS);
    // The body is read whole either way, as a server does before it fails.
    request.resume();
    if (fault === 'no-answer') return;
    request.once('end', () => {
      response.writeHead(500, { 'Content-Type': 'application/xml' });
      response.end('<?xml version="1.0" encoding="UTF-8"?><Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>');
    });
  });
  server.on('connection', (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    endpoint: `http://127.0.0.1:${(server.address() as net.AddressInfo).port}`,
    inject(next) {
      pick = next;
    },
    counts,
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
