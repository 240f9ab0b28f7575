import http from 'node:http';
import type { AddressInfo } from 'node:net';
import express from 'express';
import type { Runtime } from '../../workers/runtime.ts';
import { accessControl, canonicalPath } from './access.ts';
import { healthRoutes } from './health-routes.ts';
import { metricsRoutes } from './metrics-routes.ts';
import type { HttpServerHandle } from './server.ts';
import { HttpProblem, problemHandler } from './problem.ts';

/**
 * A separate worker's small HTTP listener (YINGYUN_WORKER_HTTP_PORT): /healthz and /readyz for the
 * orchestrator (ready: PostgreSQL, the object store and Redis answer), /metrics for Prometheus under
 * the same access table as a gateway's (a system administrator's API token). Nothing else: a worker
 * serves no patient data.
 */
export async function startWorkerHttpServer(runtime: Runtime, host: string, port: number): Promise<HttpServerHandle> {
  const app = express();
  app.disable('x-powered-by');
  app.set('case sensitive routing', true);
  app.use(canonicalPath());
  app.use(healthRoutes(runtime, () => true));
  app.use(accessControl(runtime));
  app.use(metricsRoutes(runtime.metrics));
  app.use((request, _response, next) => next(new HttpProblem(404, 'problem.notFound', `no resource at ${request.path}`)));
  app.use(problemHandler(runtime.log.child({ component: 'worker-http' })));
  // Slow-loris protection, as the gateway's.
  const server = http.createServer({ headersTimeout: 20_000, keepAliveTimeout: 5_000 }, app);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeIdleConnections();
      }),
  };
}
