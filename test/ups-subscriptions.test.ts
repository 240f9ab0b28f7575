import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { loadConfig } from '../archive/config.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { createLogger } from '../archive/log.ts';
import { readEventReport, UPS_EVENT_TYPES, type UpsEventReport, type UpsEventSummary } from '../archive/reading/ups-event-report.ts';
import { eventsOfCreate } from '../archive/reading/ups-events.ts';
import { startYingyun, type RunningYingyun } from '../gateway/start.ts';
import { newUid, PERFORMED, upsNetwork, upsWorkitem, type Call, type TestUser } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * UPS-RS subscriptions and event reports (PS3.18 11, PS3.4 CC.2.3–CC.2.4) against the running system:
 * real WebSocket clients open the event channel of their AE Title, subscribe over HTTP, and receive
 * the reports of what others do to workitems. The network is ups-rs.test.ts's: Qingshi hospital in
 * 清河市, Nanling elsewhere, and the city's reading centre, which sees Qingshi's workitems.
 *
 * Nothing here waits for time to pass: a report that must not arrive is shown absent by a later one
 * that must, since each channel receives its reports in the order of the changes.
 */
const USERS: TestUser[] = [
  { username: 's-qs-radiologist', role: 'radiologist', institution: 'QINGSHI' },
  { username: 's-nl-radiologist', role: 'radiologist', institution: 'NANLING' },
  { username: 's-rc-radiologist', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 's-rc-qc', role: 'qc_staff', institution: 'READING_CENTRE' },
  { username: 's-auditor', role: 'auditor', institution: 'READING_CENTRE' },
];
const PASSWORD = 'Qinghe-reading-centre-2026';
const GLOBAL = '1.2.840.10008.5.1.4.34.5';
const FILTERED = '1.2.840.10008.5.1.4.34.5.1';
const performer = (code: string, name: string) => ({
  '00404034': { vr: 'SQ', Value: [{ '00404009': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: [code] }, '00080102': { vr: 'SH', Value: ['99YINGYUN'] }, '00080104': { vr: 'LO', Value: [name] } }] } }] },
});

/** One subscriber's event channel: the reports in the order they came, read one after another. */
class Channel {
  private readonly reports: { report: UpsEventReport; summary: UpsEventSummary }[] = [];
  private readonly waiting: (() => void)[] = [];
  private read = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const text = String(data);
      const summary = readEventReport(text);
      assert.ok(summary, `a UPS event report: ${text}`);
      this.reports.push({ report: JSON.parse(text) as UpsEventReport, summary });
      for (const wake of this.waiting.splice(0)) wake();
    });
  }

  static open(url: string, headers: Record<string, string>): Promise<Channel> {
    const socket = new WebSocket(url, { headers });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new Channel(socket)));
      socket.once('unexpected-response', (_request, response) => reject(new Error(`refused: ${response.statusCode}`)));
      socket.once('error', reject);
    });
  }

  /** The next report not read yet, waiting for it if need be. */
  async next(): Promise<{ report: UpsEventReport; summary: UpsEventSummary }> {
    while (this.read >= this.reports.length) await new Promise<void>((resolve) => this.waiting.push(resolve));
    return this.reports[this.read++]!;
  }

  /** Reads on until a report about `workitemUid`, and returns it with the reports skipped on the way. */
  async nextAbout(workitemUid: string): Promise<{ found: UpsEventSummary; skipped: UpsEventSummary[] }> {
    const skipped: UpsEventSummary[] = [];
    for (;;) {
      const { summary } = await this.next();
      if (summary.workitemUid === workitemUid) return { found: summary, skipped };
      skipped.push(summary);
    }
  }

  /** Every report received so far, read or not. */
  received(): UpsEventSummary[] {
    return this.reports.map(({ summary }) => summary);
  }

  close(): void {
    this.socket.close();
  }
}

