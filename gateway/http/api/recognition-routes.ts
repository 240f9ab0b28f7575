import express, { Router } from 'express';
import { RecognitionAdminRefusal } from '../../../archive/recognition/recognition-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { actorOf } from '../access.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

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
  const id = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || !/^\d{1,18}$/.test(value)) throw new HttpProblem(400, 'problem.badRequest', `${name} must be a number`);
    return value;
  };

  router.get(
    '/admin/regions/:region/recognition',
    answering(async (request, response) => {
      response.json(await service.regionRecognition(actorOf(request, response), id(request.params.region, 'region')));
    }),
  );
  router.put(
    '/admin/regions/:region/recognition',
    body,
    answering(async (request, response) => {
      response.json(await service.setRegionRecognition(actorOf(request, response), id(request.params.region, 'region'), request.body));
    }),
  );
  router.get(
    '/admin/regions/:region/accreditations',
    answering(async (request, response) => {
      response.json(await service.accreditationsInRegion(actorOf(request, response), id(request.params.region, 'region')));
    }),
  );
  router.post(
    '/admin/accreditations',
    body,
    answering(async (request, response) => {
      response.status(201).json(await service.accredit(actorOf(request, response), request.body));
    }),
  );
  router.post(
    '/admin/accreditations/:accreditation/withdrawal',
    body,
    answering(async (request, response) => {
      response.json(await service.withdraw(actorOf(request, response), id(request.params.accreditation, 'accreditation'), request.body));
    }),
  );
  return router;
}
