import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { regionToday } from '../archive/recognition/hr-mark.ts';
import { makeChestRadiograph } from '../fixtures/modalities.ts';
import { browserUnavailable, createUser, signIn, startViewerSuite, waitForCornerText, type ViewerSuite } from './support/browser.ts';
import { docImage } from './support/doc-images.ts';
import { qingshiChestCt } from './support/reading-centre.ts';

/**
 * The HR mark on screen in headless Chromium: the test hospital is accredited for chest radiographs
 * (shipped defaults, 渝); a chest DR of today graded 甲 carries 渝HR in the study list and in the
 * viewport's corner, one not graded shows 无互认标识 with its reason on hover, in Chinese and English.
 */
const unavailable = browserUnavailable();

describe('HR mark in the study list and the viewer', { skip: unavailable }, () => {
  let suite: ViewerSuite;
  const today = regionToday();
  const chest = (id: string) =>
    makeChestRadiograph({ study: { ...qingshiChestCt({ name: 'Zhou^Min=周^敏', id, birthDate: '19750505', sex: 'F' }, `ACC-${id}`), date: today.replaceAll('-', ''), description: 'DR 胸部正位' }, seriesNumber: 1, modality: 'DX', rows: 64, columns: 64 });
  const graded = chest('HR-1');
  const ungraded = chest('HR-2');
  const badge = (page: Page, study: string) =>
    page.evaluate(`(() => { const mark = document.querySelector('tr[data-study="${study}"] .col-hr-mark .hr-mark'); return mark && { mark: mark.getAttribute('data-hr-mark'), text: mark.textContent, title: mark.getAttribute('title') }; })()`) as Promise<{ mark: string; text: string; title: string } | null>;

  before(async () => {
    suite = await startViewerSuite([graded, ungraded]);
    const { system } = suite;
    await system.runtime.recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: system.institutionId, itemCode: 'DR-CHEST', validFrom: '2020-01-01', validUntil: null });
    await createUser(system, 'qc', 'qc_staff');
    const { token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'qc', label: 'hr-mark-screen' });
    const { studyInstanceUid, seriesInstanceUid } = graded.description;
    const answer = await fetch(`${system.httpUrl}/api/studies/${studyInstanceUid}/series/${seriesInstanceUid}/quality-grades`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ grade: 'A' }),
    });
    assert.equal(answer.status, 201, await answer.text());
  });
  after(async () => suite?.close());

  it('shows 渝HR, or 无互认标识 with the reason, in the study list and the viewport corner', async () => {
    const reader = await createUser(suite.system, 'reader', 'radiologist', '李明');
    const page = await suite.newPage('zh-CN');
    await signIn(page, suite.system.httpUrl, reader);
    await page.waitForSelector(`tr[data-study="${graded.description.studyInstanceUid}"] .col-hr-mark .hr-mark`);
    const carrying = await badge(page, graded.description.studyInstanceUid);
    assert.equal(carrying?.text, '渝HR');
    assert.match(carrying?.title ?? '', /互认有效期至 \d{4}-\d{2}-\d{2}/);
    const absent = await badge(page, ungraded.description.studyInstanceUid);
    assert.equal(absent?.text, '无互认标识');
    assert.equal(absent?.title, '尚未进行影像质控评级');
    await docImage(page, 'recognition-hr-mark-list-zh');

    await page.locator(`tr[data-study="${graded.description.studyInstanceUid}"] button.open`).click();
    await waitForCornerText(page, 0, 'top-right', '渝HR');
    await docImage(page, 'recognition-hr-mark-viewer-zh');

    const english = await suite.newPage('en');
    await signIn(english, suite.system.httpUrl, reader);
    await english.waitForSelector(`tr[data-study="${ungraded.description.studyInstanceUid}"] .col-hr-mark .hr-mark`);
    assert.equal((await badge(english, ungraded.description.studyInstanceUid))?.title, 'Image quality not graded yet');
    await docImage(english, 'recognition-hr-mark-list-en');
    assert.deepEqual(suite.problems, []);
  });
});
