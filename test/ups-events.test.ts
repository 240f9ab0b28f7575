import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import type { Principal, Visibility } from '../archive/access/policy.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { eventChannelUrl, eventReport, isAeTitle, readEventReport, UPS_EVENT_TYPES, UPS_GLOBAL_SUBSCRIPTION_UID, type UpsEventReport } from '../archive/reading/ups-event-report.ts';
import { cancelRequested, eventsOfCreate, eventsOfStateChange, eventsOfUpdate } from '../archive/reading/ups-events.ts';
import { workitemIndexKeys } from '../archive/reading/workitem.ts';
import { WorkitemsRepository } from '../archive/db/workitems-repository.ts';
import { WorklistRefusal } from '../archive/reading/worklist-service.ts';
import { newUid, upsWorkitem } from './support/reading-centre.ts';
import { openTestRuntime, QUARANTINE_INSTITUTION_ID } from './support/runtime.ts';

/**
 * Which change raises which UPS event (PS3.4 CC.2.4.3) and the wire format of a report, pure; then,
 * on a real PostgreSQL, that a change's events are sent exactly when it commits.
 */
const SCHEDULED: DicomJsonDataset = {
  '00080018': { vr: 'UI', Value: ['2.25.1'] },
  '00741000': { vr: 'CS', Value: ['SCHEDULED'] },
  '00741200': { vr: 'CS', Value: ['HIGH'] },
  '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }] },
};
const PERFORMERS = { vr: 'SQ', Value: [{ '00404009': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['DR-LI'] } }] } }] };
const types = (events: { eventTypeId: number }[]) => events.map((event) => event.eventTypeId);

describe('UPS events of a change (PS3.4 CC.2.4)', () => {
  it('a new workitem reports SCHEDULED, and UPS Assigned only when it names performers or stations', () => {
    const [state, ...rest] = eventsOfCreate(SCHEDULED);
    assert.deepEqual(state, { eventTypeId: 1, attributes: { '00741000': { vr: 'CS', Value: ['SCHEDULED'] }, '00404041': { vr: 'CS', Value: ['READY'] } } });
    assert.deepEqual(rest, []);
    const assigned = eventsOfCreate({ ...SCHEDULED, '00404034': PERFORMERS, '00404041': { vr: 'CS', Value: ['INCOMPLETE'] } });
    assert.deepEqual(types(assigned), [UPS_EVENT_TYPES.stateReport, UPS_EVENT_TYPES.assigned]);
    assert.deepEqual(assigned[1]!.attributes, { '00404041': { vr: 'CS', Value: ['INCOMPLETE'] }, '00404034': PERFORMERS });
  });

  it('an update reports what it changed: readiness, assignment, progress — and nothing for other attributes', () => {
    assert.deepEqual(eventsOfUpdate(SCHEDULED, { ...SCHEDULED, '00741200': { vr: 'CS', Value: ['LOW'] } }), []);
    assert.deepEqual(eventsOfUpdate({ ...SCHEDULED, '00404034': PERFORMERS }, { ...SCHEDULED, '00404034': structuredClone(PERFORMERS) }), [], 'equal content is no change');
    const progress = { vr: 'SQ', Value: [{ '00741004': { vr: 'DS', Value: [50] } }] };
    const events = eventsOfUpdate(SCHEDULED, { ...SCHEDULED, '00404041': { vr: 'CS', Value: ['READY'] }, '00404034': PERFORMERS, '00741002': progress });
    assert.deepEqual(types(events), [UPS_EVENT_TYPES.stateReport, UPS_EVENT_TYPES.assigned, UPS_EVENT_TYPES.progressReport]);
    assert.deepEqual(events[2]!.attributes, { '00741002': progress });
  });

  it('a state change reports each state passed through; CANCELED with the recorded reason', () => {
    const cancelled = { ...SCHEDULED, '00741000': { vr: 'CS', Value: ['CANCELED'] }, '00741002': { vr: 'SQ', Value: [{ '00404052': { vr: 'DT', Value: ['20261205101010'] }, '00741238': { vr: 'LT', Value: ['重复申请'] } }] } };
    const events = eventsOfStateChange(cancelled, ['IN PROGRESS', 'CANCELED']);
    assert.deepEqual(events.map((event) => event.attributes['00741000']?.Value?.[0]), ['IN PROGRESS', 'CANCELED']);
    assert.equal(events[0]!.attributes['00741238'], undefined);
    assert.deepEqual(events[1]!.attributes['00741238'], { vr: 'LT', Value: ['重复申请'] });
  });

  it('a cancellation request names the requesting AE and passes on what the request said', () => {
    const event = cancelRequested({ '00741238': { vr: 'LT', Value: ['Patient transferred'] }, '0074100C': { vr: 'PN', Value: [{ Alphabetic: 'Chen^Jing' }] }, '00100010': { vr: 'PN', Value: [{ Alphabetic: 'X' }] } }, 'YINGYUN');
    assert.deepEqual(event, {
      eventTypeId: UPS_EVENT_TYPES.cancelRequested,
      attributes: { '00741236': { vr: 'AE', Value: ['YINGYUN'] }, '00741238': { vr: 'LT', Value: ['Patient transferred'] }, '0074100C': { vr: 'PN', Value: [{ Alphabetic: 'Chen^Jing' }] } },
    });
  });
});

