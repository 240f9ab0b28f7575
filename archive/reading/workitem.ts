import { z } from 'zod';
import { personNameSearchKeys } from '../dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import { UPS_STATES, type UpsState } from './ups-state.ts';

/**
 * A UPS workitem as it crosses the wire: a DICOM JSON dataset (PS3.18 F.2) of the Unified Procedure
 * Step IOD (PS3.3 A.89), the same type for the server, the viewer and any worklist client. What the
 * index keeps of it for searching is derived here, once, from the dataset.
 */
export type Workitem = DicomJsonDataset;

export const UPS_PUSH_SOP_CLASS_UID = '1.2.840.10008.5.1.4.34.6.1';

export const WORKITEM_TAGS = {
  sopClassUid: '00080016',
  sopInstanceUid: '00080018',
  accessionNumber: '00080050',
  transactionUid: '00081195',
  codeValue: '00080100',
  codeMeaning: '00080104',
  patientName: '00100010',
  patientId: '00100020',
  issuerOfPatientId: '00100021',
  studyInstanceUid: '0020000D',
  humanPerformerCodeSequence: '00404009',
  scheduledStartDateTime: '00404005',
  inputInformationSequence: '00404021',
  scheduledStationNameCodeSequence: '00404025',
  scheduledHumanPerformersSequence: '00404034',
  humanPerformerName: '00404037',
  performedStartDateTime: '00404050',
  performedEndDateTime: '00404051',
  cancellationDateTime: '00404052',
  referencedRequestSequence: '0040A370',
  procedureStepState: '00741000',
  progressInformationSequence: '00741002',
  contactUri: '0074100A',
  contactDisplayName: '0074100C',
  priority: '00741200',
  worklistLabel: '00741202',
  procedureStepLabel: '00741204',
  performedProcedureSequence: '00741216',
  reasonForCancellation: '00741238',
} as const;
const T = WORKITEM_TAGS;

export const UPS_PRIORITIES = ['HIGH', 'MEDIUM', 'LOW'] as const;
export type UpsPriority = (typeof UPS_PRIORITIES)[number];

/** A request's dataset that is not a workitem, or not one that may be stored; `dicomStatus` when PS3.4 names one. */
export class WorkitemError extends Error {
  constructor(
    message: string,
    readonly dicomStatus?: string,
  ) {
    super(message);
    this.name = 'WorkitemError';
  }
}

const element: z.ZodType<{ vr: string; Value?: unknown[] }> = z.lazy(() =>
  z
    .object({
      vr: z.string().regex(/^[A-Z]{2}$/, 'a VR is two upper-case letters'),
      Value: z.array(z.union([z.string(), z.number(), z.null(), z.record(z.string(), z.unknown())])).optional(),
    })
    // Workitems carry no bulk data: a BulkDataURI or InlineBinary would be kept nowhere.
    .strict(),
);
const datasetSchema = z.record(z.string().regex(/^[0-9A-F]{8}$/, 'a tag is 8 upper-case hexadecimal digits'), element);

/** A request body as a DICOM JSON dataset: one object, or an array holding one (as PS3.18 writes them). */
export function parseWorkitemDataset(body: unknown): Workitem {
  const single = Array.isArray(body) && body.length === 1 ? body[0] : body;
  const parsed = datasetSchema.safeParse(single);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new WorkitemError(`the body is not a DICOM JSON dataset: ${issue.path.join('.') || 'the body'}: ${issue.message}`);
  }
  const dataset = parsed.data as Workitem;
  for (const [tag, value] of Object.entries(dataset)) {
    if (value.vr === 'SQ') for (const item of value.Value ?? []) parseWorkitemDataset(item);
    else if ((value.Value ?? []).some((entry) => entry !== null && typeof entry === 'object' && value.vr !== 'PN')) throw new WorkitemError(`${tag} holds an object but its VR is ${value.vr}`);
  }
  return dataset;
}

export function firstValue(dataset: Workitem, tag: string): string | undefined {
  const value = dataset[tag]?.Value?.[0];
  return typeof value === 'string' ? value : typeof value === 'number' ? String(value) : undefined;
}

function items(dataset: Workitem, tag: string): Workitem[] {
  return (dataset[tag]?.Value ?? []).filter((item): item is Workitem => item !== null && typeof item === 'object');
}

/**
 * What a new workitem must be (PS3.4 CC.2.5.1.3, kept to the attributes this worklist works by):
 * SCHEDULED or no state (C309 otherwise), no Transaction UID, a priority and a scheduled start.
 */
export function checkNewWorkitem(dataset: Workitem): void {
  const state = firstValue(dataset, T.procedureStepState);
  if (state !== undefined && state !== 'SCHEDULED') throw new WorkitemError(`a new workitem's Procedure Step State must be SCHEDULED, not ${state}`, 'C309');
  if (T.transactionUid in dataset) throw new WorkitemError('a new workitem carries no Transaction UID: it is given when the workitem is claimed');
  const priority = firstValue(dataset, T.priority);
  if (!UPS_PRIORITIES.includes(priority as UpsPriority)) throw new WorkitemError(`Scheduled Procedure Step Priority (0074,1200) must be one of ${UPS_PRIORITIES.join(', ')}`);
  if (!dateTimeRange(firstValue(dataset, T.scheduledStartDateTime) ?? '')) throw new WorkitemError('Scheduled Procedure Step Start DateTime (0040,4005) must be a DICOM DT value');
}

