import express, { Router, type Response } from 'express';
import { RecognitionRefusal, type RecognitionContext } from '../../../archive/recognition/recognition-decision-service.ts';
import { bilingual } from '../../../archive/i18n/configured-label.ts';
import type { ReasonChoice } from '../../../archive/recognition/recognition-wire.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 404: 'problem.notFound' } as const;

/**
 * Recognition decisions (互认) and prior views (docs/recognition.md, "Recognition decisions in the
 * archive"), thin: the access table has already found the study visible (404 otherwise) and audits
 * the request; the service decides what is recorded.
 */
export function recognitionDecisionRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.recognitionDecisions;
  const body = express.json({ limit: '16kb' });
  const answering = answeringRefusals(RecognitionRefusal, TITLES);

  const context = (study: unknown, response: Response): RecognitionContext => {
    if (typeof study !== 'string' || !isUid(study)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(study)} is not a UID`);
    const { principal, visibility } = accessOf(response);
    return { principal, purpose: visibility.linkedPatientsPurpose, studyInstanceUid: study };
  };

  router.get(
    '/recognition/reasons',
    answering(async (_request, response) => {
      const { principal } = accessOf(response);
      const reasons = principal.institutionId ? await service.reasons(principal.institutionId) : [];
      response.json(reasons.map((reason): ReasonChoice => ({ code: reason.code, label: bilingual(reason.label), requiresText: reason.requiresText })));
    }),
  );

  router.post(
    '/studies/:study/prior-views',
    answering(async (request, response) => {
      const view = await service.recordView(context(request.params.study, response));
      noteAudited(response, { detail: { priorView: view.recorded ? 'recorded' : 'already-recorded-today', hrMark: view.hrMark } });
      response.status(view.recorded ? 201 : 200).json(view);
    }),
  );

  router.post(
    '/studies/:study/recognition-decisions',
    body,
    answering(async (request, response) => {
      const decision = await service.decide(context(request.params.study, response), request.body);
      noteAudited(response, { detail: { recognitionDecisionId: decision.id, decision: decision.decision, reasonCode: decision.reasonCode, hrMark: decision.hrMark } });
      response.status(201).json(decision);
    }),
  );

  router.get(
    '/studies/:study/recognition-decisions',
    answering(async (request, response) => {
      const { principal, studyInstanceUid } = context(request.params.study, response);
      const answer = await service.decisionsOn({ principal, studyInstanceUid });
      noteAudited(response, { detail: { recognitionDecisionIds: answer.decisions.map((decision) => decision.id) } });
      response.json(answer);
    }),
  );
  return router;
}
