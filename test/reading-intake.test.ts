import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { taskSummary, type ReadingNote, type TaskSummary } from '../archive/reading/reading-wire.ts';
import { setReportStage } from '../archive/reading/reading-service.ts';
import { makeChestRadiograph, makeCtSeries, makeUltrasoundCine } from '../fixtures/modalities.ts';
import type { FixtureInstance, Institution, Study } from '../fixtures/model.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { jsonApi, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Reading intake end to end against the running system: rules turn arriving county studies into one
 * task each on the reading centre's worklist, hospitals ask for readings with clinical information,
 * the centre assigns (round-robin, by hand, self-claim) and returns, the hospital sees why and
 * answers by sending more. The network: Qingshi county hospital in 清河市, whose reading centre covers
 * the city; Nanling hospital in another county that no centre covers.
 */
const qingshi: Institution = { name: '青石县人民医院', code: 'QINGSHI', address: '青石路1号', patientIdIssuer: 'QINGSHI', characterSet: 'ISO_IR 192' };
const study = (accessionNumber: string, patientId: string, name: string, institution = qingshi): Study => ({
  institution,
  patient: { name, id: patientId, birthDate: '19700101', sex: 'M' },
  accessionNumber,
  date: '20261205',
  time: '090000',
  description: '远程诊断测试',
  referringPhysicianName: '',
});
const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'rc-lead', role: 'radiologist', institution: 'RC' },
  { username: 'rc-reader-1', role: 'radiologist', institution: 'RC' },
  { username: 'rc-reader-2', role: 'radiologist', institution: 'RC' },
  { username: 'rc-admin', role: 'institution_admin', institution: 'RC' },
  { username: 'qs-doctor', role: 'referring_doctor', institution: 'QINGSHI' },
  { username: 'qs-qc', role: 'qc_staff', institution: 'QINGSHI' },
  { username: 'nl-doctor', role: 'referring_doctor', institution: 'NANLING' },
  { username: 'nl-radiologist', role: 'radiologist', institution: 'NANLING' },
];
const dcmtkAvailable = commandExists('storescu');

