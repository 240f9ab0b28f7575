import { Router } from 'express';
import { StatisticsRefusal } from '../../../archive/statistics/statistics-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { answeringRefusals } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 404: 'problem.notFound' } as const;
const CONTENT_TYPES = { csv: 'text/csv; charset=utf-8', xlsx: 'application/vnd.openxmlformats-officedocument.spreadsheetml.sheet' } as const;

/**
 * The region's statistics, thin: the query string goes to the statistics service with the caller's
 * visibility, which decides which institutions it covers; the drill-down's audit event names its studies.
 */
export function statisticsRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.statistics;
  const answering = answeringRefusals(StatisticsRefusal, TITLES);

  router.get(
    '/statistics',
    answering(async (request, response) => {
      response.json(await service.summary(request.query, accessOf(response).visibility));
    }),
  );

  router.get(
    '/statistics/drill-down',
    answering(async (request, response) => {
      const page = await service.drillDown(request.query, accessOf(response).visibility);
      noteAudited(response, { studyUids: page.studies.map((study) => study.studyInstanceUid) });
      response.json(page);
    }),
  );

  for (const format of ['csv', 'xlsx'] as const) {
    router.get(
      `/statistics/export.${format}`,
      answering(async (request, response) => {
        const body = await service.export(request.query, accessOf(response).visibility, format, request.get('accept-language'));
        response
          .type(CONTENT_TYPES[format])
          .attachment(`statistics-${new Date().toISOString().slice(0, 10)}.${format}`)
          .send(body);
      }),
    );
  }
  return router;
}
