import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { browserUnavailable, createUser, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { sendWithStorescu, writeInstances } from './support/faults.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * 系统状态 / System status in headless Chromium: after instances arrive over DICOM, the system
 * administrator's tab draws the throughput, latency, queue, association, backend and backlog charts
 * from the process heartbeats and lists this process as live, in Chinese and in English.
 */
describe('system status screen', { skip: browserUnavailable() }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let folder: string;
  const pageProblems: string[] = [];

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    folder = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-status-'));
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
    if (folder) await fs.rm(folder, { recursive: true, force: true });
  });

  it('charts the figures of every process and lists them', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const heartbeat = system.runtime.heartbeat!;
    await heartbeat.beat();
    const sent = await sendWithStorescu(system.dicomPort, writeInstances(folder, 'status-screen', 8), { associations: 2 });
    assert.equal(sent.acknowledged.length, 8, sent.output);
    await system.runtime.queue.whenIdle();
    await heartbeat.beat();

    const administrator = await createUser(system, 'ops-admin', 'system_admin', '运维管理员');
    await signIn(page, system.httpUrl, administrator, '/admin?tab=status');
    await waitForCondition(page, `document.querySelectorAll('.admin-tab[data-tab=status] svg[data-chart=throughput] polyline[data-line=stored]').length > 0`);
    assert.equal(await page.textContent('.admin-tabs [data-tab=status]'), '系统状态');
    for (const chart of ['throughput', 'latency', 'queue', 'associations', 'backends', 'backlog']) {
      assert.equal(await page.locator(`svg[data-chart=${chart}]`).count(), 1, `the ${chart} chart is drawn`);
    }
    assert.ok((await page.locator('svg[data-chart=latency] polyline[data-line=p95]').count()) > 0, 'the ingest latency p95 is a line');
    assert.ok((await page.locator('svg[data-chart=backends] polyline[data-line=database]').count()) > 0, 'database latency is a line');
    const legend = await page.textContent('figure[data-figure=throughput] .status-legend');
    assert.ok(legend?.includes('已存储'), legend ?? '');
    const row = page.locator('table[data-table=processes] tbody tr', { hasText: String(process.pid) });
    assert.equal(await row.count(), 1);
    const rowText = await row.textContent();
    assert.ok(rowText?.includes('一体化') && rowText.includes('在线') && rowText.includes('8'), rowText ?? '');

    const english = await (await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'en-GB' })).newPage();
    await watchForPageProblems(english, pageProblems);
    await signIn(english, system.httpUrl, administrator, '/admin?tab=status');
    await waitForCondition(english, `document.querySelectorAll('table[data-table=processes] tbody tr').length > 0`);
    assert.equal(await english.textContent('.admin-tabs [data-tab=status]'), 'System status');
    const englishRow = await english.locator('table[data-table=processes] tbody tr', { hasText: String(process.pid) }).textContent();
    assert.ok(englishRow?.includes('All-in-one') && englishRow.includes('Live'), englishRow ?? '');
    assert.deepEqual(pageProblems, []);
  });
});
