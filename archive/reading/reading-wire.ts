import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';

/**
 * The reading workflow as it crosses the wire, shared by the server and the viewer (so it imports
 * nothing that needs Node): the work states a reading centre names, what a hospital's request and a
 * return carry, and where in a UPS workitem (PS3.3 A.89) each of them lives. Pure.
 */

/** 登记 / 待分配 / 已分配 / 初诊中 / 待审核 / 已发布 / 退回, and a cancelled task. */
export const READING_STATUSES = ['registered', 'unassigned', 'assigned', 'reading', 'awaiting-review', 'published', 'returned', 'cancelled'] as const;
export type ReadingStatus = (typeof READING_STATUSES)[number];

/**
 * Where the report of a task has got to, kept in the workitem's Procedure Step Progress Description
 * (0074,1006): set by the report service (setReportStage in reading-service.ts), and by a return.
 */
export const REPORT_STAGES = ['drafting', 'preliminary-signed', 'final-signed'] as const;
export type ReportStage = (typeof REPORT_STAGES)[number];
/** Progress descriptions the reading workflow itself writes: a return to the hospital, a reopened task. */
export const RETURNED = 'returned';
export const REOPENED = 'reopened';

export const RETURN_REASONS = ['images-insufficient', 'wrong-patient', 'needs-more-series', 'other'] as const;
export type ReturnReason = (typeof RETURN_REASONS)[number];

/** 急诊 / 门诊 / 住院 / 体检: what the turnaround limit depends on besides the examination. */
export const PATIENT_CLASSES = ['emergency', 'outpatient', 'inpatient', 'physical-exam'] as const;
export type PatientClass = (typeof PATIENT_CLASSES)[number];

/** DICOM tags the reading workflow reads and writes (PS3.6 names). */
export const READING_TAGS = {
  accessionNumber: '00080050',
  modality: '00080060',
  institutionName: '00080080',
  admittingDiagnosesDescription: '00081080',
  codeValue: '00080100',
  codingSchemeDesignator: '00080102',
  codeMeaning: '00080104',
  patientName: '00100010',
  patientId: '00100020',
  additionalPatientHistory: '001021B0',
  bodyPartExamined: '00180015',
  studyInstanceUid: '0020000D',
  requestingPhysician: '00321032',
  requestingService: '00321033',
  requestedProcedureDescription: '00321060',
  currentPatientLocation: '00380300',
  reasonForRequestedProcedure: '00401002',
  requestedProcedurePriority: '00401003',
  scheduledStartDateTime: '00404005',
  humanPerformerCodeSequence: '00404009',
  inputInformationSequence: '00404021',
  scheduledStationNameCodeSequence: '00404025',
  scheduledHumanPerformersSequence: '00404034',
  humanPerformerOrganization: '00404036',
  humanPerformerName: '00404037',
  inputReadinessState: '00404041',
  referencedRequestSequence: '0040A370',
  procedureStepState: '00741000',
  progressInformationSequence: '00741002',
  progressDescription: '00741006',
  discontinuationReasonCodeSequence: '0074100E',
  priority: '00741200',
  sopInstanceUid: '00080018',
} as const;
const T = READING_TAGS;

/** A reading centre as a workitem names it (Scheduled Station Name Code Sequence) and a hospital chooses it. */
export interface ReadingCentre {
  id: string;
  code: string;
  name: string;
}

/** A reading rule (路由规则) as the admin API serves it. */
export interface ReadingRule {
  id: string;
  readingCentreId: string;
  /** Exactly one of these: one sending institution, or every institution of a region and those below it. */
  sendingInstitutionId: string | null;
  regionId: string | null;
  /** Empty: any modality. */
  modalities: string[];
  priority: 'HIGH' | 'MEDIUM' | 'LOW';
  patientClass: PatientClass;
  enabled: boolean;
}

/** A hospital's request for remote reading (远程诊断申请). */
export interface ReadingRequest {
  studyInstanceUid: string;
  /** 病史 */
  history: string;
  /** 检查目的 */
  clinicalQuestion: string;
  /** 临床诊断 */
  clinicalDiagnosis?: string;
  /** 申请医生 */
  orderingDoctor: string;
  /** 申请科室 */
  department?: string;
  patientClass: PatientClass;
  /** The reading centre asked; absent: the centre whose region covers the hospital (the only one, or refused). */
  readingCentreId?: string;
}

/** A line of the conversation about a task. */
export interface ReadingNote {
  id: string;
  workitemUid: string;
  kind: 'returned' | 'note' | 'reopened';
  reason: ReturnReason | null;
  text: string;
  authorUsername: string;
  authorInstitutionId: string | null;
  createdAt: string;
}

/** A reader of a centre, for assignment. */
export interface Reader {
  userId: string;
  username: string;
  displayName: string;
  available: boolean;
}

/** What the worklist screen shows of a workitem, read from its dataset. */
export interface TaskSummary {
  workitemUid: string;
  status: ReadingStatus;
  priority: string;
  patientClass: PatientClass;
  patientName: string;
  patientId: string;
  studyInstanceUid: string | null;
  accessionNumber: string;
  sendingInstitution: string;
  modality: string;
  bodyPart: string;
  clinicalQuestion: string;
  history: string;
  orderingDoctor: string;
  /** Scheduled start: when the study arrived or the request was made (ISO, UTC). */
  arrivedAt: string | null;
  /** Human performer names and codes (user names). */
  performers: { username: string; name: string }[];
  readingCentre: string;
  returnReason: ReturnReason | null;
}

