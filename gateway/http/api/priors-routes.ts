import { Router } from 'express';
import { QueryRepository } from '../../../archive/db/query-repository.ts';
import { maskIdentity } from '../../../archive/access/masking.ts';
import { markAbsenceLabels } from '../../../archive/recognition/recognition-service.ts';
import type { PriorEntry } from '../../../archive/recognition/recognition-wire.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { studyResult } from '../dicomweb/query-results.ts';
import { dicomWebBase, isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

/**
 * GET /api/studies/{study}/priors: the same person's other studies the caller may see (across
 * institutions only with a stated purpose, see archive/access/policy.ts), newest first. Each is
 * `{ study, institution, otherInstitution, reportStatus, hrMark }`: `study` a QIDO-RS study result
 * (so a viewer reads it with the code it reads /studies with), the institution it belongs to as
 * registered here, whether that is not the caller's own, its signed report's status (null: none
 * signed) and its HR mark today, with the reasons (and their labels) when it carries none.
 * Not part of DICOMweb: PS3.18 has no "same person" query, because linking people is the archive's
 * judgement (see QueryRepository.priorStudies for which records count).
 */
export function priorsRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const repository = new QueryRepository(runtime.db.pool);

  router.get('/studies/:study/priors', async (request, response) => {
    const { study } = request.params;
    if (!isUid(study)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(study)} is not a UID`);
    const { principal, visibility } = accessOf(response);
    const rows = await repository.priorStudies(study, visibility);
    if (!rows) throw new HttpProblem(404, 'problem.notFound', `no study ${study} is stored here`);
    const uids = rows.map((row) => row.studyInstanceUid);
    noteAudited(response, { studyUids: uids, detail: { priorsOf: study } });
    const [statuses, marks] = await Promise.all([runtime.reports.statusesOf(visibility, uids), runtime.recognitionDecisions.marks(uids)]);
    const statusOf = new Map(statuses.map((status) => [status.studyInstanceUid, status]));
    const base = dicomWebBase(request);
    const priors = rows.map((row): PriorEntry => {
      const result = studyResult(row, base);
      const dataset = visibility.maskIdentity ? maskIdentity(result) : result;
      const mark = marks.get(row.studyInstanceUid);
      return {
        study: Object.fromEntries(Object.entries(dataset).sort(([a], [b]) => (a < b ? -1 : 1))),
        institution: { id: row.institutionId, name: row.registeredInstitutionName },
        otherInstitution: row.institutionId !== principal.institutionId,
        reportStatus: statusOf.get(row.studyInstanceUid) ?? null,
        hrMark: mark ?? null,
        hrMarkAbsence: markAbsenceLabels(mark),
      };
    });
    response.status(200).json(priors);
  });
  return router;
}