describe('UPS-RS subscriptions and WebSocket event reports', () => {
  let system: TestSystem;
  let tokens: Map<string, string>;
  let call: Call;
  const channels: Channel[] = [];

  const create = async (username: string, dataset: DicomJsonDataset) => {
    const uid = newUid();
    const response = await call(username, 'POST', `/workitems?workitem=${uid}`, dataset);
    assert.equal(response.status, 201, JSON.stringify(response.json));
    return uid;
  };
  const claim = async (username: string, uid: string) => {
    const lock = newUid();
    const response = await call(username, 'PUT', `/workitems/${uid}/state`, { '00741000': { vr: 'CS', Value: ['IN PROGRESS'] }, '00081195': { vr: 'UI', Value: [lock] } });
    assert.equal(response.status, 200, JSON.stringify(response.json));
    return lock;
  };
  const subscribe = async (username: string, target: string, aeTitle: string, query = '') => {
    const response = await call(username, 'POST', `/workitems/${target}/subscribers/${aeTitle}${query}`);
    assert.equal(response.status, 201, JSON.stringify(response.json));
    return response;
  };
  const open = async (username: string, aeTitle: string, url = system.httpUrl) => {
    const channel = await Channel.open(`${url.replace(/^http/, 'ws')}/dicom-web/subscribers/${aeTitle}`, { authorization: `Bearer ${tokens.get(username)}` });
    channels.push(channel);
    return channel;
  };

  before(async () => {
    system = await startTestSystem();
    ({ tokens, call } = await upsNetwork(system, USERS, 'ups subscriptions', PASSWORD));
  });
  after(async () => {
    for (const channel of channels) channel.close();
    await system?.shutdown();
  });

  it('a global subscriber hears of creation, assignment, claim, progress, a cancellation request and completion, with the right contents', async () => {
    const earlier = await create('s-qs-radiologist', upsWorkitem());
    const channel = await open('s-rc-radiologist', 'RC_READER');
    const created = await subscribe('s-rc-radiologist', GLOBAL, 'RC_READER', '?deletionlock=true');
    assert.equal(created.headers.get('content-location'), `${system.httpUrl.replace(/^http/, 'ws')}/dicom-web/subscribers/RC_READER`);
    assert.equal(created.headers.get('warning'), null, 'the deletion lock is granted');

    // The initial state of every open workitem the subscription now covers (PS3.4 CC.2.3.3).
    const initial = await channel.nextAbout(earlier);
    assert.deepEqual({ type: initial.found.eventTypeId, state: initial.found.state }, { type: UPS_EVENT_TYPES.stateReport, state: 'SCHEDULED' });

    const uid = await create('s-qs-radiologist', upsWorkitem(performer('DR-LI', 'Li Ming')));
    const scheduled = await channel.nextAbout(uid);
    assert.deepEqual({ type: scheduled.found.eventTypeId, state: scheduled.found.state }, { type: UPS_EVENT_TYPES.stateReport, state: 'SCHEDULED' });
    const { report: assignedReport, summary: assigned } = await channel.next();
    assert.deepEqual({ uid: assigned.workitemUid, type: assigned.eventTypeId }, { uid, type: UPS_EVENT_TYPES.assigned });
    assert.equal(((assignedReport['00404034']?.Value?.[0] as DicomJsonDataset)['00404009']?.Value?.[0] as DicomJsonDataset)['00080100']?.Value?.[0], 'DR-LI');
    assert.equal(assignedReport['00404041']?.Value?.[0], 'READY');
    // The N-EVENT-REPORT command attributes (PS3.7 Table 10.3-1), a message ID per report on the channel.
    assert.equal(assignedReport['00000002']?.Value?.[0], '1.2.840.10008.5.1.4.34.6.4');
    assert.equal(assignedReport['00000100']?.Value?.[0], 0x0100);
    assert.equal(assignedReport['00001000']?.Value?.[0], uid);
    assert.equal(assignedReport['00001002']?.Value?.[0], 5);
    assert.equal(assignedReport['00000110']?.Value?.[0], 3);
    assert.equal('00100010' in assignedReport || '00100020' in assignedReport, false, 'no patient identity travels in a report');

    // Reassignment by an update, then the claim.
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${uid}`, performer('DR-ZHAO', 'Zhao Lei'))).status, 200);
    const { report: reassigned } = await channel.next();
    assert.equal(((reassigned['00404034']?.Value?.[0] as DicomJsonDataset)['00404009']?.Value?.[0] as DicomJsonDataset)['00080100']?.Value?.[0], 'DR-ZHAO');
    const lock = await claim('s-rc-radiologist', uid);
    assert.deepEqual((await channel.next()).summary, { workitemUid: uid, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'IN PROGRESS' });

    // Progress, from the performer.
    const progress = { '00741002': { vr: 'SQ', Value: [{ '00741004': { vr: 'DS', Value: [50] }, '00741006': { vr: 'ST', Value: ['初诊中 Preliminary report being written'] } }] } };
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, progress)).status, 200);
    const { report: progressReport, summary: progressed } = await channel.next();
    assert.equal(progressed.eventTypeId, UPS_EVENT_TYPES.progressReport);
    assert.equal((progressReport['00741002']?.Value?.[0] as DicomJsonDataset)['00741006']?.Value?.[0], '初诊中 Preliminary report being written');

    // The hospital asks to cancel: the performer is subscribed, so it reaches them instead of C312.
    const request = { '00741238': { vr: 'LT', Value: ['患者已转院 Patient transferred'] }, '0074100C': { vr: 'PN', Value: [{ Alphabetic: 'Chen^Jing' }] }, '0074100A': { vr: 'UR', Value: ['tel:+86-731-5550100'] } };
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, request)).status, 202);
    const { report: cancelReport, summary: cancelRequested } = await channel.next();
    assert.deepEqual(
      { type: cancelRequested.eventTypeId, ae: cancelRequested.requestingAe, reason: cancelRequested.reasonForCancellation, uri: cancelRequested.contactUri },
      { type: UPS_EVENT_TYPES.cancelRequested, ae: system.aeTitle, reason: '患者已转院 Patient transferred', uri: 'tel:+86-731-5550100' },
    );
    assert.deepEqual(cancelReport['0074100C']?.Value, [{ Alphabetic: 'Chen^Jing' }]);
    const stillClaimed = await call('s-qs-radiologist', 'GET', `/workitems/${uid}`);
    assert.equal(((stillClaimed.json as unknown as DicomJsonDataset[])[0]!['00741000']?.Value?.[0]), 'IN PROGRESS', 'the performer decides');

    // The performer completes it after all.
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, PERFORMED)).status, 200);
    assert.equal((await call('s-rc-radiologist', 'PUT', `/workitems/${uid}/state`, { '00741000': { vr: 'CS', Value: ['COMPLETED'] }, '00081195': { vr: 'UI', Value: [lock] } })).status, 200);
    assert.deepEqual((await channel.next()).summary, { workitemUid: uid, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'COMPLETED' });
  });

  it('a subscriber to one workitem hears of it alone; a cancelled SCHEDULED workitem reports IN PROGRESS, then CANCELED with the reason', async () => {
    const mine = await create('s-qs-radiologist', upsWorkitem());
    const other = await create('s-qs-radiologist', upsWorkitem());
    const channel = await open('s-qs-radiologist', 'QS_DESK');
    await subscribe('s-qs-radiologist', mine, 'QS_DESK');
    assert.deepEqual((await channel.next()).summary, { workitemUid: mine, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'SCHEDULED' });

    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${other}`, performer('DR-LI', 'Li Ming'))).status, 200);
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${other}/cancelrequest`, {})).status, 202);
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${mine}/cancelrequest`, { '00741238': { vr: 'LT', Value: ['重复申请 Duplicate request'] } })).status, 202);
    const first = await channel.next();
    assert.deepEqual(first.summary, { workitemUid: mine, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'IN PROGRESS' }, 'nothing about the other workitem came first');
    assert.deepEqual((await channel.next()).summary, { workitemUid: mine, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'CANCELED', reasonForCancellation: '重复申请 Duplicate request' });
  });

  it('a filtered global subscription hears only of workitems matching its keys; bad or masked keys are refused', async () => {
    const channel = await open('s-rc-radiologist', 'RC_URGENT');
    await subscribe('s-rc-radiologist', FILTERED, 'RC_URGENT', '?ScheduledProcedureStepPriority=HIGH&ProcedureStepState=SCHEDULED');
    const routine = await create('s-qs-radiologist', upsWorkitem({ '00741200': { vr: 'CS', Value: ['LOW'] } }));
    const urgent = await create('s-qs-radiologist', upsWorkitem({ '00741200': { vr: 'CS', Value: ['HIGH'] } }));
    const { found, skipped } = await channel.nextAbout(urgent);
    assert.equal(found.state, 'SCHEDULED');
    assert.equal(skipped.some((summary) => summary.workitemUid === routine), false, 'the LOW workitem is not reported');

    const unknown = await call('s-rc-radiologist', 'POST', `/workitems/${FILTERED}/subscribers/RC_URGENT?BodyPartExamined=CHEST`);
    assert.equal(unknown.status, 400);
    assert.equal((await call('s-rc-qc', 'POST', `/workitems/${FILTERED}/subscribers/QC_DESK?PatientName=Wang*`)).status, 403, 'identity is masked for QC');
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${GLOBAL}/subscribers/RC_URGENT?ScheduledProcedureStepPriority=HIGH`)).status, 400, 'a plain global subscription takes no keys');
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${GLOBAL}/subscribers/TOO_LONG_FOR_AN_AE_TITLE`)).status, 400);
  });

  it('unsubscribing stops the reports: from a global subscription, and from one workitem while the global one stands', async () => {
    const channel = await open('s-rc-radiologist', 'RC_LEAVER');
    const sentinel = await create('s-qs-radiologist', upsWorkitem());
    await subscribe('s-rc-radiologist', sentinel, 'RC_LEAVER');
    assert.equal((await channel.next()).summary.workitemUid, sentinel);
    await subscribe('s-rc-radiologist', GLOBAL, 'RC_LEAVER');

    const dropped = await create('s-qs-radiologist', upsWorkitem());
    assert.equal((await channel.nextAbout(dropped)).found.state, 'SCHEDULED');
    assert.equal((await call('s-rc-radiologist', 'DELETE', `/workitems/${dropped}/subscribers/RC_LEAVER`)).status, 200);
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${dropped}`, performer('DR-LI', 'Li Ming'))).status, 200);
    const kept = await create('s-qs-radiologist', upsWorkitem());
    const afterDrop = await channel.nextAbout(kept);
    assert.equal(afterDrop.skipped.some((summary) => summary.workitemUid === dropped), false, 'nothing more about the workitem left');

    assert.equal((await call('s-rc-radiologist', 'DELETE', `/workitems/${GLOBAL}/subscribers/RC_LEAVER`)).status, 200);
    const unheard = await create('s-qs-radiologist', upsWorkitem());
    assert.equal((await call('s-qs-radiologist', 'POST', `/workitems/${kept}`, performer('DR-ZHAO', 'Zhao Lei'))).status, 200);
    // Unsubscribing globally took every workitem subscription of the AE Title with it; subscribe the sentinel anew.
    await subscribe('s-rc-radiologist', sentinel, 'RC_LEAVER');
    const last = await channel.nextAbout(sentinel);
    assert.equal(last.skipped.some((summary) => summary.workitemUid === unheard || summary.workitemUid === kept), false, 'nothing after the global unsubscription');
  });

  it('a suspended global subscription keeps the workitems it had and takes no new ones', async () => {
    const channel = await open('s-rc-radiologist', 'RC_PAUSE');
    await subscribe('s-rc-radiologist', GLOBAL, 'RC_PAUSE');
    const existing = await create('s-qs-radiologist', upsWorkitem());
    await channel.nextAbout(existing);
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${GLOBAL}/subscribers/RC_PAUSE/suspend`)).status, 200);
    const fresh = await create('s-qs-radiologist', upsWorkitem());
    await claim('s-rc-radiologist', existing);
    const { found, skipped } = await channel.nextAbout(existing);
    assert.equal(found.state, 'IN PROGRESS');
    assert.equal(skipped.some((summary) => summary.workitemUid === fresh), false, 'a workitem created after the suspension is not reported');
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${existing}/subscribers/RC_PAUSE/suspend`)).status, 400, 'only a global subscription is suspended');
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${GLOBAL}/subscribers/NOBODY/suspend`)).status, 404);
  });

  it('a cancellation request reaches the performer only while they are subscribed: unsubscribed, it is refused C312', async () => {
    // The hospital's radiologist reads it this time; the centre (subscribed globally elsewhere) asks to cancel.
    const uid = await create('s-qs-radiologist', upsWorkitem());
    await subscribe('s-qs-radiologist', uid, 'QS_PERFORMER');
    await claim('s-qs-radiologist', uid);
    assert.equal((await call('s-rc-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {})).status, 202);
    assert.equal((await call('s-qs-radiologist', 'DELETE', `/workitems/${uid}/subscribers/QS_PERFORMER`)).status, 200);
    const refused = await call<{ dicomStatus?: string }>('s-rc-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {});
    assert.equal(refused.status, 409);
    assert.equal(refused.json?.dicomStatus, 'C312');
  });

  it("another institution's subscriber hears nothing of workitems outside its scope, and cannot subscribe to them", async () => {
    const channel = await open('s-nl-radiologist', 'NL_READER');
    await subscribe('s-nl-radiologist', GLOBAL, 'NL_READER');
    // The reading centre's subscriber with the same AE Title is another subscriber.
    await subscribe('s-rc-radiologist', GLOBAL, 'NL_READER');
    const qingshi = await create('s-qs-radiologist', upsWorkitem());
    await claim('s-rc-radiologist', qingshi);
    const nanling = await create('s-nl-radiologist', upsWorkitem());
    const { found, skipped } = await channel.nextAbout(nanling);
    assert.equal(found.state, 'SCHEDULED');
    assert.deepEqual(skipped.filter((summary) => summary.workitemUid !== nanling), [], 'nothing of Qingshi, not even initial state reports');

    const outside = await call<{ dicomStatus?: string }>('s-nl-radiologist', 'POST', `/workitems/${qingshi}/subscribers/NL_READER`);
    assert.equal(outside.status, 404);
    assert.equal(outside.json?.dicomStatus, 'C307');

    // Subscription requests are in the audit trail, the refused one too.
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; outcome: number; user_name: string }>(
      `SELECT event_type, action, outcome, user_name FROM audit_events WHERE detail->>'route' = $1 ORDER BY id`,
      [`/dicom-web/workitems/${qingshi}/subscribers/NL_READER`],
    );
    assert.deepEqual(rows, [{ event_type: 'procedure-record', action: 'E', outcome: 4, user_name: 's-nl-radiologist' }]);
    const { rows: global } = await system.runtime.db.pool.query<{ detail: { subscriber: string; workitem: string } }>(
      `SELECT detail FROM audit_events WHERE detail->>'route' = $1 AND user_name = 's-nl-radiologist'`,
      [`/dicom-web/workitems/${GLOBAL}/subscribers/NL_READER`],
    );
    assert.deepEqual(global.map(({ detail }) => [detail.workitem, detail.subscriber]), [[GLOBAL, 'NL_READER']]);
  });

  it('refuses the event channel and subscriptions to wrong credentials and to roles that may not read the worklist', async () => {
    const url = `${system.httpUrl.replace(/^http/, 'ws')}/dicom-web/subscribers/RC_READER`;
    await assert.rejects(Channel.open(url, {}), /refused: 401/);
    await assert.rejects(Channel.open(url, { authorization: 'Bearer not-a-token' }), /refused: 401/);
    await assert.rejects(Channel.open(url, { authorization: `Bearer ${tokens.get('s-auditor')}` }), /refused: 403/);
    const anonymous = await fetch(`${system.dicomWebUrl}/workitems/${GLOBAL}/subscribers/RC_READER`, { method: 'POST' });
    assert.equal(anonymous.status, 401);
    assert.equal((await call('s-auditor', 'POST', `/workitems/${GLOBAL}/subscribers/AUDIT`)).status, 403);
  });

  it('ends the channel of a revoked token at the next report instead of delivering it', async () => {
    const { id, token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 's-rc-radiologist', label: 'to be revoked' });
    const channel = await Channel.open(`${system.httpUrl.replace(/^http/, 'ws')}/dicom-web/subscribers/RC_REVOKED`, { authorization: `Bearer ${token}` });
    channels.push(channel);
    const closed = new Promise<number>((resolve) => channel.socket.once('close', (code) => resolve(code)));
    const subscribed = await fetch(`${system.dicomWebUrl}/workitems/${GLOBAL}/subscribers/RC_REVOKED`, { method: 'POST', headers: { authorization: `Bearer ${token}` } });
    assert.equal(subscribed.status, 201);
    const heard = await create('s-qs-radiologist', upsWorkitem());
    assert.equal((await channel.nextAbout(heard)).found.state, 'SCHEDULED');
    await system.administration.revokeToken(COMMAND_LINE_ACTOR, id);
    const unheard = await create('s-qs-radiologist', upsWorkitem());
    // Frames arrive in order: every report sent before the close has been received by now.
    assert.equal(await closed, 1008);
    assert.equal(channel.received().some((summary) => summary.workitemUid === unheard), false);
  });

  it("opens from Yingyun's own pages with the session cookie (same Origin only), as the worklist screen does", async () => {
    const login = await fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ username: 's-rc-radiologist', password: PASSWORD }) });
    assert.equal(login.status, 200);
    const cookies = login.headers.getSetCookie().map((cookie) => cookie.split(';')[0]!);
    const session = cookies.find((cookie) => cookie.startsWith('yingyun_session='))!;
    const csrf = cookies.find((cookie) => cookie.startsWith('yingyun_csrf='))!.split('=')[1]!;
    const url = `${system.httpUrl.replace(/^http/, 'ws')}/dicom-web/subscribers/RC_SCREEN`;
    await assert.rejects(Channel.open(url, { cookie: session, origin: 'http://elsewhere.example' }), /refused: 403/);
    const channel = await Channel.open(url, { cookie: session, origin: system.httpUrl });
    channels.push(channel);
    const subscribed = await fetch(`${system.dicomWebUrl}/workitems/${GLOBAL}/subscribers/RC_SCREEN`, { method: 'POST', headers: { cookie: cookies.join('; '), 'x-csrf-token': decodeURIComponent(csrf) } });
    assert.equal(subscribed.status, 201);
    const uid = await create('s-qs-radiologist', upsWorkitem());
    assert.equal((await channel.nextAbout(uid)).found.state, 'SCHEDULED');
  });

  it('ends its channels when it stops hearing of events (database connection lost), and serves them again on reconnection', async () => {
    const channel = await open('s-rc-radiologist', 'RC_RESILIENT');
    await subscribe('s-rc-radiologist', GLOBAL, 'RC_RESILIENT');
    const closed = new Promise<number>((resolve) => channel.socket.once('close', (code) => resolve(code)));
    const { rowCount } = await system.runtime.db.pool.query(
      `SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND query = 'LISTEN yingyun_ups_events'`,
    );
    assert.equal(rowCount, 1, 'one connection listens for the whole process');
    assert.equal(await closed, 1012);
    const again = await open('s-rc-radiologist', 'RC_RESILIENT');
    const uid = await create('s-qs-radiologist', upsWorkitem());
    assert.equal((await again.nextAbout(uid)).found.state, 'SCHEDULED');
  });

  it("does not repeat a workitem's state when its creation is reported after the new subscription's initial report of it", async () => {
    const uid = await create('s-qs-radiologist', upsWorkitem());
    const channel = await open('s-rc-radiologist', 'RC_OVERLAP');
    await subscribe('s-rc-radiologist', GLOBAL, 'RC_OVERLAP');
    assert.equal((await channel.nextAbout(uid)).found.state, 'SCHEDULED', 'the initial report');
    // The creation's own notice handled now, as when the creation commits after the subscription but
    // before its initial reports are searched for (seen with the subscriber on a second gateway
    // process, below): the channel has just carried this state.
    const pool = system.runtime.db.pool;
    const { rows: [workitem] } = await pool.query<{ dataset: DicomJsonDataset; institutionId: string }>(
      `SELECT dataset, institution_id::text AS "institutionId" FROM workitems WHERE sop_instance_uid = $1`,
      [uid],
    );
    const notice = { kind: 'events', workitemUid: uid, institutionId: workitem!.institutionId, events: eventsOfCreate(workitem!.dataset) };
    await pool.query(`SELECT pg_notify('yingyun_ups_events', $1)`, [JSON.stringify(notice)]);
    await claim('s-rc-radiologist', uid);
    const next = await channel.nextAbout(uid);
    assert.deepEqual({ type: next.found.eventTypeId, state: next.found.state }, { type: UPS_EVENT_TYPES.stateReport, state: 'IN PROGRESS' });
  });

  it('delivers an event raised through one gateway process to a subscriber connected to another', async () => {
    const dataDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-test-second-'));
    let second: RunningYingyun | undefined;
    try {
      const config = loadConfig({
        YINGYUN_DATA_DIR: dataDir,
        YINGYUN_HTTP_PORT: '0',
        YINGYUN_DICOM_PORT: '0',
        YINGYUN_DICOM_HOST: '127.0.0.1',
        YINGYUN_LOG_LEVEL: process.env.YINGYUN_TEST_LOG_LEVEL ?? 'silent',
        DATABASE_URL: system.databaseUrl,
      });
      second = await startYingyun(config, createLogger(config.logLevel), 'gateway');
      const channel = await open('s-rc-radiologist', 'RC_SECOND', `http://127.0.0.1:${second.httpPort}`);
      await subscribe('s-rc-radiologist', GLOBAL, 'RC_SECOND');
      const uid = await create('s-qs-radiologist', upsWorkitem());
      assert.equal((await channel.nextAbout(uid)).found.state, 'SCHEDULED');
      await claim('s-rc-radiologist', uid);
      assert.deepEqual((await channel.nextAbout(uid)).found, { workitemUid: uid, eventTypeId: UPS_EVENT_TYPES.stateReport, state: 'IN PROGRESS' });
      channel.close();
    } finally {
      await second?.stop();
      await fs.rm(dataDir, { recursive: true, force: true });
    }
  });
});
