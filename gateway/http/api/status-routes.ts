import { Router } from 'express';
import { STATUS_WINDOW_SECONDS, systemStatus } from '../../../archive/metrics/heartbeat.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';

/**
 * GET /api/admin/status[?minutes=N] (系统状态, system administrators): every gateway and worker process
 * with its latest figures, and the charts' series over the last N minutes (15 by default, at most 60),
 * from the processes' heartbeats in PostgreSQL, so any gateway answers for all of them.
 */
export function statusRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  router.get('/admin/status', async (request, response) => {
    const minutes = request.query.minutes === undefined ? STATUS_WINDOW_SECONDS / 60 : Number(request.query.minutes);
    if (!Number.isInteger(minutes) || minutes < 1 || minutes > 60) throw new HttpProblem(400, 'problem.badRequest', 'minutes must be a whole number from 1 to 60');
    response.setHeader('Cache-Control', 'no-store').json(await systemStatus(runtime.heartbeats, minutes * 60));
  });
  return router;
}
