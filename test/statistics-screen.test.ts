import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { StatisticsAnswer } from '../archive/statistics/statistics-service.ts';
import { DEMO_HOSPITALS, seedStatisticsDemo } from '../fixtures/statistics-demo.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { docImagesBothLanguages } from './support/doc-images.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const PASSWORD = 'statistics screen passphrase';

/**
 * The statistics dashboard in headless Chromium over the fixtures' statistics demo (four hospitals,
 * three months): the city's QC centre sees the region's bars and lines in Chinese, a click on a bar
 * lists the studies behind it, and the export links carry the filters.
 */
describe('statistics screen', { skip: browserUnavailable() }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const pageProblems: string[] = [];
  const lastMonth = new Date().toISOString().slice(0, 7);

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const summary = await seedStatisticsDemo(system.runtime.db.pool, { lastMonth, months: 3, studiesPerMonth: 20 });
    assert.equal(summary.studies, DEMO_HOSPITALS.length * 3 * 20);
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'QINGHE_QC', name: '清河市医学影像质控中心', kind: 'reading_centre', regionCode: 'QINGHE_DEMO' });
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'qc-director', displayName: '质控主任', role: 'qc_staff', institutionCode: 'QINGHE_QC', password: PASSWORD });
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 1000 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('draws the region per month and drills down from a bar to its studies', async () => {
    await signIn(page, system.httpUrl, { username: 'qc-director', password: PASSWORD, displayName: '质控主任' }, '/statistics');
    await waitForCondition(page, `document.querySelectorAll('.statistics svg[data-chart=grades] rect[data-bar]').length > 0`);
    assert.ok((await page.textContent('.statistics h2'))?.includes('区域统计看板'));
    const tiles = await page.textContent('.statistics-tiles');
    assert.ok(tiles?.includes('甲片率') && tiles.includes('互认率'), tiles ?? '');
    assert.ok((await page.locator('.statistics svg[data-chart=rates] circle[data-point=aGradeRate]').count()) > 0, 'the A-grade rate is drawn as a line');
    assert.ok((await page.locator('.statistics svg[data-chart=reasons] rect[data-bar]').count()) > 0, 'non-recognition reasons are drawn');
    const studiesTotal = Number((await page.textContent('.statistics-tile[data-figure=studies] strong'))?.trim());
    assert.equal(studiesTotal, DEMO_HOSPITALS.length * 3 * 20);

    await page.locator('.statistics svg[data-chart=grades] rect[data-bar="甲级"]').first().click();
    await waitForCondition(page, `document.querySelectorAll('.statistics-drill-down tbody tr[data-study]').length > 0`);
    const grades = await page.$$eval('.statistics-drill-down tbody tr[data-study] td:nth-child(6)', (cells) => [...new Set(cells.map((cell) => cell.textContent))]);
    assert.deepEqual(grades, ['A'], 'the bar of 甲 lists only studies graded A');
    await docImagesBothLanguages(page, 'recognition-statistics-dashboard', () => waitForCondition(page, `document.querySelectorAll('.statistics svg[data-chart=grades] rect[data-bar]').length > 0`));

    const answer = (await (await system.fetch(`${system.httpUrl}/api/statistics?from=${lastMonth}&to=${lastMonth}`)).json()) as StatisticsAnswer;
    assert.equal(answer.total.studies, DEMO_HOSPITALS.length * 20, 'the administrator sees the same month as the screen');

    await page.selectOption('.statistics select[data-filter=groupBy]', 'institution');
    await waitForCondition(page, `[...document.querySelectorAll('.statistics-table tbody th')].some((cell) => cell.textContent === '青石县人民医院')`);
    const href = await page.getAttribute('.statistics a[data-export=xlsx]', 'href');
    assert.match(href ?? '', /export\.xlsx\?.*groupBy=institution/);
    assert.deepEqual(pageProblems, []);
  });
});
