import { randomUUID } from 'node:crypto';
import type { Principal, Visibility } from '../access/policy.ts';
import { foldPersonName } from '../dicom/normalize.ts';
import type { WorkitemRow, WorkitemSearch, WorkitemsRepository, WorkitemWrite } from '../db/workitems-repository.ts';
import { personNamePatterns } from '../query/person-name.ts';
import type { UpsEventChannel } from './ups-event-channel.ts';
import type { UpsEvent } from './ups-event-report.ts';
import { cancelRequested, eventsOfCreate, eventsOfStateChange, eventsOfUpdate } from './ups-events.ts';
import { upsTransition, UPS_STATUS, type UpsAction, type UpsState, type UpsStatus } from './ups-state.ts';
import {
  checkNewWorkitem,
  checkUpdate,
  dateTimeRange,
  firstValue,
  isUpsState,
  meetsCompletedRequirements,
  parseWorkitemDataset,
  UPS_PRIORITIES,
  UPS_PUSH_SOP_CLASS_UID,
  WORKITEM_TAGS as T,
  workitemIndexKeys,
  WorkitemError,
  type Workitem,
} from './workitem.ts';

/** Why a worklist request was refused: the HTTP status, the PS3.4 status when there is one, and the reason. */
export class WorklistRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404 | 409,
    readonly reason: string,
    readonly dicomStatus?: UpsStatus | string,
  ) {
    super(reason);
    this.name = 'WorklistRefusal';
  }
}

/** A request that succeeded with a warning status (the workitem already was where it was asked to go). */
export interface WorklistWarning {
  dicomStatus: UpsStatus;
  reason: string;
}

/** Search keys by keyword and by tag path, as QIDO-RS names them (PS3.18 8.3.4.1). */
const SEARCH_KEYS: Record<string, keyof typeof PARSERS> = {
  ProcedureStepState: 'state',
  '00741000': 'state',
  ScheduledProcedureStepPriority: 'priority',
  '00741200': 'priority',
  ScheduledProcedureStepStartDateTime: 'scheduled',
  '00404005': 'scheduled',
  PatientID: 'patientId',
  '00100020': 'patientId',
  IssuerOfPatientID: 'issuer',
  '00100021': 'issuer',
  PatientName: 'patientName',
  '00100010': 'patientName',
  'ScheduledStationNameCodeSequence.CodeValue': 'station',
  '00404025.00080100': 'station',
  'ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue': 'performer',
  '00404034.00404009.00080100': 'performer',
  'ScheduledHumanPerformersSequence.HumanPerformerName': 'performer',
  '00404034.00404037': 'performer',
  'ReferencedRequestSequence.StudyInstanceUID': 'requestedStudy',
  '0040A370.0020000D': 'requestedStudy',
  'InputInformationSequence.StudyInstanceUID': 'inputStudy',
  '00404021.0020000D': 'inputStudy',
  ProcedureStepLabel: 'procedureStepLabel',
  '00741204': 'procedureStepLabel',
  WorklistLabel: 'worklistLabel',
  '00741202': 'worklistLabel',
};

/** The keys whose values say who the patient is: a masked caller may not match on them. */
const IDENTITY_KEYS = new Set(['patientId', 'issuer', 'patientName']);
const PAGE_LIMIT = 100;

type Parser = (value: string, search: WorkitemSearch, fuzzy: boolean) => void;
const fold = (value: string) => value.normalize('NFKC').toLowerCase().trim();
const PARSERS = {
  state: (value, search) => {
    const states = value.split(',').map((state) => state.trim());
    if (!states.every(isUpsState)) throw new WorkitemError(`ProcedureStepState is one of SCHEDULED, IN PROGRESS, CANCELED, COMPLETED, not ${JSON.stringify(value)}`);
    search.states = states as UpsState[];
  },
  priority: (value, search) => {
    const priorities = value.split(',');
    if (!priorities.every((priority) => UPS_PRIORITIES.includes(priority as never))) throw new WorkitemError(`ScheduledProcedureStepPriority is one of ${UPS_PRIORITIES.join(', ')}`);
    search.priorities = priorities;
  },
  scheduled: (value, search) => {
    const [from, until, ...rest] = value.split('-');
    const lower = from ? dateTimeRange(from) : undefined;
    const upper = until ? dateTimeRange(until) : undefined;
    if (rest.length || lower === null || upper === null || (until === undefined && !lower)) throw new WorkitemError(`ScheduledProcedureStepStartDateTime is a DT value or a range of them (from-until), not ${JSON.stringify(value)}`);
    search.scheduledFrom = lower?.from;
    search.scheduledUntil = until === undefined ? lower!.until : upper?.until;
  },
  patientId: (value, search) => void (search.patientIdPattern = likePattern(value)),
  issuer: (value, search) => void (search.issuer = value),
  patientName: (value, search, fuzzy) => void (search.patientNamePatterns = personNamePatterns(value, fuzzy)),
  station: (value, search) => void (search.stationKey = fold(value)),
  performer: (value, search) => void (search.performerKey = fold(foldPersonName(value))),
  requestedStudy: (value, search) => void (search.requestedStudyUid = value),
  inputStudy: (value, search) => void (search.inputStudyUid = value),
  procedureStepLabel: (value, search) => void (search.procedureStepLabelPattern = likePattern(value)),
  worklistLabel: (value, search) => void (search.worklistLabelPattern = likePattern(value)),
} satisfies Record<string, Parser>;

