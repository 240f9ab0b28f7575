import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeCtSeries, STUDIES } from '../fixtures/generate.ts';
import { browserUnavailable, createUser, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems, type Credentials } from './support/browser.ts';
import { startStorescpDestination, type StorescpDestination } from './support/dcmtk.ts';
import { datasetDigest, FAST_FORWARDING, waitFor, wholeFiles } from './support/forwarding.ts';
import { commandExists } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The 转发 admin tab and the study list's 发送 in headless Chromium, as a system administrator: a rule
 * made in the form is in the archive; a study sent from its row arrives at a DCMTK storescp and the
 * dialog counts it done.
 */
function storescpUnavailable(): string | undefined {
  if (commandExists('storescp')) return undefined;
  if (process.env.CI === 'true') throw new Error('CI=true but DCMTK storescp is not installed');
  return 'DCMTK storescp is not installed here';
}
const unavailable = browserUnavailable() ?? storescpUnavailable();

describe('routing screens: the Forwarding tab and Send from the study list', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let workstation: StorescpDestination;
  let administrator: Credentials;
  const pageProblems: string[] = [];
  const temporary = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-routing-screen-'));
  const stored = new Map<string, string>();
  let study: string;

  before(async () => {
    [system] = await Promise.all([startTestSystem(FAST_FORWARDING), ensureViewerBuilt()]);
    workstation = await startStorescpDestination('READING_WS', path.join(temporary, 'workstation'));
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'READING_WS', host: '127.0.0.1', port: workstation.port });
    for (const instance of makeCtSeries({ study: STUDIES.wangPriorCt, slices: 3, rows: 64, columns: 64 })) {
      const { parsed } = await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'routing-screen', institutionId: system.institutionId });
      stored.set(parsed.sopInstanceUid, datasetDigest(instance.bytes));
      study = parsed.studyInstanceUid;
    }
    await system.runtime.queue.whenIdle();
    administrator = await createUser(system, 'sysadmin', 'system_admin', '系统管理员');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
    await signIn(page, system.httpUrl, administrator, '/admin?tab=routing');
  });
  after(async () => {
    await browser?.close();
    await workstation?.stop();
    await system?.shutdown();
    fs.rmSync(temporary, { recursive: true, force: true });
  });

  it('makes a routing rule in the 转发 tab', async () => {
    await page.waitForSelector('.admin-tab[data-tab=routing] form[data-form=routing-rule]');
    await waitForCondition(page, `[...document.querySelectorAll('form[data-form=routing-rule] select[name=destination] option')].some((option) => option.value === 'peer:READING_WS')`);
    const form = page.locator('form[data-form=routing-rule]');
    await form.locator('input[name=name]').fill('县医院 MR → 阅片工作站');
    await form.locator('input[name=modalities]').fill('mr');
    await form.locator('select[name=destination]').selectOption('peer:READING_WS');
    await form.locator('button[type=submit]').click();
    await waitForCondition(page, `document.querySelectorAll('table[data-table=routing-rules] tbody tr').length === 1`);
    const rowText = await page.locator('table[data-table=routing-rules] tbody tr').first().textContent();
    assert.match(rowText ?? '', /县医院 MR → 阅片工作站.*MR.*READING_WS/);
    const rules = (await (await system.fetch(`${system.httpUrl}/api/admin/routing-rules`)).json()) as { name: string; modalities: string[] }[];
    assert.deepEqual(rules.map(({ name, modalities }) => ({ name, modalities })), [{ name: '县医院 MR → 阅片工作站', modalities: ['MR'] }]);
    assert.deepEqual(pageProblems, []);
  });

  it('sends a study from its row in the study list and shows it done', async () => {
    await page.goto(`${system.httpUrl}/`);
    const row = page.locator(`tr[data-study="${study}"]`);
    await row.waitFor();
    await row.locator('button[data-action=send]').click();
    await waitForCondition(page, `[...document.querySelectorAll('select[name=send-destination] option')].some((option) => option.value === 'peer:READING_WS')`);
    await page.locator('select[name=send-destination]').selectOption('peer:READING_WS');
    await page.locator('button[data-action=send-study]').click();
    await waitForCondition(page, `document.querySelector('[data-field=send-progress]')?.textContent?.startsWith('完成')`);
    assert.equal(await page.locator('[data-field=send-progress]').textContent(), '完成：已发送 3，失败 0，共 3。');
    const files = await waitFor('the three files whole', () => wholeFiles(workstation.files()));
    assert.equal(files.length, 3);
    for (const part10 of files) assert.ok([...stored.values()].includes(datasetDigest(part10)), 'a stored dataset, byte for byte');
    assert.deepEqual(pageProblems, []);
  });
});