/** What an update may not touch: the identity of the workitem and its state and lock, which only Change State moves. */
export function checkUpdate(dataset: Workitem): void {
  for (const [tag, name] of [
    [T.procedureStepState, 'Procedure Step State: use Change State'],
    [T.transactionUid, 'Transaction UID: send it as the transaction query parameter'],
    [T.sopInstanceUid, 'SOP Instance UID'],
    [T.sopClassUid, 'SOP Class UID'],
  ] as const) {
    if (tag in dataset) throw new WorkitemError(`an update may not set ${name}`);
  }
  if (T.priority in dataset && !UPS_PRIORITIES.includes(firstValue(dataset, T.priority) as UpsPriority)) throw new WorkitemError(`Scheduled Procedure Step Priority (0074,1200) must be one of ${UPS_PRIORITIES.join(', ')}`);
  if (T.scheduledStartDateTime in dataset && !dateTimeRange(firstValue(dataset, T.scheduledStartDateTime) ?? '')) throw new WorkitemError('Scheduled Procedure Step Start DateTime (0040,4005) must be a DICOM DT value');
}

/**
 * PS3.4 CC.2.5.1.3, final state of a COMPLETED workitem, to the extent this service checks: the
 * performed procedure says when the work started and ended.
 */
export function meetsCompletedRequirements(dataset: Workitem): boolean {
  const performed = items(dataset, T.performedProcedureSequence)[0];
  return performed !== undefined && firstValue(performed, T.performedStartDateTime) !== undefined && firstValue(performed, T.performedEndDateTime) !== undefined;
}

export function isUpsState(value: string | undefined): value is UpsState {
  return UPS_STATES.includes(value as UpsState);
}

/** The columns the index searches by, derived from the dataset (so they never disagree with it). */
export interface WorkitemIndexKeys {
  state: UpsState;
  priority: UpsPriority;
  /** Scheduled start as a timestamp without zone ('YYYY-MM-DD HH:MM:SS.ffffff'); offsets are ignored. */
  scheduledStart: string;
  patientId: string | null;
  issuer: string | null;
  patientNameSearch: string;
  /** Code values and folded code meanings of the scheduled stations. */
  stationKeys: string[];
  /** Code values of the performers and their folded names. */
  performerKeys: string[];
  requestedStudyUids: string[];
  inputStudyUids: string[];
  procedureStepLabel: string | null;
  worklistLabel: string | null;
}

export function workitemIndexKeys(dataset: Workitem): WorkitemIndexKeys {
  const fold = (value: string) => value.normalize('NFKC').toLowerCase().trim();
  const codes = (sequence: Workitem[]) => sequence.flatMap((item) => [firstValue(item, T.codeValue), firstValue(item, T.codeMeaning)].filter((key): key is string => !!key).map(fold));
  const performers = items(dataset, T.scheduledHumanPerformersSequence);
  const names = (dataset[T.patientName]?.Value ?? []).filter((name): name is DicomJsonPersonName => name !== null && typeof name === 'object');
  const studies = (tag: string) => [...new Set(items(dataset, tag).map((item) => firstValue(item, T.studyInstanceUid)).filter((uid): uid is string => !!uid))];
  return {
    state: firstValue(dataset, T.procedureStepState) as UpsState,
    priority: firstValue(dataset, T.priority) as UpsPriority,
    scheduledStart: dateTimeRange(firstValue(dataset, T.scheduledStartDateTime) ?? '')!.from,
    patientId: firstValue(dataset, T.patientId) ?? null,
    issuer: firstValue(dataset, T.issuerOfPatientId) ?? null,
    patientNameSearch: personNameSearchKeys(names),
    stationKeys: [...new Set(codes(items(dataset, T.scheduledStationNameCodeSequence)))],
    performerKeys: [
      ...new Set([
        ...performers.flatMap((performer) => codes(items(performer, T.humanPerformerCodeSequence))),
        ...performers.flatMap((performer) => (performer[T.humanPerformerName]?.Value ?? []).map((name) => (name && typeof name === 'object' ? fold(String((name as DicomJsonPersonName).Alphabetic ?? '').replace(/\^/g, ' ')) : ''))).filter(Boolean),
      ]),
    ],
    requestedStudyUids: studies(T.referencedRequestSequence),
    inputStudyUids: studies(T.inputInformationSequence),
    procedureStepLabel: firstValue(dataset, T.procedureStepLabel) ?? null,
    worklistLabel: firstValue(dataset, T.worklistLabel) ?? null,
  };
}

/**
 * A DT value (or a prefix of one: YYYY, YYYYMM, …) as the half-open range of times it names, as
 * 'YYYY-MM-DD HH:MM:SS' texts: '20261205' is the whole day. Fractions of a second and offsets are
 * ignored: a worklist is scheduled to the minute, and its sites share one time zone.
 */
export function dateTimeRange(value: string): { from: string; until: string } | null {
  const match = /^(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?(?:\.\d{1,6})?(?:[+-]\d{4})?$/.exec(value.trim());
  if (!match) return null;
  const given = match.slice(1, 7).filter((part) => part !== undefined).length;
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map((part, index) => Number(part ?? (index === 1 || index === 2 ? 1 : 0)));
  const from = new Date(Date.UTC(year!, month! - 1, day!, hour!, minute!, second!));
  if (from.getUTCMonth() !== month! - 1 || from.getUTCDate() !== day! || hour! > 23 || minute! > 59 || second! > 59) return null;
  const until = new Date(Date.UTC(year! + (given === 1 ? 1 : 0), month! - 1 + (given === 2 ? 1 : 0), day! + (given === 3 ? 1 : 0), hour! + (given === 4 ? 1 : 0), minute! + (given === 5 ? 1 : 0), second! + (given === 6 ? 1 : 0)));
  const text = (date: Date) => date.toISOString().slice(0, 19).replace('T', ' ');
  return { from: text(from), until: text(until) };
}
