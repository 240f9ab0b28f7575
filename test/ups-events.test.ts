import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { eventChannelUrl, eventReport, isAeTitle, readEventReport, UPS_EVENT_TYPES } from '../archive/reading/ups-event-report.ts';
import { cancelRequested, eventsOfCreate, eventsOfStateChange, eventsOfUpdate } from '../archive/reading/ups-events.ts';

/** Which change raises which UPS event (PS3.4 CC.2.4.3), and the wire format of a report: pure, no system. */
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
