import express, { Router, type Request, type Response } from 'express';
import { z } from 'zod';
import { ConsultationRefusal, consultationAudit } from '../../../archive/consultation/consultation-service.ts';
import type { ConsultationRow } from '../../../archive/db/consultations-repository.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 404: 'problem.notFound', 409: 'problem.conflict' } as const;

const invitationBody = z.object({ inviteeUsername: z.string().min(1).max(200), studyInstanceUid: z.string().refine(isUid, 'not a UID'), reason: z.string().max(500) });
const opinionBody = z.object({ text: z.string() });

/**
 * Live consultations (远程会诊), thin: parse, call the consultation service, note the audit event
 * (the study and both participants), answer. The live part is the WebSocket of consultation-socket.ts.
 */
export function consultationRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const consultations = runtime.consultations;
  const body = express.json({ limit: '64kb' });

  const answering = answeringRefusals(ConsultationRefusal, TITLES);
  const parsed = <T>(schema: z.ZodType<T>, value: unknown): T => {
    const result = schema.safeParse(value);
    if (!result.success) throw new HttpProblem(400, 'problem.badRequest', result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
    return result.data;
  };
  const answer = (response: Response, row: ConsultationRow, status = 200) => {
    noteAudited(response, consultationAudit(row.consultation, row.grantId));
    response.status(status).json(row.consultation);
  };
  const id = (request: Request) => String(request.params.id);

  router.get('/consultations', answering(async (_request, response) => {
    const mine = await consultations.listFor(accessOf(response).principal);
    noteAudited(response, { studyUids: [...new Set(mine.map((consultation) => consultation.studyInstanceUid))] });
    response.json(mine);
  }));

  router.post('/consultations', body, answering(async (request, response) => {
    const { principal, visibility } = accessOf(response);
    const consultation = await consultations.invite(principal, visibility, parsed(invitationBody, request.body));
    noteAudited(response, consultationAudit(consultation));
    response.status(201).json(consultation);
  }));

  router.get('/consultations/:id', answering(async (request, response) => answer(response, await consultations.get(accessOf(response).principal, id(request)))));

  for (const action of ['accept', 'decline', 'end'] as const) {
    router.post(`/consultations/:id/${action}`, answering(async (request, response) => answer(response, await consultations[action](accessOf(response).principal, id(request)))));
  }

  router.post('/consultations/:id/opinion', body, answering(async (request, response) => {
    answer(response, await consultations.writeOpinion(accessOf(response).principal, id(request), parsed(opinionBody, request.body).text));
  }));

  router.get('/studies/:study/consultations', answering(async (request, response) => {
    const opinions = await consultations.opinionsOn(String(request.params.study));
    noteAudited(response, { detail: { consultationIds: opinions.map((consultation) => consultation.id) } });
    response.json(opinions);
  }));
  return router;
}
