import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Report, ReportStatusSummary } from '../archive/reading/report.ts';
import { REPORT_STATUS_BATCH } from '../archive/reading/report-wire.ts';
import { readingCentre, type ReadingCentre } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * GET /api/report-statuses: where the reports of a page of studies stand, in one request, for the
 * study list and the priors panel — within what the caller may see, drafts left out.
 */
describe('report statuses for the study list and the priors panel', () => {
  let system: TestSystem;
  let centre: ReadingCentre;
  let unreported: string;
  let drafted: string;
  let preliminary: string;
  let verified: string;
  let critical: string;
  const statuses = async (username: string | null, studies: string[]) => {
    const response = await centre.call<ReportStatusSummary[]>(username, 'GET', `/api/report-statuses?${studies.map((study) => `study=${study}`).join('&')}`);
    assert.equal(response.status, 200, JSON.stringify(response.json));
    return new Map(response.json.map((summary) => [summary.studyInstanceUid, summary]));
  };

  before(async () => {
    system = await startTestSystem();
    centre = await readingCentre(system);
    [unreported, drafted, preliminary, verified, critical] = [await centre.countyStudy(), await centre.countyStudy(), await centre.countyStudy(), await centre.countyStudy(), await centre.countyStudy()];
    const opened = await centre.call<Report>('rc-reader', 'POST', `/api/studies/${drafted}/report`, {});
    assert.equal((await centre.call('rc-reader', 'PUT', `/api/studies/${drafted}/report/draft`, { content: { findings: '草稿', impression: '草稿' }, revision: opened.json.draftRevision })).status, 200);
    await centre.signPreliminary(preliminary);
    await centre.signPreliminary(verified);
    await centre.signFinal(verified);
    const withFinding = await centre.call<Report>('rc-reader', 'POST', `/api/studies/${critical}/report`, {});
    const content = { findings: '右侧胸腔大量积气，纵隔左移。', impression: '右侧张力性气胸。', criticalFinding: { category: '张力性气胸', text: '右侧张力性气胸，纵隔左移' }, templateId: null };
    assert.equal((await centre.call('rc-reader', 'PUT', `/api/studies/${critical}/report/draft`, { content, revision: withFinding.json.draftRevision })).status, 200);
    const signed = await centre.call('rc-reader', 'POST', `/api/studies/${critical}/report/signatures`, { role: 'preliminary', revision: withFinding.json.draftRevision + 1 });
    assert.equal(signed.status, 201, JSON.stringify(signed.json));
  });
  after(async () => system?.shutdown());

  it('says, for the hospital that sent them, which are preliminary, verified or critical, and leaves out drafts and unreported studies', async () => {
    const shown = await statuses('qs-referrer', [unreported, drafted, preliminary, verified, critical]);
    assert.deepEqual([...shown.keys()].sort(), [preliminary, verified, critical].sort());
    assert.equal(shown.get(preliminary)!.status, 'preliminary');
    assert.equal(shown.get(preliminary)!.critical, false);
    assert.equal(shown.get(verified)!.status, 'final');
    assert.equal(shown.get(critical)!.status, 'preliminary');
    assert.equal(shown.get(critical)!.critical, true);
    assert.match(shown.get(verified)!.signedAt, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/);
  });

  it('shows an amendment as amended, and the reading centre of the region sees the same', async () => {
    await centre.amend(verified, '右肺上叶磨玻璃结节，建议6个月后复查。', '随访间隔更正');
    const shown = await statuses('rc-reader', [verified, critical]);
    assert.equal(shown.get(verified)!.status, 'amended');
    assert.equal(shown.get(critical)!.critical, true);
  });

  it('tells another institution nothing, not even that a report exists', async () => {
    assert.equal((await statuses('nl-radiologist', [preliminary, verified, critical])).size, 0);
  });

  it('audits the studies answered as a query, and refuses a malformed UID or too many studies', async () => {
    // Earlier tests audited report-status queries of this user too: only one newer than those is this call's.
    const { rows: [last] } = await system.runtime.db.pool.query<{ id: string }>('SELECT coalesce(max(id), 0)::text AS id FROM audit_events');
    await statuses('qs-referrer', [unreported, preliminary]);
    const audited = async () =>
      (
        await system.runtime.db.pool.query<{ study_uids: string[] }>(
          `SELECT study_uids FROM audit_events WHERE id > $1 AND event_type = 'query' AND user_name = 'qs-referrer' AND detail->>'route' LIKE '/api/report-statuses%' ORDER BY id DESC LIMIT 1`,
          [last!.id],
        )
      ).rows[0]?.study_uids;
    // Audit events are written in the background: asked again until this one is there.
    for (let attempt = 0; attempt < 50 && !(await audited()); attempt++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.deepEqual(await audited(), [preliminary], 'the studies answered about, not those asked');
    assert.equal((await centre.call('qs-referrer', 'GET', '/api/report-statuses?study=not-a-uid')).status, 400);
    // A patient's priors reach 200 (the viewer asks in batches of REPORT_STATUS_BATCH): one more than a batch is refused, saying the limit.
    const batch = Array.from({ length: REPORT_STATUS_BATCH }, (_value, index) => `1.2.3.${index}`);
    assert.equal((await statuses('qs-referrer', batch)).size, 0, 'a whole batch is answered');
    const tooMany = await centre.call<{ status: number; detail: string }>('qs-referrer', 'GET', `/api/report-statuses?${[...batch, '1.2.3.999'].map((study) => `study=${study}`).join('&')}`);
    assert.equal(tooMany.status, 400);
    assert.equal(tooMany.json.detail, `name at most ${REPORT_STATUS_BATCH} studies at a time`);
    assert.deepEqual((await centre.call('qs-referrer', 'GET', '/api/report-statuses')).json, []);
  });
});
