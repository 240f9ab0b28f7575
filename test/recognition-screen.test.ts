import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { RecognitionDecisionsAnswer } from '../archive/recognition/recognition-wire.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, screenshot, signIn, watchForPageProblems } from './support/browser.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The recognition dialog in headless Chromium: a doctor at Yunxi (B) opens Wang's current study,
 * states a purpose, compares the prior from Qingshi (A), records 不予互认 with a reason, and Qingshi
 * reads the decision as feedback.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'recognition screen passphrase';

describe('recognition screen', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const problems: string[] = [];
  const uids: Record<string, string> = {};
  let qingshiToken = '';

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    const institutions: Record<string, string> = {};
    for (const [code, name] of [['QS', '青石县人民医院'], ['YX', '云溪县人民医院']] as const) institutions[code] = (await administration.createInstitution(actor, { code, name, kind: 'hospital' })).id;
    await administration.createUser(actor, { username: 'yx-doctor', displayName: '赵卫国', role: 'referring_doctor', institutionCode: 'YX', password: PASSWORD });
    await administration.createUser(actor, { username: 'qs-radiologist', displayName: '李明', role: 'radiologist', institutionCode: 'QS' });
    qingshiToken = (await administration.createToken(actor, { username: 'qs-radiologist', label: 'recognition-screen' })).token;
    const ingest = async (key: string, study: Study, institution: string) => {
      const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 1 })];
      uids[key] = instance!.description.studyInstanceUid;
      await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'recognition-screen', institutionId: institutions[institution]! });
    };
    await ingest('prior', STUDIES.wangPriorCt, 'QS');
    await ingest('current', STUDIES.wangCurrentCt, 'YX');
    await system.runtime.queue.whenIdle();
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1500, height: 860 }, locale: 'zh-CN' });
    page = await context.newPage();
    await watchForPageProblems(page, problems);
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('records 不予互认 with a reason for a prior of another hospital, and that hospital sees it', async () => {
    await signIn(page, system.httpUrl, { username: 'yx-doctor', password: PASSWORD, displayName: '赵卫国' }, `/viewer?StudyInstanceUIDs=${uids.current}`);
    await page.locator('[data-action=state-purpose]').first().click();
    await page.locator('[data-action=confirm-purpose]').click();
    const prior = page.locator(`.prior[data-study="${uids.prior}"]`);
    await prior.waitFor();
    assert.match(await prior.locator('.prior-institution').innerText(), /青石县人民医院/);
    assert.equal(await prior.locator('.hr-mark').getAttribute('data-hr-mark'), 'none');
    await prior.locator('.compare').click();

    // The prior of another hospital, opened with a purpose: the header offers the decision, nothing blocks the images.
    await page.locator('[data-action=recognition].pending').click();
    const section = page.locator(`.recognition-study[data-study="${uids.prior}"]`);
    await section.locator('[data-action=not-recognise]').click();
    const form = section.locator('form.recognition-form');
    await form.locator('select[name=reasonCode]').selectOption('condition-changed');
    await form.locator('textarea[name=text]').fill('咳嗽加重，需复查');
    await form.locator('input[name=patientInformed]').check();
    await form.locator('select[name=orderKind]').selectOption('accession-number');
    await form.locator('input[name=orderValue]').fill('YX24120100001');
    await form.locator('[data-action=record-decision]').click();
    await section.locator('.recognition-decisions li[data-decision=not-recognised]').waitFor();
    assert.match(await section.innerText(), /病情变化/);
    await screenshot(page, 'recognition-decision');

    // Qingshi's feedback: the decision Yunxi made about its study.
    const response = await system.fetch(`${system.httpUrl}/api/studies/${uids.prior}/recognition-decisions`, { headers: { authorization: `Bearer ${qingshiToken}` } });
    assert.equal(response.status, 200);
    const answer = (await response.json()) as RecognitionDecisionsAnswer;
    assert.equal(answer.decisions.length, 1);
    const [decision] = answer.decisions;
    assert.equal(decision!.decision, 'not-recognised');
    assert.equal(decision!.reasonCode, 'condition-changed');
    assert.equal(decision!.decidingInstitutionName, '云溪县人民医院');
    assert.equal(decision!.decidedByName, '赵卫国');
    assert.deepEqual(decision!.order, { kind: 'accession-number', value: 'YX24120100001' });
    // The prior view was counted once, with the purpose.
    const { rows } = await system.runtime.db.pool.query<{ purpose: string }>('SELECT purpose FROM prior_views WHERE study_pk = (SELECT id FROM studies WHERE study_instance_uid = $1)', [uids.prior]);
    assert.equal(rows.length, 1);
    assert.match(rows[0]!.purpose, /对比既往检查/);
    assert.deepEqual(problems, []);
  });
});
