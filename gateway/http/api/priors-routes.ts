import { Router } from 'express';
import { QueryRepository } from '../../../archive/db/query-repository.ts';
import { maskIdentity } from '../../../archive/access/masking.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { studyResult } from '../dicomweb/query-results.ts';
import { dicomWebBase, isUid } from '../dicomweb/urls.ts';
import { HttpProblem } from '../problem.ts';

/**
 * GET /api/studies/{study}/priors: the same person's other studies the caller may see (across
 * institutions only with a stated purpose, see archive/access/policy.ts), newest first, as QIDO-RS study results (so a viewer reads them with the code it reads /studies with).
 * Not part of DICOMweb: PS3.18 has no "same person" query, because linking people is the archive's
 * judgement (see QueryRepository.priorStudies for which identifiers count).
 */
export function priorsRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const repository = new QueryRepository(runtime.db.pool);

  router.get('/studies/:study/priors', async (request, response) => {
    const { study } = request.params;
    if (!isUid(study)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(study)} is not a UID`);
    const { visibility } = accessOf(response);
    const rows = await repository.priorStudies(study, visibility);
    if (!rows) throw new HttpProblem(404, 'problem.notFound', `no study ${study} is stored here`);
    noteAudited(response, { studyUids: rows.map((row) => row.studyInstanceUid), detail: { priorsOf: study } });
    const base = dicomWebBase(request);
    const results = rows
      .map((row) => studyResult(row, base))
      .map((result) => (visibility.maskIdentity ? maskIdentity(result) : result))
      .map((result) => Object.fromEntries(Object.entries(result).sort(([a], [b]) => (a < b ? -1 : 1))));
    response.status(200).type('application/dicom+json').send(JSON.stringify(results));
  });
  return router;
}
