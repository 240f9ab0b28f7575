import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { QcWorklistRepository, type StoredReportQcGrade } from '../archive/db/qc-worklist-repository.ts';
import type { CentreWorklistSettings } from '../archive/quality/qc-worklist-service.ts';
import type { QcWorklistSettings, WorklistEntry } from '../archive/quality/qc-worklist.ts';
import { makeCtSeries } from '../fixtures/modalities.ts';
import { enqueueStudyAwaitingChecks } from '../workers/jobs/check-study-quality.ts';
import { countyImage, newUid, qingshiChestCt, readingCentre, type ReadingCentre } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * QC work lists against the running system and real PostgreSQL: 青石县人民医院 sends studies to the
 * city (清河市) whose reading centre's QC staff (rc-qc) work the list. A CT series of all-zero
 * pixels is flagged by the technical checks job; sampling draws the same studies every time; a
 * referring doctor flags a study; QC staff grade a signed report and regrade it.
 */
describe('QC work lists', () => {
  let system: TestSystem;
  let centre: ReadingCentre;
  const month = '2026-12';
  const worklist = async (query = '') => {
    const answer = await centre.call<{ settings: QcWorklistSettings['sampling']; entries: WorklistEntry[] }>('rc-qc', 'GET', `/api/quality/worklist?month=${month}${query}`);
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
    return answer.json.entries;
  };
  const setRate = async (defaultRatePercent: number, rules: QcWorklistSettings['sampling']['rules'] = []) => {
    const answer = await centre.call<CentreWorklistSettings>('rc-admin', 'PUT', '/api/quality/worklist-settings', { sampling: { defaultRatePercent, rules } });
    assert.equal(answer.status, 200, JSON.stringify(answer.json));
  };
  const ordinary: string[] = [];
  let blankStudy: string;

  before(async () => {
    system = await startTestSystem();
    centre = await readingCentre(system);
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'rc-qc', displayName: '质控员 QC', role: 'qc_staff', institutionCode: 'READING_CENTRE' });
    centre.tokens.set('rc-qc', (await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'rc-qc', label: 'qc-worklist' })).token);
    await setRate(0);
    const ingest = (part10: Buffer) => system.runtime.ingest.ingest({ part10 }, { via: 'import', name: 'qc-worklist', institutionId: centre.institutionIds.get('QINGSHI')! });
    // Sent together and then waited for once: each study's checks wait for a quiet moment of their own.
    for (let index = 0; index < 12; index++) {
      ordinary.push(newUid());
      await ingest(countyImage(ordinary[index]!));
    }
    const study = qingshiChestCt({ name: 'Li^Hua=李^华', id: 'QS-7001', birthDate: '19800101', sex: 'F' }, 'ACC-BLANK');
    const blank = [...makeCtSeries({ study, slices: 12, rows: 64, columns: 64, overrides: { PixelData: new Uint8Array(64 * 64 * 2) } })];
    for (const instance of blank) await ingest(instance.bytes);
    await system.runtime.queue.whenIdle();
    blankStudy = blank[0]!.description.studyInstanceUid;
  });
  after(async () => {
    await system?.shutdown();
  });

  it('the checks job flags a blank series, and the study is on the work list for it', async () => {
    const entries = await worklist();
    assert.deepEqual(entries.map((entry) => entry.studyInstanceUid), [blankStudy], 'at 0 % only the failed study is listed');
    const [entry] = entries;
    assert.deepEqual(entry!.reasons, ['auto-check']);
    assert.equal(entry!.checks?.outcome, 'fail');
    const pixels = entry!.checks!.results.find((result) => result.code === 'pixels');
    assert.deepEqual([pixels?.outcome, pixels?.messageKey, pixels?.parameters], ['fail', 'pixels.blank', { count: 3, sampled: 3 }]);
    assert.equal(entry!.institutionName, '青石县人民医院');
    assert.equal(entry!.grade, null);
    const rows = await system.runtime.db.pool.query<{ outcome: string; instance_count: number }>('SELECT outcome, instance_count FROM study_quality_checks c JOIN studies st ON st.id = c.study_pk WHERE st.study_instance_uid = ANY ($1)', [[blankStudy, ordinary[0]]]);
    assert.deepEqual(rows.rows.map((row) => [row.outcome, row.instance_count]).sort(), [['fail', 12], ['warn', 1]], 'an ordinary study is checked too (one image where CT expects ten: a warning)');
  });

  it('finds a study whose checks were lost for the reconciler, and its job checks it again', async () => {
    const { pool } = system.runtime.db;
    const repository = new QcWorklistRepository(pool);
    assert.deepEqual(await repository.studiesAwaitingChecks(0, 10_000, 100), [], 'every study is checked');
    await pool.query('DELETE FROM study_quality_checks c USING studies st WHERE st.id = c.study_pk AND st.study_instance_uid = $1', [ordinary[1]]);
    assert.deepEqual(await repository.studiesAwaitingChecks(0, 10_000, 100), [ordinary[1]]);
    assert.deepEqual(await repository.studiesAwaitingChecks(3600, 10_000, 100), [], 'not before the grace period');
    await enqueueStudyAwaitingChecks(system.runtime.queue, ordinary[1]!);
    await system.runtime.queue.whenIdle();
    assert.deepEqual(await repository.studiesAwaitingChecks(0, 10_000, 100), []);
  });

  it('draws the same sample every time; 0 % draws none and 100 % all', async () => {
    await setRate(100);
    const all = await worklist();
    assert.equal(all.length, 13);
    assert.ok(all.every((entry) => entry.reasons.includes('sampled')));
    await setRate(50);
    const first = (await worklist()).filter((entry) => entry.reasons.includes('sampled')).map((entry) => entry.studyInstanceUid);
    const second = (await worklist()).filter((entry) => entry.reasons.includes('sampled')).map((entry) => entry.studyInstanceUid);
    assert.deepEqual(second, first, 'the same studies again');
    assert.ok(first.length > 0 && first.length < 13, `about half of 13 drawn, got ${first.length}`);
    await setRate(50, [{ institutionId: centre.institutionIds.get('QINGSHI')!, modality: 'CT', ratePercent: 0 }]);
    assert.deepEqual((await worklist()).map((entry) => entry.reasons), [['auto-check']], 'the institution and modality rule wins over the default');
    await setRate(0);
    assert.equal((await worklist()).length, 1);
    assert.equal((await worklist('&modality=MR')).length, 0, 'filtered by modality');
    assert.equal((await worklist(`&institution=${centre.institutionIds.get('NANLING')}`)).length, 0, 'filtered by institution');
  });

  it('lists a study a clinician flagged, with the reason', async () => {
    const study = ordinary[3]!;
    assert.equal((await centre.call('qs-referrer', 'POST', `/api/studies/${study}/qc-flags`, { reason: '' })).status, 400);
    assert.equal((await centre.call('nl-radiologist', 'POST', `/api/studies/${study}/qc-flags`, { reason: '图像模糊' })).status, 404, 'another region\'s doctor does not see it');
    const flagged = await centre.call<{ id: string }>('qs-referrer', 'POST', `/api/studies/${study}/qc-flags`, { reason: '图像模糊，怀疑运动伪影' });
    assert.equal(flagged.status, 201, JSON.stringify(flagged.json));
    const entry = (await worklist()).find((candidate) => candidate.studyInstanceUid === study);
    assert.deepEqual(entry?.reasons, ['flagged']);
    assert.equal(entry?.flags[0]?.reason, '图像模糊，怀疑运动伪影');
    assert.equal(entry?.flags[0]?.flaggedByName, '赵磊 Zhao Lei');
  });

  it('keeps the settings to the centre\'s administrator, validated', async () => {
    assert.equal((await centre.call('rc-qc', 'PUT', '/api/quality/worklist-settings', { sampling: { defaultRatePercent: 10 } })).status, 403);
    assert.equal((await centre.call('rc-admin', 'PUT', '/api/quality/worklist-settings', { sampling: { defaultRatePercent: 120 } })).status, 400);
    const read = await centre.call<CentreWorklistSettings>('rc-admin', 'GET', '/api/quality/worklist-settings');
    assert.equal(read.json.settings.sampling.defaultRatePercent, 0);
    assert.equal(read.json.settings.checks.blankShare, 0.995, 'the thresholds in effect, defaults included');
    assert.equal((await centre.call('qs-referrer', 'GET', `/api/quality/worklist?month=${month}`)).status, 403, 'the work list is QC staff\'s');
    assert.equal((await centre.call('rc-qc', 'GET', '/api/quality/worklist?month=2026-13')).status, 400);
  });

  it('checks a hospital\'s studies with its QC centre\'s thresholds, even once the hospital\'s own QC staff opened a list', async () => {
    assert.equal((await centre.call('qs-qc', 'GET', `/api/quality/worklist?month=${month}`)).status, 200);
    const saved = await centre.call('rc-admin', 'PUT', '/api/quality/worklist-settings', { sampling: { defaultRatePercent: 0 }, checks: { imageCounts: [{ modality: 'CT', min: 1 }] } });
    assert.equal(saved.status, 200, JSON.stringify(saved.json));
    const study = newUid();
    await system.runtime.ingest.ingest({ part10: countyImage(study) }, { via: 'import', name: 'qc-worklist', institutionId: centre.institutionIds.get('QINGSHI')! });
    await system.runtime.queue.whenIdle();
    const { rows } = await system.runtime.db.pool.query<{ results: { code: string; outcome: string; parameters: { min?: number } }[] }>(
      'SELECT c.results FROM study_quality_checks c JOIN studies st ON st.id = c.study_pk WHERE st.study_instance_uid = $1',
      [study],
    );
    const count = rows[0]!.results.find((result) => result.code === 'image-count');
    assert.deepEqual([count?.outcome, count?.parameters.min], ['pass', 1], 'one CT image meets the centre\'s minimum of one');
  });

  it('grades a signed report, a regrade superseding the grade and keeping it', async () => {
    const study = ordinary[5]!;
    const path = `/api/studies/${study}/report-quality-grades`;
    assert.equal((await centre.call('rc-qc', 'POST', path, { grade: 'conforming' })).status, 409, 'no signed report yet');
    await centre.signPreliminary(study);
    await centre.signFinal(study);
    assert.equal((await centre.call('rc-qc', 'POST', path, { grade: 'non-conforming' })).status, 400, 'non-conforming names an error');
    assert.equal((await centre.call('rc-reader', 'POST', path, { grade: 'conforming' })).status, 403, 'a radiologist does not grade reports');
    const first = await centre.call<StoredReportQcGrade>('rc-qc', 'POST', path, { grade: 'basically-conforming', errors: ['non-standard-terms'], comment: '术语不规范' });
    assert.equal(first.status, 201, JSON.stringify(first.json));
    assert.equal(first.json.reportVersion, 2, 'the newest signed version');
    const second = await centre.call<StoredReportQcGrade>('rc-qc', 'POST', path, { grade: 'non-conforming', errors: ['wrong-laterality', 'missed-finding'], version: 1 });
    assert.equal(second.status, 201, JSON.stringify(second.json));
    const grades = await centre.call<{ current: StoredReportQcGrade; history: StoredReportQcGrade[]; choices: { grades: { code: string; label: { zh: string } }[] } }>('rc-qc', 'GET', path);
    assert.deepEqual(grades.json.choices.grades.map((grade) => grade.label.zh), ['符合', '基本符合', '不符合']);
    assert.equal(grades.json.current.id, second.json.id);
    assert.deepEqual(grades.json.history.map((grade) => [grade.gradeCode, grade.reportVersion, grade.supersededBy]), [['basically-conforming', 2, second.json.id], ['non-conforming', 1, null]]);
    const { rows } = await system.runtime.db.pool.query<{ grade_code: string; errors: string[]; graded_by_name: string; grader_institution_id: string }>(
      'SELECT grade_code, errors, graded_by_name, grader_institution_id::text FROM report_qc_grades WHERE id = $1',
      [second.json.id],
    );
    assert.deepEqual(rows[0], { grade_code: 'non-conforming', errors: ['wrong-laterality', 'missed-finding'], graded_by_name: '质控员 QC', grader_institution_id: centre.institutionIds.get('READING_CENTRE') });
    await system.runtime.audit.drain();
    const audited = await system.runtime.db.pool.query<{ detail: { reportQcGradeId?: string } }>(
      `SELECT detail FROM audit_events WHERE event_type = 'procedure-record' AND action = 'C' AND $1 = ANY (study_uids) AND detail->>'route' LIKE '%report-quality-grades'`,
      [study],
    );
    assert.deepEqual(audited.rows.map((row) => row.detail.reportQcGradeId).filter(Boolean).sort(), [first.json.id, second.json.id].sort());
  });
});
