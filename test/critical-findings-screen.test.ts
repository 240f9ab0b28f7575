import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { CriticalNotice } from '../archive/reading/critical-finding-wire.ts';
import { makeSecondaryCaptures, STUDIES } from '../fixtures/generate.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, screenshot, signIn, waitForCondition, waitForText, watchForPageProblems } from './support/browser.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The acknowledge dialog (复述确认) in headless Chromium, in Chinese: a reading centre raised a
 * critical finding on a Qingshi study; Qingshi's doctor sees the red count, opens the notice, is told
 * a read-back that does not name the finding will not do, reads it back, and the notice is closed —
 * the reader sees who acknowledged it and what they read back.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'critical screen passphrase';

describe('critical findings screen', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let readerToken: string;
  let notice: CriticalNotice;
  const pageProblems: string[] = [];

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'CFS_REGION', name: '清河市', level: 'city' });
    const qingshi = await administration.createInstitution(actor, { code: 'CFS_QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'CFS_REGION' });
    await administration.createInstitution(actor, { code: 'CFS_CENTRE', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'CFS_REGION' });
    await administration.createUser(actor, { username: 'cfs-reader', displayName: '李明', role: 'radiologist', institutionCode: 'CFS_CENTRE' });
    await administration.createUser(actor, { username: 'cfs-doctor', displayName: '孙医生', role: 'referring_doctor', institutionCode: 'CFS_QINGSHI', password: PASSWORD });
    readerToken = (await administration.createToken(actor, { username: 'cfs-reader', label: 'critical screen' })).token;
    const [instance] = [...makeSecondaryCaptures({ study: STUDIES.wangPriorCt, count: 1, seriesNumber: 92 })];
    const { parsed } = await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'critical screen', institutionId: qingshi.id });
    await system.runtime.queue.whenIdle();
    const raised = await fetch(`${system.httpUrl}/api/critical-findings`, {
      method: 'POST',
      headers: { authorization: `Bearer ${readerToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ studyInstanceUid: parsed.studyInstanceUid, category: 'tension-pneumothorax', text: '右侧张力性气胸，纵隔左移' }),
    });
    const raisedText = await raised.text();
    assert.equal(raised.status, 201, raisedText);
    notice = JSON.parse(raisedText) as CriticalNotice;
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('the hospital doctor reads the finding back in the dialog; the reader sees it acknowledged', async () => {
    await signIn(page, system.httpUrl, { username: 'cfs-doctor', password: PASSWORD, displayName: '孙医生' });
    await waitForText(page, '.critical-toggle.has-open', '危急值（1）');
    await page.click('.critical-toggle');
    const item = `.critical-open li[data-notice="${notice.id}"]`;
    await waitForText(page, item, '张力性气胸');
    await waitForText(page, item, '右侧张力性气胸，纵隔左移');
    // The name as the study list shows it in Chinese, not the raw Part 10 form (Wang^XiaoDong=王^小东).
    await waitForText(page, item, '患者 王小东 (Wang, XiaoDong)（');
    await page.click(`${item} [data-action=start-acknowledge]`);

    await page.fill(`${item} textarea[name=readBack]`, '收到');
    await waitForText(page, `${item} .critical-hint`, '复述内容尚未包含该危急值');
    await page.click(`${item} [data-action=acknowledge-critical]`);
    await waitForText(page, '.critical-panel .form-error', '复述内容尚未包含该危急值');

    await page.fill(`${item} textarea[name=readBack]`, '右侧张力性气胸');
    await waitForText(page, `${item} .critical-hint`, '复述内容与危急值相符');
    await page.fill(`${item} input[name=name]`, '王护士');
    await page.fill(`${item} input[name=role]`, '急诊科护士');
    await page.fill(`${item} input[name=phone]`, '13900000003');
    await screenshot(page, 'critical-acknowledge-dialog');
    await page.click(`${item} [data-action=acknowledge-critical]`);
    await waitForText(page, '.critical-open', '暂无未确认的危急值');
    await waitForCondition(page, `!document.querySelector('.critical-toggle').classList.contains('has-open')`);

    const seen = await fetch(`${system.httpUrl}/api/critical-findings/${notice.id}`, { headers: { authorization: `Bearer ${readerToken}` } });
    const acknowledged = (await seen.json()) as CriticalNotice;
    assert.equal(acknowledged.acknowledged?.name, '王护士');
    assert.equal(acknowledged.acknowledged?.role, '急诊科护士');
    assert.equal(acknowledged.acknowledged?.phone, '13900000003');
    assert.equal(acknowledged.acknowledged?.readBack, '右侧张力性气胸');

    await page.fill('.critical-register-form input[name=from]', new Date().toISOString().slice(0, 10));
    await page.click('[data-action=load-register]');
    await waitForText(page, `.critical-register li[data-notice="${notice.id}"]`, '王护士');
    await screenshot(page, 'critical-register');
    assert.deepEqual(pageProblems, []);
  });
});
