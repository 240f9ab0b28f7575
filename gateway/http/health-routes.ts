import express from 'express';
import { ReadinessCheck } from '../../archive/health.ts';
import type { Runtime } from '../../workers/runtime.ts';

/**
 * Outside the access policy, for load balancers and orchestrators. `/healthz`: the process is alive
 * and answering (restart it if not). `/readyz`: it can take instances now, its backends checked on
 * each request (send it no traffic while 503).
 */
export function healthRoutes(runtime: Runtime, isStarted: () => boolean): express.Router {
  const router = express.Router();
  const readiness = new ReadinessCheck({ pool: runtime.db.pool, store: runtime.store, queue: runtime.queue });

  router.get('/healthz', (_request, response) => {
    response.json({ status: 'ok' });
  });

  router.get('/readyz', async (_request, response) => {
    response.set('Cache-Control', 'no-store');
    if (!isStarted()) {
      response.status(503).json({ status: 'starting' });
      return;
    }
    const { ready, ...backends } = await readiness.check();
    response.status(ready ? 200 : 503).json({ status: ready ? 'ready' : 'unavailable', ...backends });
  });
  return router;
}