/**
 * 登记 / 待分配 / 已分配 / 初诊中 / 待审核 / 已发布 / 退回 from the UPS state, the Input Readiness
 * State, the Scheduled Human Performers and the report stage (IHE Remote Reading Workflow's task
 * states, as docs/reading.md tabulates). The report stage wins over the UPS state while the step is
 * open, since a centre may sign before (or without) completing the step.
 */
export function readingStatus(workitem: DicomJsonDataset): ReadingStatus {
  const state = text(workitem, T.procedureStepState);
  if (state === 'CANCELED') return 'cancelled';
  if (state === 'COMPLETED') return 'published';
  const stage = progressDescription(workitem);
  if (stage === 'final-signed') return 'published';
  if (stage === 'preliminary-signed') return 'awaiting-review';
  if (state === 'IN PROGRESS' || stage === 'drafting') return 'reading';
  if (stage === RETURNED) return 'returned';
  const readiness = text(workitem, T.inputReadinessState);
  if (readiness === 'INCOMPLETE' || readiness === 'UNAVAILABLE') return 'registered';
  return items(workitem, T.scheduledHumanPerformersSequence).length > 0 ? 'assigned' : 'unassigned';
}

export function progressDescription(workitem: DicomJsonDataset): string | undefined {
  const progress = items(workitem, T.progressInformationSequence)[0];
  return progress ? text(progress, T.progressDescription) : undefined;
}

/** Emergency first (UPS priority HIGH), then whoever has waited longest. */
export function compareTasks(a: TaskSummary, b: TaskSummary): number {
  const rank = (task: TaskSummary) => (task.priority === 'HIGH' ? 0 : task.priority === 'MEDIUM' ? 1 : 2);
  return rank(a) - rank(b) || (a.arrivedAt ?? '').localeCompare(b.arrivedAt ?? '') || a.workitemUid.localeCompare(b.workitemUid);
}

export function taskSummary(workitem: DicomJsonDataset): TaskSummary {
  const request = items(workitem, T.referencedRequestSequence)[0] ?? {};
  const input = items(workitem, T.inputInformationSequence)[0] ?? {};
  const patientClass = PATIENT_CLASSES.find((value) => value === text(workitem, T.currentPatientLocation)) ?? 'outpatient';
  const station = items(workitem, T.scheduledStationNameCodeSequence)[0];
  const returnCode = progressDescription(workitem) === RETURNED ? text(items(items(workitem, T.progressInformationSequence)[0] ?? {}, T.discontinuationReasonCodeSequence)[0] ?? {}, T.codeValue) : undefined;
  return {
    workitemUid: text(workitem, T.sopInstanceUid) ?? '',
    status: readingStatus(workitem),
    priority: text(workitem, T.priority) ?? 'MEDIUM',
    patientClass,
    patientName: personName(workitem[T.patientName]?.Value?.[0]),
    patientId: text(workitem, T.patientId) ?? '',
    studyInstanceUid: text(request, T.studyInstanceUid) ?? text(input, T.studyInstanceUid) ?? null,
    accessionNumber: text(request, T.accessionNumber) ?? '',
    sendingInstitution: text(workitem, T.institutionName) ?? '',
    modality: text(workitem, T.modality) ?? '',
    bodyPart: text(workitem, T.bodyPartExamined) ?? '',
    clinicalQuestion: text(request, T.reasonForRequestedProcedure) ?? '',
    history: text(workitem, T.additionalPatientHistory) ?? '',
    orderingDoctor: personName(request[T.requestingPhysician]?.Value?.[0]),
    arrivedAt: dicomDateTimeToIso(text(workitem, T.scheduledStartDateTime)),
    performers: items(workitem, T.scheduledHumanPerformersSequence).map((performer) => ({
      username: text(items(performer, T.humanPerformerCodeSequence)[0] ?? {}, T.codeValue) ?? '',
      name: personName(performer[T.humanPerformerName]?.Value?.[0]),
    })),
    readingCentre: station ? (text(station, T.codeMeaning) ?? text(station, T.codeValue) ?? '') : '',
    returnReason: RETURN_REASONS.find((reason) => reason === returnCode) ?? null,
  };
}

/** 'YYYYMMDDHHMMSS' (UTC, as Yingyun writes scheduled starts) as an ISO instant. */
export function dicomDateTimeToIso(value: string | undefined): string | null {
  const match = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})?/.exec(value ?? '');
  if (!match) return null;
  return `${match[1]}-${match[2]}-${match[3]}T${match[4]}:${match[5]}:${match[6] ?? '00'}Z`;
}

/** An instant as the DT value Yingyun writes: UTC, to the second, with its offset. */
export function isoToDicomDateTime(date: Date): string {
  return `${date.toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;
}

function text(dataset: DicomJsonDataset, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function items(dataset: DicomJsonDataset, tag: string): DicomJsonDataset[] {
  return (dataset[tag]?.Value ?? []).filter((item): item is DicomJsonDataset => item !== null && typeof item === 'object');
}

function personName(value: unknown): string {
  if (!value || typeof value !== 'object') return typeof value === 'string' ? value : '';
  const name = value as DicomJsonPersonName;
  return (name.Ideographic || name.Alphabetic || '').replace(/\^+/g, ' ').trim();
}
