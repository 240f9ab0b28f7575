import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeCtSeries, STUDIES, type Study } from '../fixtures/generate.ts';
import { translator } from '../viewer/src/i18n/i18n.ts';
import {
  browserUnavailable,
  cornerText,
  createUser,
  ensureViewerBuilt,
  launchChromium,
  screenshot,
  signIn,
  startSystemWith,
  waitForCornerText,
  waitForFirstImage,
  waitForText,
  watchForPageProblems,
  type Credentials,
} from './support/browser.ts';
import type { TestSystem } from './support/system.ts';

/**
 * Live consultation (远程会诊) in two headless Chromium browsers: a radiologist of TEST_HOSPITAL
 * invites an expert of another hospital to a chest CT from the viewer; the expert accepts from the
 * consultation panel, which opens the study (granted for the session) and joins. What the presenter
 * does to the view — slice, window/level — appears on the expert's screen, read from the expert's
 * own overlays; the floor passes on request and hand-over, and then the presenter follows. Chat,
 * pointer and opinion travel the same session.
 */
const unavailable = browserUnavailable();
const zh = translator('zh-CN');

const study: Study = { ...STUDIES.wangPriorCt, accessionNumber: 'QS25120500001', description: 'CT胸部平扫 会诊' };
const EXPERT_PASSWORD = 'consultation passphrase';

