import { Router } from 'express';
import type { Metrics } from '../../archive/metrics/metrics.ts';

/**
 * GET /metrics: the process's Prometheus figures (archive/metrics), served by gateways, `npm start`,
 * edges and workers' own listener alike. The access table asks for a system administrator (an API
 * token for the scraper): the figures name senders' AE titles and user names.
 */
export function metricsRoutes(metrics: Metrics): Router {
  const router = Router({ caseSensitive: true });
  router.get('/metrics', async (_request, response) => {
    const { contentType, body } = await metrics.exposition();
    response.status(200).type(contentType).setHeader('Cache-Control', 'no-store').send(body);
  });
  return router;
}
