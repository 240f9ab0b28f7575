import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import type { Report, ReportContent, ReportSearchHit, ReportTemplate } from '../archive/reading/report.ts';
import { reportPdfUids } from '../archive/reading/report-pdf.ts';
import { buildReportSr, writeReportSr } from '../archive/reading/report-sr.ts';
import { checkTid2000 } from '../archive/reading/tid2000.ts';
import { ReportsRepository } from '../archive/db/reports-repository.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { FINDINGS, IMPRESSION, newUid, readingCentre, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Reports end to end over HTTP, against the whole system: a county hospital's study read at the
 * city's reading centre — draft autosave and its concurrency, 初诊 by a reader, 审核 by a second user
 * with the verify attribute (and refusals without it), one-level centres, amendments keeping every
 * version, the Enhanced SR of each version found through QIDO and checked by DCMTK and dicom3tools,
 * Chinese text round-tripping, full-text search in Chinese, and who may see what.
 */
describe('reports (初诊 + 审核) and their SR', () => {
  let system: TestSystem;
  let call: Call;
  let tokens: Map<string, string>;
  let userIds: Map<string, string>;
  let institutionIds: Map<string, string>;
  const studies: string[] = [];

  const open = async (username: string, study: string) => {
    const response = await call<Report>(username, 'POST', `/api/studies/${study}/report`, {});
    assert.equal(response.status, 200, JSON.stringify(response.json));
    return response.json;
  };
  const save = (username: string, study: string, content: Partial<ReportContent>, revision: number) =>
    call<{ revision: number; draft?: ReportContent }>(username, 'PUT', `/api/studies/${study}/report/draft`, { content: { findings: FINDINGS, impression: IMPRESSION, ...content }, revision });
  const sign = (username: string, study: string, body: Record<string, unknown>) => call<Report & { detail?: string }>(username, 'POST', `/api/studies/${study}/report/signatures`, body);
  const srSeries = async (study: string) => {
    await system.runtime.queue.whenIdle();
    const response = await fetch(`${system.dicomWebUrl}/studies/${study}/series?Modality=SR`, { headers: { authorization: `Bearer ${system.adminToken}`, accept: 'application/dicom+json' } });
    assert.equal(response.status, 200);
    return (await response.json()) as DicomJsonDataset[];
  };
  const retrieveSr = async (study: string, series: string, instance: string) => {
    const response = await fetch(`${system.dicomWebUrl}/studies/${study}/series/${series}/instances/${instance}`, { headers: { authorization: `Bearer ${system.adminToken}`, accept: 'multipart/related; type="application/dicom"' } });
    assert.equal(response.status, 200);
    const body = Buffer.from(await response.arrayBuffer());
    const start = body.indexOf(Buffer.from('DICM')) - 128;
    const boundary = /boundary="?([^";]+)"?/.exec(response.headers.get('content-type') ?? '')![1]!;
    const end = body.indexOf(Buffer.from(`\r\n--${boundary}`), start);
    return body.subarray(start, end);
  };
  const metadata = async (study: string, series: string) => {
    const response = await fetch(`${system.dicomWebUrl}/studies/${study}/series/${series}/metadata`, { headers: { authorization: `Bearer ${system.adminToken}`, accept: 'application/dicom+json' } });
    assert.equal(response.status, 200);
    return ((await response.json()) as DicomJsonDataset[])[0]!;
  };

  before(async () => {
    system = await startTestSystem();
    // The city's reading centre signs in two levels, its second centre (sc-reader, sc-admin) in one.
    const centre = await readingCentre(system, { oneLevelCentre: true });
    ({ call, tokens, userIds, institutionIds } = centre);
    for (let index = 0; index < 4; index++) studies.push(await centre.countyStudy());
  });
  after(() => system?.shutdown());

  it('lets only an administrator of the same institution set who may verify', async () => {
    assert.equal((await call('sc-admin', 'PUT', `/api/report-readers/${userIds.get('rc-reader')}`, { professionalTitle: null, licenceNumber: null, mayVerifyReports: true })).status, 404);
    assert.equal((await call('rc-reader', 'PUT', `/api/report-readers/${userIds.get('rc-reader')}`, { professionalTitle: null, licenceNumber: null, mayVerifyReports: true })).status, 403);
  });

  it('saves the draft as typed, Chinese intact, and refuses a save made from a stale revision', async () => {
    const study = studies[0]!;
    const opened = await open('rc-reader', study);
    assert.equal(opened.status, 'draft');
    assert.equal(opened.draftRevision, 0);
    const first = await save('rc-reader', study, { findings: '右肺上叶' }, 0);
    assert.equal(first.status, 200);
    assert.equal(first.json.revision, 1);
    const second = await save('rc-reader', study, {}, 1);
    assert.equal(second.json.revision, 2);
    // A second tab (or a save retried after a dropped connection) still at revision 1 loses nothing silently.
    const stale = await save('rc-reader', study, { findings: 'stale' }, 1);
    assert.equal(stale.status, 409);
    assert.equal(stale.json.revision, 2);
    assert.equal(stale.json.draft?.findings, FINDINGS);
    const reopened = await call<Report>('rc-reader', 'GET', `/api/studies/${study}/report`);
    assert.equal(reopened.json.draft.findings, FINDINGS);
    assert.equal(reopened.json.draft.impression, IMPRESSION);
    assert.equal(reopened.json.draftRevision, 2);
  });

  it('signs the 初诊 by a reader, refuses 审核 without the verify attribute or by the same reader, and takes it from a second user who has it', async () => {
    const study = studies[0]!;
    const preliminary = await sign('rc-reader', study, { role: 'preliminary', revision: 2 });
    assert.equal(preliminary.status, 201, JSON.stringify(preliminary.json));
    assert.equal(preliminary.json.status, 'preliminary');
    const [signed] = preliminary.json.versions[0]!.signatures;
    assert.equal(signed!.role, 'preliminary');
    assert.equal(signed!.userId, userIds.get('rc-reader'));
    assert.equal(signed!.name, 'Li^Ming=李^明');
    assert.equal(signed!.title, '住院医师');
    assert.equal(signed!.institution, '清河市影像诊断中心');

    const revision = preliminary.json.draftRevision;
    assert.equal((await sign('rc-reader', study, { role: 'final', revision })).status, 403, 'a reader without the verify attribute');
    assert.equal((await sign('rc-reader', study, { role: 'preliminary', revision })).status, 409, 'no second 初诊');
    assert.equal((await call('qs-referrer', 'POST', `/api/studies/${study}/report/signatures`, { role: 'final', revision })).status, 403, 'a referring doctor writes no reports');

    const edited = await save('rc-senior', study, { impression: `${IMPRESSION}（审核修改）` }, revision);
    assert.equal(edited.status, 200);
    const final = await sign('rc-senior', study, { role: 'final', revision: edited.json.revision });
    assert.equal(final.status, 201, JSON.stringify(final.json));
    assert.equal(final.json.status, 'final');
    assert.equal(final.json.versions.length, 2);
    assert.deepEqual(final.json.versions[1]!.signatures.map((signature) => [signature.role, signature.userId]), [['preliminary', userIds.get('rc-reader')], ['final', userIds.get('rc-senior')]]);
    assert.equal(final.json.versions[0]!.content.impression, IMPRESSION, 'the signed 初诊 is unchanged');
    assert.equal(final.json.versions[1]!.content.impression, `${IMPRESSION}（审核修改）`);
    assert.equal((await sign('rc-senior', study, { role: 'final', revision: final.json.draftRevision })).status, 409, 'a final report changes only by amendment');
  });

  it('stores each signed version as an Enhanced SR in the study, found by QIDO: UNVERIFIED, then VERIFIED with the verifier and the preliminary as predecessor', async () => {
    const study = studies[0]!;
    const report = (await call<Report>('rc-reader', 'GET', `/api/studies/${study}/report`)).json;
    const series = await srSeries(study);
    assert.equal(series.length, 2);
    const [preliminary, final] = report.versions;
    const preliminaryMetadata = await metadata(study, preliminary!.srSeriesInstanceUid);
    assert.equal(preliminaryMetadata['0040A493']?.Value?.[0], 'UNVERIFIED');
    assert.equal(preliminaryMetadata['0040A491']?.Value?.[0], 'COMPLETE');
    const finalMetadata = await metadata(study, final!.srSeriesInstanceUid);
    assert.equal(finalMetadata['00080016']?.Value?.[0], '1.2.840.10008.5.1.4.1.1.88.22');
    assert.equal(finalMetadata['0040A493']?.Value?.[0], 'VERIFIED');
    assert.deepEqual(checkTid2000(finalMetadata), [], 'the SR as served conforms to TID 2000');
    const verifier = finalMetadata['0040A073']?.Value?.[0] as DicomJsonDataset;
    assert.deepEqual(verifier['0040A075']?.Value?.[0], { Alphabetic: 'Zhang^Wei', Ideographic: '张^伟' });
    assert.equal(((verifier['0040A088']?.Value?.[0] as DicomJsonDataset)['00080100']?.Value?.[0]), '110100000002');
    const predecessor = JSON.stringify(finalMetadata['0040A360']);
    assert.ok(predecessor.includes(preliminary!.srSopInstanceUid));
    assert.deepEqual(finalMetadata['00100010']?.Value?.[0], { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' });
    assert.ok(JSON.stringify(finalMetadata).includes(FINDINGS), 'the Chinese findings round-trip');
  });

  it('writes SRs that DCMTK (dsrdump, dsr2html) and dicom3tools (dciodvfy) accept without errors', async (t) => {
    if (!requirePeer(t, commandExists('dsrdump') && commandExists('dsr2html'), 'DCMTK (dsrdump, dsr2html)')) return;
    if (!requirePeer(t, commandExists('dciodvfy'), 'dicom3tools (dciodvfy)')) return;
    const study = studies[0]!;
    const report = (await call<Report>('rc-reader', 'GET', `/api/studies/${study}/report`)).json;
    const folder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-sr-'));
    try {
      for (const version of report.versions) {
        const file = path.join(folder, `v${version.version}.dcm`);
        await fs.writeFile(file, await retrieveSr(study, version.srSeriesInstanceUid, version.srSopInstanceUid));
        const dump = execFileSync('dsrdump', ['-Ee', file], { encoding: 'utf8' });
        assert.match(dump, /Enhanced SR Document/);
        assert.match(dump, /Diagnostic imaging report/);
        assert.match(dump, version.status === 'preliminary' ? /UNVERIFIED/ : /Verifying Observers/);
        const html = execFileSync('dsr2html', ['-Ee', '--charset-require', file], { encoding: 'utf8' });
        assert.ok(html.includes('右肺上叶'), 'the HTML rendering holds the Chinese findings');
        const check = execFileSync('sh', ['-c', `dciodvfy "${file}" 2>&1`], { encoding: 'utf8' });
        assert.match(check, /EnhancedSR/);
        assert.doesNotMatch(check, /^Error/m, check);
      }
    } finally {
      await fs.rm(folder, { recursive: true, force: true });
    }
  });

  it('amends a final report only with a reason, keeping every version and chaining the SRs', async () => {
    const study = studies[0]!;
    let report = (await call<Report>('rc-senior', 'GET', `/api/studies/${study}/report`)).json;
    const edited = await save('rc-senior', study, { impression: '左肺上叶磨玻璃结节，建议3个月后复查胸部CT。' }, report.draftRevision);
    assert.equal((await sign('rc-senior', study, { role: 'amendment', revision: edited.json.revision })).status, 400, 'no reason');
    assert.equal((await sign('rc-reader', study, { role: 'amendment', revision: edited.json.revision, reason: '左右侧写反' })).status, 403, 'not by a reader without the verify attribute');
    const amended = await sign('rc-senior', study, { role: 'amendment', revision: edited.json.revision, reason: '左右侧写反' });
    assert.equal(amended.status, 201, JSON.stringify(amended.json));
    report = amended.json;
    assert.equal(report.status, 'amended');
    assert.deepEqual(report.versions.map((version) => version.status), ['preliminary', 'final', 'amended']);
    assert.equal(report.versions[2]!.amendmentReason, '左右侧写反');
    assert.equal(report.versions[1]!.content.impression, `${IMPRESSION}（审核修改）`, 'the final stays as signed');
    const series = await srSeries(study);
    assert.equal(series.length, 3, 'every version stays retrievable');
    const amendedMetadata = await metadata(study, report.versions[2]!.srSeriesInstanceUid);
    assert.equal(amendedMetadata['0040A493']?.Value?.[0], 'VERIFIED');
    assert.ok(JSON.stringify(amendedMetadata['0040A360']).includes(report.versions[1]!.srSopInstanceUid), 'the amendment names the final as predecessor');
  });

  it('signs final at once in a one-level centre, and refuses a 初诊 there', async () => {
    const study = studies[1]!;
    const report = await open('sc-reader', study);
    const saved = await save('sc-reader', study, {}, report.draftRevision);
    assert.equal((await sign('sc-reader', study, { role: 'preliminary', revision: saved.json.revision })).status, 409);
    const final = await sign('sc-reader', study, { role: 'final', revision: saved.json.revision });
    assert.equal(final.status, 201, JSON.stringify(final.json));
    assert.equal(final.json.status, 'final');
    assert.deepEqual(final.json.versions[0]!.signatures.map((signature) => signature.role), ['final']);
    const series = await srSeries(study);
    assert.equal(series.length, 1);
    assert.equal((await metadata(study, final.json.versions[0]!.srSeriesInstanceUid))['0040A493']?.Value?.[0], 'VERIFIED');
    // The reading centre still signs in two levels.
    assert.deepEqual((await call('rc-reader', 'GET', '/api/report-settings')).json, { signingLevels: 2 });
  });

  it('finds signed reports by Chinese words, within the caller’s scope only', async () => {
    const hits = (await call<ReportSearchHit[]>('qs-referrer', 'GET', `/api/reports?q=${encodeURIComponent('磨玻璃 结节')}`)).json;
    assert.deepEqual(hits.map((hit) => hit.studyInstanceUid).sort(), [studies[0], studies[1]].sort());
    assert.deepEqual((await call<ReportSearchHit[]>('qs-referrer', 'GET', `/api/reports?q=${encodeURIComponent('左右侧写反')}`)).json, [], 'a reason is not report text');
    assert.equal((await call<ReportSearchHit[]>('rc-reader', 'GET', `/api/reports?q=${encodeURIComponent('左肺上叶')}`)).json.length, 1, 'the amended text is searched');
    assert.deepEqual((await call<ReportSearchHit[]>('nl-radiologist', 'GET', `/api/reports?q=${encodeURIComponent('结节')}`)).json, [], 'another county sees none');
    assert.equal((await call('qs-referrer', 'GET', '/api/reports?q=')).status, 400);
  });

  it('hides a report as its study is hidden, and audits views and signatures', async () => {
    const study = studies[0]!;
    assert.equal((await call('nl-radiologist', 'GET', `/api/studies/${study}/report`)).status, 404);
    assert.equal((await call('nl-radiologist', 'POST', `/api/studies/${study}/report`, {})).status, 404);
    assert.equal((await call('qs-referrer', 'GET', `/api/studies/${study}/report`)).status, 200, 'the sending hospital reads its report');
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; detail: Record<string, unknown>; patient_id: string }>(
      `SELECT event_type, action, detail, patient_id FROM audit_events WHERE $1 = ANY (study_uids) AND detail->>'route' LIKE '/api/studies/%/report%' ORDER BY id`,
      [study],
    );
    assert.ok(rows.some((row) => row.event_type === 'instances-accessed' && row.action === 'R'), 'a view');
    const signatures = rows.filter((row) => row.event_type === 'procedure-record' && row.detail.signature);
    assert.deepEqual(signatures.map((row) => row.detail.status), ['preliminary', 'final', 'amended']);
    assert.ok(signatures.every((row) => row.patient_id === 'QINGSHI|QS-0001'));
  });

  it('moves the study’s reading task along as the report is written and signed (初诊中, 待审核, 已发布)', async () => {
    const study = studies[2]!;
    const workitemUid = newUid();
    const created = await fetch(`${system.dicomWebUrl}/workitems?workitem=${workitemUid}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${tokens.get('rc-reader')}`, 'content-type': 'application/dicom+json' },
      body: JSON.stringify({
        '00741200': { vr: 'CS', Value: ['MEDIUM'] },
        '00404005': { vr: 'DT', Value: ['20261205100000'] },
        '00404021': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [study] } }] },
      }),
    });
    assert.equal(created.status, 201);
    const progress = async () => {
      const response = await fetch(`${system.dicomWebUrl}/workitems/${workitemUid}`, { headers: { authorization: `Bearer ${tokens.get('rc-reader')}`, accept: 'application/dicom+json' } });
      return JSON.stringify(await response.json());
    };
    // A report moves only a task of its own study that its writer may see (review finding: any UID was taken).
    const otherStudy = await call<{ detail: string }>('rc-reader', 'POST', `/api/studies/${studies[3]}/report`, { workitemUid });
    assert.equal(otherStudy.status, 400, JSON.stringify(otherStudy.json));
    assert.equal((await call('rc-reader', 'POST', `/api/studies/${study}/report`, { workitemUid: newUid() })).status, 404, 'a workitem that is not here');
    assert.equal(await system.runtime.reports.currentReportOfStudy(studies[3]!), null, 'nothing was opened');
    const opened = await call<Report>('rc-reader', 'POST', `/api/studies/${study}/report`, { workitemUid });
    assert.equal(opened.status, 200, JSON.stringify(opened.json));
    const report = opened.json;
    assert.equal(report.workitemUid, workitemUid);
    assert.doesNotMatch(await progress(), /drafting/, 'opening a report is not writing it');
    const saved = await save('rc-reader', study, {}, report.draftRevision);
    assert.match(await progress(), /drafting/, '初诊中 from the first save');
    const preliminary = await sign('rc-reader', study, { role: 'preliminary', revision: saved.json.revision });
    assert.equal(preliminary.status, 201);
    assert.match(await progress(), /preliminary-signed/);
    assert.equal((await sign('rc-senior', study, { role: 'final', revision: preliminary.json.draftRevision })).status, 201);
    assert.match(await progress(), /final-signed/);
  });

  it('stores a received SR that departs from TID 2000 as sent, and flags it; its own SRs pass the same check', async () => {
    const study = studies[3]!;
    const header = (await system.runtime.reports.studyHeader(study))!;
    const signature = { role: 'final' as const, userId: '1', name: 'Chen^Jing=陈^静', title: null, licence: null, institution: '外院', signedAt: new Date().toISOString() };
    const sr = buildReportSr({ study: header, version: { version: 1, status: 'final', content: { findings: '外院报告', impression: '未见异常', criticalFinding: null, templateId: null }, signatures: [signature], amendmentReason: null, srSopInstanceUid: newUid(), srSeriesInstanceUid: newUid(), createdAt: '' }, predecessor: null });
    // As an older system writes it: the retired DCM heading for Findings.
    const findings = (sr['0040A730']!.Value as DicomJsonDataset[]).find((item) => JSON.stringify(item['0040A043']).includes('59776-5'))!;
    findings['0040A043'] = { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['121070'] }, '00080102': { vr: 'SH', Value: ['DCM'] }, '00080104': { vr: 'LO', Value: ['Findings'] } }] };
    await system.runtime.ingest.ingest({ part10: writeReportSr(sr) }, { via: 'import', name: 'other-pacs', institutionId: institutionIds.get('QINGSHI')! });
    const series = await srSeries(study);
    assert.equal(series.length, 1, 'stored all the same');
    const flagged = await system.runtime.reports.templateProblemsOf(study);
    assert.equal(flagged.length, 1);
    assert.match(JSON.stringify(flagged[0]!.problems), /retired/);
    assert.deepEqual(await system.runtime.reports.templateProblemsOf(studies[0]!), [], 'the SRs Yingyun wrote conform');
  });

  it('writes the SR and the PDF of a signature whose enqueue was lost: the running reconciler finds them missing and enqueues both', async () => {
    const study = studies[3]!;
    await system.runtime.queue.whenIdle();
    assert.deepEqual(await system.runtime.reports.versionsAwaitingDocuments(0), [], 'every signature so far has its SR and PDF');
    // A signature committed whose enqueue never happened (the process died in between).
    const repository = new ReportsRepository(system.runtime.db.pool);
    const report = await repository.open(study, institutionIds.get('QINGSHI')!, null, { findings: FINDINGS, impression: IMPRESSION, criticalFinding: null, templateId: null });
    const signedAt = new Date().toISOString();
    const sr = { srSopInstanceUid: newUid(), srSeriesInstanceUid: newUid() };
    const { sopInstanceUid } = reportPdfUids(sr);
    await repository.sign(report.id, () => ({
      add: { status: 'preliminary', content: report.draft, amendmentReason: null, signatures: [{ role: 'preliminary', userId: userIds.get('rc-reader')!, name: 'Li^Ming=李^明', title: null, licence: null, institution: '清河市影像诊断中心', signedAt }], ...sr, pdfSopInstanceUid: sopInstanceUid },
      result: undefined,
    }));
    assert.deepEqual(await system.runtime.reports.versionsAwaitingDocuments(0), [{ reportId: report.id, version: 1, sr: true, pdf: true }]);
    // Nothing is enqueued here: the system's own reconciler (a pass every second, 2 s grace in tests) must find both.
    for (const deadline = Date.now() + 60_000; (await system.runtime.reports.versionsAwaitingDocuments(0)).length && Date.now() < deadline; ) {
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    await system.runtime.queue.whenIdle();
    assert.deepEqual(await system.runtime.reports.versionsAwaitingDocuments(0), [], 'the SR and the PDF were received');
    const series = await srSeries(study);
    assert.ok(series.some((item) => JSON.stringify(item).includes('v1 初诊')), 'the preliminary SR is in the study');
    const pdfs = await fetch(`${system.dicomWebUrl}/studies/${study}/instances?SOPInstanceUID=${sopInstanceUid}`, { headers: { authorization: `Bearer ${system.adminToken}`, accept: 'application/dicom+json' } });
    assert.equal(pdfs.status, 200);
    assert.equal(((await pdfs.json()) as DicomJsonDataset[]).length, 1, 'the Encapsulated PDF is in the study');
    const download = await call('rc-reader', 'GET', `/api/studies/${study}/report/pdf`);
    assert.equal(download.status, 200, 'and downloadable');
    assert.equal(download.headers.get('content-type'), 'application/pdf');
  });

  it('offers shipped templates by modality and body part with a centre’s own, and phrases', async () => {
    const added = await call<ReportTemplate>('rc-reader', 'POST', '/api/report-templates', { kind: 'template', modality: 'ct', bodyPart: 'chest', language: 'zh-CN', name: '本中心胸部CT模板', findings: '双肺…', impression: '未见异常。' });
    assert.equal(added.status, 201);
    const templates = (await call<ReportTemplate[]>('rc-reader', 'GET', '/api/report-templates?modality=CT&bodyPart=CHEST')).json;
    assert.ok(templates.some((template) => template.id === 'ct-chest-zh'));
    assert.ok(templates.some((template) => template.id === added.json.id && template.modality === 'CT'));
    assert.ok(templates.some((template) => template.kind === 'phrase'));
    assert.ok(!templates.some((template) => template.bodyPart === 'HEAD'));
    assert.ok(!(await call<ReportTemplate[]>('sc-reader', 'GET', '/api/report-templates')).json.some((template) => template.id === added.json.id), "another centre's templates are its own");
  });
});
