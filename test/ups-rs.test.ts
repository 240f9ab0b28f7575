import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { newUid, PERFORMED, upsNetwork, upsWorkitem, type Call, type TestUser } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * UPS-RS (PS3.18 11) against the running system with a plain HTTP client: every state change of
 * PS3.4 CC.1.1, every refusal with its status, searching, and institution scoping. The network:
 * Qingshi and Yunxi hospitals in one district of 清河市, Nanling in a county elsewhere, and the
 * city's reading centre, which sees the city's hospitals.
 */
const USERS: TestUser[] = [
  { username: 'u-qs-radiologist', role: 'radiologist', institution: 'QINGSHI' },
  { username: 'u-qs-referrer', role: 'referring_doctor', institution: 'QINGSHI' },
  { username: 'u-nl-radiologist', role: 'radiologist', institution: 'NANLING' },
  { username: 'u-rc-radiologist', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 'u-rc-qc', role: 'qc_staff', institution: 'READING_CENTRE' },
];
const STUDY = '1.2.826.0.1.3680043.8.498.15001';
const OTHER_STUDY = '1.2.826.0.1.3680043.8.498.15002';

/** A HIGH-priority reading, scheduled on a workstation, with its performer, request and input. */
function workitem(overrides: DicomJsonDataset = {}): DicomJsonDataset {
  return upsWorkitem({
    '00100021': { vr: 'LO', Value: ['QINGSHI'] },
    '00741200': { vr: 'CS', Value: ['HIGH'] },
    '00741202': { vr: 'LO', Value: ['Remote reading'] },
    '00404025': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['RC-WS-1'] }, '00080102': { vr: 'SH', Value: ['99YINGYUN'] }, '00080104': { vr: 'LO', Value: ['Reading centre workstation 1'] } }] },
    '00404034': {
      vr: 'SQ',
      Value: [{ '00404009': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['DR-LI'] }, '00080102': { vr: 'SH', Value: ['99YINGYUN'] }, '00080104': { vr: 'LO', Value: ['Li Ming'] } }] }, '00404037': { vr: 'PN', Value: [{ Alphabetic: 'Li^Ming' }] } }],
    },
    '0040A370': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [STUDY] }, '00080050': { vr: 'SH', Value: ['ACC15001'] } }] },
    '00404021': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [STUDY] } }] },
    ...overrides,
  });
}