/** DICOM wildcards ('*', '?') as a LIKE pattern; everything else literal. */
function likePattern(value: string): string {
  return value.replace(/[\\%_]/g, (character) => `\\${character}`).replace(/\*/g, '%').replace(/\?/g, '_');
}

/**
 * Search keys (QIDO-style query parameters) as a repository search: what a worklist search and a
 * filtered subscription both match by. `notMatched` names valid-looking keys this service does not match on.
 */
export function workitemSearchOf(query: Record<string, string | string[] | undefined>, visibility: Visibility): { search: WorkitemSearch; notMatched: string[] } {
  const search: WorkitemSearch = { limit: PAGE_LIMIT, offset: 0 };
  const notMatched: string[] = [];
  const fuzzy = query.fuzzymatching === 'true';
  for (const [name, raw] of Object.entries(query)) {
    const value = Array.isArray(raw) ? raw.join(',') : (raw ?? '');
    if (name === 'limit' || name === 'offset') {
      const number = Number(value);
      if (!Number.isInteger(number) || number < 0) throw new WorklistRefusal(400, `${name} must be a whole number`);
      if (name === 'limit') search.limit = Math.min(Math.max(number, 1), PAGE_LIMIT);
      else search.offset = number;
      continue;
    }
    if (name === 'fuzzymatching' || name === 'includefield') continue;
    const key = SEARCH_KEYS[name];
    if (!key) {
      notMatched.push(name);
      continue;
    }
    if (visibility.maskIdentity && IDENTITY_KEYS.has(key)) throw new WorklistRefusal(403, `identity is masked for your role: ${name} may not be used to match`);
    if (value === '' || value === '*') continue;
    refusing(() => PARSERS[key](value, search, fuzzy));
  }
  return { search, notMatched };
}

/**
 * The UPS worklist (PS3.4 Annex CC, served as UPS-RS by gateway/http/dicomweb/ups-routes.ts):
 * create, retrieve, search, update, change state and request cancellation, every transition
 * decided by ups-state.ts. A workitem belongs to the institution of the user who created it and
 * is seen by the users whose scope covers that institution; one outside it is answered as absent.
 * Every change is published to the workitem's subscribers as the events PS3.4 CC.2.4 names
 * (ups-events.ts), sent in the transaction that commits it.
 */
export class WorklistService {
  constructor(
    private readonly workitems: WorkitemsRepository,
    private readonly events: UpsEventChannel,
    /** The AE Title a UPS Cancel Requested names as the requester: the gateway's own (HTTP requests name none). */
    private readonly requestingAe: string,
  ) {}

  async create(principal: Principal, body: unknown, requestedUid: string | undefined): Promise<{ sopInstanceUid: string; workitem: Workitem }> {
    if (!principal.institutionId) throw new WorklistRefusal(403, 'a workitem belongs to an institution: create it as a user of one');
    const dataset = refusing(() => parseWorkitemDataset(body));
    refusing(() => checkNewWorkitem(dataset));
    const inDataset = firstValue(dataset, T.sopInstanceUid);
    if (requestedUid !== undefined && inDataset !== undefined && requestedUid !== inDataset) {
      throw new WorklistRefusal(400, `the workitem query parameter (${requestedUid}) and the dataset's SOP Instance UID (${inDataset}) differ`);
    }
    const sopInstanceUid = requestedUid ?? inDataset ?? newUid();
    const workitem: Workitem = {
      ...dataset,
      [T.sopClassUid]: { vr: 'UI', Value: [UPS_PUSH_SOP_CLASS_UID] },
      [T.sopInstanceUid]: { vr: 'UI', Value: [sopInstanceUid] },
      [T.procedureStepState]: { vr: 'CS', Value: ['SCHEDULED'] },
    };
    // PS3.7 0111 Duplicate SOP Instance: the same answer whoever's the existing one is.
    if (!(await this.workitems.insert(principal.institutionId, workitem, sopInstanceUid, workitemIndexKeys(workitem), this.events.notices(sopInstanceUid, principal.institutionId, eventsOfCreate(workitem))))) {
      throw new WorklistRefusal(409, `a workitem ${sopInstanceUid} exists already`, '0111');
    }
    return { sopInstanceUid, workitem };
  }