describe('UPS event reports on the wire', () => {
  it('a report carries the N-EVENT-REPORT command attributes and reads back as a summary', () => {
    const report = eventReport('2.25.1', eventsOfStateChange(SCHEDULED, ['IN PROGRESS'])[0]!, 7);
    assert.deepEqual(
      { sopClass: report['00000002']?.Value, command: report['00000100']?.Value, messageId: report['00000110']?.Value, instance: report['00001000']?.Value, type: report['00001002']?.Value },
      { sopClass: ['1.2.840.10008.5.1.4.34.6.4'], command: [256], messageId: [7], instance: ['2.25.1'], type: [1] },
    );
    assert.deepEqual(readEventReport(JSON.stringify(report)), { workitemUid: '2.25.1', eventTypeId: 1, state: 'IN PROGRESS' });
    assert.equal(readEventReport('not json'), null);
    assert.equal(readEventReport(JSON.stringify({ '00001000': { vr: 'UI', Value: ['2.25.1'] } })), null);
  });

  it('names the event channel of an AE Title, and knows what an AE Title may be', () => {
    assert.equal(eventChannelUrl('https://pacs.example.cn/', 'RC_READER'), 'wss://pacs.example.cn/dicom-web/subscribers/RC_READER');
    assert.equal(eventChannelUrl('http://127.0.0.1:8080', 'RC'), 'ws://127.0.0.1:8080/dicom-web/subscribers/RC');
    for (const valid of ['A', 'RC_READER', '1234567890123456']) assert.equal(isAeTitle(valid), true, valid);
    for (const invalid of ['', '12345678901234567', 'RC READER', 'RC\\READER', '影云']) assert.equal(isAeTitle(invalid), false, invalid);
  });
});

