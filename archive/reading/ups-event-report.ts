import type { DicomJsonDataset } from '../dicom/types.ts';

/**
 * UPS event reports as they cross the wire (PS3.18 11 Send Event Report, PS3.4 CC.2.4): one DICOM
 * JSON dataset per WebSocket text message, holding the N-EVENT-REPORT command attributes (PS3.7
 * Table 10.3-1) and the event's attributes (PS3.4 Table CC.2.4-1). The same types serve the server,
 * Yingyun's own worklist screen and any other client; this module imports nothing at run time so a
 * browser bundle can take it whole.
 */
export type UpsEventReport = DicomJsonDataset;

/** The well-known SOP Instance UIDs a subscription names instead of a workitem (PS3.4 CC.3.1). */
export const UPS_GLOBAL_SUBSCRIPTION_UID = '1.2.840.10008.5.1.4.34.5';
export const UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID = '1.2.840.10008.5.1.4.34.5.1';
/** The UPS Event SOP Class, the Affected SOP Class of every report. */
export const UPS_EVENT_SOP_CLASS_UID = '1.2.840.10008.5.1.4.34.6.4';

/** Event Type ID (0000,1002) of each report this service sends (PS3.4 Table CC.2.4-1). */
export const UPS_EVENT_TYPES = {
  stateReport: 1,
  cancelRequested: 2,
  progressReport: 3,
  assigned: 5,
} as const;
export type UpsEventType = (typeof UPS_EVENT_TYPES)[keyof typeof UPS_EVENT_TYPES];

export const UPS_EVENT_TAGS = {
  affectedSopClassUid: '00000002',
  commandField: '00000100',
  messageId: '00000110',
  commandDataSetType: '00000800',
  affectedSopInstanceUid: '00001000',
  eventTypeId: '00001002',
  procedureStepState: '00741000',
  inputReadinessState: '00404041',
  reasonForCancellation: '00741238',
  discontinuationReasonCodeSequence: '0074100E',
  requestingAe: '00741236',
  contactUri: '0074100A',
  contactDisplayName: '0074100C',
  progressInformationSequence: '00741002',
} as const;

/** N-EVENT-REPORT-RQ (PS3.7 E.1): its Command Field value. */
const N_EVENT_REPORT_RQ = 0x0100;

/** One event about one workitem, before it is addressed to a subscriber: its type and attributes. */
export interface UpsEvent {
  eventTypeId: UpsEventType;
  attributes: DicomJsonDataset;
}

/** The report a subscriber receives: the command attributes, then the event's own. */
export function eventReport(workitemUid: string, event: UpsEvent, messageId: number): UpsEventReport {
  const T = UPS_EVENT_TAGS;
  return {
    [T.affectedSopClassUid]: { vr: 'UI', Value: [UPS_EVENT_SOP_CLASS_UID] },
    [T.commandField]: { vr: 'US', Value: [N_EVENT_REPORT_RQ] },
    [T.messageId]: { vr: 'US', Value: [messageId] },
    // Any value but 0x0101 says a data set (the event's attributes) comes with the command.
    [T.commandDataSetType]: { vr: 'US', Value: [0] },
    [T.affectedSopInstanceUid]: { vr: 'UI', Value: [workitemUid] },
    [T.eventTypeId]: { vr: 'US', Value: [event.eventTypeId] },
    ...event.attributes,
  };
}

/** What a worklist client needs of a report, read once: which workitem, what happened, and the new state if it changed. */
export interface UpsEventSummary {
  workitemUid: string;
  eventTypeId: UpsEventType;
  /** UPS State Report: the state the workitem is now in. */
  state?: string;
  /** UPS State Report (CANCELED) and UPS Cancel Requested: why, when the requester said. */
  reasonForCancellation?: string;
  /** UPS Cancel Requested: who asked, and how to reach them. */
  requestingAe?: string;
  contactDisplayName?: string;
  contactUri?: string;
}

/** A received WebSocket message as a summary; null when it is not a UPS event report. */
export function readEventReport(message: string): UpsEventSummary | null {
  let report: UpsEventReport;
  try {
    report = JSON.parse(message) as UpsEventReport;
  } catch {
    return null;
  }
  const T = UPS_EVENT_TAGS;
  const text = (tag: string) => {
    const value = report?.[tag]?.Value?.[0];
    return typeof value === 'string' ? value : undefined;
  };
  const eventTypeId = report?.[T.eventTypeId]?.Value?.[0];
  const workitemUid = text(T.affectedSopInstanceUid);
  if (text(T.affectedSopClassUid) !== UPS_EVENT_SOP_CLASS_UID || !workitemUid || !Object.values(UPS_EVENT_TYPES).includes(eventTypeId as UpsEventType)) return null;
  const summary: UpsEventSummary = { workitemUid, eventTypeId: eventTypeId as UpsEventType };
  for (const [key, tag] of [
    ['state', T.procedureStepState],
    ['reasonForCancellation', T.reasonForCancellation],
    ['requestingAe', T.requestingAe],
    ['contactDisplayName', T.contactDisplayName],
    ['contactUri', T.contactUri],
  ] as const) {
    const value = text(tag);
    if (value !== undefined) summary[key] = value;
  }
  return summary;
}

/**
 * The WebSocket address of an AE Title's event channel (PS3.18 Open Notification Connection), as
 * Create Subscription's Content-Location gives it: `ws(s)://<host>/dicom-web/subscribers/<AE>`.
 */
export function eventChannelUrl(httpBase: string, aeTitle: string): string {
  return `${httpBase.replace(/^http/, 'ws').replace(/\/+$/, '')}/dicom-web/subscribers/${encodeURIComponent(aeTitle)}`;
}

/**
 * An AE Title as a subscriber names itself (PS3.5 AE VR): 1 to 16 characters of printable ASCII
 * without backslash. Spaces are not taken either: a URL path here holds printable ASCII only.
 */
export function isAeTitle(value: string | undefined): value is string {
  return value !== undefined && /^[\x21-\x5b\x5d-\x7e]{1,16}$/.test(value);
}
