import fs from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import compression from 'compression';
import cookieParser from 'cookie-parser';
import express from 'express';
import helmet from 'helmet';
import { Administration } from '../../archive/access/administration.ts';
import type { Config } from '../../archive/config.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { accessControl, canonicalPath } from './access.ts';
import { adminRoutes } from './api/admin-routes.ts';
import { auditRoutes } from './api/audit-routes.ts';
import { authRoutes } from './api/auth-routes.ts';
import { oidcRoutes } from './api/oidc-routes.ts';
import { routingRoutes } from './api/routing-routes.ts';
import { exportRoutes } from './api/export-routes.ts';
import { dicomWebRouter } from './dicomweb/router.ts';
import { upsEventSocket } from './dicomweb/ups-event-socket.ts';
import { priorsRoutes } from './api/priors-routes.ts';
import { readingRoutes } from './api/reading-routes.ts';
import { reportRoutes } from './api/report-routes.ts';
import { reportPdfRoutes } from './api/report-pdf-routes.ts';
import { fhirOutcomes, fhirRoutes } from './fhir/fhir-routes.ts';
import { consultationRoutes } from './api/consultation-routes.ts';
import { consultationSocket } from './api/consultation-socket.ts';
import { shareLinkRoutes } from './api/share-link-routes.ts';
import { criticalFindingRoutes } from './api/critical-finding-routes.ts';
import { qualityRoutes } from './api/quality-routes.ts';
import { qcWorklistRoutes } from './api/qc-worklist-routes.ts';
import { personRoutes } from './api/person-routes.ts';
import { priorFetchRoutes } from './api/prior-fetch-routes.ts';
import { statisticsRoutes } from './api/statistics-routes.ts';
import { recognitionDecisionRoutes } from './api/recognition-decision-routes.ts';
import { recognitionRoutes } from './api/recognition-routes.ts';
import { filmRoutes } from './film/film-routes.ts';
import { healthRoutes } from './health-routes.ts';
import { metricsRoutes } from './metrics-routes.ts';
import { statusRoutes } from './api/status-routes.ts';
import { instanceDigestRoutes } from './api/instance-digest-routes.ts';
import { HttpProblem, problemHandler } from './problem.ts';
import { viewerRoutes } from './viewer-app.ts';
import { attachWebSockets, type WebSocketRoute } from './websocket.ts';

/** Text the gateway sends: JSON of every kind, and the viewer's HTML, scripts, styles and SVG. */
const COMPRESSIBLE = /^(application\/([a-z+.-]*\+)?json|application\/javascript|text\/|image\/svg\+xml)/i;

export interface HttpServerHandle {
  port: number;
  close(): Promise<void>;
}