describe('live consultation in the browser (end to end)', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let presenterPage: Page;
  let expertPage: Page;
  let presenter: Credentials;
  const expert: Credentials = { username: 'expert', password: EXPERT_PASSWORD, displayName: '会诊专家' };
  const series = [...makeCtSeries({ study, seriesNumber: 2, slices: 12, rows: 128, columns: 128 })];
  const studyUid = series[0]!.description.studyInstanceUid;
  const pageProblems: string[] = [];
  const contexts: BrowserContext[] = [];

  const personPage = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    contexts.push(context);
    const page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
    return page;
  };

  before(async () => {
    [system] = await Promise.all([startSystemWith(series), ensureViewerBuilt()]);
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'EXPERT_HOSPITAL', name: '省人民医院 Provincial Hospital', kind: 'hospital' });
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: expert.username, displayName: expert.displayName, role: 'radiologist', institutionCode: 'EXPERT_HOSPITAL', password: EXPERT_PASSWORD });
    presenter = await createUser(system, 'presenter', 'radiologist', '主诊医生');
    browser = await launchChromium();
    presenterPage = await personPage();
    expertPage = await personPage();
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await system?.shutdown();
  });

  it('the presenter invites from the viewer; the expert, at another hospital, accepts and joins', async () => {
    await signIn(presenterPage, system.httpUrl, presenter, `/viewer?StudyInstanceUIDs=${studyUid}`);
    await waitForFirstImage(presenterPage, 'viewport-0');
    await presenterPage.click('button[data-action=consultation]');
    await presenterPage.fill('.consultation-invite input[name=invitee]', expert.username);
    await presenterPage.fill('.consultation-invite input[name=reason]', '右上肺结节性质待定');
    await presenterPage.click('.consultation-invite button[data-action=invite]');
    await waitForText(presenterPage, '.consultation-outcome', zh('consult.invited', { name: expert.displayName }));
    await waitForText(presenterPage, '.consultation-list', zh('consult.status.invited'));

    // Before accepting, the study is not the expert's to open.
    await signIn(expertPage, system.httpUrl, expert, `/viewer?StudyInstanceUIDs=${studyUid}`);
    await expertPage.waitForSelector('.reading-message.error');
    await expertPage.click('button[data-action=consultation]');
    await expertPage.click('button[data-action=consultation-accept]');
    await waitForFirstImage(expertPage, 'viewport-0');
    await waitForText(expertPage, '.consultation-floor', zh('consult.floorOther', { name: presenter.displayName }));

    // The presenter's panel lists the consultation as in session; joining opens the session there too.
    await presenterPage.click('button[data-action=consultations-refresh]');
    await presenterPage.click('button[data-action=consultation-join]');
    await waitForText(presenterPage, '.consultation-floor', zh('consult.floorYou', { name: expert.displayName }));
  });

  it('window/level and slice set by the presenter show on the expert’s screen', async () => {
    await presenterPage.keyboard.press('End');
    await waitForCornerText(presenterPage, 0, 'bottom-left', zh('overlay.image', { index: 12, total: 12 }));
    await waitForCornerText(expertPage, 0, 'bottom-left', zh('overlay.image', { index: 12, total: 12 }));
    const bone = await presenterPage.locator('select[data-action=presets] option', { hasText: zh('preset.bone') }).getAttribute('value');
    await presenterPage.selectOption('select[data-action=presets]', bone!);
    await waitForCornerText(presenterPage, 0, 'bottom-right', zh('overlay.window', { width: 2000, center: 500 }));
    await waitForCornerText(expertPage, 0, 'bottom-right', zh('overlay.window', { width: 2000, center: 500 }));
    assert.equal((await cornerText(expertPage, 0, 'bottom-right')).split('\n')[0], (await cornerText(presenterPage, 0, 'bottom-right')).split('\n')[0]);
    await screenshot(expertPage, 'consultation-follower');
  });

  it('the floor passes on request and hand-over; then the presenter follows the expert', async () => {
    await expertPage.click('button[data-action=floor-request]');
    await waitForText(presenterPage, '.consultation-floor-request', zh('consult.floorRequested', { name: expert.displayName }));
    await presenterPage.click('button[data-action=floor-hand-over]');
    await waitForText(expertPage, '.consultation-floor', zh('consult.floorYou', { name: presenter.displayName }));
    await waitForText(presenterPage, '.consultation-floor', zh('consult.floorOther', { name: expert.displayName }));
    const brain = await expertPage.locator('select[data-action=presets] option', { hasText: zh('preset.brain') }).getAttribute('value');
    await expertPage.selectOption('select[data-action=presets]', brain!);
    await waitForCornerText(presenterPage, 0, 'bottom-right', zh('overlay.window', { width: 80, center: 40 }));
    await expertPage.keyboard.press('Home');
    await waitForCornerText(presenterPage, 0, 'bottom-left', zh('overlay.image', { index: 1, total: 12 }));

    const box = (await expertPage.locator('.viewport[data-cell="0"]').boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    // Zoom (the camera) follows: the presenter's overlay comes to say the expert's zoom.
    await expertPage.click('button[data-action=tool-Zoom]');
    await expertPage.mouse.move(x, y + 40);
    await expertPage.mouse.down();
    await expertPage.mouse.move(x, y - 110, { steps: 8 });
    await expertPage.mouse.up();
    const zoomLine = async (page: Page) => (await cornerText(page, 0, 'bottom-right')).split('\n').find((line) => line.includes('%')) ?? '';
    const zoomed = await zoomLine(expertPage);
    assert.notEqual(zoomed, zh('overlay.zoom', { value: 100 }));
    await waitForCornerText(presenterPage, 0, 'bottom-right', zoomed);
  });

  it('carries the pointer and the chat, and keeps the opinion with the study', async () => {
    const grid = await expertPage.locator('.viewport-grid').boundingBox();
    await expertPage.mouse.move(grid!.x + grid!.width * 0.3, grid!.y + grid!.height * 0.6);
    await presenterPage.waitForSelector('.consultation-pointer:not([hidden])');
    assert.equal(await presenterPage.locator('.consultation-pointer').innerText(), expert.displayName);

    await expertPage.fill('.consultation-chat-form input[name=chat]', '结节边缘毛刺，建议增强扫描');
    await expertPage.click('button[data-action=chat-send]');
    await waitForText(presenterPage, '.consultation-chat', '结节边缘毛刺，建议增强扫描');

    await expertPage.fill('.consultation-opinion-form textarea[name=opinion]', '右肺上叶结节，考虑周围型肺癌可能，建议增强CT及穿刺活检。');
    await expertPage.click('button[data-action=save-opinion]');
    await waitForText(expertPage, '.consultation-opinion', '建议增强CT及穿刺活检');
    await screenshot(presenterPage, 'consultation-presenter');

    await presenterPage.click('button[data-action=consultation-end]');
    await waitForText(expertPage, '.consultation-session', zh('consult.status.ended'));
    const attached = (await (await system.fetch(`${system.httpUrl}/api/studies/${studyUid}/consultations`)).json()) as { opinion: { text: string; author: string } }[];
    assert.equal(attached[0]?.opinion.author, expert.username);
    assert.deepEqual(pageProblems, []);
  });
});
