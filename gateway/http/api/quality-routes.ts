import express, { Router } from 'express';
import { QualityRefusal } from '../../../archive/quality/quality-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, actorOf, noteAudited } from '../access.ts';
import { isUid } from '../dicomweb/urls.ts';
import { answeringRefusals, HttpProblem } from '../problem.ts';

const TITLES = { 400: 'problem.badRequest', 403: 'problem.forbidden', 404: 'problem.notFound' } as const;

/**
 * Image QC grading (质控评级), thin: parse, call the quality service, note what the audit event
 * records, answer. The access policy has already found the study visible to the grader.
 */
export function qualityRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = runtime.quality;
  const body = express.json({ limit: '64kb' });

  const answering = answeringRefusals(QualityRefusal, TITLES);
  const uidParameter = (value: unknown, name: string): string => {
    if (typeof value !== 'string' || !isUid(value)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(value)} is not a ${name} UID`);
    return value;
  };

  router.get(
    '/quality/scales/:modality',
    answering(async (request, response) => {
      const { modality } = request.params;
      if (typeof modality !== 'string' || !/^[A-Za-z0-9_]{1,16}$/.test(modality)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(modality)} is not a DICOM modality`);
      response.json(await service.catalogue(modality, accessOf(response).principal.institutionId));
    }),
  );

  router.post(
    '/studies/:study/series/:series/quality-grades',
    body,
    answering(async (request, response) => {
      const study = uidParameter(request.params.study, 'study');
      const series = uidParameter(request.params.series, 'series');
      const grade = await service.grade(study, series, request.body, accessOf(response).principal);
      noteAudited(response, { detail: { qcGradeId: grade.id, seriesInstanceUid: series, grade: grade.gradeCode, givenGrade: grade.givenGradeCode, defects: grade.defects } });
      response.status(201).json(grade);
    }),
  );

  router.get(
    '/studies/:study/quality-grades',
    answering(async (request, response) => {
      const study = uidParameter(request.params.study, 'study');
      response.json(await service.studyQuality(study, accessOf(response).principal.institutionId));
    }),
  );
  // The centre's scales and defect catalogue: its administrator's (the service checks whose).
  router.get(
    '/admin/quality-configuration',
    answering(async (request, response) => {
      response.json(await service.centreConfiguration(actorOf(request, response)));
    }),
  );
  router.put(
    '/admin/quality-configuration',
    express.json({ limit: '256kb' }),
    answering(async (request, response) => {
      response.json(await service.setCentreConfiguration(actorOf(request, response), request.body));
    }),
  );
  return router;
}