  async retrieve(sopInstanceUid: string, visibility: Visibility): Promise<Workitem> {
    const row = await this.workitems.find(sopInstanceUid, visibility);
    if (!row) throw absent(sopInstanceUid);
    return row.dataset;
  }

  async search(query: Record<string, string | string[] | undefined>, visibility: Visibility): Promise<{ workitems: Workitem[]; more: boolean; notMatched: string[] }> {
    const { search, notMatched } = workitemSearchOf(query, visibility);
    const { rows, more } = await this.workitems.search(search, visibility);
    return { workitems: rows.map((row) => row.dataset), more, notMatched };
  }

  async update(sopInstanceUid: string, transactionUid: string | undefined, body: unknown, visibility: Visibility): Promise<Workitem> {
    const changes = refusing(() => parseWorkitemDataset(body));
    refusing(() => checkUpdate(changes));
    const { workitem } = await this.transition(
      sopInstanceUid,
      visibility,
      (current) => ({ kind: 'update', transactionUidMatches: matches(current, transactionUid) }),
      (current) => ({ dataset: { ...current.dataset, ...changes }, transactionUid: current.transactionUid }),
      ({ before, workitem: after }) => eventsOfUpdate(before, after),
    );
    return workitem;
  }

  /**
   * A change the reading workflow makes on the server's own authority (assignment, a return to the
   * hospital, the report stage): an update that needs no performer's Transaction UID and is refused
   * only once the workitem is final (C300). `change` sees the stored workitem under its row lock and
   * may throw a WorklistRefusal to refuse.
   */
  async amend(sopInstanceUid: string, visibility: Visibility, change: (current: Workitem, state: UpsState) => Workitem): Promise<Workitem> {
    const { workitem } = await this.transition(
      sopInstanceUid,
      visibility,
      () => ({ kind: 'update', transactionUidMatches: true }),
      (current) => ({ dataset: change(current.dataset, current.state), transactionUid: current.transactionUid }),
      ({ before, workitem: after }) => eventsOfUpdate(before, after),
    );
    return workitem;
  }

  /** Change State (PS3.4 CC.2.1): the body names the state asked for and the performer's Transaction UID. */
  async changeState(sopInstanceUid: string, body: unknown, principal: Principal, visibility: Visibility): Promise<{ workitem: Workitem; warning?: WorklistWarning }> {
    const request = refusing(() => parseWorkitemDataset(body));
    const to = firstValue(request, T.procedureStepState);
    const transactionUid = firstValue(request, T.transactionUid);
    if (!isUpsState(to)) throw new WorklistRefusal(400, 'the body must give Procedure Step State (0074,1000): IN PROGRESS, COMPLETED or CANCELED');
    if (to === 'IN PROGRESS' && !isUidText(transactionUid)) throw new WorklistRefusal(400, 'claiming a workitem needs a new Transaction UID (0008,1195) in the body', UPS_STATUS.wrongTransactionUid);
    const { workitem, warning } = await this.transition(
      sopInstanceUid,
      visibility,
      (current) => ({ kind: 'change-state', to, transactionUidMatches: to === 'IN PROGRESS' || matches(current, transactionUid), finalStateRequirementsMet: to !== 'COMPLETED' || meetsCompletedRequirements(current.dataset) }),
      (current) => ({
        dataset: to === 'CANCELED' ? withCancellation(current.dataset, {}) : current.dataset,
        transactionUid: to === 'IN PROGRESS' ? transactionUid! : current.transactionUid,
        // Whoever claims it is its performer: a cancellation request is delivered to them.
        ...(to === 'IN PROGRESS' ? { performerUserId: principal.userId } : {}),
      }),
      (outcome) => eventsOfStateChange(outcome.workitem, outcome.steps),
    );
    return { workitem, warning };
  }

