import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import type { StoredQcGrade } from '../archive/db/quality-repository.ts';
import { ShareLinksRepository } from '../archive/db/share-links-repository.ts';
import type { QcCatalogue, StudyQuality } from '../archive/quality/quality-service.ts';
import type { FixtureInstance } from '../fixtures/model.ts';
import { makeChestRadiograph } from '../fixtures/modalities.ts';
import { currentDocuments } from '../viewer/src/measurements/structured-report.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { jsonApi, qingshiChestCt, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Image QC grading against the running system and real PostgreSQL: 青石县人民医院 (in 清河市) sends a
 * three-series DR study; the city's reading centre's QC staff grade it. 南岭县's centre is outside the
 * region, and a radiologist has no grading permission.
 */
const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'rc-qc', role: 'qc_staff', institution: 'CITY_CENTRE' },
  { username: 'rc-reader', role: 'radiologist', institution: 'CITY_CENTRE' },
  { username: 'nl-qc', role: 'qc_staff', institution: 'NANLING_CENTRE' },
  { username: 'rc-auditor', role: 'auditor', institution: 'CITY_CENTRE' },
];

describe('image QC grading', () => {
  let system: TestSystem;
  let api: Call;
  const tokens = new Map<string, string>();
  const ids: Record<string, string> = {};
  let studyInstanceUid: string;
  let series: FixtureInstance[];
  const seriesUid = (index: number) => series[index]!.description.seriesInstanceUid;
  const grade = (username: string, index: number, body: unknown) => api<StoredQcGrade>(username, 'POST', `/api/studies/${studyInstanceUid}/series/${seriesUid(index)}/quality-grades`, body);
  const quality = async () => {
    const answer = await api<StudyQuality>('rc-qc', 'GET', `/api/studies/${studyInstanceUid}/quality-grades`);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return answer.json;
  };

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    const { administration } = system;
    for (const region of [
      { code: 'QINGHE', name: '清河市', level: 'city' as const },
      { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' as const },
    ]) {
      await administration.createRegion(COMMAND_LINE_ACTOR, region);
    }
    for (const [code, name, kind, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'hospital', 'QINGHE'],
      ['CITY_CENTRE', '清河市影像诊断中心', 'reading_centre', 'QINGHE'],
      ['NANLING_CENTRE', '南岭县影像中心', 'reading_centre', 'NANLING_COUNTY'],
    ] as const) {
      ids[code] = (await administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind, regionCode })).id;
    }
    for (const { username, role, institution } of USERS) {
      await administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution });
      tokens.set(username, (await administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'quality-grading' })).token);
    }
    const study = { ...qingshiChestCt({ name: 'Wang^XiaoDong=王^小东', id: 'QS-3001', birthDate: '19650302', sex: 'M' }, 'ACC-QC-1'), description: 'DR 胸部正位' };
    series = [1, 2, 3].map((seriesNumber) => makeChestRadiograph({ study, seriesNumber, modality: 'DX', rows: 64, columns: 64 }));
    for (const instance of series) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'quality-grading', institutionId: ids.QINGSHI! });
    await system.runtime.queue.whenIdle();
    studyInstanceUid = series[0]!.description.studyInstanceUid;
  });
  after(async () => {
    await system?.shutdown();
  });

  it('offers the scale and the defects of a modality', async () => {
    const dx = await api<QcCatalogue>('rc-qc', 'GET', '/api/quality/scales/DX');
    assert.equal(dx.status, 200, JSON.stringify(dx.json));
    assert.deepEqual(dx.json.scale.grades.map((candidate) => candidate.code), ['A', 'B', 'C', 'reject']);
    assert.ok(dx.json.defects.some((defect) => defect.code === 'lr-marker-wrong' && defect.veto));
    assert.ok(!dx.json.defects.some((defect) => defect.code === 'sequence-missing'), 'an MR defect is not offered for DX');
    assert.equal((await api('rc-qc', 'GET', '/api/quality/scales/US')).status, 404, 'no scale grades ultrasound');
  });

  it('grading a DR series 甲 gives the study 甲', async () => {
    const graded = await grade('rc-qc', 0, { grade: 'A', defects: [], comment: '体位标准' });
    assert.equal(graded.status, 201, JSON.stringify(graded.json));
    assert.equal(graded.json.gradeCode, 'A');
    assert.equal(graded.json.rejectionKos, null);
    const study = await quality();
    assert.equal(study.studyGrade?.grade.code, 'A');
    assert.equal(study.studyGrade?.scaleId, 'radiography');
  });

  it('refuses a grade off the scale and a defect the modality does not have', async () => {
    assert.equal((await grade('rc-qc', 1, { grade: 'excellent' })).status, 400);
    assert.equal((await grade('rc-qc', 1, { grade: 'B', defects: ['sequence-missing'] })).status, 400);
    assert.equal((await grade('rc-qc', 1, { grade: 'B', extra: true })).status, 400);
  });

  it('the study takes its worst series, and a regrade keeps the history', async () => {
    assert.equal((await grade('rc-qc', 1, { grade: 'B', defects: ['positioning'] })).status, 201);
    assert.equal((await quality()).studyGrade?.grade.code, 'B');
    const regraded = await grade('rc-qc', 1, { grade: 'C', defects: ['positioning', 'exposure-under'], comment: '复核：曝光不足' });
    assert.equal(regraded.status, 201);
    const study = await quality();
    assert.equal(study.studyGrade?.grade.code, 'C');
    const ofSeries = study.history.filter((entry) => entry.seriesInstanceUid === seriesUid(1));
    assert.deepEqual(ofSeries.map((entry) => [entry.gradeCode, entry.supersededBy]), [['B', regraded.json.id], ['C', null]]);
    assert.equal(study.current.length, 2, 'one current grade per graded series');
  });

  it('a veto defect forces 废片, which the study then takes', async () => {
    const vetoed = await grade('rc-qc', 2, { grade: 'A', defects: ['lr-marker-wrong'] });
    assert.equal(vetoed.status, 201, JSON.stringify(vetoed.json));
    assert.equal(vetoed.json.givenGradeCode, 'A');
    assert.equal(vetoed.json.gradeCode, 'reject');
    assert.equal(vetoed.json.reject, true);
    assert.ok(vetoed.json.rejectionKos);
    assert.equal((await quality()).studyGrade?.grade.code, 'reject');
  });

  it('a reject writes a 113001 KOS into the study, referencing the series\' instances', async (t) => {
    await system.runtime.queue.whenIdle();
    const [rejected] = (await quality()).current.filter((entry) => entry.reject);
    assert.ok(rejected?.rejectionKos?.storedAt, 'the job stored the KOS and recorded it');
    const found = await api<Record<string, { Value?: unknown[] }>[]>(null, 'GET', `/dicom-web/studies/${studyInstanceUid}/series?Modality=KO`);
    assert.equal(found.status, 200);
    assert.deepEqual(found.json.map((entry) => entry['0020000E']?.Value?.[0]), [rejected.rejectionKos.seriesInstanceUid]);
    const { sopInstanceUid, seriesInstanceUid } = rejected.rejectionKos;
    const file = await api(null, 'GET', `/wado?requestType=WADO&studyUID=${studyInstanceUid}&seriesUID=${seriesInstanceUid}&objectUID=${sopInstanceUid}&contentType=application%2Fdicom`);
    assert.equal(file.status, 200);
    const metadata = await api<Record<string, { Value?: unknown[] }>[]>(null, 'GET', `/dicom-web/studies/${studyInstanceUid}/series/${seriesInstanceUid}/metadata`);
    assert.equal(metadata.status, 200);
    assert.deepEqual(currentDocuments(metadata.json).keyImages, [], 'the viewer does not take rejected images for key images');
    assert.deepEqual(await new ShareLinksRepository(system.runtime.db.pool).keyImages(studyInstanceUid), [], 'nor do the report PDF and the cloud film');
    if (!requirePeer(t, commandExists('dcmdump'), 'DCMTK dcmdump')) return;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-qc-'));
    try {
      const stored = path.join(workDir, 'rejection.dcm');
      fs.writeFileSync(stored, file.bytes);
      const dump = await runDcmtk('dcmdump', ['+U8', stored]);
      assert.equal(dump.code, 0, dump.output);
      assert.match(dump.output, /\(0008,0060\) CS \[KO\]/);
      // The root's Concept Name Code Sequence (the Document Title) comes before the content items' own.
      const rootConcept = /\(0040,a043\) SQ[\s\S]*?\(0008,0100\) SH \[([^\]]*)\][\s\S]*?\(0008,0102\) SH \[([^\]]*)\][\s\S]*?\(0008,0104\) LO \[([^\]]*)\]/.exec(dump.output);
      assert.deepEqual(rootConcept?.slice(1), ['113001', 'DCM', 'Rejected for Quality Reasons']);
      const referenced = [...dump.output.matchAll(/\(0008,1155\) UI \[([^\]]*)\]/g)].map((match) => match[1]);
      const rejectedInstance = series[2]!.description.sopInstanceUid;
      assert.ok(referenced.includes(rejectedInstance), 'the rejected series\' instance is referenced');
      assert.ok(!referenced.includes(series[0]!.description.sopInstanceUid), 'no other series is');
      assert.match(dump.output, /王\^小东/, 'the patient name copied from the study');
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });

  it('a radiologist may not grade (403); QC staff outside the region do not find the study (404)', async () => {
    assert.equal((await grade('rc-reader', 0, { grade: 'A' })).status, 403);
    assert.equal((await grade('nl-qc', 0, { grade: 'A' })).status, 404);
    assert.equal((await api('nl-qc', 'GET', `/api/studies/${studyInstanceUid}/quality-grades`)).status, 404);
    assert.equal((await api('rc-reader', 'GET', '/api/quality/scales/DX')).status, 403);
  });

  it('every grade is in the audit trail', async () => {
    const answer = await api<{ eventType: string; userName: string; outcome: number; studyUids: string[]; detail: { method?: string; qcGradeId?: string; grade?: string } }[]>(
      'rc-auditor',
      'GET',
      `/api/audit/events?study=${studyInstanceUid}&type=procedure-record&limit=100`,
    );
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    const grades = (await quality()).history;
    const recorded = answer.json.filter((event) => event.detail.method === 'POST' && event.outcome === 0);
    assert.deepEqual(recorded.map((event) => event.detail.qcGradeId).sort(), grades.map((entry) => entry.id).sort());
    assert.ok(recorded.every((event) => event.userName === 'rc-qc'));
  });
});