describe('UPS-RS worklist service', () => {
  let system: TestSystem;
  let call: Call;

  const create = async (username: string, dataset: DicomJsonDataset, uid = newUid()) => {
    const response = await call(username, 'POST', `/workitems?workitem=${uid}`, dataset);
    assert.equal(response.status, 201, JSON.stringify(response.json));
    return uid;
  };
  const retrieve = async (username: string, uid: string) => {
    const response = await call(username, 'GET', `/workitems/${uid}`);
    assert.equal(response.status, 200);
    return (response.json as DicomJsonDataset[])[0]!;
  };
  const state = (dataset: DicomJsonDataset) => dataset['00741000']?.Value?.[0];
  const changeState = (username: string, uid: string, to: string, transactionUid?: string) =>
    call(username, 'PUT', `/workitems/${uid}/state`, { '00741000': { vr: 'CS', Value: [to] }, ...(transactionUid ? { '00081195': { vr: 'UI', Value: [transactionUid] } } : {}) });
  const refusedWith = (response: { status: number; headers: Headers; json: unknown }, status: number, dicomStatus: string) => {
    assert.equal(response.status, status, JSON.stringify(response.json));
    assert.match(response.headers.get('warning') ?? '', new RegExp(`^299 \\S+ "${dicomStatus}: `));
    assert.equal((response.json as { dicomStatus?: string }).dicomStatus, dicomStatus);
  };

  before(async () => {
    system = await startTestSystem();
    ({ call } = await upsNetwork(system, USERS, 'ups'));
  });
  after(() => system?.shutdown());

  it('creates a SCHEDULED workitem and serves it back without a Transaction UID', async () => {
    const response = await call('u-qs-radiologist', 'POST', '/workitems', workitem());
    assert.equal(response.status, 201);
    const location = response.headers.get('location');
    const uid = /\/dicom-web\/workitems\/([0-9.]+)$/.exec(location ?? '')?.[1];
    assert.ok(uid, `Location names the new workitem: ${location}`);
    const stored = await retrieve('u-qs-radiologist', uid);
    assert.equal(state(stored), 'SCHEDULED');
    assert.equal(stored['00080016']?.Value?.[0], '1.2.840.10008.5.1.4.34.6.1');
    assert.equal(stored['00080018']?.Value?.[0], uid);
    assert.deepEqual(stored['00100010']?.Value, [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }]);
    assert.equal('00081195' in stored, false);
  });

  it('refuses a new workitem that is not SCHEDULED (C309), has a Transaction UID, lacks a priority, or is not DICOM JSON', async () => {
    refusedWith(await call('u-qs-radiologist', 'POST', '/workitems', workitem({ '00741000': { vr: 'CS', Value: ['IN PROGRESS'] } })), 400, 'C309');
    for (const body of [workitem({ '00081195': { vr: 'UI', Value: ['1.2.3'] } }), workitem({ '00741200': { vr: 'CS', Value: ['URGENT'] } }), { PatientName: 'x' }, [1, 2]]) {
      const response = await call('u-qs-radiologist', 'POST', '/workitems', body);
      assert.equal(response.status, 400, JSON.stringify(body));
      assert.equal((response.json as { type: string }).type, 'about:blank');
    }
  });

  it('refuses a second workitem with the same UID, and workitems from roles that may only read', async () => {
    const uid = await create('u-qs-radiologist', workitem());
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems?workitem=${uid}`, workitem()), 409, '0111');
    assert.equal((await call('u-qs-referrer', 'POST', '/workitems', workitem())).status, 403);
    assert.equal((await call('u-rc-qc', 'POST', '/workitems', workitem())).status, 403);
    assert.equal((await retrieve('u-qs-referrer', uid))['00080018']?.Value?.[0], uid, 'a referring doctor may read the worklist');
  });

  it('walks SCHEDULED → IN PROGRESS → COMPLETED, refusing every wrong step with its status', async () => {
    const uid = await create('u-qs-radiologist', workitem());
    const lock = newUid();
    refusedWith(await changeState('u-qs-radiologist', uid, 'COMPLETED', lock), 409, 'C310');
    refusedWith(await changeState('u-qs-radiologist', uid, 'CANCELED', lock), 409, 'C310');
    refusedWith(await changeState('u-qs-radiologist', uid, 'SCHEDULED', lock), 409, 'C303');
    refusedWith(await changeState('u-qs-radiologist', uid, 'IN PROGRESS'), 400, 'C301');
    assert.equal((await changeState('u-qs-radiologist', uid, 'PAUSED', lock)).status, 400);

    assert.equal((await changeState('u-qs-radiologist', uid, 'IN PROGRESS', lock)).status, 200);
    const claimed = await retrieve('u-qs-radiologist', uid);
    assert.equal(state(claimed), 'IN PROGRESS');
    assert.equal('00081195' in claimed, false, 'the lock is never served');
    refusedWith(await changeState('u-rc-radiologist', uid, 'IN PROGRESS', newUid()), 409, 'C302');

    // Updates of an IN PROGRESS workitem carry its lock.
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}`, PERFORMED), 409, 'C301');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}?transaction=${newUid()}`, PERFORMED), 409, 'C301');
    assert.equal((await call('u-qs-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, { '00741200': { vr: 'CS', Value: ['LOW'] } })).status, 200);
    assert.equal((await retrieve('u-qs-radiologist', uid))['00741200']?.Value?.[0], 'LOW');
    assert.equal((await call('u-qs-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, { '00741000': { vr: 'CS', Value: ['COMPLETED'] } })).status, 400, 'the state moves by Change State only');

    refusedWith(await changeState('u-qs-radiologist', uid, 'COMPLETED', lock), 409, 'C304');
    assert.equal((await call('u-qs-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, PERFORMED)).status, 200);
    refusedWith(await changeState('u-qs-radiologist', uid, 'COMPLETED', newUid()), 409, 'C301');
    refusedWith(await changeState('u-qs-radiologist', uid, 'COMPLETED'), 409, 'C301');
    assert.equal((await changeState('u-qs-radiologist', uid, 'COMPLETED', lock)).status, 200);
    assert.equal(state(await retrieve('u-qs-radiologist', uid)), 'COMPLETED');

    const again = await changeState('u-qs-radiologist', uid, 'COMPLETED', lock);
    assert.equal(again.status, 200);
    assert.match(again.headers.get('warning') ?? '', /"B306: /);
    refusedWith(await changeState('u-qs-radiologist', uid, 'CANCELED', lock), 409, 'C300');
    refusedWith(await changeState('u-qs-radiologist', uid, 'IN PROGRESS', newUid()), 409, 'C300');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}?transaction=${lock}`, { '00741200': { vr: 'CS', Value: ['HIGH'] } }), 409, 'C300');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {}), 409, 'C311');
  });

  it('updates a SCHEDULED workitem without a Transaction UID', async () => {
    const uid = await create('u-qs-radiologist', workitem());
    assert.equal((await call('u-qs-radiologist', 'POST', `/workitems/${uid}`, { '00741204': { vr: 'LO', Value: ['头颅CT Head CT'] } })).status, 200);
    assert.equal((await retrieve('u-qs-radiologist', uid))['00741204']?.Value?.[0], '头颅CT Head CT');
  });

  it('cancels a SCHEDULED workitem on request, recording when and why; a second request is a B304 warning', async () => {
    const uid = await create('u-qs-radiologist', workitem());
    const response = await call('u-qs-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, { '00741238': { vr: 'LT', Value: ['患者已转院 Patient transferred'] } });
    assert.equal(response.status, 202);
    const cancelled = await retrieve('u-qs-radiologist', uid);
    assert.equal(state(cancelled), 'CANCELED');
    const progress = cancelled['00741002']?.Value?.[0] as DicomJsonDataset;
    assert.match(String(progress['00404052']?.Value?.[0]), /^\d{14}$/);
    assert.equal(progress['00741238']?.Value?.[0], '患者已转院 Patient transferred');
    const again = await call('u-qs-radiologist', 'POST', `/workitems/${uid}/cancelrequest`);
    assert.equal(again.status, 202);
    assert.match(again.headers.get('warning') ?? '', /"B304: /);
    refusedWith(await changeState('u-qs-radiologist', uid, 'IN PROGRESS', newUid()), 409, 'C300');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}`, { '00741200': { vr: 'CS', Value: ['LOW'] } }), 409, 'C300');
  });

  it('refuses a cancellation request of an IN PROGRESS workitem (C312: its performer cannot be told); the performer may cancel it', async () => {
    const uid = await create('u-qs-radiologist', workitem());
    const lock = newUid();
    assert.equal((await changeState('u-qs-radiologist', uid, 'IN PROGRESS', lock)).status, 200);
    refusedWith(await call('u-rc-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {}), 409, 'C312');
    assert.equal(state(await retrieve('u-qs-radiologist', uid)), 'IN PROGRESS');
    refusedWith(await changeState('u-rc-radiologist', uid, 'CANCELED', newUid()), 409, 'C301');
    assert.equal((await changeState('u-qs-radiologist', uid, 'CANCELED', lock)).status, 200);
    const cancelled = await retrieve('u-qs-radiologist', uid);
    assert.equal(state(cancelled), 'CANCELED');
    assert.match(String((cancelled['00741002']?.Value?.[0] as DicomJsonDataset)['00404052']?.Value?.[0]), /^\d{14}$/);
    const again = await changeState('u-qs-radiologist', uid, 'CANCELED', lock);
    assert.equal(again.status, 200);
    assert.match(again.headers.get('warning') ?? '', /"B304: /);
  });

  it('answers 404 (C307) for a workitem that does not exist, whatever the operation', async () => {
    const uid = newUid();
    refusedWith(await call('u-qs-radiologist', 'GET', `/workitems/${uid}`), 404, 'C307');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}`, { '00741200': { vr: 'CS', Value: ['LOW'] } }), 404, 'C307');
    refusedWith(await changeState('u-qs-radiologist', uid, 'IN PROGRESS', newUid()), 404, 'C307');
    refusedWith(await call('u-qs-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {}), 404, 'C307');
  });

  it('searches by state, scheduled start, patient, station, performer, study and priority, never serving the lock', async () => {
    const label = `search-${newUid()}`;
    const base = { '00741202': { vr: 'LO', Value: [label] } };
    const first = await create('u-qs-radiologist', workitem(base));
    const second = await create('u-qs-radiologist', workitem({
      ...base,
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Zhao^Lei', Ideographic: '赵^磊' }] },
      '00100020': { vr: 'LO', Value: ['QS-0002'] },
      '00741200': { vr: 'CS', Value: ['LOW'] },
      '00404005': { vr: 'DT', Value: ['20261206140000'] },
      '00404025': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['RC-WS-2'] } }] },
      '00404034': { vr: 'SQ', Value: [{ '00404037': { vr: 'PN', Value: [{ Alphabetic: 'Zhou^Fang' }] } }] },
      '0040A370': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [OTHER_STUDY] } }] },
      '00404021': { vr: 'SQ', Value: [] },
    }));
    assert.equal((await changeState('u-qs-radiologist', second, 'IN PROGRESS', newUid())).status, 200);
    const found = async (query: string) => {
      const response = await call('u-qs-radiologist', 'GET', `/workitems?WorklistLabel=${encodeURIComponent(label)}&${query}`);
      assert.equal(response.status, 200, JSON.stringify(response.json));
      const results = response.json as DicomJsonDataset[];
      for (const result of results) assert.equal('00081195' in result, false, 'the lock is never served');
      return results.map((result) => result['00080018']?.Value?.[0]);
    };
    assert.deepEqual(await found(''), [first, second], 'by scheduled start');
    assert.deepEqual(await found('ProcedureStepState=SCHEDULED'), [first]);
    assert.deepEqual(await found('00741000=IN%20PROGRESS'), [second]);
    assert.deepEqual(await found('ScheduledProcedureStepStartDateTime=20261205'), [first]);
    assert.deepEqual(await found('ScheduledProcedureStepStartDateTime=20261205100000-'), [second]);
    assert.deepEqual(await found('ScheduledProcedureStepStartDateTime=-20261205235959'), [first]);
    assert.deepEqual(await found('ScheduledProcedureStepStartDateTime=202612-202612'), [first, second]);
    assert.deepEqual(await found('PatientID=QS-0002'), [second]);
    assert.deepEqual(await found('PatientID=QS-*'), [first, second]);
    assert.deepEqual(await found(`PatientName=${encodeURIComponent('王^小东')}`), [first]);
    assert.deepEqual(await found('PatientName=zhao*'), [second]);
    assert.deepEqual(await found('ScheduledStationNameCodeSequence.CodeValue=RC-WS-1'), [first]);
    assert.deepEqual(await found('ScheduledHumanPerformersSequence.HumanPerformerCodeSequence.CodeValue=DR-LI'), [first]);
    assert.deepEqual(await found('ScheduledHumanPerformersSequence.HumanPerformerName=Zhou%5EFang'), [second]);
    assert.deepEqual(await found(`ReferencedRequestSequence.StudyInstanceUID=${OTHER_STUDY}`), [second]);
    assert.deepEqual(await found(`00404021.0020000D=${STUDY}`), [first]);
    assert.deepEqual(await found('ScheduledProcedureStepPriority=LOW'), [second]);
    assert.deepEqual(await found('limit=1'), [first]);
    assert.deepEqual(await found('limit=1&offset=1'), [second]);

    const unsupported = await call('u-qs-radiologist', 'GET', `/workitems?WorklistLabel=${encodeURIComponent(label)}&Modality=CT`);
    assert.match(unsupported.headers.get('warning') ?? '', /not supported for matching.*Modality/);
    assert.equal((await call('u-qs-radiologist', 'GET', '/workitems?ProcedureStepState=DONE')).status, 400);
    assert.equal((await call('u-qs-radiologist', 'GET', '/workitems?ScheduledProcedureStepStartDateTime=tomorrow')).status, 400);

    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string }>(
      `SELECT event_type, action FROM audit_events WHERE detail->>'route' LIKE '/dicom-web/workitems%' ORDER BY id DESC LIMIT 1`,
    );
    assert.deepEqual(rows[0], { event_type: 'query', action: 'E' });
  });

  it("keeps a workitem to its institution's scope: others get 404 as if it were absent; the region's reading centre sees it", async () => {
    const label = `scope-${newUid()}`;
    const uid = await create('u-qs-radiologist', workitem({ '00741202': { vr: 'LO', Value: [label] } }));
    const nanling = await create('u-nl-radiologist', workitem({ '00741202': { vr: 'LO', Value: [label] } }));
    const listed = async (username: string) => ((await call(username, 'GET', `/workitems?WorklistLabel=${label}`)).json as DicomJsonDataset[]).map((result) => result['00080018']?.Value?.[0]).sort();

    assert.deepEqual(await listed('u-nl-radiologist'), [nanling]);
    assert.deepEqual(await listed('u-qs-radiologist'), [uid]);
    assert.deepEqual(await listed('u-rc-radiologist'), [uid], 'the reading centre covers the city, not Nanling county');
    assert.deepEqual(await listed('u-rc-qc'), [uid]);
    assert.deepEqual(await listed(null as unknown as string), [uid, nanling].sort(), 'the system administrator sees all');

    const unknown = await call('u-nl-radiologist', 'GET', `/workitems/${newUid()}`);
    const hidden = await call('u-nl-radiologist', 'GET', `/workitems/${uid}`);
    assert.equal(hidden.status, 404);
    assert.equal((hidden.json as { detail: string }).detail.replace(uid, 'UID'), (unknown.json as { detail: string }).detail.replace(/no workitem \S+/, 'no workitem UID'));
    refusedWith(await call('u-nl-radiologist', 'POST', `/workitems/${uid}`, { '00741200': { vr: 'CS', Value: ['LOW'] } }), 404, 'C307');
    refusedWith(await changeState('u-nl-radiologist', uid, 'IN PROGRESS', newUid()), 404, 'C307');
    refusedWith(await call('u-nl-radiologist', 'POST', `/workitems/${uid}/cancelrequest`, {}), 404, 'C307');
    assert.equal(state(await retrieve('u-qs-radiologist', uid)), 'SCHEDULED', 'untouched');

    // The reading centre's radiologist claims and reads the hospital's workitem.
    assert.equal((await changeState('u-rc-radiologist', uid, 'IN PROGRESS', newUid())).status, 200);

    // QC staff see the worklist without who the patient is, and may not search by it.
    const masked = await retrieve('u-rc-qc', uid);
    assert.deepEqual(masked['00100010']?.Value, [{ Alphabetic: '***' }]);
    assert.equal('00100021' in masked, false);
    assert.equal((await call('u-rc-qc', 'GET', `/workitems?PatientName=wang*`)).status, 403);

    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; patient_id: string; outcome: number }>(
      `SELECT event_type, action, patient_id, outcome FROM audit_events WHERE detail->>'route' = $1 ORDER BY id`,
      [`/dicom-web/workitems/${uid}/state`],
    );
    assert.deepEqual(rows.map((row) => [row.event_type, row.action, row.outcome]), [['procedure-record', 'U', 4], ['procedure-record', 'U', 0]], 'the refused and the successful claim, each under the full route');
  });
});
