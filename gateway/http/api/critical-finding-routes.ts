import express, { Router, type Request, type Response } from 'express';
import { CriticalFindingRefusal } from '../../../archive/reading/critical-findings.ts';
import type { CriticalNotice } from '../../../archive/reading/critical-finding-wire.ts';
import { criticalRegisterCsv } from '../../../archive/reading/critical-register-csv.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict', 422: 'problem.readBackMismatch' } as const;

/**
 * Critical findings (危急值), thin: parse, call the service, note the audit event (the patients and
 * studies concerned), answer. The escalation runs in the worker (workers/critical-escalation.ts).
 */
export function criticalFindingRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.criticalFindings;
  const body = express.json({ limit: '64kb' });

  const answering = answeringRefusals(CriticalFindingRefusal, TITLES);
  const audited = (response: Response, notices: readonly CriticalNotice[]) => {
    const patients = new Set(notices.map((notice) => notice.patientId));
    const [only] = notices;
    noteAudited(response, {
      studyUids: [...new Set(notices.map((notice) => notice.studyInstanceUid))],
      ...(patients.size === 1 && only ? { patientId: only.patientId, patientName: only.patientName ?? undefined } : {}),
      detail: { criticalFindingIds: notices.map((notice) => notice.id) },
    });
  };
  const dateParameter = (value: unknown, name: string): Date | undefined => {
    if (value === undefined || value === '') return undefined;
    const date = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}(T[\d:.]+(Z|[+-]\d{2}:\d{2})?)?$/.test(value) ? new Date(value) : undefined;
    if (!date || Number.isNaN(date.getTime())) throw new HttpProblem(400, 'problem.badRequest', `${name} must be a date (YYYY-MM-DD) or an ISO date-time`);
    return date;
  };
  const registerFilter = (request: Request) => {
    const { from, to, institution } = request.query;
    if (institution !== undefined && (typeof institution !== 'string' || !/^[0-9]{1,18}$/.test(institution))) throw new HttpProblem(400, 'problem.badRequest', 'institution must be an institution id');
    const until = dateParameter(to, 'to');
    // A date alone for `to` means through that whole day.
    if (until && typeof to === 'string' && to.length === 10) until.setUTCDate(until.getUTCDate() + 1);
    return { from: dateParameter(from, 'from'), to: until, institutionId: institution as string | undefined };
  };

  router.get('/critical-findings/categories', answering(async (request, response) => {
    response.json(await service.categories({ activeOnly: request.query.all !== 'true' }));
  }));
  router.put('/critical-findings/categories/:code', body, answering(async (request, response) => {
    response.json(await service.saveCategory(String(request.params.code), request.body));
  }));
  router.get('/critical-findings/settings/:institution', answering(async (request, response) => {
    response.json(await service.settings(accessOf(response).principal, String(request.params.institution)));
  }));
  router.put('/critical-findings/settings/:institution', body, answering(async (request, response) => {
    response.json(await service.saveSettings(accessOf(response).principal, String(request.params.institution), request.body));
  }));

  router.post('/critical-findings', body, answering(async (request, response) => {
    const { principal, visibility } = accessOf(response);
    const notice = await service.raise(principal, visibility, request.body);
    audited(response, [notice]);
    response.status(201).json(notice);
  }));
  router.get('/critical-findings', answering(async (request, response) => {
    const { principal, visibility } = unmaskedAccess(response);
    const notices = await service.list(principal, visibility, { openOnly: request.query.open === 'true' });
    audited(response, notices);
    response.json(notices);
  }));
  router.get('/critical-findings/register', answering(async (request, response) => {
    const { principal, visibility } = unmaskedAccess(response);
    const notices = await service.register(principal, visibility, registerFilter(request));
    audited(response, notices);
    response.json(notices);
  }));
  router.get('/critical-findings/register.csv', answering(async (request, response) => {
    const { principal, visibility } = unmaskedAccess(response);
    const notices = await service.register(principal, visibility, registerFilter(request));
    audited(response, notices);
    response.status(200).type('text/csv; charset=utf-8').attachment('critical-findings-register.csv');
    response.send(criticalRegisterCsv(notices));
  }));
  router.get('/critical-findings/:id', answering(async (request, response) => {
    const { principal, visibility } = unmaskedAccess(response);
    const notice = await service.get(principal, visibility, String(request.params.id));
    audited(response, [notice]);
    response.json(notice);
  }));
  router.post('/critical-findings/:id/acknowledge', body, answering(async (request, response) => {
    const { principal, visibility } = unmaskedAccess(response);
    const notice = await service.acknowledge(principal, visibility, String(request.params.id), request.body);
    audited(response, [notice]);
    response.json(notice);
  }));
  // The worklist's badge: a study's open notices (the access policy has already checked the study).
  router.get('/studies/:study/critical-findings', answering(async (request, response) => {
    const { principal, visibility } = accessOf(response);
    const notices = await service.list(principal, visibility, { openOnly: request.query.open === 'true', studyInstanceUid: String(request.params.study) });
    audited(response, notices);
    response.json(notices);
  }));
  return router;
}

/**
 * A notice names the patient: a role that works with identities masked (QC) gets none. The access
 * table's masked-role check covers study paths only, and these are not.
 */
function unmaskedAccess(response: Response) {
  const access = accessOf(response);
  if (access.visibility.maskIdentity) throw new HttpProblem(403, 'problem.forbidden', 'identity is masked for your role, and critical-finding notices name the patient');
  return access;
}
