import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { Report } from '../archive/reading/report.ts';
import { translator } from '../viewer/src/i18n/i18n.ts';
import { browserUnavailable, createUser, ensureViewerBuilt, launchChromium, screenshot, signIn, waitForText, watchForPageProblems, type Credentials } from './support/browser.ts';
import { countyImage, newUid } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The report editor in headless Chromium, two people in two browser contexts: a reader picks a
 * template, types (saved as typed, kept across a reload and a dropped connection) and signs the
 * 初诊; a senior with the verify attribute edits and signs the final; both versions show.
 */
describe('report editor in the viewer', { skip: browserUnavailable() }, () => {
  let system: TestSystem;
  let browser: Browser;
  const contexts: BrowserContext[] = [];
  const problems: string[] = [];
  let reader: Credentials;
  let senior: Credentials;
  const study = newUid();
  const zh = translator('zh-CN');

  const person = async (credentials: Credentials): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, locale: 'zh-CN' });
    contexts.push(context);
    const page = await context.newPage();
    await watchForPageProblems(page, problems);
    await signIn(page, system.httpUrl, credentials, `/viewer?StudyInstanceUIDs=${study}`);
    await page.locator('.report-panel textarea[name=findings]').waitFor();
    return page;
  };
  const report = async () => (await (await system.fetch(`${system.httpUrl}/api/studies/${study}/report`)).json()) as Report;

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    await system.runtime.ingest.ingest({ part10: countyImage(study) }, { via: 'import', name: 'report-editor', institutionId: system.institutionId });
    await system.runtime.queue.whenIdle();
    reader = await createUser(system, 'reader', 'radiologist', '李明 Li Ming');
    senior = await createUser(system, 'senior', 'radiologist', '张伟 Zhang Wei');
    const seniorId = (await system.runtime.users.findByUsername('senior'))!.id;
    const response = await system.fetch(`${system.httpUrl}/api/report-readers/${seniorId}`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ professionalTitle: '主任医师', licenceNumber: '110100000002', mayVerifyReports: true }) });
    assert.equal(response.status, 204);
    browser = await launchChromium();
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await system?.shutdown();
  });

  it('saves what the reader types, keeps it across a reload and a dropped connection, and signs the 初诊', async () => {
    const page = await person(reader);
    await page.selectOption('.report-panel select[data-action=report-template]', 'ct-chest-zh');
    assert.match(await page.locator('.report-panel textarea[name=impression]').inputValue(), /胸部CT平扫未见明显异常/);
    await page.locator('.report-panel textarea[name=findings]').fill('右肺上叶见一磨玻璃结节，直径约8mm。');
    await page.locator('.report-panel textarea[name=impression]').fill('右肺上叶磨玻璃结节，建议随访。');
    await waitForText(page, '.report-panel .report-save', zh('report.save.saved'));
    assert.equal((await report()).draft.findings, '右肺上叶见一磨玻璃结节，直径约8mm。', 'saved on the server as typed');

    await page.reload();
    await page.locator('.report-panel textarea[name=findings]').waitFor();
    await page.waitForFunction(`document.querySelector('.report-panel textarea[name=findings]')?.value.includes('磨玻璃')`);

    // The connection drops while typing: the text stays, marked 离线, and is saved once it returns.
    await page.context().setOffline(true);
    await page.locator('.report-panel textarea[name=findings]').fill('右肺上叶见一磨玻璃结节，直径约8mm，边界清楚。');
    await waitForText(page, '.report-panel .report-save', zh('report.save.offline'));
    await page.context().setOffline(false);
    await page.evaluate(`dispatchEvent(new Event('online'))`);
    await waitForText(page, '.report-panel .report-save', zh('report.save.saved'), 20_000);
    assert.equal((await report()).draft.findings, '右肺上叶见一磨玻璃结节，直径约8mm，边界清楚。');

    await screenshot(page, 'report-editor');
    // The consultation panel opens beside the report editor, not over it.
    await page.click('.consultation-toggle');
    const consultation = (await page.locator('.consultation-panel').boundingBox())!;
    const editor = (await page.locator('.report-panel').boundingBox())!;
    assert.ok(consultation.x + consultation.width <= editor.x + 1, `the consultation panel (${consultation.x}+${consultation.width}) ends before the editor (${editor.x})`);
    await page.click('.consultation-toggle');
    await page.click('.report-panel [data-action=sign-preliminary]');
    await waitForText(page, '.report-panel .report-status', zh('report.status.preliminary'));
    assert.equal((await report()).status, 'preliminary');
  });

  it('lets a senior with the verify attribute edit and sign the final, and shows both versions', async () => {
    const page = await person(senior);
    await page.locator('.report-panel textarea[name=impression]').fill('右肺上叶磨玻璃结节，建议3个月后复查。');
    await waitForText(page, '.report-panel .report-save', zh('report.save.saved'));
    await page.click('.report-panel [data-action=sign-final]');
    await waitForText(page, '.report-panel .report-status', zh('report.status.final'));
    assert.equal(await page.locator('.report-panel .report-history > li').count(), 2);
    await screenshot(page, 'report-editor-final');
    const signed = await report();
    assert.equal(signed.status, 'final');
    assert.equal(signed.versions[1]!.content.impression, '右肺上叶磨玻璃结节，建议3个月后复查。');
    assert.equal(signed.versions[1]!.signatures.at(-1)!.name, 'Zhang^Wei=张^伟');
    assert.deepEqual(problems, []);
  });
});
