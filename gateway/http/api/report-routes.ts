import express, { Router, type Response } from 'express';
import { auditPatientId } from '../../../archive/audit/audit-event.ts';
import { ReportRefusal } from '../../../archive/reading/report-service.ts';
import type { StudyHeader } from '../../../archive/reading/report-sr.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

/**
 * Reports (初诊 + 审核), thin: parse, call the report service, answer JSON (the types of
 * archive/reading/report.ts). A report is addressed by its study: /api/studies/{study}/report.
 */
export function reportRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  router.use(express.json({ limit: '256kb' }));
  const reports = runtime.reports;

  const studyParameter = (value: string) => {
    if (!isUid(value)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(value)} is not a UID`);
    return value;
  };
  // Routes that need write-reports are not checked against the study by the access policy: the
  // service finds the study within the caller's scope, and the audit event names its patient here.
  const audited = (response: Response, study: StudyHeader, detail: Record<string, unknown> = {}) =>
    noteAudited(response, {
      studyUids: [study.studyInstanceUid],
      patientId: auditPatientId(study.issuer, study.patientId),
      patientName: [study.patientName?.Alphabetic, study.patientName?.Ideographic].filter(Boolean).join('=') || undefined,
      detail,
    });

  router.get('/studies/:study/report', async (request, response) => {
    const { report, study } = await refusals(reports.get(accessOf(response).visibility, studyParameter(request.params.study)));
    audited(response, study, { reportId: report.id });
    response.json(report);
  });

  router.post('/studies/:study/report', async (request, response) => {
    const workitemUid = typeof request.body?.workitemUid === 'string' && isUid(request.body.workitemUid) ? (request.body.workitemUid as string) : null;
    const { principal, visibility } = accessOf(response);
    const { report, study } = await refusals(reports.open(principal, visibility, studyParameter(request.params.study), workitemUid));
    audited(response, study, { reportId: report.id });
    response.json(report);
  });

  router.put('/studies/:study/report/draft', async (request, response) => {
    const { principal, visibility } = accessOf(response);
    const { study, ...saved } = await refusals(reports.saveDraft(principal, visibility, studyParameter(request.params.study), request.body));
    audited(response, study, { draftRevision: saved.revision });
    response.json(saved);
  });

  router.post('/studies/:study/report/signatures', async (request, response) => {
    const { principal, visibility } = accessOf(response);
    const { report, version, study } = await refusals(reports.sign(principal, visibility, studyParameter(request.params.study), request.body));
    audited(response, study, { reportId: report.id, version: version.version, status: version.status, signature: version.signatures.at(-1)?.role, ...(version.amendmentReason ? { amendmentReason: version.amendmentReason } : {}) });
    response.status(201).json(report);
  });

  router.get('/reports', async (request, response) => {
    const hits = await refusals(reports.search(accessOf(response).visibility, typeof request.query.q === 'string' ? request.query.q : ''));
    noteAudited(response, { studyUids: hits.map((hit) => hit.studyInstanceUid) });
    response.json(hits);
  });

  // The study list's page and the priors panel ask for all their studies at once: ?study=…&study=…
  router.get('/report-statuses', async (request, response) => {
    const named = request.query.study;
    const studies = (Array.isArray(named) ? named : named === undefined ? [] : [named]).map((value) => studyParameter(String(value)));
    const statuses = await refusals(reports.statusesOf(accessOf(response).visibility, [...new Set(studies)]));
    noteAudited(response, { studyUids: statuses.map((status) => status.studyInstanceUid) });
    response.json(statuses);
  });

  router.get('/report-templates', async (request, response) => {
    const text = (value: unknown) => (typeof value === 'string' && value ? value : undefined);
    response.json(await reports.templates(accessOf(response).principal, { modality: text(request.query.modality), bodyPart: text(request.query.bodyPart) }));
  });

  router.post('/report-templates', async (request, response) => {
    response.status(201).json(await refusals(reports.addTemplate(accessOf(response).principal, request.body)));
  });

  router.get('/report-settings', async (_request, response) => {
    response.json(await reports.settings(accessOf(response).principal));
  });

  router.put('/report-settings', async (request, response) => {
    response.json(await refusals(reports.setSettings(accessOf(response).principal, request.body)));
  });

  router.put('/report-readers/:user', async (request, response) => {
    const { user } = request.params;
    if (!/^\d+$/.test(user)) throw new HttpProblem(400, 'problem.badRequest', 'a user is named by their numeric id');
    const actor = accessOf(response).principal;
    await refusals(reports.setReaderAttributes(actor, user, request.body));
    runtime.audit.recordInBackground({
      eventType: 'admin-change',
      action: 'U',
      outcome: 0,
      userName: actor.username,
      userRole: actor.role,
      institutionId: actor.institutionId ?? undefined,
      sourceAddress: request.ip,
      detail: { route: request.path, userId: user, readerAttributes: request.body as unknown },
    });
    response.status(204).end();
  });

  return router;
}

async function refusals<Result>(work: Promise<Result>): Promise<Result> {
  try {
    return await work;
  } catch (error) {
    if (!(error instanceof ReportRefusal)) throw error;
    const titleKey = error.titleKey ?? ({ 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict' } as const)[error.httpStatus];
    throw new HttpProblem(error.httpStatus, titleKey, error.reason, error.extra);
  }
}
