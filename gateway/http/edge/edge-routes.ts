import { Router } from 'express';
import type { EdgeForwarder } from '../../../archive/edge/edge-forwarder.ts';
import { preferredLanguage, type Language } from '../../../archive/i18n/messages.ts';
import { edgeStatusPage } from './edge-page.ts';

/**
 * The county edge's own pages (served only by `npm run edge`): GET /edge (status page, zh-CN/en) and
 * GET /api/edge/status (the same as JSON); its Prometheus figures are in every process's GET /metrics.
 * The access table asks for a system administrator (a session, or an API token).
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
  return router;
}
