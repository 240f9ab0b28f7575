import { randomUUID } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import type { Visibility } from '../access/policy.ts';
import type { CoveringSubscription, UpsSubscriptionsRepository } from '../db/ups-subscriptions-repository.ts';
import type { WorkitemsRepository } from '../db/workitems-repository.ts';
import type { Logger } from '../log.ts';
import {
  eventReport,
  UPS_EVENT_TAGS,
  UPS_EVENT_TYPES,
  UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID,
  UPS_GLOBAL_SUBSCRIPTION_UID,
  type UpsEvent,
  type UpsEventReport,
} from './ups-event-report.ts';
import { stateReport } from './ups-events.ts';
import type { UpsState } from './ups-state.ts';
import { workitemSearchOf } from './worklist-service.ts';

/** One open event channel (a WebSocket): the subscriber it is for, what its user may see, where reports go. */
export interface UpsEventSink {
  userId: string;
  aeTitle: string;
  visibility: Visibility;
  send(report: UpsEventReport): void;
  /** Asked before each delivery: false once the credentials the channel was opened with are revoked or expired. */
  authorised(): Promise<boolean>;
  /** Ends the channel: 1008 when its credentials went, 1012 when this process stopped hearing of events. */
  end(code: 1008 | 1012, reason: string): void;
}

/** What travels between processes over PostgreSQL NOTIFY: events of a workitem, or a new subscription wanting its initial state. */
type Notice =
  | { kind: 'events'; workitemUid: string; institutionId: string; events: UpsEvent[] }
  | { kind: 'subscribed'; userId: string; aeTitle: string; target: string };

/** One piece of a notice too long for one NOTIFY: its bytes, base64, and where they go. */
interface NoticePart {
  kind: 'part';
  noticeId: string;
  index: number;
  count: number;
  bytes: string;
}

/** PostgreSQL refuses a NOTIFY payload of 8000 bytes or more. */
const MAX_PAYLOAD = 7900;
/** Bytes of a notice per part: base64 makes 5700 into 7600, leaving room for the part's own fields. */
const PART_BYTES = 5700;
const ACTIVE_STATES: UpsState[] = ['SCHEDULED', 'IN PROGRESS'];
const PAGE = 500;

interface OpenSink {
  sink: UpsEventSink;
  /** Message ID (0000,0110) of the next report: one sequence per channel, as per association in DIMSE. */
  nextMessageId: number;
  /**
   * The last UPS State Report's attributes sent on this channel per workitem not yet COMPLETED or
   * CANCELED. A new subscription's initial reports are a search made when its notice is handled, so
   * a workitem created or changed after the subscription but before that search is reported by both:
   * its change's state report, coming after, repeats what the channel has just carried and is not
   * sent (a change always moves the state or the input readiness). An initial report is always
   * sent: it answers the subscription.
   */
  lastStateReports: Map<string, UpsEvent['attributes']>;
}

/**
 * UPS event reports (PS3.4 CC.2.4) from whichever process changed a workitem to whichever process
 * holds the subscriber's WebSocket: changes are published through PostgreSQL NOTIFY, sent in the
 * transaction of the change itself (delivered at its commit, in commit order); every gateway process with an open channel LISTENs, finds the subscriptions that
 * cover the workitem, and sends each report to the channels of those subscribers whose users may see
 * the workitem (the scope of a Retrieve). Nothing is queued for a subscriber not connected, as PS3.18
 * allows. A process listens only while it has channels open.
 */
export class UpsEventChannel {
  private readonly open = new Set<OpenSink>();
  private listening: Promise<{ stop(): Promise<void> }> | undefined;
  /** Notices are delivered one after another, so each channel receives reports in the order of the changes. */
  private delivering: Promise<void> = Promise.resolve();
  private closed = false;

  constructor(
    private readonly subscriptions: UpsSubscriptionsRepository,
    private readonly workitems: WorkitemsRepository,
    private readonly log: Logger,
  ) {}

  /**
   * The notices that publish a change of a workitem to its subscribers, wherever they are connected;
   * none when the change raises no event. The workitems repository sends them in the change's own
   * transaction (PostgreSQL NOTIFY is delivered on commit, never on rollback).
   */
  notices(workitemUid: string, institutionId: string, events: UpsEvent[]): string[] {
    if (!events.length) return [];
    return inParts(JSON.stringify({ kind: 'events', workitemUid, institutionId, events } satisfies Notice));
  }

