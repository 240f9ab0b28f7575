/**
 * The Unified Procedure Step state machine (PS3.4 CC.1.1, Table CC.1.1-2), pure: a workitem's
 * state and what a caller asks give the next state, or the DICOM status that refuses it. The
 * worklist service asks this module and nothing else decides a transition.
 */
export const UPS_STATES = ['SCHEDULED', 'IN PROGRESS', 'CANCELED', 'COMPLETED'] as const;
export type UpsState = (typeof UPS_STATES)[number];

/** What a caller asks of an existing workitem; `transactionUidMatches` is whether it sent the lock the workitem holds. */
export type UpsAction =
  | { kind: 'change-state'; to: UpsState; transactionUidMatches: boolean; finalStateRequirementsMet: boolean }
  | { kind: 'update'; transactionUidMatches: boolean }
  /** `performerSubscribed`: whether whoever claimed the workitem would hear of the request (a subscription covers it). */
  | { kind: 'request-cancel'; performerSubscribed: boolean };

/** PS3.4 CC.2 status codes this service answers with (Tables CC.2.1-2, CC.2.2-2, CC.2.6-1). */
export const UPS_STATUS = {
  alreadyCanceled: 'B304',
  alreadyCompleted: 'B306',
  mayNoLongerBeUpdated: 'C300',
  wrongTransactionUid: 'C301',
  alreadyInProgress: 'C302',
  scheduledOnlyByCreate: 'C303',
  finalStateRequirementsNotMet: 'C304',
  noSuchWorkitem: 'C307',
  createdStateNotScheduled: 'C309',
  notInProgress: 'C310',
  cancelAlreadyCompleted: 'C311',
  performerCannotBeContacted: 'C312',
} as const;
export type UpsStatus = (typeof UPS_STATUS)[keyof typeof UPS_STATUS];

export type UpsOutcome =
  /** Done: `next` is the state afterwards; `steps` the states passed through (a cancelled SCHEDULED item goes through IN PROGRESS). */
  | { outcome: 'apply'; next: UpsState; steps: UpsState[] }
  /** Nothing to do, with a warning status (the workitem already is where the caller wants it). */
  | { outcome: 'warning'; status: UpsStatus; reason: string }
  | { outcome: 'refuse'; status: UpsStatus; reason: string };

const refuse = (status: UpsStatus, reason: string): UpsOutcome => ({ outcome: 'refuse', status, reason });
const apply = (next: UpsState, steps: UpsState[] = [next]): UpsOutcome => ({ outcome: 'apply', next, steps });
const TERMINAL: readonly UpsState[] = ['CANCELED', 'COMPLETED'];

export function upsTransition(state: UpsState, action: UpsAction): UpsOutcome {
  switch (action.kind) {
    case 'change-state':
      return changeState(state, action);
    case 'update':
      if (TERMINAL.includes(state)) return refuse(UPS_STATUS.mayNoLongerBeUpdated, `the workitem is ${state} and may no longer be updated`);
      // A SCHEDULED workitem is nobody's yet: it has no lock to present.
      if (state === 'IN PROGRESS' && !action.transactionUidMatches) return refuse(UPS_STATUS.wrongTransactionUid, 'the workitem is IN PROGRESS: an update must carry the Transaction UID of its performer');
      return apply(state, []);
    case 'request-cancel':
      if (state === 'SCHEDULED') return apply('CANCELED', ['IN PROGRESS', 'CANCELED']);
      if (state === 'CANCELED') return { outcome: 'warning', status: UPS_STATUS.alreadyCanceled, reason: 'the workitem is already CANCELED' };
      if (state === 'COMPLETED') return refuse(UPS_STATUS.cancelAlreadyCompleted, 'the workitem is already COMPLETED');
      // CC.2.2.3: the request goes to the performer as a UPS Cancel Requested event, who decides; the
      // workitem stays as it is. With no subscription through which they would hear of it, the SCP may refuse.
      if (action.performerSubscribed) return apply('IN PROGRESS', []);
      return refuse(UPS_STATUS.performerCannotBeContacted, 'the workitem is IN PROGRESS and its performer is not subscribed to it, so cannot be told of a cancellation request; the performer may cancel it');
  }
}

function changeState(state: UpsState, action: Extract<UpsAction, { kind: 'change-state' }>): UpsOutcome {
  if (action.to === 'SCHEDULED') return refuse(UPS_STATUS.scheduledOnlyByCreate, 'a workitem is SCHEDULED only when created');
  if (action.to === 'IN PROGRESS') {
    if (state === 'SCHEDULED') return apply('IN PROGRESS');
    if (state === 'IN PROGRESS') return refuse(UPS_STATUS.alreadyInProgress, 'the workitem is already IN PROGRESS');
    return refuse(UPS_STATUS.mayNoLongerBeUpdated, `the workitem is ${state} and may no longer change state`);
  }
  // To COMPLETED or CANCELED.
  if (state === 'SCHEDULED') return refuse(UPS_STATUS.notInProgress, `a SCHEDULED workitem becomes ${action.to} only after IN PROGRESS (or by a cancellation request)`);
  if (state === 'IN PROGRESS') {
    if (!action.transactionUidMatches) return refuse(UPS_STATUS.wrongTransactionUid, 'the Transaction UID is missing or is not the one the workitem was claimed with');
    if (!action.finalStateRequirementsMet) return refuse(UPS_STATUS.finalStateRequirementsNotMet, `the workitem lacks what PS3.4 requires of a ${action.to} one`);
    return apply(action.to);
  }
  if (state === action.to && action.transactionUidMatches) {
    return { outcome: 'warning', status: state === 'COMPLETED' ? UPS_STATUS.alreadyCompleted : UPS_STATUS.alreadyCanceled, reason: `the workitem is already ${state}` };
  }
  return refuse(UPS_STATUS.mayNoLongerBeUpdated, `the workitem is ${state} and may no longer change state`);
}
