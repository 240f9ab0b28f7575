import type http from 'node:http';
import type https from 'node:https';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import { InstitutionScopeCache } from '../../archive/access/institution-scope.ts';
import { hasPermission, visibilityFor, type Permission, type Principal, type Visibility } from '../../archive/access/policy.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { SESSION_COOKIE } from './access.ts';

/** Who opened a WebSocket, and what they may see: the same principal and visibility an HTTP request gets. */
export interface WebSocketContext {
  principal: Principal;
  visibility: Visibility;
  /** The route's path pattern matched against the request path. */
  match: RegExpExecArray;
  url: URL;
  request: http.IncomingMessage;
}

/** One WebSocket endpoint: its path, the permission it needs, and what to do with an opened socket. */
export interface WebSocketRoute {
  path: RegExp;
  requires: Permission | 'signed-in';
  open(socket: WebSocket, context: WebSocketContext): void | Promise<void>;
}

// A printable-ASCII path with no percent-encoding and no dot or empty segments: the one form a route matches.
const PLAIN_PATH = /^(\/[\x21-\x24\x26-\x2e\x30-\x7e]+)+$/;
const MAX_MESSAGE_BYTES = 256 * 1024;

/**
 * WebSocket upgrades, under the same access policy as HTTP (gateway/http/access.ts): a session cookie
 * or a Bearer token, the route's permission, and the caller's institution scope. A browser's upgrade
 * carries its Origin, which must be this gateway's own (a cookie alone would let any page a signed-in
 * radiologist visits open a socket as them); a client with a token sends no cookie and needs no Origin.
 * Refusals answer the upgrade with a plain HTTP status and close, and are logged.
 */
export function attachWebSockets(server: http.Server | https.Server, runtime: Runtime, routes: readonly WebSocketRoute[]): { closeAll(): void } {
  const sockets = new WebSocketServer({ noServer: true, maxPayload: MAX_MESSAGE_BYTES });
  const scopes = new InstitutionScopeCache(runtime.institutions);
  const log = runtime.log.child({ component: 'websocket' });
  server.on('upgrade', (request: http.IncomingMessage, stream: Duplex, head: Buffer) => {
    const refuse = (status: 400 | 401 | 403 | 404, reason: string) => {
      log.info({ path: request.url, status, reason, source: request.socket.remoteAddress }, 'WebSocket upgrade refused');
      stream.end(`HTTP/1.1 ${status} ${STATUS_TEXT[status]}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(reason)}\r\n\r\n${reason}`);
    };
    stream.on('error', (error) => log.debug({ err: error }, 'WebSocket stream error'));
    upgrade(request).catch((error: unknown) => {
      log.error({ err: error }, 'WebSocket upgrade failed');
      if (stream.writable) stream.end('HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });

    async function upgrade(request: http.IncomingMessage): Promise<void> {
      const url = new URL(request.url ?? '/', 'http://gateway.invalid');
      if (!PLAIN_PATH.test(url.pathname)) return refuse(400, 'the request path must be plain: no percent-encoding, dot or empty segments');
      const route = routes.find((candidate) => candidate.path.test(url.pathname));
      if (!route) return refuse(404, `no WebSocket endpoint at ${url.pathname}`);
      const bearer = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '')?.[1];
      const sessionCookie = cookie(request.headers.cookie, SESSION_COOKIE);
      if (sessionCookie && !bearer && !sameOrigin(request, runtime.config.access.publicUrl)) return refuse(403, 'a browser may open this WebSocket only from this gateway’s own pages');
      const authenticated = await runtime.auth.authenticate({ bearer, sessionCookie });
      if (!authenticated) return refuse(401, bearer || sessionCookie ? 'the credentials are not valid (expired, revoked or unknown)' : 'sign in, or send an API token as Authorization: Bearer');
      const { principal } = authenticated;
      if (route.requires !== 'signed-in' && !hasPermission(principal.role, route.requires)) return refuse(403, `the ${principal.role} role may not use ${url.pathname}`);
      const scope = await scopes.of(principal.institutionId);
      const visibility = visibilityFor(principal, { ownInstitutionKind: scope.kind, regionInstitutionIds: scope.regionInstitutionIds, purpose: null });
      const match = route.path.exec(url.pathname)!;
      sockets.handleUpgrade(request, stream, head, (socket) => {
        socket.on('error', (error) => log.debug({ err: error }, 'WebSocket error'));
        Promise.resolve(route.open(socket, { principal, visibility, match, url, request })).catch((error: unknown) => {
          log.error({ err: error, path: url.pathname }, 'WebSocket handler failed');
          socket.close(1011, 'internal error');
        });
      });
    }
  });
  // Upgraded sockets are no longer the HTTP server's to close: shutting down ends them here.
  return { closeAll: () => sockets.clients.forEach((socket) => socket.terminate()) };
}

const STATUS_TEXT = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found' } as const;

function cookie(header: string | undefined, name: string): string | undefined {
  for (const part of (header ?? '').split(';')) {
    const at = part.indexOf('=');
    if (at > 0 && part.slice(0, at).trim() === name) {
      try {
        return decodeURIComponent(part.slice(at + 1).trim());
      } catch {
        return undefined;
      }
    }
  }
  return undefined;
}

/** The Origin a browser sent is this gateway: the public URL when one is configured, else the Host it reached. */
function sameOrigin(request: http.IncomingMessage, publicUrl: string | undefined): boolean {
  const origin = request.headers.origin;
  if (!origin) return false;
  try {
    const host = new URL(origin).host;
    return publicUrl ? host === new URL(publicUrl).host : host === request.headers.host;
  } catch {
    return false;
  }
}
