import express, { Router, type Request, type Response } from 'express';
import { RoutingRefusal } from '../../../archive/routing/routing-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, actorOf, noteAudited } from '../access.ts';
import { answeringRefusals } from '../problem.ts';

const answering = answeringRefusals(RoutingRefusal, { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict' });

/**
 * Routing and sending on (docs/routing.md): routing rules, DICOMweb nodes, the forward queues and their
 * dead letters (system administrators, by the access table), and the manual send of a study or series
 * to a registered node with its progress (those who may export it). Handlers only translate.
 */
export function routingRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const { routing } = runtime;
  router.use(express.json({ limit: '16kb' }));
  const json = (work: (request: Request, response: Response) => Promise<unknown>, status = 200) =>
    answering(async (request, response) => {
      const result = await work(request, response);
      if (result === undefined) response.status(204).end();
      else response.status(status).json(result);
    });
  const id = (request: Request) => String(request.params.id);

  router.get('/admin/routing-rules', json(() => routing.listRules()));
  router.post('/admin/routing-rules', json((request, response) => routing.createRule(actorOf(request, response), request.body), 201));
  router.patch('/admin/routing-rules/:id', json((request, response) => routing.setRuleEnabled(actorOf(request, response), id(request), request.body?.enabled)));
  router.delete('/admin/routing-rules/:id', json((request, response) => routing.deleteRule(actorOf(request, response), id(request))));

  router.get('/admin/dicomweb-nodes', json(() => routing.listNodes()));
  router.post('/admin/dicomweb-nodes', json((request, response) => routing.createNode(actorOf(request, response), request.body), 201));
  router.delete('/admin/dicomweb-nodes/:id', json((request, response) => routing.deleteNode(actorOf(request, response), id(request))));

  router.get('/admin/forward-queues', json(() => routing.queues()));
  router.get('/admin/forward-queues/dead-letters', json(async (request) => routing.deadLetters(typeof request.query.destination === 'string' ? request.query.destination : null)));
  router.post(
    '/admin/forward-queues/dead-letters/retry',
    json((request, response) => {
      const { destination, ids } = (request.body ?? {}) as { destination?: unknown; ids?: unknown };
      return routing.retryDead(actorOf(request, response), {
        ...(typeof destination === 'string' ? { destination } : {}),
        ...(Array.isArray(ids) ? { ids: ids.map(String).filter((value) => /^\d{1,18}$/.test(value)) } : {}),
      });
    }),
  );

  // Queued, not sent while the request waits: 202 with the progress, which GET /api/sends/{id} follows.
  router.post(
    '/studies/:study/send',
    json(async (request, response) => {
      const study = accessOf(response).study!;
      noteAudited(response, { detail: { target: 'node', destination: request.body?.destination, seriesInstanceUid: request.body?.seriesInstanceUid, deidentified: false } });
      const progress = await routing.send(actorOf(request, response), study.studyInstanceUid, request.body);
      noteAudited(response, { detail: { target: 'node', destination: request.body?.destination, seriesInstanceUid: progress.seriesInstanceUid, deidentified: false, send: progress.id, instances: progress.total } });
      response.location(`/api/sends/${progress.id}`);
      return progress;
    }, 202),
  );
  router.get('/sends/:id', json((request, response) => routing.sendProgress(id(request), actorOf(request, response))));
  return router;
}
