import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { compareTasks, readingStatus, taskSummary, type TaskSummary } from '../archive/reading/reading-wire.ts';
import { EMPTY_FILTER, visibleTasks } from '../viewer/src/logic/worklist.ts';
import { DEFAULT_TURNAROUND_LIMITS, modalityGroupOf, turnaroundClock, workingMinutesBetween, type TurnaroundLimit } from '../archive/reading/turnaround.ts';

/** The work states a reading centre names (docs/reading.md's table, row by row) and the turnaround clock. */
const cs = (value: string) => ({ vr: 'CS', Value: [value] });
function workitem(state: string, options: { readiness?: string; performer?: boolean; progress?: string } = {}): DicomJsonDataset {
  return {
    '00741000': cs(state),
    ...(options.readiness ? { '00404041': cs(options.readiness) } : {}),
    ...(options.performer ? { '00404034': { vr: 'SQ', Value: [{ '00404037': { vr: 'PN', Value: [{ Alphabetic: 'Li^Ming' }] } }] } } : {}),
    ...(options.progress ? { '00741002': { vr: 'SQ', Value: [{ '00741006': { vr: 'ST', Value: [options.progress] } }] } } : {}),
  };
}

describe('reading status (登记 / 待分配 / 已分配 / 初诊中 / 待审核 / 已发布 / 退回)', () => {
  const rows: [string, DicomJsonDataset, string][] = [
    ['SCHEDULED, images incomplete → 登记', workitem('SCHEDULED', { readiness: 'INCOMPLETE' }), 'registered'],
    ['SCHEDULED, images unavailable → 登记', workitem('SCHEDULED', { readiness: 'UNAVAILABLE' }), 'registered'],
    ['SCHEDULED, ready, nobody → 待分配', workitem('SCHEDULED', { readiness: 'READY' }), 'unassigned'],
    ['SCHEDULED, no readiness given, nobody → 待分配', workitem('SCHEDULED'), 'unassigned'],
    ['SCHEDULED, reopened after a return → 待分配', workitem('SCHEDULED', { readiness: 'READY', progress: 'reopened' }), 'unassigned'],
    ['SCHEDULED with a performer → 已分配', workitem('SCHEDULED', { readiness: 'READY', performer: true }), 'assigned'],
    ['SCHEDULED, draft saved → 初诊中', workitem('SCHEDULED', { performer: true, progress: 'drafting' }), 'reading'],
    ['IN PROGRESS → 初诊中', workitem('IN PROGRESS', { performer: true }), 'reading'],
    ['preliminary signed → 待审核', workitem('IN PROGRESS', { performer: true, progress: 'preliminary-signed' }), 'awaiting-review'],
    ['preliminary signed while SCHEDULED → 待审核', workitem('SCHEDULED', { performer: true, progress: 'preliminary-signed' }), 'awaiting-review'],
    ['final signed → 已发布', workitem('IN PROGRESS', { performer: true, progress: 'final-signed' }), 'published'],
    ['COMPLETED → 已发布', workitem('COMPLETED'), 'published'],
    ['returned to the hospital → 退回', workitem('SCHEDULED', { readiness: 'READY', progress: 'returned' }), 'returned'],
    ['CANCELED → cancelled', workitem('CANCELED', { progress: 'returned' }), 'cancelled'],
  ];
  for (const [name, dataset, expected] of rows) it(name, () => assert.equal(readingStatus(dataset), expected));

  it('reads the screen columns from the workitem and puts emergencies first, then the longest waiting', () => {
    const summary = taskSummary({
      ...workitem('SCHEDULED', { readiness: 'READY' }),
      '00080018': { vr: 'UI', Value: ['2.25.1'] },
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^Fang', Ideographic: '王^芳' }] },
      '00080060': cs('CT'),
      '00380300': { vr: 'LO', Value: ['emergency'] },
      '00404005': { vr: 'DT', Value: ['20261205093000+0000'] },
      '0040A370': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: ['1.2.3'] }, '00401002': { vr: 'LO', Value: ['排除肺栓塞'] } }] },
    });
    assert.equal(summary.patientName, '王 芳');
    assert.equal(summary.patientClass, 'emergency');
    assert.equal(summary.arrivedAt, '2026-12-05T09:30:00Z');
    assert.equal(summary.clinicalQuestion, '排除肺栓塞');
    assert.equal(summary.studyInstanceUid, '1.2.3');
    const task = (workitemUid: string, priority: string, arrivedAt: string) => ({ workitemUid, priority, arrivedAt }) as TaskSummary;
    const sorted = [task('a', 'LOW', '2026-12-05T08:00:00Z'), task('b', 'HIGH', '2026-12-05T09:00:00Z'), task('c', 'LOW', '2026-12-05T07:00:00Z'), task('d', 'HIGH', '2026-12-05T08:30:00Z')].sort(compareTasks);
    assert.deepEqual(sorted.map((entry) => entry.workitemUid), ['d', 'b', 'c', 'a']);
  });
});

