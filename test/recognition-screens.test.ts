import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import { makeChestRadiograph, makeCtSeries, PATIENTS, STUDIES, type FixtureInstance } from '../fixtures/generate.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { docImage, docImagesBothLanguages } from './support/doc-images.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Issue 16's screens in headless Chromium against the running system: the city centre's QC staff
 * grade 李𠮷's two-series CR from the viewer's panel (甲, then a veto defect forces 废片); 青石县's
 * administrator confirms in the review queue that her record without an ID number at 云溪 is the
 * same person; a doctor at 云溪 opens 王小东's page from the study list and, with a purpose of use,
 * sees his CTs of both hospitals on the timeline.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'recognition screens passphrase';
const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'rc-qc', role: 'qc_staff', institution: 'CITY_CENTRE' },
  { username: 'qs-admin', role: 'institution_admin', institution: 'QINGSHI' },
  { username: 'yx-doctor', role: 'referring_doctor', institution: 'YUNXI' },
];
const tiny = { rows: 32, columns: 32 };

describe('recognition screens: QC grading, review queue, person page', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  const problems: string[] = [];
  const ids: Record<string, string> = {};
  let liJiCr: FixtureInstance[];

  const newPage = async (): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, locale: 'zh-CN' });
    const page = await context.newPage();
    await watchForPageProblems(page, problems);
    return page;
  };
  const personOf = async (institution: string, patientId: string) => {
    const { rows } = await system.runtime.db.pool.query<{ person_id: string }>(
      'SELECT l.person_id::text FROM person_links l JOIN patients p ON p.id = l.patient_pk WHERE p.institution_id = $1 AND p.patient_id = $2',
      [ids[institution], patientId],
    );
    return rows[0]?.person_id;
  };

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    const { administration } = system;
    await administration.createRegion(COMMAND_LINE_ACTOR, { code: 'QINGHE', name: '清河市', level: 'city' });
    for (const [code, name, kind] of [
      ['QINGSHI', '青石县人民医院', 'hospital'],
      ['YUNXI', '云溪镇卫生院', 'hospital'],
      ['CITY_CENTRE', '清河市影像诊断中心', 'reading_centre'],
    ] as const) {
      ids[code] = (await administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind, regionCode: 'QINGHE' })).id;
    }
    for (const { username, role, institution } of USERS) {
      await administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution, password: PASSWORD });
    }
    liJiCr = [1, 2].map((seriesNumber) => makeChestRadiograph({ study: STUDIES.liJiCr, seriesNumber, modality: 'CR', rows: 64, columns: 64, pixelSpacing: 5.6 }));
    const { nationalId: _withoutNumber, ...liJiWithoutNumber } = PATIENTS.liJi;
    const stored: [string, Iterable<FixtureInstance>][] = [
      ['QINGSHI', liJiCr],
      ['YUNXI', [makeChestRadiograph({ study: { ...STUDIES.liJiCr, accessionNumber: 'YX-LIJI-1', patient: { ...liJiWithoutNumber, id: 'YX-LIJI' } }, modality: 'CR', rows: 64, columns: 64, pixelSpacing: 5.6 })]],
      ['QINGSHI', makeCtSeries({ study: STUDIES.wangPriorCt, seriesNumber: 2, slices: 2, ...tiny })],
      ['YUNXI', makeCtSeries({ study: STUDIES.wangCurrentCt, seriesNumber: 2, slices: 2, ...tiny })],
    ];
    for (const [institution, instances] of stored) {
      for (const instance of instances) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'recognition-screens', institutionId: ids[institution]! });
    }
    await system.runtime.queue.whenIdle();
    browser = await launchChromium();
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('QC staff grade a series 甲 from the viewer panel, and the study shows the grade; a veto defect forces 废片', async () => {
    const page = await newPage();
    const study = liJiCr[0]!.description.studyInstanceUid;
    const [first, second] = liJiCr.map((instance) => instance.description.seriesInstanceUid);
    await signIn(page, system.httpUrl, { username: 'rc-qc', password: PASSWORD, displayName: 'rc-qc' }, `/viewer?StudyInstanceUIDs=${study}`);
    const series = (uid: string) => page.locator(`.quality-panel [data-qc-series="${uid}"]`);
    await series(first!).locator('input[name=grade][value=A]').waitFor();
    assert.equal(await page.locator('.quality-panel [data-study-grade]').getAttribute('data-study-grade'), '');
    assert.ok((await series(first!).innerText()).includes('单项否决'), 'the veto defects are marked');

    await series(first!).locator('input[name=grade][value=A]').check();
    await series(first!).locator('input[name=defect][value=positioning]').check();
    assert.equal(await series(first!).locator('.qc-reject-warning').isHidden(), true);
    await series(first!).locator('textarea[name=comment]').fill('体位略偏，可用');
    await series(first!).locator('[data-action=grade]').click();
    await waitForCondition(page, `document.querySelector('.quality-panel [data-study-grade]')?.getAttribute('data-study-grade') === 'A'`);
    assert.match(await page.locator('.quality-panel .qc-study-grade').innerText(), /甲级/);
    assert.equal(await series(first!).locator('[data-current-grade]').getAttribute('data-current-grade'), 'A');

    // Keyboard: the grade is a radio group, the defects checkboxes; Ctrl+Enter in the comment grades.
    await series(second!).locator('input[name=grade][value=A]').focus();
    await page.keyboard.press('Space');
    await series(second!).locator('input[name=defect][value=lr-marker-wrong]').check();
    assert.equal(await series(second!).locator('.qc-reject-warning').isVisible(), true, 'a reject warns of the 113001 KOS');
    assert.match(await series(second!).locator('.qc-preview').innerText(), /废片/);
    await series(second!).locator('textarea[name=comment]').focus();
    await page.keyboard.press('Control+Enter');
    await waitForCondition(page, `document.querySelector('.quality-panel [data-study-grade]')?.getAttribute('data-study-grade') === 'reject'`);
    assert.equal(await series(second!).locator('[data-current-grade]').getAttribute('data-current-grade'), 'reject');
    const { rows } = await system.runtime.db.pool.query<{ grade_code: string; given_grade_code: string }>('SELECT grade_code, given_grade_code FROM qc_grades ORDER BY id');
    assert.deepEqual(rows, [{ grade_code: 'A', given_grade_code: 'A' }, { grade_code: 'reject', given_grade_code: 'A' }]);
    await page.locator('.quality-panel .qc-history summary').click();
    assert.equal(await page.locator('.quality-panel .qc-history li').count(), 2);
    // QC staff see patients masked: a person's studies come without the name, birth date and sex.
    const wang = await personOf('QINGSHI', PATIENTS.wangAtQingshi.id);
    const masked = (await page.evaluate(`fetch('/api/persons/${wang}').then(async (response) => ({ status: response.status, body: await response.json() }))`)) as { status: number; body: { identifiers: unknown[]; studies: { patientName: unknown; patientBirthDate: unknown; patientSex: unknown }[] } };
    assert.equal(masked.status, 200);
    assert.deepEqual(masked.body.identifiers, [], 'nor the identifiers opened from their sealed values');
    assert.ok(masked.body.studies.length > 0 && masked.body.studies.every((study) => study.patientName === null && study.patientBirthDate === null && study.patientSex === null), JSON.stringify(masked.body));
    await docImagesBothLanguages(page, 'recognition-qc-grading', () => waitForCondition(page, `document.querySelector('.quality-panel h2')?.textContent === (document.documentElement.lang === 'en' ? 'Image QC grading' : '影像质控评级')`));
    await page.context().close();
  });

  it('an administrator confirms a suggested pair as one person in the review queue', async () => {
    const page = await newPage();
    await signIn(page, system.httpUrl, { username: 'qs-admin', password: PASSWORD, displayName: 'qs-admin' }, '/admin?tab=persons');
    const suggestion = page.locator('article.suggestion').first();
    await suggestion.waitFor();
    const shown = await suggestion.innerText();
    assert.ok(shown.includes('青石县人民医院') && shown.includes('云溪镇卫生院') && shown.includes('1988-07-21') && shown.includes('李'), shown);
    assert.ok(shown.includes('姓名、出生日期、性别相同'), shown);
    assert.notEqual(await personOf('QINGSHI', PATIENTS.liJi.id), await personOf('YUNXI', 'YX-LIJI'));
    await docImage(page, 'recognition-review-queue-zh');
    await suggestion.locator('input[name=reason]').fill('电话核实为同一患者');
    await suggestion.locator('[data-action=link-suggestion]').click();
    await waitForCondition(page, `document.querySelectorAll('article.suggestion').length === 0`);
    assert.equal(await personOf('QINGSHI', PATIENTS.liJi.id), await personOf('YUNXI', 'YX-LIJI'));
    const { rows } = await system.runtime.db.pool.query<{ user_name: string; reason: string }>("SELECT user_name, detail->>'reason' AS reason FROM audit_events WHERE detail->>'change' = 'person-link'");
    assert.deepEqual(rows, [{ user_name: 'qs-admin', reason: '电话核实为同一患者' }]);
    await page.context().close();
  });

  it('a doctor opens a person from the study list and sees the studies of both hospitals on the timeline', async () => {
    const page = await newPage();
    await signIn(page, system.httpUrl, { username: 'yx-doctor', password: PASSWORD, displayName: 'yx-doctor' }, `/?pid=${PATIENTS.wangAtYunxi.id}`);
    await page.locator('[data-action=person-studies]').first().click();
    await page.locator('.timeline li.timeline-study').first().waitFor();
    assert.match(page.url(), /\/persons\/\d+$/);
    assert.equal(await page.locator('.timeline li.timeline-study').count(), 1, 'without a purpose, his study here only');
    assert.match(await page.locator('.person-identity').innerText(), /王小东[\s\S]*男 · 1965-03-12/);
    // His number, opened for a doctor entitled to his identity: 身份证号 and the 18 characters.
    assert.match(await page.locator('.person-identifiers').innerText(), /身份证号 \d{17}[\dX]/);
    await page.click('.person-page [data-action=state-purpose]');
    const dialog = page.locator('.purpose-dialog');
    await dialog.locator('input[name=preset][value=priors]').check();
    await dialog.locator('[data-action=confirm-purpose]').click();
    await waitForCondition(page, `document.querySelectorAll('.timeline li.timeline-study').length === 2`);
    const cards = (await page.evaluate(`[...document.querySelectorAll('.timeline li.timeline-study')].map((card) => ({ institution: card.getAttribute('data-institution-id'), text: card.textContent }))`)) as { institution: string; text: string }[];
    assert.deepEqual(cards.map((card) => card.institution), [ids.YUNXI, ids.QINGSHI], 'newest first');
    assert.ok(cards[0]!.text.includes('2024-11-05') && cards[0]!.text.includes('本院') && cards[0]!.text.includes('CT'), cards[0]!.text);
    assert.ok(cards[1]!.text.includes('2023-03-14') && cards[1]!.text.includes('青石县人民医院') && cards[1]!.text.includes('外院'), cards[1]!.text);
    assert.deepEqual(await page.locator('.timeline-year-label').allInnerTexts(), ['2024 年', '2023 年']);
    // No institution is accredited here: no study carries the HR mark, and each says why.
    assert.ok(cards.every((card) => card.text.includes('无互认标识') && card.text.includes('检查机构未获得该项目互认资格')), JSON.stringify(cards));
    await docImagesBothLanguages(page, 'recognition-person-timeline', () => waitForCondition(page, `document.querySelector('.person-page h1')?.textContent === (document.documentElement.lang === 'en' ? "A person's examinations at every hospital" : '患者在各医院的全部检查')`));

    // By ID number: the number goes to the archive, never into the address.
    await page.goto(`${system.httpUrl}/persons`);
    await page.locator('input[data-field=resident-id]').fill(PATIENTS.wangAtQingshi.nationalId);
    await page.locator('[data-action=lookup-person]').click();
    await waitForCondition(page, `/\\/persons\\/\\d+$/.test(location.pathname) && document.querySelectorAll('.timeline li.timeline-study').length === 2`);
    assert.equal(page.url().includes(PATIENTS.wangAtQingshi.nationalId), false);
    assert.deepEqual(problems, []);
    await page.context().close();
  });
});
