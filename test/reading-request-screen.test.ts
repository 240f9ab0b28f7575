import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Report } from '../archive/reading/report.ts';
import { browserUnavailable, ensureViewerBuilt, launchChromium, signIn, waitForCondition, watchForPageProblems } from './support/browser.ts';
import { docImagesBothLanguages } from './support/doc-images.ts';
import { readingCentre, type ReadingCentre } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * A county hospital's side of remote reading in headless Chromium, each person in their own
 * browser: the hospital's doctor sends a study for reading from the study list with the clinical
 * information (远程诊断申请); the centre's reader sees it on the worklist with that information and
 * returns it with a reason, which the hospital sees; once reports are signed, the study list and the
 * priors panel say where each report stands (初诊, 已审核, 危急值), and the badge opens the study; once
 * a second centre covers the hospital, the form asks which one reads, and the task goes there.
 * With UPDATE_DOC_IMAGES=1 the screenshots of docs/reading.md are written to docs/images/.
 */
const unavailable = browserUnavailable();
const PASSWORD = 'reading request passphrase';
const QUESTION = '排除肺栓塞';
const HISTORY = '突发胸痛伴气促3小时，既往下肢静脉血栓';

describe('remote reading request and report status (hospital screens)', { skip: unavailable }, () => {
  let system: TestSystem;
  let centre: ReadingCentre;
  let browser: Browser;
  let hospital: Page;
  let reader: Page;
  let requested: string;
  let prior: string;
  const problems: string[] = [];
  const newPage = async () => {
    const context = await browser.newContext({ viewport: { width: 1500, height: 900 }, locale: 'zh-CN' });
    context.setDefaultTimeout(60_000);
    const page = await context.newPage();
    await watchForPageProblems(page, problems);
    return page;
  };
  const studyRow = (study: string) => `tr.study[data-study="${study}"]`;
  const badgeOf = (page: Page, study: string, within: string) =>
    page.evaluate(`(() => { const badge = document.querySelector('${within} [data-report-status]'); return badge && { status: badge.getAttribute('data-report-status'), critical: badge.getAttribute('data-critical') === 'true', text: badge.textContent }; })()`) as Promise<{
      status: string;
      critical: boolean;
      text: string;
    } | null>;

  before(async () => {
    [system] = await Promise.all([startTestSystem(), ensureViewerBuilt()]);
    centre = await readingCentre(system);
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'qs-desk', displayName: '孙医生', role: 'referring_doctor', institutionCode: 'QINGSHI', password: PASSWORD });
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'rc-desk', displayName: '周医生', role: 'radiologist', institutionCode: 'READING_CENTRE', password: PASSWORD });
    // Two chest CTs of the same patient: one already read and verified, one the hospital sends now.
    prior = await centre.countyStudy();
    await centre.signPreliminary(prior);
    await centre.signFinal(prior);
    requested = await centre.countyStudy();
    browser = await launchChromium();
    [hospital, reader] = [await newPage(), await newPage()];
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
  });

  it('shows each study’s report status in the study list, and sends a study for reading with the clinical information', async () => {
    await signIn(hospital, system.httpUrl, { username: 'qs-desk', password: PASSWORD, displayName: '孙医生' });
    await waitForCondition(hospital, `!!document.querySelector('${studyRow(requested)} [data-report-status]') && !!document.querySelector('${studyRow(prior)} [data-report-status]')`);
    assert.deepEqual(await badgeOf(hospital, prior, studyRow(prior)), { status: 'final', critical: false, text: '已审核' });
    assert.deepEqual(await badgeOf(hospital, requested, studyRow(requested)), { status: 'unreported', critical: false, text: '未报告' });

    await hospital.locator(`${studyRow(requested)} button[data-action=request-reading]`).click();
    const dialog = hospital.locator('.request-dialog');
    await dialog.waitFor();
    assert.equal(await dialog.locator('input[name=orderingDoctor]').inputValue(), '孙医生', 'the signed-in doctor orders by default');
    // Until the centres arrive the list holds one option too: the disabled "loading" placeholder.
    await waitForCondition(hospital, `[...document.querySelectorAll('.request-dialog select[name=readingCentreId] option')].map((option) => option.value).join() !== ''`);
    assert.equal(await dialog.locator('select[name=readingCentreId] option').count(), 1, 'one centre covers the hospital, and no placeholder is offered');
    assert.equal(await dialog.locator('select[name=readingCentreId]').inputValue(), centre.institutionIds.get('READING_CENTRE'), 'the only centre covering the hospital is chosen');
    await dialog.locator('button[data-action=send-request]').click();
    await waitForCondition(hospital, `document.querySelector('.request-dialog .form-error')?.textContent.includes('请填写检查目的')`);
    assert.equal(await dialog.locator('input[name=clinicalQuestion]').getAttribute('aria-invalid'), 'true');

    await dialog.locator('input[name=clinicalQuestion]').fill(QUESTION);
    await dialog.locator('textarea[name=history]').fill(HISTORY);
    await dialog.locator('input[name=clinicalDiagnosis]').fill('肺栓塞？');
    await dialog.locator('input[name=department]').fill('急诊科');
    await dialog.locator('select[name=patientClass]').selectOption('emergency');
    await docImagesBothLanguages(hospital, 'reading-request-form', () => waitForCondition(hospital, `document.querySelector('.request-dialog')?.getAttribute('aria-modal') === 'true' && document.querySelector('.request-dialog input[name=clinicalQuestion]')?.value === '${QUESTION}'`));
    await dialog.locator('button[data-action=send-request]').click();
    await waitForCondition(hospital, `!document.querySelector('.request-sent')?.hidden`);
    assert.match(await dialog.locator('.request-sent').innerText(), /已发送至阅片中心/);

    await dialog.locator('button[data-action=follow-request]').click();
    await hospital.waitForURL(/\/worklist$/);
    await waitForCondition(hospital, `[...document.querySelectorAll('.worklist-table tbody tr[data-workitem]')].some((row) => row.textContent.includes('${QUESTION}'))`);
  });

  it('puts the request on the centre’s worklist with its clinical information, and the hospital sees the centre’s return and its reason', async () => {
    await signIn(reader, system.httpUrl, { username: 'rc-desk', password: PASSWORD, displayName: '周医生' }, '/worklist');
    const row = 'tr[data-workitem][data-status]';
    await waitForCondition(reader, `[...document.querySelectorAll('${row}')].some((row) => row.textContent.includes('${QUESTION}'))`);
    const shown = (await reader.evaluate(`(() => { const row = [...document.querySelectorAll('${row}')].find((row) => row.textContent.includes('${QUESTION}')); return { workitem: row.getAttribute('data-workitem'), status: row.getAttribute('data-status'), text: row.textContent, history: row.querySelector('td.question').getAttribute('title'), emergency: row.classList.contains('emergency') }; })()`)) as {
      workitem: string;
      status: string;
      text: string;
      history: string;
      emergency: boolean;
    };
    assert.equal(shown.status, 'unassigned');
    assert.ok(shown.emergency && shown.text.includes('急诊') && shown.text.includes('青石县人民医院'), shown.text);
    assert.equal(shown.history, HISTORY);
    const task = await centre.call<[Record<string, { Value?: unknown[] }>]>('rc-reader', 'GET', `/dicom-web/workitems/${shown.workitem}`, undefined, { accept: 'application/dicom+json' });
    const request = task.json[0]['0040A370']!.Value![0] as Record<string, { Value?: unknown[] }>;
    assert.deepEqual(request['00321032']!.Value, [{ Alphabetic: '孙医生' }], 'the ordering doctor');
    assert.deepEqual(request['00321033']!.Value, ['急诊科'], 'the department');
    assert.deepEqual(task.json[0]['00081080']!.Value, ['肺栓塞？'], 'the clinical diagnosis');

    await reader.locator(`tr[data-workitem="${shown.workitem}"] button[data-action=return]`).click();
    await reader.locator(`tr[data-return-for="${shown.workitem}"] select[data-field=return-reason]`).selectOption('images-insufficient');
    await reader.locator(`tr[data-return-for="${shown.workitem}"] input[data-field=return-text]`).fill('请补传肺动脉CTA序列');
    await reader.locator(`tr[data-return-for="${shown.workitem}"] button[data-action=confirm-return]`).click();

    const hospitalRow = `tr[data-workitem="${shown.workitem}"]`;
    await waitForCondition(hospital, `document.querySelector('${hospitalRow}')?.getAttribute('data-status') === 'returned'`);
    const returned = (await hospital.evaluate(`document.querySelector('${hospitalRow}').textContent`)) as string;
    assert.ok(returned.includes('退回') && returned.includes('图像不全') && returned.includes('请补传肺动脉CTA序列'), returned);
  });

  it('shows the signed reports’ status, 危急值 included, in the study list and beside the prior, and the badge opens the study', async () => {
    const opened = await centre.call<Report>('rc-reader', 'POST', `/api/studies/${requested}/report`, {});
    const content = { findings: '右肺动脉主干见充盈缺损。', impression: '右肺动脉主干栓塞。', criticalFinding: { category: '肺栓塞', text: '右肺动脉主干栓塞' }, templateId: null };
    const saved = await centre.call<{ revision: number }>('rc-reader', 'PUT', `/api/studies/${requested}/report/draft`, { content, revision: opened.json.draftRevision });
    assert.equal(saved.status, 200, JSON.stringify(saved.json));
    const signed = await centre.call('rc-reader', 'POST', `/api/studies/${requested}/report/signatures`, { role: 'preliminary', revision: saved.json.revision });
    assert.equal(signed.status, 201, JSON.stringify(signed.json));

    await hospital.locator('.app-header [data-nav=studies]').click();
    await waitForCondition(hospital, `document.querySelector('${studyRow(requested)} [data-report-status]')?.getAttribute('data-report-status') === 'preliminary'`);
    assert.deepEqual(await badgeOf(hospital, requested, studyRow(requested)), { status: 'preliminary', critical: true, text: '初诊危急值' });
    await docImagesBothLanguages(hospital, 'reading-report-status', () => waitForCondition(hospital, `!!document.querySelector('${studyRow(requested)} [data-report-status=preliminary]')`));

    await hospital.locator(`${studyRow(requested)} button.open`).click();
    await hospital.waitForURL(new RegExp(`StudyInstanceUIDs=${requested}`));
    const priorItem = `.priors li[data-study="${prior}"]`;
    await waitForCondition(hospital, `!!document.querySelector('${priorItem} [data-report-status]')`);
    assert.deepEqual(await badgeOf(hospital, prior, priorItem), { status: 'final', critical: false, text: '已审核' });
    await hospital.locator(`${priorItem} button[data-action=open-report]`).click();
    await hospital.waitForURL(new RegExp(`StudyInstanceUIDs=${prior}`));
    assert.deepEqual(problems, []);
  });

  it('asks which centre reads once two cover the hospital, and sends the task to the one chosen', async () => {
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'SECOND_CENTRE', name: '清河市第二影像中心', kind: 'reading_centre', regionCode: 'QINGHE' });
    const study = await centre.countyStudy();
    await hospital.locator('.app-header [data-nav=studies]').click();
    await hospital.locator(`${studyRow(study)} button[data-action=request-reading]`).click();
    const dialog = hospital.locator('.request-dialog');
    const select = dialog.locator('select[name=readingCentreId]');
    await waitForCondition(hospital, `document.querySelectorAll('.request-dialog select[name=readingCentreId] option:not([disabled])').length === 2`);
    assert.equal(await select.inputValue(), '', 'of two centres, none is chosen for the hospital');
    await dialog.locator('input[name=clinicalQuestion]').fill('排除肺炎');
    await dialog.locator('button[data-action=send-request]').click();
    await waitForCondition(hospital, `document.querySelector('.request-dialog .form-error')?.textContent.includes('请选择阅片中心')`);
    assert.equal(await select.getAttribute('aria-invalid'), 'true');

    await select.selectOption({ label: '清河市第二影像中心' });
    await dialog.locator('button[data-action=send-request]').click();
    await waitForCondition(hospital, `!document.querySelector('.request-sent')?.hidden`);
    const tasksAt = async (centreCode: string) => {
      const found = await centre.call<Record<string, { Value?: Record<string, { Value?: unknown[] }>[] }>[]>(null, 'GET', `/dicom-web/workitems?ScheduledStationNameCodeSequence.CodeValue=${centreCode}`, undefined, { accept: 'application/dicom+json' });
      return (found.json ?? []).filter((task) => task['0040A370']?.Value?.[0]?.['0020000D']?.Value?.[0] === study);
    };
    assert.equal((await tasksAt('SECOND_CENTRE')).length, 1, 'the centre chosen has the task');
    assert.equal((await tasksAt('READING_CENTRE')).length, 0, 'the other has none');
    assert.deepEqual(problems, []);
  });
});