describe('worklist filters', () => {
  const task = (workitemUid: string, overrides: Partial<TaskSummary>) => ({ ...taskSummary({}), workitemUid, notes: [], ...overrides });
  const tasks = [
    task('ct', { modality: 'CT', priority: 'HIGH', status: 'unassigned', sendingInstitution: '青石县人民医院', clinicalQuestion: '排除颅内出血' }),
    task('dx', { modality: 'DX', priority: 'LOW', status: 'assigned', patientName: '王 芳' }),
    task('mr', { modality: 'MR', priority: 'MEDIUM', status: 'returned', patientId: 'NL-0001' }),
  ];
  const uids = (filter: Partial<typeof EMPTY_FILTER>) => visibleTasks(tasks, { ...EMPTY_FILTER, ...filter }).map((entry) => entry.workitemUid);

  it('narrows by status, modality, emergency and free text (patient, hospital, question)', () => {
    assert.deepEqual(uids({}), ['ct', 'dx', 'mr']);
    assert.deepEqual(uids({ status: 'returned' }), ['mr']);
    assert.deepEqual(uids({ modality: 'DX' }), ['dx']);
    assert.deepEqual(uids({ emergencyOnly: true }), ['ct']);
    assert.deepEqual(uids({ text: '王' }), ['dx']);
    assert.deepEqual(uids({ text: '青石' }), ['ct']);
    assert.deepEqual(uids({ text: '颅内' }), ['ct']);
    assert.deepEqual(uids({ text: 'nl-0001' }), ['mr']);
    assert.deepEqual(uids({ status: 'assigned', emergencyOnly: true }), []);
  });
});

describe('turnaround clock (报告时限)', () => {
  // 2026-12-07 is a Monday; times in China Standard Time written as UTC+8.
  const cst = (text: string) => new Date(`${text}+08:00`);

  it('counts working time Monday to Friday, 08:00–12:00 and 13:30–17:30', () => {
    assert.equal(workingMinutesBetween(cst('2026-12-07T09:00:00'), cst('2026-12-07T10:00:00')), 60);
    assert.equal(workingMinutesBetween(cst('2026-12-07T11:00:00'), cst('2026-12-07T14:30:00')), 120, 'the lunch break does not count');
    assert.equal(workingMinutesBetween(cst('2026-12-07T17:00:00'), cst('2026-12-08T09:00:00')), 90, 'nor the night');
    assert.equal(workingMinutesBetween(cst('2026-12-04T17:00:00'), cst('2026-12-07T08:30:00')), 60, 'nor the weekend (Friday 17:00 to Monday 08:30)');
    assert.equal(workingMinutesBetween(cst('2026-12-05T10:00:00'), cst('2026-12-06T16:00:00')), 0, 'a Saturday and Sunday are no working time');
    assert.equal(workingMinutesBetween(cst('2026-12-07T10:00:00'), cst('2026-12-07T09:00:00')), 0);
  });

  it('groups modalities by examination', () => {
    assert.deepEqual(['DX', 'CR', 'CT', 'MR', 'US', 'OT'].map(modalityGroupOf), ['radiograph', 'radiograph', 'ct-mr', 'ct-mr', 'ultrasound', 'other']);
  });

  it('an emergency radiograph: green, amber at 75 % of 30 min, red at 30 min, around the clock', () => {
    const arrivedAt = cst('2026-12-05T22:00:00');
    const at = (minutes: number) => turnaroundClock({ arrivedAt, now: new Date(arrivedAt.getTime() + minutes * 60_000), modality: 'DX', patientClass: 'emergency', limits: DEFAULT_TURNAROUND_LIMITS });
    assert.equal(at(10).colour, 'green');
    assert.equal(at(10).remainingMinutes, 20);
    assert.equal(at(23).colour, 'amber');
    assert.equal(at(30).colour, 'red');
    assert.equal(at(30).limit.limitMinutes, 30);
  });

  it('emergency CT/MR 1 h; outpatient CT 4 working hours; inpatient 6 h', () => {
    assert.equal(turnaroundClock({ arrivedAt: cst('2026-12-07T10:00:00'), now: cst('2026-12-07T10:59:00'), modality: 'CT', patientClass: 'emergency', limits: [] }).colour, 'amber');
    assert.equal(turnaroundClock({ arrivedAt: cst('2026-12-07T10:00:00'), now: cst('2026-12-07T11:00:00'), modality: 'MR', patientClass: 'emergency', limits: [] }).colour, 'red');
    const outpatient = turnaroundClock({ arrivedAt: cst('2026-12-07T16:30:00'), now: cst('2026-12-08T10:00:00'), modality: 'CT', patientClass: 'outpatient', limits: [] });
    assert.equal(outpatient.elapsedMinutes, 180, 'an hour on Monday, two on Tuesday morning');
    assert.equal(outpatient.colour, 'amber');
    assert.equal(turnaroundClock({ arrivedAt: cst('2026-12-07T16:30:00'), now: cst('2026-12-07T22:30:00'), modality: 'CT', patientClass: 'inpatient', limits: [] }).colour, 'red');
  });

  it('a configured limit replaces the default, with its own amber threshold', () => {
    const limits: TurnaroundLimit[] = [{ modalityGroup: 'ct-mr', patientClass: 'emergency', limitMinutes: 120, workingTime: false, amberFraction: 0.5 }];
    const clock = (minutes: number) => turnaroundClock({ arrivedAt: cst('2026-12-07T10:00:00'), now: new Date(cst('2026-12-07T10:00:00').getTime() + minutes * 60_000), modality: 'CT', patientClass: 'emergency', limits });
    assert.equal(clock(59).colour, 'green');
    assert.equal(clock(60).colour, 'amber');
    assert.equal(clock(119).colour, 'amber');
    assert.equal(clock(120).colour, 'red');
  });
});
