import type { Visibility } from '../access/policy.ts';
import type { ReportSignedEvent } from './report-service.ts';
import { setReportStage } from './reading-service.ts';
import type { ReportStage } from './reading-wire.ts';
import { firstValue, WORKITEM_TAGS } from './workitem.ts';
import type { WorklistService } from './worklist-service.ts';

/** The system's own view: a signature moves the study's task wherever the task is kept. */
const EVERY_INSTITUTION: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

/**
 * After each signature, the reading tasks the report answers show where it has got to (待审核 after
 * the 初诊, 已发布 once final or amended): the workitem it was opened from, or else the open tasks
 * whose input is its study (the viewer opens a study, not a task).
 */
export async function markReportStage(worklist: WorklistService, { report, version }: ReportSignedEvent): Promise<void> {
  const stage: ReportStage = version.status === 'preliminary' ? 'preliminary-signed' : 'final-signed';
  const workitemUids = report.workitemUid
    ? [report.workitemUid]
    : (await worklist.search({ 'InputInformationSequence.StudyInstanceUID': report.studyInstanceUid, ProcedureStepState: 'SCHEDULED,IN PROGRESS' }, EVERY_INSTITUTION)).workitems
        .map((workitem) => firstValue(workitem, WORKITEM_TAGS.sopInstanceUid))
        .filter((uid): uid is string => uid !== undefined);
  for (const workitemUid of workitemUids) await setReportStage(worklist, workitemUid, stage);
}
