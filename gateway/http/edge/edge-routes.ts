import { Router } from 'express';
import type { EdgeForwarder } from '../../../archive/edge/edge-forwarder.ts';
import { preferredLanguage, type Language } from '../../../archive/i18n/messages.ts';
import { edgeStatusPage } from './edge-page.ts';

/**
 * The county edge's own pages (served only by `npm run edge`): GET /edge (status page, zh-CN/en),
 * GET /api/edge/status (the same as JSON) and GET /metrics (Prometheus). The access table asks for a
 * system administrator (a session, or an API token for the monitoring's scraper).
 */
export function edgeRoutes(forwarder: EdgeForwarder): Router {
  const router = Router({ caseSensitive: true });
  router.get('/edge', async (request, response) => {
    const asked = request.query.lang;
    const language: Language = asked === 'zh' || asked === 'en' ? asked : preferredLanguage(request.headers['accept-language']);
    response.status(200).type('text/html').setHeader('Cache-Control', 'no-store').send(edgeStatusPage(await forwarder.status(), language));
  });
  router.get('/api/edge/status', async (_request, response) => {
    response.setHeader('Cache-Control', 'no-store').json(await forwarder.status());
  });
  router.get('/metrics', async (_request, response) => {
    // The gauges are set from a fresh look at the queue, not the loop's last one.
    await forwarder.status();
    response.status(200).type(forwarder.metrics.registry.contentType).send(await forwarder.metrics.registry.metrics());
  });
  return router;
}
