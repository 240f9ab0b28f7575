import { Router } from 'express';
import { reportPdfObjectKey } from '../../../archive/reading/report-pdf.ts';
import { ObjectNotFound } from '../../../archive/storage/object-store.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf } from '../access.ts';
import { HttpProblem } from '../problem.ts';

/**
 * GET /api/studies/{study}/report/pdf[?version=n]: the signed report's PDF, of its newest version
 * or of the one asked for (every version stays retrievable). The access policy has already found
 * the study visible and audits the download against it.
 */
export function reportPdfRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });

  router.get('/studies/:study/report/pdf', async (request, response) => {
    const studyInstanceUid = accessOf(response).study?.studyInstanceUid;
    const report = studyInstanceUid ? await runtime.reports.currentReportOfStudy(studyInstanceUid) : null;
    if (!report?.versions.length) throw new HttpProblem(404, 'problem.notFound', `study ${request.params.study} has no signed report`);
    const asked = request.query.version;
    if (asked !== undefined && (typeof asked !== 'string' || !/^[1-9][0-9]{0,5}$/.test(asked))) throw new HttpProblem(400, 'problem.badRequest', 'version is a report version number (1, 2, …)');
    const version = asked === undefined ? report.versions.at(-1)! : report.versions.find((candidate) => candidate.version === Number(asked));
    if (!version) throw new HttpProblem(404, 'problem.notFound', `the report has no version ${String(asked)}`);
    let pdf: Buffer;
    try {
      pdf = await runtime.store.get(reportPdfObjectKey(report.id, version.version));
    } catch (error) {
      if (!(error instanceof ObjectNotFound)) throw error;
      // Written by the write-report-pdf job moments after the signature.
      response.set('Retry-After', '2');
      throw new HttpProblem(503, 'problem.unavailable', `the PDF of version ${version.version} is being written; try again in a moment`);
    }
    response
      .status(200)
      .type('application/pdf')
      .set('Content-Disposition', `inline; filename="report-${report.id}-v${version.version}.pdf"`)
      .set('Cache-Control', 'private, no-store')
      .send(pdf);
  });
  return router;
}
