import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { makeCtSeries, INSTITUTIONS, type Study } from '../fixtures/generate.ts';
import { translator } from '../viewer/src/i18n/i18n.ts';
import {
  browserUnavailable,
  cornerText,
  createUser,
  drawLength,
  lengthLabel,
  screenshot,
  signIn,
  startViewerSuite,
  waitForCornerText,
  waitForFirstImage,
  waitForText,
  type Credentials,
  type ViewerSuite,
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
  let suite: ViewerSuite;
  let system: TestSystem;
  let page: Page;
  let reader: Credentials;
  const ct = [...makeCtSeries({ study, seriesNumber: 2, slices: 6, rows: 128, columns: 128 })];
  const studyInstanceUid = ct[0]!.description.studyInstanceUid;

  before(async () => {
    suite = await startViewerSuite(ct);
    system = suite.system;
    reader = await createUser(system, 'measuring-reader', 'radiologist', '测量医生');
    page = await suite.newPage();
    await signIn(page, system.httpUrl, reader, `/viewer?StudyInstanceUIDs=${studyInstanceUid}`);
  });
  after(async () => {
    await suite?.close();
  });

  it('draws a length, marks the image as key and saves both with the study as a TID 1500 SR and a KOS', async () => {
    await waitForFirstImage(page, 'viewport-0');
    await drawLength(page, 0, 100);
    assert.match(await lengthLabel(page, 0), /\d+(\.\d+)? mm/);

    await page.click('button[data-action=key-image]');
    await waitForCornerText(page, 0, 'top-right', zh('viewport.keyImage'));
    await page.click('button[data-action=save-measurements]');
    await waitForText(page, '.save-status', zh('save.saved'));
    // Read once saved: right after the mouse is released the label can still show a length from the drag.
    const drawn = await lengthLabel(page, 0);
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
    assert.equal(await lengthLabel(page, 0), drawn, 'the same length is drawn again after a reload');
    await screenshot(page, 'measurements-reloaded');
    await waitForCornerText(page, 0, 'top-right', zh('viewport.keyImage'));
    assert.match(await cornerText(page, 0, 'top-right'), new RegExp(zh('viewport.keyImage')));
    await waitForText(page, '.series-card .key-images', zh('viewer.keyImagesInSeries', { count: 1 }));
    assert.deepEqual(suite.problems, []);
  });
});
