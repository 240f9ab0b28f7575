import express, { Router, type Request } from 'express';
import type { Actor } from '../../../archive/access/administration.ts';
import { RecognitionAdminRefusal } from '../../../archive/recognition/recognition-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { actorOf } from '../access.ts';
import { answeringRefusals } from '../problem.ts';
import { rowIdParameter } from './path-parameters.ts';

const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound' } as const;

/**
 * The region's recognition configuration and accreditations (docs/recognition.md, "The HR mark in
 * the archive"), thin: parse the ids, call the recognition service, answer. The access table lets
 * administrators in; the service decides whose regions they reach and audits every change.
 */
export function recognitionRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.recognition;
  const body = express.json({ limit: '256kb' });
  const answering = answeringRefusals(RecognitionAdminRefusal, TITLES);
  const answer = (status: 200 | 201, call: (actor: Actor, request: Request) => Promise<unknown>) =>
    answering(async (request, response) => {
      response.status(status).json(await call(actorOf(request, response), request));
    });
  const region = (request: Request) => rowIdParameter(request.params.region, 'region');

  router.get('/admin/recognition-regions', answer(200, (actor) => service.administeredRegions(actor)));
  router.get('/admin/regions/:region/recognition', answer(200, (actor, request) => service.regionRecognition(actor, region(request))));
  router.put('/admin/regions/:region/recognition', body, answer(200, (actor, request) => service.setRegionRecognition(actor, region(request), request.body)));
  router.get('/admin/regions/:region/accreditations', answer(200, (actor, request) => service.accreditationsInRegion(actor, region(request))));
  router.post('/admin/accreditations', body, answer(201, (actor, request) => service.accredit(actor, request.body)));
  router.post(
    '/admin/accreditations/:accreditation/withdrawal',
    body,
    answer(200, (actor, request) => service.withdraw(actor, rowIdParameter(request.params.accreditation, 'accreditation'), request.body)),
  );
  return router;
}