describe('reading intake, requests and assignment', () => {
  let system: TestSystem;
  let workDir: string;
  const tokens = new Map<string, string>();
  const ids: Record<string, string> = {};

  let api: Call;
  /** The centre's worklist as its screen asks for it: UPS-RS, its station code, open states. */
  const centreTasks = async (username: string, extra = '') => {
    const response = await api(username, 'GET', `/dicom-web/workitems?ScheduledStationNameCodeSequence.CodeValue=RC${extra}`);
    assert.equal(response.status, 200, JSON.stringify(response.json));
    return ((response.json ?? []) as DicomJsonDataset[]).map(taskSummary);
  };
  const tasksOf = async (studyInstanceUid: string, username = 'rc-lead') => (await centreTasks(username)).filter((task) => task.studyInstanceUid === studyInstanceUid);
  const ingest = async (instances: Iterable<FixtureInstance>, institution = 'QINGSHI') => {
    for (const instance of instances) {
      await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'reading-intake', institutionId: ids[institution]! });
    }
    await system.runtime.queue.whenIdle();
  };
  const ct = (accession: string, patientId: string, seriesNumber = 1) => [...makeCtSeries({ study: study(accession, patientId, 'Zhang^Wei'), slices: 2, rows: 32, columns: 32, seriesNumber })];

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-reading-intake-'));
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    ids.QINGHE_REGION = (await administration.createRegion(actor, { code: 'QINGHE', name: '清河市', level: 'city' })).id;
    await administration.createRegion(actor, { code: 'QINGSHI_COUNTY', name: '青石县', level: 'county', parentCode: 'QINGHE' });
    ids.NANLING_REGION = (await administration.createRegion(actor, { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' })).id;
    for (const [code, name, kind, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'hospital', 'QINGSHI_COUNTY'],
      ['NANLING', '南岭县中医院', 'hospital', 'NANLING_COUNTY'],
      ['RC', '清河市影像诊断中心', 'reading_centre', 'QINGHE'],
    ] as const) {
      ids[code] = (await administration.createInstitution(actor, { code, name, kind, regionCode })).id;
    }
    await administration.createPeer(actor, { institutionCode: 'QINGSHI', aeTitle: 'QINGSHI_PACS' });
    for (const { username, role, institution } of USERS) {
      ids[username] = (await administration.createUser(actor, { username, displayName: `${username} 医生`, role, institutionCode: institution })).id;
      tokens.set(username, (await administration.createToken(actor, { username, label: 'reading-intake' })).token);
    }
    // The centre's own administrator sets its rule: CT and MR from every hospital of the city.
    const rule = await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, regionId: ids.QINGHE_REGION, modalities: ['CT', 'MR'] });
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
  });
  after(async () => {
    await system?.shutdown();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  it('keeps reading rules to their centre: another institution cannot set them, nor name a non-centre', async () => {
    assert.equal((await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.NANLING, sendingInstitutionId: ids.QINGSHI })).status, 400);
    assert.equal((await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, sendingInstitutionId: ids.QINGSHI, regionId: ids.QINGHE_REGION })).status, 400, 'one sender or one region');
    assert.equal((await api('rc-lead', 'GET', '/api/admin/reading-rules')).status, 403, 'a radiologist does not administer rules');
    // The centre sees only its own region (and those below it): a rule reaching further would strand its tasks.
    const outsideSender = await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, sendingInstitutionId: ids.NANLING });
    assert.equal(outsideSender.status, 400, JSON.stringify(outsideSender.json));
    assert.match((outsideSender.json as { detail: string }).detail, /outside the reading centre's region/);
    const outsideRegion = await api(null, 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, regionId: ids.NANLING_REGION });
    assert.equal(outsideRegion.status, 400, 'not even a system administrator strands tasks');
    const listed = (await api('rc-admin', 'GET', '/api/admin/reading-rules')).json as { readingCentreId: string; modalities: string[] }[];
    assert.deepEqual(listed.map((rule) => [rule.readingCentreId, rule.modalities]), [[ids.RC, ['CT', 'MR']]]);
    const moved = await api('rc-admin', 'PATCH', `/api/admin/reading-rules/${(listed[0] as unknown as { id: string }).id}`, { regionId: ids.NANLING_REGION });
    assert.equal(moved.status, 400, 'nor is a rule moved outside the region');
  });

  it('a county CT sent twice with storescu is one task on the centre list, 待分配, with the study, patient and arrival', async (t) => {
    if (!requirePeer(t, dcmtkAvailable, 'DCMTK (storescu)')) return;
    const instances = ct('ACC-STORESCU', 'P-1001');
    const files = instances.map((instance, index) => {
      const file = path.join(workDir, `ct-${index}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      return file;
    });
    for (let round = 0; round < 2; round++) {
      const sent = await runDcmtk('storescu', ['-aet', 'QINGSHI_PACS', '-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort), ...files]);
      assert.equal(sent.code, 0, sent.output);
      await system.runtime.queue.whenIdle();
    }
    const studyUid = instances[0]!.description.studyInstanceUid;
    const tasks = await tasksOf(studyUid);
    assert.equal(tasks.length, 1);
    const [task] = tasks as [TaskSummary];
    assert.equal(task.status, 'unassigned');
    assert.equal(task.modality, 'CT');
    assert.equal(task.patientId, 'P-1001');
    assert.equal(task.accessionNumber, 'ACC-STORESCU');
    assert.equal(task.sendingInstitution, '青石县人民医院');
    assert.equal(task.readingCentre, '清河市影像诊断中心');
    assert.ok(task.arrivedAt && Math.abs(Date.parse(task.arrivedAt) - Date.now()) < 10 * 60_000, `scheduled start is the arrival: ${task.arrivedAt}`);
  });

  it('re-sends of the same study, and more series of it, make no second task, even when indexed at once', async () => {
    const instances = ct('ACC-TWICE', 'P-1002');
    await Promise.all([ingest(instances), ingest(instances)]);
    await ingest(ct('ACC-TWICE', 'P-1002', 2));
    assert.equal((await tasksOf(instances[0]!.description.studyInstanceUid)).length, 1);
  });

  it('rules are per modality: a radiograph waits for a rule of its own, which makes an emergency task', async () => {
    const radiograph = makeChestRadiograph({ study: study('ACC-DX', 'P-1003', 'Li^Na'), modality: 'DX', rows: 32, columns: 32 });
    await ingest([radiograph]);
    const studyUid = radiograph.description.studyInstanceUid;
    assert.equal((await tasksOf(studyUid)).length, 0, 'the CT/MR rule does not take a DX');
    const rule = await api(null, 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, sendingInstitutionId: ids.QINGSHI, modalities: ['DX'], priority: 'HIGH', patientClass: 'emergency' });
    assert.equal(rule.status, 201);
    await ingest([makeChestRadiograph({ study: study('ACC-DX', 'P-1003', 'Li^Na'), modality: 'DX', rows: 32, columns: 32, seriesNumber: 2 })]);
    const [task] = await tasksOf(studyUid);
    assert.equal(task?.priority, 'HIGH');
    assert.equal(task?.patientClass, 'emergency');
  });

  it("a hospital's request carries the clinical information, enriching the rule's task or making one", async () => {
    const instances = ct('ACC-REQUEST', 'P-1004');
    await ingest(instances);
    const studyUid = instances[0]!.description.studyInstanceUid;
    const request = { studyInstanceUid: studyUid, history: '咳嗽两周，发热', clinicalQuestion: '排除肺炎', clinicalDiagnosis: '社区获得性肺炎?', orderingDoctor: '赵医生', department: '呼吸内科', patientClass: 'inpatient' };
    const enriched = await api('qs-doctor', 'POST', '/api/reading/requests', request);
    assert.equal(enriched.status, 201, JSON.stringify(enriched.json));
    assert.equal((enriched.json as { created: boolean }).created, false, 'the rule had made the task');
    const tasks = await tasksOf(studyUid);
    assert.equal(tasks.length, 1);
    assert.equal(tasks[0]!.clinicalQuestion, '排除肺炎');
    assert.equal(tasks[0]!.history, '咳嗽两周，发热');
    assert.equal(tasks[0]!.orderingDoctor, '赵医生');
    assert.equal(tasks[0]!.patientClass, 'inpatient');
    const stored = ((await api('rc-lead', 'GET', `/dicom-web/workitems/${tasks[0]!.workitemUid}`)).json as DicomJsonDataset[])[0]!;
    assert.equal(stored['00081080']?.Value?.[0], '社区获得性肺炎?', 'Admitting Diagnoses Description');
    assert.equal((stored['0040A370']?.Value?.[0] as DicomJsonDataset)['00321033']?.Value?.[0], '呼吸内科', 'Requesting Service');

    // No rule takes ultrasound: the request makes the task, once however often it is sent.
    const ultrasound = makeUltrasoundCine({ study: study('ACC-US', 'P-1005', 'Sun^Li'), frames: 2, rows: 32, columns: 32 });
    await ingest([ultrasound]);
    const asked = { ...request, studyInstanceUid: ultrasound.description.studyInstanceUid, patientClass: 'emergency' };
    const made = await api('qs-doctor', 'POST', '/api/reading/requests', asked);
    assert.equal((made.json as { created: boolean }).created, true);
    assert.equal((await api('qs-doctor', 'POST', '/api/reading/requests', asked)).status, 201);
    const usTasks = await tasksOf(ultrasound.description.studyInstanceUid);
    assert.equal(usTasks.length, 1);
    assert.equal(usTasks[0]!.priority, 'HIGH');
    assert.equal((await api('qs-doctor', 'POST', '/api/reading/requests', { ...asked, clinicalQuestion: '' })).status, 400);
  });

  it("one task per study and centre: an institution's rule beside the region's makes no second task", async () => {
    const rule = await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, sendingInstitutionId: ids.QINGSHI, modalities: ['CT'] });
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
    try {
      const instances = ct('ACC-TWO-RULES', 'P-1006');
      await ingest(instances);
      assert.equal((await tasksOf(instances[0]!.description.studyInstanceUid)).length, 1);
    } finally {
      assert.equal((await api('rc-admin', 'DELETE', `/api/admin/reading-rules/${(rule.json as { id: string }).id}`)).status, 204);
    }
  });

  it("a hospital's request racing the rule's intake of the study makes one task, carrying the clinical information", async () => {
    const ultrasound = makeUltrasoundCine({ study: study('ACC-RACE', 'P-1007', 'Wu^Fang'), frames: 2, rows: 32, columns: 32 });
    const later = makeUltrasoundCine({ study: study('ACC-RACE-2', 'P-1008', 'Wu^Fang'), frames: 2, rows: 32, columns: 32 });
    await ingest([ultrasound, later]);
    const studyUid = ultrasound.description.studyInstanceUid;
    const laterUid = later.description.studyInstanceUid;
    const rule = await api('rc-admin', 'POST', '/api/admin/reading-rules', { readingCentreId: ids.RC, sendingInstitutionId: ids.QINGSHI, modalities: ['US'] });
    assert.equal(rule.status, 201, JSON.stringify(rule.json));
    try {
      const request = { studyInstanceUid: studyUid, clinicalQuestion: '胆囊结石?', orderingDoctor: '钱医生', patientClass: 'outpatient' };
      const [asked] = await Promise.all([api('qs-doctor', 'POST', '/api/reading/requests', request), system.runtime.reading.studyArrived(studyUid)]);
      assert.equal(asked.status, 201, JSON.stringify(asked.json));
      const tasks = await tasksOf(studyUid);
      assert.equal(tasks.length, 1);
      assert.equal(tasks[0]!.workitemUid, (asked.json as { workitemUid: string }).workitemUid);
      assert.equal(tasks[0]!.clinicalQuestion, '胆囊结石?');
      assert.equal(tasks[0]!.orderingDoctor, '钱医生');

      // One order the race can take, made certain: the request first, then the rule's intake.
      const first = await api('qs-doctor', 'POST', '/api/reading/requests', { ...request, studyInstanceUid: laterUid });
      assert.equal(first.status, 201, JSON.stringify(first.json));
      await system.runtime.reading.studyArrived(laterUid);
      const laterTasks = await tasksOf(laterUid);
      assert.equal(laterTasks.length, 1);
      assert.equal(laterTasks[0]!.clinicalQuestion, '胆囊结石?');
    } finally {
      assert.equal((await api('rc-admin', 'DELETE', `/api/admin/reading-rules/${(rule.json as { id: string }).id}`)).status, 204);
    }
  });

  it('assigns round-robin among available readers, by hand, and by self-claim; a hand-assigned reader waits their turn', async () => {
    assert.equal((await api('rc-lead', 'PUT', '/api/reading/availability', { available: false })).status, 204);
    const uids: string[] = [];
    for (const accession of ['ACC-RR-1', 'ACC-RR-2', 'ACC-RR-3']) {
      const instances = ct(accession, `P-${accession}`);
      await ingest(instances);
      uids.push((await tasksOf(instances[0]!.description.studyInstanceUid))[0]!.workitemUid);
    }
    const given: string[] = [];
    for (const uid of uids) {
      const response = await api('rc-lead', 'POST', `/api/reading/tasks/${uid}/assign`, { roundRobin: true });
      assert.equal(response.status, 200, JSON.stringify(response.json));
      const task = response.json as TaskSummary;
      assert.equal(task.status, 'assigned');
      given.push(task.performers[0]!.username);
    }
    assert.equal(given.length, 3);
    assert.ok(!given.includes('rc-lead'), 'an unavailable reader is skipped');
    assert.notEqual(given[0], given[1], 'turns alternate');
    assert.equal(given[2], given[0]);

    const byHand = await api('rc-lead', 'POST', `/api/reading/tasks/${uids[0]}/assign`, { userId: ids['rc-reader-2'] });
    assert.equal((byHand.json as TaskSummary).performers[0]!.username, 'rc-reader-2');
    const claimed = await api('rc-reader-1', 'POST', `/api/reading/tasks/${uids[1]}/assign`, { claim: true });
    assert.equal((claimed.json as TaskSummary).performers[0]!.username, 'rc-reader-1');
    assert.equal((await api('rc-lead', 'POST', `/api/reading/tasks/${uids[1]}/assign`, { userId: ids['qs-doctor'] })).status, 400, 'only the centre’s radiologists');
    assert.equal((await api('rc-admin', 'POST', `/api/reading/tasks/${uids[1]}/assign`, { claim: true })).status, 403, 'an administrator reads no images');

    // The report service marks its stages; the worklist shows them.
    await setReportStage(system.runtime.worklist, uids[2]!, 'preliminary-signed');
    const marked = (await centreTasks('rc-lead')).find((task) => task.workitemUid === uids[2]);
    assert.equal(marked?.status, 'awaiting-review');
    assert.equal((await api('rc-lead', 'POST', `/api/reading/tasks/${uids[2]}/assign`, { roundRobin: true })).status, 409, 'reading has begun');
  });

  it('returns a task with a reason; the hospital sees it and answers; new images reopen it (待分配)', async () => {
    const instances = ct('ACC-RETURN', 'P-1006');
    await ingest(instances);
    const studyUid = instances[0]!.description.studyInstanceUid;
    const [task] = await tasksOf(studyUid);
    await api('rc-lead', 'POST', `/api/reading/tasks/${task!.workitemUid}/assign`, { claim: true });
    const returned = await api('rc-lead', 'POST', `/api/reading/tasks/${task!.workitemUid}/return`, { reason: 'needs-more-series', text: '请补充增强扫描' });
    assert.equal(returned.status, 200, JSON.stringify(returned.json));
    assert.equal((returned.json as TaskSummary).status, 'returned');
    assert.deepEqual((returned.json as TaskSummary).performers, []);
    assert.equal((await api('rc-lead', 'POST', `/api/reading/tasks/${task!.workitemUid}/assign`, { roundRobin: true })).status, 409, 'a returned task waits for the hospital');

    const requests = (await api('qs-doctor', 'GET', '/api/reading/requests')).json as (TaskSummary & { notes: ReadingNote[] })[];
    const seen = requests.find((request) => request.workitemUid === task!.workitemUid);
    assert.equal(seen?.status, 'returned');
    assert.equal(seen?.returnReason, 'needs-more-series');
    assert.equal(seen?.notes.at(-1)?.text, '请补充增强扫描');
    assert.equal((await api('qs-doctor', 'POST', `/api/reading/tasks/${task!.workitemUid}/notes`, { text: '已补传增强序列' })).status, 201);

    await ingest(ct('ACC-RETURN', 'P-1006', 3));
    const [reopened] = await tasksOf(studyUid);
    assert.equal(reopened?.status, 'unassigned');
    const notes = (await api('rc-lead', 'GET', `/api/reading/tasks/${task!.workitemUid}/notes`)).json as ReadingNote[];
    assert.deepEqual(notes.map((note) => note.kind), ['returned', 'note', 'reopened']);
    assert.equal(notes[1]!.authorUsername, 'qs-doctor');
  });

  it("keeps each to their own: a reader sees only the centre region's tasks, a hospital only its own", async () => {
    const nanlingStudy = study('ACC-NL', 'N-1', 'Zhou^Jie', { ...qingshi, code: 'NANLING', name: '南岭县中医院', patientIdIssuer: 'NANLING' });
    const nanling = [...makeCtSeries({ study: nanlingStudy, slices: 1, rows: 32, columns: 32 })];
    await ingest(nanling, 'NANLING');
    const nanlingUid = nanling[0]!.description.studyInstanceUid;
    // No centre covers Nanling: its study makes no task, and its doctor can ask no centre.
    assert.equal((await api(null, 'GET', `/dicom-web/workitems?ReferencedRequestSequence.StudyInstanceUID=${nanlingUid}`)).json?.toString() ?? '', '');
    const asked = await api('nl-doctor', 'POST', '/api/reading/requests', { studyInstanceUid: nanlingUid, clinicalQuestion: '?', orderingDoctor: '周医生', patientClass: 'outpatient' });
    assert.equal(asked.status, 400);

    const centre = await centreTasks('rc-reader-1');
    assert.ok(centre.length >= 5);
    const nanlingSees = await api('nl-doctor', 'GET', '/dicom-web/workitems?ScheduledStationNameCodeSequence.CodeValue=RC');
    assert.deepEqual(nanlingSees.json ?? [], [], "another county's hospital sees none of the centre's tasks");
    assert.deepEqual((await api('nl-doctor', 'GET', '/api/reading/requests')).json, []);
    const qingshiSees = (await api('qs-doctor', 'GET', '/api/reading/requests')).json as TaskSummary[];
    assert.equal(qingshiSees.length, centre.length, 'Qingshi follows every task about its studies');
    const qcSees = (await api('qs-qc', 'GET', '/api/reading/requests')).json as TaskSummary[];
    assert.equal(qcSees.length, centre.length);
    assert.ok(qingshiSees.some((task) => task.patientId === 'P-1001'));
    assert.ok(qcSees.every((task) => !/^P-10/.test(task.patientId) && !/Zhang|Li\^Na|Sun|Wu/.test(task.patientName)), 'a masked role sees no identity in the requests it follows');
    const someone = centre[0]!.workitemUid;
    assert.equal((await api('nl-radiologist', 'POST', `/api/reading/tasks/${someone}/assign`, { claim: true })).status, 404);
    assert.equal((await api('nl-doctor', 'POST', `/api/reading/tasks/${someone}/notes`, { text: 'x' })).status, 404);
    assert.equal((await api('nl-doctor', 'POST', '/api/reading/requests', { studyInstanceUid: centre[0]!.studyInstanceUid, clinicalQuestion: '?', orderingDoctor: '周', patientClass: 'outpatient' })).status, 404);
    assert.equal((await api('qs-doctor', 'POST', `/api/reading/tasks/${someone}/return`, { reason: 'other' })).status, 403, 'hospitals do not return tasks');
  });

  it('serves the turnaround limits, defaults replaced by a system administrator’s', async () => {
    const before = (await api('rc-lead', 'GET', '/api/reading/context')).json as { centre: { code: string }; readers: { username: string; available: boolean }[]; turnaroundLimits: { modalityGroup: string; patientClass: string; limitMinutes: number }[] };
    assert.equal(before.centre.code, 'RC');
    assert.deepEqual(before.readers.map((reader) => [reader.username, reader.available]), [['rc-lead', false], ['rc-reader-1', true], ['rc-reader-2', true]]);
    assert.equal(before.turnaroundLimits.find((limit) => limit.modalityGroup === 'radiograph' && limit.patientClass === 'emergency')?.limitMinutes, 30);
    assert.equal((await api('rc-lead', 'PUT', '/api/admin/turnaround-limits', { modalityGroup: 'radiograph', patientClass: 'emergency', limitMinutes: 20, workingTime: false, amberFraction: 0.5 })).status, 403);
    const changed = await api(null, 'PUT', '/api/admin/turnaround-limits', { modalityGroup: 'radiograph', patientClass: 'emergency', limitMinutes: 20, workingTime: false, amberFraction: 0.5 });
    assert.equal(changed.status, 200);
    const after = (await api('rc-lead', 'GET', '/api/reading/context')).json as typeof before;
    assert.equal(after.turnaroundLimits.find((limit) => limit.modalityGroup === 'radiograph' && limit.patientClass === 'emergency')?.limitMinutes, 20);
  });

  it('records the tasks the intake makes in the audit trail, naming the patient and study', async () => {
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query(`SELECT count(*)::int AS n FROM audit_events WHERE user_name = 'reading-intake' AND event_type = 'procedure-record' AND array_length(study_uids, 1) = 1 AND patient_id IS NOT NULL`);
    assert.ok(rows[0].n >= 5, `intake events: ${rows[0].n}`);
  });
});
