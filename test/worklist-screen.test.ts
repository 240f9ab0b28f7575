import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeCtSeries } from '../fixtures/modalities.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, screenshot, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { askEmergencies, qingshiChestCt } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The reading centre's worklist screen in headless Chromium, signed in as a reader of the centre:
 * tasks made elsewhere (through UPS-RS) show with their turnaround clocks red and amber, a county
 * study arriving appears without a reload, green, and the reader assigns it to a colleague.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'worklist screen passphrase';
const arriving = qingshiChestCt({ name: 'Chen^Jing=陈^静', id: 'QS-7001', birthDate: '19800202', sex: 'F' }, 'QS-ACC-7001');

describe('worklist screen', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const pageProblems: string[] = [];
  /** The rows on screen, read in the page (a string expression: this suite is compiled without the DOM's types). */
  const rows = () =>
    page.evaluate(`[...document.querySelectorAll('.worklist-table tbody tr[data-workitem]')].map((row) => ({
      workitem: row.getAttribute('data-workitem'),
      status: row.getAttribute('data-status'),
      colour: row.querySelector('td.clock')?.getAttribute('data-colour'),
      reader: row.querySelector('td[data-reader]')?.getAttribute('data-reader'),
      text: row.textContent ?? '',
    }))`) as Promise<{ workitem: string | null; status: string | null; colour: string | null | undefined; reader: string | null | undefined; text: string }[]>;

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    const region = await administration.createRegion(actor, { code: 'QINGHE', name: '清河市', level: 'city' });
    await administration.createInstitution(actor, { code: 'QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'QINGHE' });
    const centre = await administration.createInstitution(actor, { code: 'RC', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'QINGHE' });
    await administration.createUser(actor, { username: 'rc-reader', displayName: '李明', role: 'radiologist', institutionCode: 'RC', password: PASSWORD });
    await administration.createUser(actor, { username: 'rc-colleague', displayName: '王芳', role: 'radiologist', institutionCode: 'RC', password: PASSWORD });
    await administration.createUser(actor, { username: 'qs-radiologist', displayName: '赵医生', role: 'radiologist', institutionCode: 'QINGSHI' });
    await administration.createUser(actor, { username: 'qs-doctor', displayName: '孙医生', role: 'referring_doctor', institutionCode: 'QINGSHI', password: PASSWORD });
    const qsToken = (await administration.createToken(actor, { username: 'qs-radiologist', label: 'worklist-screen' })).token;
    const rule = await system.fetch(`${system.httpUrl}/api/admin/reading-rules`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ readingCentreId: centre.id, regionId: region.id, modalities: ['CT'] }) });
    assert.equal(rule.status, 201);
    await askEmergencies(system, qsToken, 'RC', [['RED-1', 180], ['AMBER-1', 50]]);
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1500, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('shows the centre’s tasks, emergencies first, with red and amber clocks and Chinese states', async () => {
    await signIn(page, system.httpUrl, { username: 'rc-reader', password: PASSWORD, displayName: '李明' }, '/worklist');
    await waitForCondition(page, `document.querySelectorAll('.worklist-table tbody tr[data-workitem]').length === 2`);
    const shown = await rows();
    assert.deepEqual(shown.map((row) => row.colour), ['red', 'amber'], 'the longest waiting first');
    assert.ok(shown[0]!.text.includes('RED-1') && shown[0]!.text.includes('待分配') && shown[0]!.text.includes('急诊') && shown[0]!.text.includes('排除颅内出血'), shown[0]!.text);
    assert.ok(shown[0]!.text.includes('超时'), 'a red clock says how far over');
  });

  it('a county study arriving appears without a reload, green, and the screen listens on the UPS event channel', async () => {
    await waitForCondition(page, `document.querySelector('[data-live]')?.getAttribute('data-live') === 'socket'`);
    for (const instance of makeCtSeries({ study: arriving, slices: 2, rows: 32, columns: 32 })) {
      await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'worklist-screen', institutionId: (await system.runtime.institutions.findInstitutionByCode('QINGSHI'))!.id });
    }
    await system.runtime.queue.whenIdle();
    await waitForCondition(page, `[...document.querySelectorAll('.worklist-table tbody tr[data-workitem]')].some((row) => row.textContent.includes('QS-7001'))`, 15_000);
    const shown = await rows();
    const arrived = shown.find((row) => row.text.includes('QS-7001'))!;
    assert.equal(shown.at(-1), arrived, 'a routine task after the emergencies');
    assert.equal(arrived.colour, 'green');
    assert.equal(arrived.status, 'unassigned');
    await screenshot(page, 'worklist-centre');
  });

  it('assigns a task to a colleague, and filters to emergencies', async () => {
    const target = (await rows()).find((row) => row.text.includes('QS-7001'))!.workitem!;
    const row = page.locator(`tr[data-workitem="${target}"]`);
    const colleague = (await page.evaluate(`[...document.querySelectorAll('select[data-action=assign-to] option')].find((option) => option.textContent === '王芳')?.getAttribute('value')`)) as string | undefined;
    assert.ok(colleague);
    await row.locator('select[data-action=assign-to]').selectOption(colleague);
    await row.locator('button[data-action=assign]').click();
    await waitForCondition(page, `document.querySelector('tr[data-workitem="${target}"]')?.getAttribute('data-status') === 'assigned'`);
    assert.equal((await rows()).find((entry) => entry.workitem === target)?.reader, 'rc-colleague');
    assert.ok((await rows()).find((entry) => entry.workitem === target)?.text.includes('已分配'));

    await page.locator('input[data-filter=emergency]').check();
    await waitForCondition(page, `document.querySelectorAll('.worklist-table tbody tr[data-workitem]').length === 2`);
    await page.locator('input[data-filter=emergency]').uncheck();
    await waitForCondition(page, `document.querySelectorAll('.worklist-table tbody tr[data-workitem]').length === 3`);
  });

  it('returns a task with a reason, which the hospital sees on its screen and answers', async () => {
    const target = (await rows()).find((row) => row.text.includes('QS-7001'))!.workitem!;
    await page.locator(`tr[data-workitem="${target}"] button[data-action=return]`).click();
    await page.locator(`tr[data-return-for="${target}"] select[data-field=return-reason]`).selectOption('needs-more-series');
    await page.locator(`tr[data-return-for="${target}"] input[data-field=return-text]`).fill('请补充增强扫描');
    await page.locator(`tr[data-return-for="${target}"] button[data-action=confirm-return]`).click();
    await waitForCondition(page, `document.querySelector('tr[data-workitem="${target}"]')?.getAttribute('data-status') === 'returned'`);

    const hospital = await (await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' })).newPage();
    const hospitalProblems: string[] = [];
    await watchForPageProblems(hospital, hospitalProblems);
    await signIn(hospital, system.httpUrl, { username: 'qs-doctor', password: PASSWORD, displayName: '孙医生' }, '/worklist');
    const row = `tr[data-workitem="${target}"]`;
    await waitForCondition(hospital, `document.querySelector('${row}')?.getAttribute('data-status') === 'returned'`);
    const shown = (await hospital.evaluate(`document.querySelector('${row}').textContent`)) as string;
    assert.ok(shown.includes('需补充序列') && shown.includes('请补充增强扫描'), shown);
    await hospital.locator(`${row} input[data-field=reply]`).fill('已补传增强序列');
    await hospital.locator(`${row} button[data-action=reply]`).click();
    await waitForCondition(hospital, `document.querySelector('${row} td.notes')?.textContent.includes('已补传增强序列')`);
    await screenshot(hospital, 'worklist-hospital');
    assert.deepEqual(hospitalProblems, []);
    await hospital.close();
  });

  it('opens the study of a task in the reading view', async () => {
    const target = (await rows()).find((row) => row.text.includes('QS-7001'))!.workitem!;
    await page.locator(`tr[data-workitem="${target}"] button[data-action=open]`).click();
    await page.waitForURL(/\/viewer\?StudyInstanceUIDs=/);
    assert.deepEqual(pageProblems, []);
  });
});