describe('UPS events travel in the transaction of their change (PostgreSQL NOTIFY)', () => {
  const CHANNEL = 'yingyun_ups_events';
  const ALL: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };
  const principal: Principal = { userId: '1', username: 'ris', displayName: 'RIS', role: 'system_admin', institutionId: QUARANTINE_INSTITUTION_ID, sessionId: 'test', via: 'api_token' };
  let runtime: Awaited<ReturnType<typeof openTestRuntime>>;
  let listener: pg.Client;
  const heard: { kind: string; workitemUid?: string; events?: { eventTypeId: number; attributes: DicomJsonDataset }[] }[] = [];

  /**
   * What was heard since the last call: a marker sent after the change comes behind everything the
   * change's commit sent (notices arrive in commit order), so nothing can still be on its way.
   */
  const heardSince = async () => {
    await runtime.db.pool.query('SELECT pg_notify($1, $2)', [CHANNEL, JSON.stringify({ kind: 'marker' })]);
    while (heard.at(-1)?.kind !== 'marker') await new Promise((resolve) => setTimeout(resolve, 10));
    return heard.splice(0).slice(0, -1);
  };

  before(async () => {
    runtime = await openTestRuntime({ runWorkers: false });
    listener = new pg.Client({ connectionString: runtime.databaseUrl });
    await listener.connect();
    listener.on('notification', (message) => heard.push(JSON.parse(message.payload!)));
    await listener.query(`LISTEN ${CHANNEL}`);
  });
  after(async () => {
    await listener?.end();
    await runtime?.dispose();
  });

  it('a committed change is heard with its events; a refused one and a rolled-back write are not heard at all', async () => {
    const { sopInstanceUid } = await runtime.worklist.create(principal, upsWorkitem(), undefined);
    const created = await heardSince();
    assert.deepEqual(created.map((notice) => [notice.workitemUid, notice.events?.map((event) => event.attributes['00741000']?.Value?.[0])]), [[sopInstanceUid, ['SCHEDULED']]]);

    // Completing a SCHEDULED workitem is refused (C310): the transaction commits nothing, and sends nothing.
    await assert.rejects(runtime.worklist.changeState(sopInstanceUid, { '00741000': { vr: 'CS', Value: ['COMPLETED'] }, '00081195': { vr: 'UI', Value: ['2.25.9'] } }, principal, ALL), WorklistRefusal);
    assert.deepEqual(await heardSince(), []);

    // A change whose notice is issued and whose write then fails: the rollback takes the notice back.
    const workitems = new WorkitemsRepository(runtime.db.pool);
    const stored = (await workitems.find(sopInstanceUid, ALL))!;
    await assert.rejects(
      workitems.change(sopInstanceUid, ALL, () => ({
        notices: runtime.upsEvents.notices(sopInstanceUid, QUARANTINE_INSTITUTION_ID, eventsOfStateChange(stored.dataset, ['CANCELED'])),
        write: { dataset: stored.dataset, keys: { ...workitemIndexKeys(stored.dataset), scheduledStart: 'not a time' }, transactionUid: null },
        result: undefined,
      })),
      /timestamp/,
    );
    assert.deepEqual(await heardSince(), [], 'nothing is heard of a change that was rolled back');
    assert.equal((await workitems.find(sopInstanceUid, ALL))!.state, 'SCHEDULED');

    await runtime.worklist.amend(sopInstanceUid, ALL, (current) => ({ ...current, '00404034': PERFORMERS }));
    const assigned = await heardSince();
    assert.deepEqual(assigned.map((notice) => notice.events?.map((event) => event.eventTypeId)), [[UPS_EVENT_TYPES.assigned]]);
  });

  it('a cancellation whose reason passes NOTIFY\'s 8000 bytes succeeds, and the subscriber gets the whole reason', async () => {
    const { rows } = await runtime.db.pool.query<{ id: string }>(
      `INSERT INTO users (username, display_name, role, institution_id) VALUES ('long-reason', '李医生', 'system_admin', $1) RETURNING id::text`,
      [QUARANTINE_INSTITUTION_ID],
    );
    const performer: Principal = { ...principal, userId: rows[0]!.id, username: 'long-reason' };
    await runtime.upsSubscriptions.subscribe(performer, ALL, UPS_GLOBAL_SUBSCRIPTION_UID, 'LONG_REASON', {});
    const reports: UpsEventReport[] = [];
    const disconnect = await runtime.upsEvents.connect({ userId: performer.userId, aeTitle: 'LONG_REASON', visibility: ALL, send: (report) => reports.push(report), authorised: async () => true, end: () => undefined });
    const received = async (workitemUid: string, eventTypeId: number, state?: string) => {
      for (;;) {
        const summary = reports
          .map((report) => readEventReport(JSON.stringify(report)))
          .find((report) => report?.workitemUid === workitemUid && report.eventTypeId === eventTypeId && report.state === state);
        if (summary) return summary;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
    };
    const reason = '患者已转至上级医院就诊，本次远程诊断申请撤销，影像资料由接收医院重新调阅。'.repeat(90);
    assert.ok(Buffer.byteLength(reason) > 9000);
    const request = { '00741238': { vr: 'LT', Value: [reason] } };
    try {
      // In progress: the request goes to the performer as UPS Cancel Requested, its reason stored nowhere else.
      const claimed = (await runtime.worklist.create(principal, upsWorkitem(), undefined)).sopInstanceUid;
      await runtime.worklist.changeState(claimed, { '00741000': { vr: 'CS', Value: ['IN PROGRESS'] }, '00081195': { vr: 'UI', Value: [newUid()] } }, performer, ALL);
      assert.equal((await runtime.worklist.requestCancellation(claimed, request, ALL)).warning, undefined, 'the performer is subscribed, so is told');
      assert.equal((await received(claimed, UPS_EVENT_TYPES.cancelRequested)).reasonForCancellation, reason);

      // Scheduled: cancelled at once, and the CANCELED State Report carries the reason.
      const scheduled = (await runtime.worklist.create(principal, upsWorkitem(), undefined)).sopInstanceUid;
      await runtime.worklist.requestCancellation(scheduled, request, ALL);
      assert.equal((await runtime.worklist.retrieve(scheduled, ALL))['00741000']?.Value?.[0], 'CANCELED');
      assert.equal((await received(scheduled, UPS_EVENT_TYPES.stateReport, 'CANCELED')).reasonForCancellation, reason);
    } finally {
      disconnect();
      await heardSince();
    }
  });
});