  /**
   * Request Cancellation (PS3.4 CC.2.2): a SCHEDULED workitem is cancelled at once (this service
   * claims it and cancels it); an IN PROGRESS one stays with its performer, who is told by a UPS
   * Cancel Requested event when subscribed to it, and decides. Unsubscribed, they cannot be told (C312).
   */
  async requestCancellation(sopInstanceUid: string, body: unknown, visibility: Visibility): Promise<{ warning?: WorklistWarning }> {
    const request = body === undefined || (typeof body === 'object' && body !== null && Object.keys(body).length === 0) ? {} : refusing(() => parseWorkitemDataset(body));
    const performer = (await this.workitems.find(sopInstanceUid, visibility))?.performerUserId ?? null;
    const performerSubscribed = performer !== null && (await this.events.isSubscribed(sopInstanceUid, performer));
    const { warning } = await this.transition(
      sopInstanceUid,
      visibility,
      () => ({ kind: 'request-cancel', performerSubscribed }),
      (current) => (current.state === 'IN PROGRESS' ? null : { dataset: withCancellation(current.dataset, request), transactionUid: newUid() }),
      // Cancelled at once, or left to the performer, who is told.
      (outcome) => (outcome.written ? eventsOfStateChange(outcome.workitem, outcome.steps) : outcome.warning ? [] : [cancelRequested(request, this.requestingAe)]),
    );
    return { warning };
  }

  /**
   * Decides and writes one transition, and sends the UPS events `eventsOf` names for its outcome in
   * the same transaction. `changed` says what to write, or null for nothing (a cancellation request
   * left to the performer). The answer says what the workitem was and became, the states it passed
   * through and whether anything was written.
   */
  private async transition(
    sopInstanceUid: string,
    visibility: Visibility,
    action: (current: WorkitemRow) => UpsAction,
    changed: (current: WorkitemRow) => { dataset: Workitem; transactionUid: string | null; performerUserId?: string } | null,
    eventsOf: (outcome: TransitionOutcome) => UpsEvent[],
  ): Promise<TransitionOutcome> {
    const answer = await this.workitems.change<TransitionOutcome | WorklistRefusal>(sopInstanceUid, visibility, (current) => {
      const decision = upsTransition(current.state, action(current));
      if (decision.outcome === 'refuse') return { result: new WorklistRefusal(409, decision.reason, decision.status) };
      const decided = (outcome: TransitionOutcome, write?: WorkitemWrite) => ({ write, notices: this.events.notices(sopInstanceUid, current.institutionId, eventsOf(outcome)), result: outcome });
      const unchanged: TransitionOutcome = { workitem: current.dataset, before: current.dataset, steps: [], written: false };
      if (decision.outcome === 'warning') return decided({ ...unchanged, warning: { dicomStatus: decision.status, reason: decision.reason } });
      const next = changed(current);
      if (!next) return decided(unchanged);
      const workitem: Workitem = { ...next.dataset, [T.procedureStepState]: { vr: 'CS', Value: [decision.next] } };
      return decided(
        { workitem, before: current.dataset, steps: decision.steps, written: true },
        { dataset: workitem, keys: workitemIndexKeys(workitem), transactionUid: next.transactionUid, performerUserId: next.performerUserId },
      );
    });
    if (!answer) throw absent(sopInstanceUid);
    if (answer.result instanceof WorklistRefusal) throw answer.result;
    return answer.result;
  }
}

/** What a transition did: the workitem before and after, the states it passed through, whether it was written. */
interface TransitionOutcome {
  workitem: Workitem;
  before: Workitem;
  steps: UpsState[];
  written: boolean;
  warning?: WorklistWarning;
}

/** The performer's lock, compared without ever being shown: a missing one matches nothing. */
function matches(current: WorkitemRow, transactionUid: string | undefined): boolean {
  return transactionUid !== undefined && current.transactionUid !== null && transactionUid === current.transactionUid;
}

function absent(sopInstanceUid: string): WorklistRefusal {
  return new WorklistRefusal(404, `no workitem ${sopInstanceUid} is here`, UPS_STATUS.noSuchWorkitem);
}

function isUidText(value: string | undefined): value is string {
  return value !== undefined && value.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(value);
}

function newUid(): string {
  return `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`).toString(10)}`;
}

/** PS3.4 CC.2.5.1.3: a cancelled workitem records when, and why if the request said. */
function withCancellation(dataset: Workitem, request: Workitem): Workitem {
  const now = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
  const progress: Workitem = { [T.cancellationDateTime]: { vr: 'DT', Value: [now] } };
  for (const tag of [T.reasonForCancellation, T.contactDisplayName, T.contactUri]) if (request[tag]) progress[tag] = request[tag];
  const previous = (dataset[T.progressInformationSequence]?.Value?.[0] ?? {}) as Workitem;
  return { ...dataset, [T.progressInformationSequence]: { vr: 'SQ', Value: [{ ...previous, ...progress }] } };
}

function refusing<Result>(step: () => Result): Result {
  try {
    return step();
  } catch (error) {
    if (error instanceof WorkitemError) throw new WorklistRefusal(400, error.message, error.dicomStatus);
    throw error;
  }
}
