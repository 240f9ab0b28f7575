import { isDeepStrictEqual } from 'node:util';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { UpsState } from './ups-state.ts';
import { UPS_EVENT_TAGS as E, UPS_EVENT_TYPES, type UpsEvent } from './ups-event-report.ts';
import { WORKITEM_TAGS as T, type Workitem } from './workitem.ts';

/**
 * Which events a change of a workitem raises (PS3.4 CC.2.4.3), pure: the worklist service says what
 * changed, this module says what its subscribers hear. Reports carry no patient identity, only the
 * workitem's state, performers, stations and progress; clients Retrieve the workitem for the rest.
 */

/** Input Readiness State is mandatory in State Report and Assigned; a workitem that never said is taken as READY. */
function inputReadiness(workitem: Workitem): DicomJsonDataset {
  return { [E.inputReadinessState]: workitem[E.inputReadinessState] ?? { vr: 'CS', Value: ['READY'] } };
}

/** A UPS State Report (the event attributes have the tags of the workitem's own attributes). */
export function stateReport(workitem: Workitem, state: UpsState): UpsEvent {
  const attributes: DicomJsonDataset = { [E.procedureStepState]: { vr: 'CS', Value: [state] }, ...inputReadiness(workitem) };
  if (state === 'CANCELED') {
    const progress = (workitem[T.progressInformationSequence]?.Value?.[0] ?? {}) as Workitem;
    const reason = progress[T.reasonForCancellation];
    const reasonCode = progress[E.discontinuationReasonCodeSequence];
    if (reason) attributes[E.reasonForCancellation] = reason;
    if (reasonCode) attributes[E.discontinuationReasonCodeSequence] = reasonCode;
  }
  return { eventTypeId: UPS_EVENT_TYPES.stateReport, attributes };
}

/** UPS Assigned: the performers and stations the workitem is scheduled for. */
function assigned(workitem: Workitem): UpsEvent {
  const attributes = inputReadiness(workitem);
  for (const tag of [T.scheduledHumanPerformersSequence, T.scheduledStationNameCodeSequence]) {
    const sequence = workitem[tag];
    if (sequence) attributes[tag] = sequence;
  }
  return { eventTypeId: UPS_EVENT_TYPES.assigned, attributes };
}

/** A new workitem: its SCHEDULED state, and whom it is assigned to when the creator said. */
export function eventsOfCreate(workitem: Workitem): UpsEvent[] {
  const events = [stateReport(workitem, 'SCHEDULED')];
  if (workitem[T.scheduledHumanPerformersSequence] || workitem[T.scheduledStationNameCodeSequence]) events.push(assigned(workitem));
  return events;
}

/** An update (N-SET): reassignment, a change of readiness, or progress, each its own report. */
export function eventsOfUpdate(before: Workitem, after: Workitem): UpsEvent[] {
  const changed = (tag: string) => !isDeepStrictEqual(before[tag], after[tag]);
  const events: UpsEvent[] = [];
  if (changed(E.inputReadinessState)) events.push(stateReport(after, after[T.procedureStepState]?.Value?.[0] as UpsState));
  if (changed(T.scheduledHumanPerformersSequence) || changed(T.scheduledStationNameCodeSequence)) events.push(assigned(after));
  const progress = after[T.progressInformationSequence];
  if (changed(T.progressInformationSequence) && progress) events.push({ eventTypeId: UPS_EVENT_TYPES.progressReport, attributes: { [E.progressInformationSequence]: progress } });
  return events;
}

/** A state change: one State Report per state passed through (a cancelled SCHEDULED item goes through IN PROGRESS). */
export function eventsOfStateChange(after: Workitem, steps: readonly UpsState[]): UpsEvent[] {
  return steps.map((state) => stateReport(after, state));
}

/**
 * UPS Cancel Requested, to the performer of an IN PROGRESS workitem: who asked (over HTTP no AE
 * Title comes with the request, so the gateway's own stands for the requester) and what they said.
 */
export function cancelRequested(request: Workitem, requestingAe: string): UpsEvent {
  const attributes: DicomJsonDataset = { [E.requestingAe]: { vr: 'AE', Value: [requestingAe] } };
  for (const tag of [E.reasonForCancellation, E.discontinuationReasonCodeSequence, E.contactUri, E.contactDisplayName]) {
    const value = request[tag];
    if (value) attributes[tag] = value;
  }
  return { eventTypeId: UPS_EVENT_TYPES.cancelRequested, attributes };
}
