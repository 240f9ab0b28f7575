import type { IngestService } from '../../archive/ingest.ts';
import type { Logger } from '../../archive/log.ts';
import { buildReportSr, writeReportSr } from '../../archive/reading/report-sr.ts';
import type { ReportService } from '../../archive/reading/report-service.ts';
import { checkTid2000 } from '../../archive/reading/tid2000.ts';
import type { JobDefinition } from '../queue.ts';
import { REPORT_DOCUMENT_JOBS, reportVersionPayload, type ReportVersionPayload } from './report-documents.ts';

/**
 * Writes a signed report version as an Enhanced SR (TID 2000) and stores it as a new series of its
 * study through the one ingest path, on behalf of the institution owning the study, so QIDO, WADO
 * and DIMSE serve it like any other object. Idempotent: the SR's UIDs and dates were fixed at
 * signing, so a rerun stores the same object and ingest counts it a duplicate.
 */
export function writeReportSrJob(deps: { reports: ReportService; ingest: IngestService; log: Logger }): JobDefinition<ReportVersionPayload> {
  return {
    name: REPORT_DOCUMENT_JOBS.sr,
    payload: reportVersionPayload,
    async handle({ reportId, version: number }) {
      const report = await deps.reports.report(reportId);
      const version = report?.versions.find((candidate) => candidate.version === number);
      if (!report || !version) throw new Error(`report ${reportId} has no version ${number}`);
      const study = await deps.reports.studyHeader(report.studyInstanceUid);
      if (!study) throw new Error(`study ${report.studyInstanceUid} of report ${reportId} is not indexed`);
      const previous = report.versions.find((candidate) => candidate.version === number - 1);
      const dataset = buildReportSr({ study, version, predecessor: previous ? { sopInstanceUid: previous.srSopInstanceUid, seriesInstanceUid: previous.srSeriesInstanceUid } : null });
      // Our own SR must conform to its template: a departure is a bug to fix, not an object to store.
      const problems = checkTid2000(dataset);
      if (problems.length) throw new Error(`the report SR departs from TID 2000: ${problems.map((problem) => `${problem.path} ${problem.message}`).join('; ')}`);
      const outcome = await deps.ingest.ingest({ part10: writeReportSr(dataset) }, { via: 'import', name: 'report-sr', institutionId: study.institutionId });
      deps.log.info({ reportId, version: number, sopInstanceUid: version.srSopInstanceUid, result: outcome.result }, 'report SR stored');
    },
  };
}
