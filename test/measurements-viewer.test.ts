import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { makeCtSeries, INSTITUTIONS, type Study } from '../fixtures/generate.ts';
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
  waitForCondition,
  waitForCornerText,
  waitForFirstImage,
  waitForText,
  watchForPageProblems,
  type Credentials,
} from './support/browser.ts';
import type { TestSystem } from './support/system.ts';

/**
 * Slice H of issue 15 in headless Chromium: a reader draws a length and marks a key image, saves
 * them with the study, reloads the page, and finds the same length drawn again and the image still
 * marked; the saved report and key-image document show as such in the series list, not as images.
 */
const unavailable = browserUnavailable();
const zh = translator('zh-CN');

const study: Study = {
  institution: INSTITUTIONS.yunxi,
  patient: { name: 'Zhou^Ping=周^平', id: 'YX20990777', birthDate: '19660606', sex: 'F' },
  accessionNumber: 'YX25120500777',
  date: '20251205',
  time: '090000',
  description: 'CT胸部平扫',
  referringPhysicianName: '',
};

describe('measurements saved with the study, in the browser', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let reader: Credentials;
  const pageErrors: string[] = [];
  const ct = [...makeCtSeries({ study, seriesNumber: 2, slices: 6, rows: 128, columns: 128 })];
  const studyInstanceUid = ct[0]!.description.studyInstanceUid;

  before(async () => {
    [system] = await Promise.all([startSystemWith(ct), ensureViewerBuilt()]);
    reader = await createUser(system, 'measuring-reader', 'radiologist', '测量医生');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
    // Exceptions and Content-Security-Policy violations: zod runs jitless, so its probe no longer trips the CSP.
    await watchForPageProblems(page, pageErrors);
    await signIn(page, system.httpUrl, reader, `/viewer?StudyInstanceUIDs=${studyInstanceUid}`);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  /** The length label Cornerstone draws on the viewport, once it has settled. */
  const lengthLabel = async (): Promise<string> => {
    await waitForCondition(page, `[...document.querySelectorAll('.viewport[data-cell="0"] svg text')].some((text) => /\\d mm/.test(text.textContent))`);
    return ((await page.locator('.viewport[data-cell="0"] svg text', { hasText: 'mm' }).allTextContents())[0] ?? '').trim();
  };

  it('draws a length, marks the image as key and saves both with the study as a TID 1500 SR and a KOS', async () => {
    await waitForFirstImage(page, 'viewport-0');
    await page.click('button[data-action=tool-Length]');
    const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
    await page.mouse.move(x - 100, y);
    await page.mouse.down();
    await page.mouse.move(x + 100, y, { steps: 10 });
    await page.mouse.up();
    assert.match(await lengthLabel(), /\d+(\.\d+)? mm/);

    await page.click('button[data-action=key-image]');
    await waitForCornerText(page, 0, 'top-right', zh('viewport.keyImage'));
    await page.click('button[data-action=save-measurements]');
    await waitForText(page, '.save-status', zh('save.saved'));
    // Read once saved: right after the mouse is released the label can still show a length from the drag.
    const drawn = await lengthLabel();
    await system.runtime.queue.whenIdle();

    const seriesOf = async (modality: string) => {
      const response = await system.fetch(`${system.dicomWebUrl}/studies/${studyInstanceUid}/series?Modality=${modality}`, { headers: { accept: 'application/dicom+json' } });
      return (await response.json()) as unknown[];
    };
    assert.equal((await seriesOf('SR')).length, 1, 'the measurement report is a new SR series of the study');
    assert.equal((await seriesOf('KO')).length, 1, 'the key images a new KO series');
    // The study's series are listed again: the two documents, as what they are.
    await page.waitForSelector('.series-card.document[data-kind=structured-report]');
    assert.equal(await page.locator('.series-card.document[data-kind=key-images]').count(), 1);
    assert.equal(await page.locator('.series-card.document img').count(), 0, 'no thumbnail is asked of a document');
    await screenshot(page, 'measurements-saved');

    page.setDefaultTimeout(20_000);
    await page.reload();
    await waitForFirstImage(page, 'viewport-0');
    assert.equal(await lengthLabel(), drawn, 'the same length is drawn again after a reload');
    await screenshot(page, 'measurements-reloaded');
    await waitForCornerText(page, 0, 'top-right', zh('viewport.keyImage'));
    assert.match(await cornerText(page, 0, 'top-right'), new RegExp(zh('viewport.keyImage')));
    await waitForText(page, '.series-card .key-images', zh('viewer.keyImagesInSeries', { count: 1 }));
    assert.deepEqual(pageErrors, []);
  });
});
