import express, { Router, type Request } from 'express';
import { z } from 'zod';
import { ShareLinkError } from '../../../archive/reading/share-links.ts';
import { SECOND_FACTOR_KINDS } from '../../../archive/reading/share-link-types.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { gatewayBase } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

const patientLinkBody = z.object({
  factor: z.enum(SECOND_FACTOR_KINDS),
  phoneLast4: z.string().trim().optional(),
  days: z.number().int().optional(),
});

const doctorShareBody = z.object({
  username: z.string().trim().min(1).max(128),
  reason: z.string().max(500),
  hours: z.number().int().optional(),
});

/**
 * Share links of a study, for the hospital's staff and its doctors (archive/reading/share-links.ts):
 *   GET    /api/studies/{study}/share-links               the study's links (no secrets)
 *   POST   /api/studies/{study}/share-links/patient       a patient's cloud-film link: URL and QR code
 *   POST   /api/studies/{study}/share-links/{id}/token    the same patient link as a new URL, to send again
 *   POST   /api/studies/{study}/share-links/doctor        a time-limited share with another institution's doctor
 *   DELETE /api/studies/{study}/share-links/{id}          revoke
 * The access table lets only callers who may export the study in (sharing is disclosure) and audits each.
 */
export function shareLinkRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.shareLinks;
  const json = express.json({ limit: '4kb' });

  router.get('/studies/:study/share-links', async (_request, response) => {
    response.json(await service.list(accessOf(response).study!));
  });

  router.post('/studies/:study/share-links/patient', json, async (request, response) => {
    const body = parse(patientLinkBody, request);
    const { principal, study } = accessOf(response);
    const issued = await shareLinkCall(() => service.createPatientLink(study!, body, { userId: principal.userId, via: 'staff' }, gatewayBase(request)));
    noteAudited(response, { detail: { shareLinkId: issued.link.id, audience: 'patient', factor: body.factor } });
    response.status(201).json(issued);
  });

  router.post('/studies/:study/share-links/doctor', json, async (request, response) => {
    const body = parse(doctorShareBody, request);
    const { principal, study } = accessOf(response);
    const issued = await shareLinkCall(() => service.shareWithDoctor(study!, body, principal, gatewayBase(request)));
    noteAudited(response, { detail: { shareLinkId: issued.link.id, audience: 'doctor', grantee: issued.link.grantee } });
    response.status(201).json(issued);
  });

  router.post('/studies/:study/share-links/:id/token', async (request, response) => {
    const { principal, study } = accessOf(response);
    const issued = await shareLinkCall(() => service.reissue(study!, request.params.id as string, principal, gatewayBase(request)));
    noteAudited(response, { detail: { shareLinkId: issued.link.id, newToken: true } });
    response.status(201).json(issued);
  });

  router.delete('/studies/:study/share-links/:id', async (request, response) => {
    const { principal, study } = accessOf(response);
    const link = await shareLinkCall(() => service.revoke(study!, request.params.id as string, principal));
    noteAudited(response, { detail: { shareLinkId: link.id, revoked: true } });
    response.json(link);
  });

  return router;
}

function parse<Schema extends z.ZodType>(schema: Schema, request: Request): z.infer<Schema> {
  const parsed = schema.safeParse(request.body ?? {});
  if (!parsed.success) throw new HttpProblem(400, 'problem.badRequest', parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
  return parsed.data;
}

async function shareLinkCall<Result>(call: () => Promise<Result>): Promise<Result> {
  try {
    return await call();
  } catch (error) {
    if (!(error instanceof ShareLinkError)) throw error;
    throw new HttpProblem(error.status, error.status === 404 ? 'problem.notFound' : error.status === 409 ? 'problem.conflict' : 'problem.badRequest', error.message);
  }
}