  /** After a subscription is made: its initial UPS State Reports (PS3.4 CC.2.3.3), sent by whichever process holds its channel. */
  async subscribed(userId: string, aeTitle: string, target: string): Promise<void> {
    await this.subscriptions.notify(JSON.stringify({ kind: 'subscribed', userId, aeTitle, target } satisfies Notice));
  }

  /** Whether a user has a subscription (any AE Title) that covers the workitem: would they hear of a cancellation request? */
  async isSubscribed(workitemUid: string, userId: string): Promise<boolean> {
    const covering = (await this.subscriptions.covering(workitemUid)).filter((subscription) => subscription.userId === userId);
    return this.anyCovers(covering, workitemUid, ALL);
  }

  /** Opens a channel; reports flow to it until the returned function is called. */
  async connect(sink: UpsEventSink): Promise<() => void> {
    if (this.closed) throw new Error('the UPS event channel is closed');
    await this.listen();
    const entry: OpenSink = { sink, nextMessageId: 1, lastStateReports: new Map() };
    this.open.add(entry);
    return () => {
      this.open.delete(entry);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.open.clear();
    const listening = this.listening;
    this.listening = undefined;
    await listening?.then((listener) => listener.stop(), () => undefined);
    await this.delivering;
  }

  private listen(): Promise<unknown> {
    const parts = new NoticeAssembly();
    this.listening ??= this.subscriptions.listen(
      (payload) => {
        const notice = parts.add(JSON.parse(payload) as Notice | NoticePart);
        if (notice) this.delivering = this.delivering.then(() => this.deliver(notice)).catch((error: unknown) => this.log.error({ err: error }, 'UPS event not delivered'));
      },
      (error) => {
        // Reports published until a new connection listens would be missed without anyone knowing: the
        // channels end instead (1012 Service Restart), and their clients reconnect and search to catch up.
        this.log.warn({ reason: error.message, channels: this.open.size }, 'UPS event listener lost its database connection; its channels are ended');
        this.listening = undefined;
        for (const { sink } of this.open) sink.end(1012, 'the event channel lost its database connection: reconnect, and search to catch up');
        this.open.clear();
      },
      this.log,
    );
    this.listening.catch(() => (this.listening = undefined));
    return this.listening;
  }

  private async deliver(notice: Notice): Promise<void> {
    if (!this.open.size) return;
    if (notice.kind === 'subscribed') return this.sendInitialState(notice);
    const covering = await this.subscriptions.covering(notice.workitemUid);
    for (const entry of this.open) {
      const { sink } = entry;
      if (!sees(sink.visibility, notice.institutionId)) continue;
      const own = covering.filter((subscription) => subscription.userId === sink.userId && subscription.aeTitle === sink.aeTitle);
      if (!(await this.anyCovers(own, notice.workitemUid, sink.visibility)) || !(await this.stillAuthorised(entry))) continue;
      for (const event of notice.events) {
        const repeated = event.eventTypeId === UPS_EVENT_TYPES.stateReport && isDeepStrictEqual(entry.lastStateReports.get(notice.workitemUid), event.attributes);
        if (!repeated) this.send(entry, notice.workitemUid, event);
      }
    }
  }

  /** A signed-out session or revoked token hears nothing more: its channel is ended, not just skipped. */
  private async stillAuthorised(entry: OpenSink): Promise<boolean> {
    if (await entry.sink.authorised()) return true;
    this.open.delete(entry);
    entry.sink.end(1008, 'the credentials this channel was opened with are no longer valid (signed out, revoked or expired)');
    return false;
  }

  private async anyCovers(subscriptions: CoveringSubscription[], workitemUid: string, visibility: Visibility): Promise<boolean> {
    for (const subscription of subscriptions) {
      try {
        if (await this.filterMatches(subscription, workitemUid, visibility)) return true;
      } catch (error) {
        // A filter its user may no longer match by (their role now masks identity) covers nothing;
        // the other subscribers still hear of the change.
        this.log.warn({ err: error, aeTitle: subscription.aeTitle, userId: subscription.userId }, 'filtered UPS subscription no longer applicable');
      }
    }
    return false;
  }

  /** A UPS State Report of each workitem a new subscription covers that is not yet COMPLETED or CANCELED. */
  private async sendInitialState(notice: Extract<Notice, { kind: 'subscribed' }>): Promise<void> {
    const entries = [...this.open].filter(({ sink }) => sink.userId === notice.userId && sink.aeTitle === notice.aeTitle);
    if (!entries.length) return;
    const subscription = await this.subscriptions.find(notice.userId, notice.aeTitle, notice.target);
    if (!subscription) return;
    for (const entry of entries) {
      if (!(await this.stillAuthorised(entry))) continue;
      const { visibility } = entry.sink;
      if (subscription.target !== UPS_GLOBAL_SUBSCRIPTION_UID && subscription.target !== UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID) {
        const row = await this.workitems.find(subscription.target, visibility);
        if (row) this.send(entry, row.sopInstanceUid, stateReport(row.dataset, row.state));
        continue;
      }
      const { search } = workitemSearchOf(subscription.filter ?? {}, visibility);
      search.states = (search.states ?? ACTIVE_STATES).filter((state) => ACTIVE_STATES.includes(state));
      for (let offset = 0; search.states.length; offset += PAGE) {
        const { rows, more } = await this.workitems.search({ ...search, limit: PAGE, offset }, visibility);
        for (const row of rows) this.send(entry, row.sopInstanceUid, stateReport(row.dataset, row.state));
        if (!more) break;
      }
    }
  }

  /** A filtered global subscription covers a workitem only when the workitem matches its keys. */
  private async filterMatches(subscription: CoveringSubscription, workitemUid: string, visibility: Visibility): Promise<boolean> {
    if (subscription.target !== UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID) return true;
    const { search } = workitemSearchOf(subscription.filter ?? {}, visibility);
    const { rows } = await this.workitems.search({ ...search, sopInstanceUid: workitemUid, limit: 1, offset: 0 }, visibility);
    return rows.length === 1;
  }

  private send(entry: OpenSink, workitemUid: string, event: UpsEvent): void {
    if (event.eventTypeId === UPS_EVENT_TYPES.stateReport) {
      const state = event.attributes[UPS_EVENT_TAGS.procedureStepState]?.Value?.[0];
      if (state === 'COMPLETED' || state === 'CANCELED') entry.lastStateReports.delete(workitemUid);
      else entry.lastStateReports.set(workitemUid, event.attributes);
    }
    const messageId = entry.nextMessageId;
    entry.nextMessageId = (messageId % 0xffff) + 1;
    entry.sink.send(eventReport(workitemUid, event, messageId));
  }
}

/** Matching a filter for isSubscribed: the performer claimed the workitem, so they could see it. */
const ALL: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

function sees(visibility: Visibility, institutionId: string): boolean {
  return visibility.institutionIds === 'all' || visibility.institutionIds.includes(institutionId);
}

/**
 * A notice as the payloads of one or more NOTIFYs. A long Reason For Cancellation (LT, up to 10240
 * characters), contact URI or progress sequence can pass NOTIFY's limit, and pg_notify would then fail
 * the change it reports; such a notice is cut into parts, sent one after another in the same
 * transaction, and put together again by each listener, so the subscriber still gets every attribute
 * (a Cancel Requested's reason is in no table a listener could read it back from).
 */
export function inParts(payload: string): string[] {
  const bytes = Buffer.from(payload);
  if (bytes.length <= MAX_PAYLOAD) return [payload];
  const noticeId = randomUUID();
  const count = Math.ceil(bytes.length / PART_BYTES);
  return Array.from({ length: count }, (_, index) =>
    JSON.stringify({ kind: 'part', noticeId, index, count, bytes: bytes.subarray(index * PART_BYTES, (index + 1) * PART_BYTES).toString('base64') } satisfies NoticePart),
  );
}

/**
 * Puts parted notices together, for one listening connection. PostgreSQL delivers a transaction's
 * notifications in the order sent, but another commit's may come between them, hence the notice id.
 * A notice whose parts stop coming can only be one whose connection was lost, and a new connection
 * starts a new assembly.
 */
class NoticeAssembly {
  private readonly pending = new Map<string, Buffer[]>();

  /** The whole notice once this payload completes it, else null. */
  add(payload: Notice | NoticePart): Notice | null {
    if (payload.kind !== 'part') return payload;
    const parts = this.pending.get(payload.noticeId) ?? [];
    parts[payload.index] = Buffer.from(payload.bytes, 'base64');
    if (parts.filter(Boolean).length < payload.count) {
      this.pending.set(payload.noticeId, parts);
      return null;
    }
    this.pending.delete(payload.noticeId);
    return JSON.parse(Buffer.concat(parts).toString()) as Notice;
  }
}
