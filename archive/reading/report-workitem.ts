import type { Visibility } from '../access/policy.ts';
import { setReportStage } from './reading-service.ts';
import type { ReportStage } from './reading-wire.ts';
import type { Report, ReportVersion } from './report.ts';
import { firstValue, WORKITEM_TAGS, workitemIndexKeys } from './workitem.ts';
import { WorklistRefusal, type WorklistService } from './worklist-service.ts';

/** The system's own view: a report moves the study's task wherever the task is kept. */
const EVERY_INSTITUTION: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

/** 初诊中 once the draft is first saved, 待审核 after the 初诊, 已发布 once final or amended. */
export function stageAfterSignature(version: ReportVersion): ReportStage {
  return version.status === 'preliminary' ? 'preliminary-signed' : 'final-signed';
}

/**
 * The reading tasks a report answers show where it has got to: the workitem it was opened from, or
 * else the open tasks whose input is its study (the viewer opens a study, not a task).
 */
export async function markReportStage(worklist: WorklistService, report: Report, stage: ReportStage): Promise<void> {
  const workitemUids = report.workitemUid
    ? [report.workitemUid]
    : (await worklist.search({ 'InputInformationSequence.StudyInstanceUID': report.studyInstanceUid, ProcedureStepState: 'SCHEDULED,IN PROGRESS' }, EVERY_INSTITUTION)).workitems
        .map((workitem) => firstValue(workitem, WORKITEM_TAGS.sopInstanceUid))
        .filter((uid): uid is string => uid !== undefined);
  for (const workitemUid of workitemUids) await setReportStage(worklist, workitemUid, stage);
}

/** The studies a workitem names (Referenced Request and Input Information); null when the caller cannot see it. */
export async function studiesOfWorkitem(worklist: WorklistService, workitemUid: string, visibility: Visibility): Promise<string[] | null> {
  try {
    const keys = workitemIndexKeys(await worklist.retrieve(workitemUid, visibility));
    return [...keys.requestedStudyUids, ...keys.inputStudyUids];
  } catch (error) {
    if (error instanceof WorklistRefusal && error.httpStatus === 404) return null;
    throw error;
  }
}
