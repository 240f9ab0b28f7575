import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeCtSeries } from '../fixtures/modalities.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { docImagesBothLanguages } from './support/doc-images.ts';
import { qingshiChestCt } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The QC work list screen in headless Chromium, signed in as QC staff of the city's reading centre:
 * 青石县人民医院 sends a CT series of blank images and an ordinary one; at the centre's 0 % sampling
 * only the blank one is listed, as failing the automatic checks, in Chinese and red; the modality
 * filter empties the list; a row opens its study in the viewer.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'qc worklist passphrase';

describe('QC work list screen', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const pageProblems: string[] = [];
  let blankStudy: string;
  let ordinaryStudy: string;
  const rows = () =>
    page.evaluate(`[...document.querySelectorAll('.qc-worklist-table tbody tr[data-study]')].map((row) => ({
      study: row.getAttribute('data-study'),
      reasons: row.getAttribute('data-reasons'),
      outcome: row.querySelector('td.checks')?.getAttribute('data-outcome'),
      failed: [...row.querySelectorAll('[data-check-outcome=fail]')].map((check) => check.getAttribute('data-check')),
      text: row.textContent ?? '',
    }))`) as Promise<{ study: string; reasons: string; outcome: string; failed: string[]; text: string }[]>;

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'QINGHE', name: '清河市', level: 'city' });
    const hospital = await administration.createInstitution(actor, { code: 'QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'QINGHE' });
    await administration.createInstitution(actor, { code: 'RC', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'QINGHE' });
    await administration.createUser(actor, { username: 'rc-qc', displayName: '周质控', role: 'qc_staff', institutionCode: 'RC', password: PASSWORD });
    await administration.createUser(actor, { username: 'qs-doctor', displayName: '赵磊', role: 'referring_doctor', institutionCode: 'QINGSHI', password: PASSWORD });
    await administration.createUser(actor, { username: 'rc-admin', displayName: '中心管理员', role: 'institution_admin', institutionCode: 'RC' });
    const adminToken = (await administration.createToken(actor, { username: 'rc-admin', label: 'qc-worklist-screen' })).token;
    const settings = await fetch(`${system.httpUrl}/api/quality/worklist-settings`, { method: 'PUT', headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' }, body: JSON.stringify({ sampling: { defaultRatePercent: 0 } }) });
    assert.equal(settings.status, 200);
    const blank = [...makeCtSeries({ study: qingshiChestCt({ name: 'Li^Hua=李^华', id: 'QS-8001', birthDate: '19800101', sex: 'F' }, 'ACC-8001'), slices: 12, rows: 64, columns: 64, overrides: { PixelData: new Uint8Array(64 * 64 * 2) } })];
    const ordinary = [...makeCtSeries({ study: qingshiChestCt({ name: 'Chen^Jing=陈^静', id: 'QS-8002', birthDate: '19700202', sex: 'M' }, 'ACC-8002'), slices: 12, rows: 64, columns: 64 })];
    for (const instance of [...blank, ...ordinary]) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'qc-worklist-screen', institutionId: hospital.id });
    await system.runtime.queue.whenIdle();
    blankStudy = blank[0]!.description.studyInstanceUid;
    ordinaryStudy = ordinary[0]!.description.studyInstanceUid;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1500, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('lists the blank series\' study as failing the automatic checks, in Chinese and red', async () => {
    await signIn(page, system.httpUrl, { username: 'rc-qc', password: PASSWORD, displayName: '周质控' }, '/qc');
    await page.waitForSelector('a[data-nav=qc]');
    // The fixtures are dated December 2026, whatever month the suite runs in.
    await page.locator('input[data-filter=month]').fill('2026-12');
    await page.locator('input[data-filter=month]').dispatchEvent('change');
    await waitForCondition(page, `document.querySelectorAll('.qc-worklist-table tbody tr[data-study]').length === 1`);
    const [row] = await rows();
    assert.equal(row!.study, blankStudy, 'the ordinary study is neither sampled at 0 % nor failed');
    assert.equal(row!.reasons, 'auto-check');
    assert.equal(row!.outcome, 'fail');
    assert.deepEqual(row!.failed, ['pixels']);
    for (const text of ['青石县人民医院', '2026-12-05', '自动检查未通过', '未通过', '抽样的 3 幅图像中 3 幅为空白', '未评级']) assert.ok(row!.text.includes(text), `${text} in ${row!.text}`);
    const colour = await page.evaluate(`getComputedStyle(document.querySelector('.qc-check.fail')).color`);
    assert.equal(colour, 'rgb(255, 123, 114)', 'failed checks are drawn in the error colour');
    await docImagesBothLanguages(page, 'recognition-qc-worklist', () => waitForCondition(page, `document.querySelectorAll('.qc-worklist-table tbody tr[data-study]').length === 1`));
  });

  it('filters by modality, and a row opens its study in the viewer', async () => {
    await page.locator('select[data-filter=modality]').selectOption('MR');
    await waitForCondition(page, `!!document.querySelector('[data-empty=qc-worklist]')`);
    await page.locator('select[data-filter=modality]').selectOption('CT');
    await waitForCondition(page, `document.querySelectorAll('.qc-worklist-table tbody tr[data-study]').length === 1`);
    await page.locator(`tr[data-study="${blankStudy}"] button[data-action=open]`).click();
    await page.waitForURL((url) => url.pathname === '/viewer' && url.searchParams.get('StudyInstanceUIDs') === blankStudy);
  });

  it('a referring doctor asks for QC from the study list, and the study is listed as 临床反馈 with the reason', async () => {
    const doctor = await (await browser.newContext({ viewport: { width: 1500, height: 860 }, locale: 'zh-CN' })).newPage();
    await watchForPageProblems(doctor, pageProblems);
    await signIn(doctor, system.httpUrl, { username: 'qs-doctor', password: PASSWORD, displayName: '赵磊' });
    await doctor.locator(`tr[data-study="${ordinaryStudy}"] button[data-action=qc-flag]`).click();
    await doctor.locator('textarea[name=qc-flag-reason]').fill('图像有运动伪影，请质控复核');
    await doctor.locator('button[data-action=send-qc-flag]').click();
    await waitForCondition(doctor, `document.querySelector('[role=dialog] [role=status]')?.textContent.includes('已提交')`);
    await page.goto(`${system.httpUrl}/qc`);
    await page.locator('input[data-filter=month]').fill('2026-12');
    await page.locator('input[data-filter=month]').dispatchEvent('change');
    await waitForCondition(page, `document.querySelectorAll('.qc-worklist-table tbody tr[data-study]').length === 2`);
    const flagged = (await rows()).find((row) => row.study === ordinaryStudy);
    assert.equal(flagged?.reasons, 'flagged');
    assert.ok(flagged?.text.includes('临床反馈') && flagged.text.includes('赵磊：图像有运动伪影，请质控复核'), flagged?.text);
    assert.deepEqual(pageProblems, []);
  });
});