/** `roleRoutes`: what only one role serves (the county edge's status page and metrics). */
export function createHttpApp(runtime: Runtime, isReady: () => boolean, roleRoutes: readonly express.Router[] = []): express.Express {
  const app = express();
  app.disable('x-powered-by');
  app.set('query parser', 'simple');
  // Routes match exactly as the access table does (every Router is made case-sensitive too).
  app.set('case sensitive routing', true);
  // The base of every URL Yingyun writes into an answer (dicomweb/urls.ts), never the request's Host.
  app.locals.publicUrl = runtime.config.access.publicUrl;
  app.use(canonicalPath());
  app.use(
    helmet({
      // The viewer is our own scripts only. Cornerstone's codecs are WebAssembly ('wasm-unsafe-eval')
      // and decode in workers; images are drawn from blob: and data: URLs; nothing is framed.
      contentSecurityPolicy: {
        useDefaults: false,
        directives: {
          defaultSrc: ["'self'"],
          scriptSrc: ["'self'", "'wasm-unsafe-eval'"],
          workerSrc: ["'self'", 'blob:'],
          imgSrc: ["'self'", 'data:', 'blob:'],
          styleSrc: ["'self'"],
          fontSrc: ["'self'"],
          connectSrc: ["'self'"],
          objectSrc: ["'none'"],
          baseUri: ["'none'"],
          formAction: ["'self'"],
          frameAncestors: ["'none'"],
        },
      },
      // Studies open in the same window; the viewer embeds nothing cross-origin.
      crossOriginEmbedderPolicy: false,
      strictTransportSecurity: { maxAge: 31_536_000, includeSubDomains: true },
    }),
  );
  app.use(cookieParser());
  // Metadata (2 MB of DICOM JSON for a 500-slice series), search results and the viewer's scripts
  // shrink about tenfold: what matters to a radiologist reading over a county's WAN link. Level 1
  // because it is most of the gain for a fraction of the CPU. Images and DICOM objects (multipart,
  // application/dicom, octet-stream, JPEG) pass through untouched: an allow-list, because the
  // compressible package counts `application/octet-stream; transfer-syntax=…` frames as compressible,
  // and gzipping every frame made a 500-slice CT load in 18 s instead of 5.5 s.
  app.use(compression({ level: 1, filter: (_request, response) => COMPRESSIBLE.test(String(response.getHeader('Content-Type') ?? '')) }));

  app.use(healthRoutes(runtime, isReady));

  // Everything below is behind the one access policy: authentication, role, study visibility, audit.
  app.use(accessControl(runtime));
  const administration = new Administration(runtime.institutions, runtime.users, runtime.auth, runtime.audit);
  app.use('/api', authRoutes(runtime), adminRoutes(runtime, administration), auditRoutes(runtime));
  app.use('/api', oidcRoutes(runtime));

  // What an administrator (or the benchmark) asks first: is everything received also indexed and drawn?
  app.get('/api/stats', async (_request, response) => {
    const [receipts, instances, queue] = await Promise.all([
      runtime.jobs.receipts.counts(),
      runtime.jobs.thumbnails.counts(),
      runtime.queue.counts(),
    ]);
    // Per-instance stage times and group commits of this process's ingest path (bench:ingest prints them).
    const ingest = { ...runtime.ingest.stages.snapshot(), groupCommits: runtime.ingest.committer.counts };
    response.json({ ...receipts, ...instances, queue, ingest });
  });

  app.get('/api/jobs', async (request, response) => {
    const limit = Math.min(1000, Math.max(1, Number(request.query.limit ?? 100) || 100));
    const [counts, failed] = await Promise.all([runtime.queue.counts(), runtime.queue.listFailed(limit)]);
    response.json({ queue: runtime.queue.description, counts, failed });
  });

  app.post('/api/jobs/retry', async (_request, response) => {
    response.json({ retried: await runtime.queue.retryFailed() });
  });

  app.use('/api', priorsRoutes(runtime), exportRoutes(runtime), routingRoutes(runtime));
  app.use('/api', readingRoutes(runtime));
  app.use('/api', reportRoutes(runtime));
  app.use('/api', reportPdfRoutes(runtime));
  // FHIR clients read OperationOutcome: every error under /fhir, the access policy's included, is answered as one.
  app.use('/fhir', fhirRoutes(runtime), fhirOutcomes(runtime.log.child({ component: 'fhir' })));
  app.use('/api', consultationRoutes(runtime));
  app.use('/api', shareLinkRoutes(runtime));
  app.use('/api', criticalFindingRoutes(runtime));
  app.use('/api', qualityRoutes(runtime));
  app.use('/api', qcWorklistRoutes(runtime));
  app.use('/api', personRoutes(runtime), priorFetchRoutes(runtime));
  app.use('/api', statisticsRoutes(runtime));
  app.use('/api', recognitionDecisionRoutes(runtime));
  app.use('/api', recognitionRoutes(runtime));
  app.use('/api', instanceDigestRoutes(runtime));
  app.use(metricsRoutes(runtime.metrics));
  app.use('/api', statusRoutes(runtime));
  if (roleRoutes.length) app.use(...roleRoutes);
  app.use(filmRoutes(runtime));
  app.use(dicomWebRouter(runtime));
  app.use(viewerRoutes());

  app.use((request, _response, next) => next(new HttpProblem(404, 'problem.notFound', `no resource at ${request.path}`)));
  app.use(problemHandler(runtime.log.child({ component: 'http' })));
  return app;
}

/** Every WebSocket endpoint, under the same access policy as HTTP (websocket.ts). */
function webSocketRoutes(runtime: Runtime): WebSocketRoute[] {
  return [consultationSocket(runtime), upsEventSocket(runtime)];
}

// Links made without a request (the report PDF's film link) fall back to this when YINGYUN_PUBLIC_URL
// is not set: an address listened on as "any" names this machine instead.
function listeningHost({ address, family }: AddressInfo): string {
  if (address === '0.0.0.0' || address === '::') return os.hostname();
  return family === 'IPv6' ? `[${address}]` : address;
}

export async function startHttpServer(runtime: Runtime, options: Config['http'], isReady: () => boolean, roleRoutes: readonly express.Router[] = []): Promise<HttpServerHandle> {
  const serverOptions = {
    // Slow-loris protection: a client must send its headers within 20 s.
    headersTimeout: 20_000,
    requestTimeout: 0,
    keepAliveTimeout: 5_000,
  };
  const app = createHttpApp(runtime, isReady, roleRoutes);
  // HTTPS when certificates are configured; otherwise plain HTTP, for localhost or behind a reverse
  // proxy that terminates TLS (docs/security.md).
  const server = options.tls
    ? https.createServer({ ...serverOptions, cert: fs.readFileSync(options.tls.certFile), key: fs.readFileSync(options.tls.keyFile), minVersion: 'TLSv1.2' }, app)
    : http.createServer(serverOptions, app);
  server.on('connection', (socket) => socket.setNoDelay(true));
  const webSockets = attachWebSockets(server, runtime, webSocketRoutes(runtime));
  server.on('clientError', (error, socket) => {
    runtime.log.debug({ err: error }, 'malformed HTTP from client');
    if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    else socket.destroy();
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => resolve());
  });
  const address = server.address() as AddressInfo;
  runtime.listening.httpUrl = `${options.tls ? 'https' : 'http'}://${listeningHost(address)}:${address.port}`;
  return {
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        webSockets.closeAll();
        server.closeIdleConnections();
      }),
  };
}
