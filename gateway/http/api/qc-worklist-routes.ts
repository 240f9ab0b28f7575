import express, { Router } from 'express';
import { QcWorklistRefusal } from '../../../archive/quality/qc-worklist-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, actorOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound', 409: 'problem.conflict' } as const;

/**
 * QC work lists, clinicians' flags and report QC grades (质控), thin: parse, call the work-list
 * service, note what the audit event records, answer. The access table says who may call each, and
 * has found a named study visible to the caller before any of these run.
 */
export function qcWorklistRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.qcWorklists;
  const body = express.json({ limit: '256kb' });
  const answering = answeringRefusals(QcWorklistRefusal, TITLES);
  const studyParameter = (value: unknown): string => {
    if (typeof value !== 'string' || !isUid(value)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(value)} is not a study UID`);
    return value;
  };

  router.get(
    '/quality/worklist',
    answering(async (request, response) => {
      const { principal, visibility } = accessOf(response);
      const worklist = await service.worklist(principal, visibility, request.query);
      noteAudited(response, { studyUids: worklist.entries.map((entry) => entry.studyInstanceUid) });
      response.json(worklist);
    }),
  );

  router.get(
    '/quality/worklist-settings',
    answering(async (request, response) => {
      response.json(await service.settings(actorOf(request, response)));
    }),
  );

  router.put(
    '/quality/worklist-settings',
    body,
    answering(async (request, response) => {
      response.json(await service.setSettings({ ...actorOf(request, response), userId: accessOf(response).principal.userId }, request.body));
    }),
  );

  router.post(
    '/studies/:study/qc-flags',
    body,
    answering(async (request, response) => {
      const flag = await service.flag(studyParameter(request.params.study), request.body, accessOf(response).principal);
      noteAudited(response, { detail: { qcFlagId: flag.id } });
      response.status(201).json(flag);
    }),
  );

  router.post(
    '/studies/:study/report-quality-grades',
    body,
    answering(async (request, response) => {
      const grade = await service.gradeReport(studyParameter(request.params.study), request.body, accessOf(response).principal);
      noteAudited(response, { detail: { reportQcGradeId: grade.id, reportId: grade.reportId, reportVersion: grade.reportVersion, grade: grade.gradeCode, errors: grade.errors } });
      response.status(201).json(grade);
    }),
  );

  router.get(
    '/studies/:study/report-quality-grades',
    answering(async (request, response) => {
      response.json(await service.reportGrades(studyParameter(request.params.study)));
    }),
  );
  return router;
}
