import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import sharp from 'sharp';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { message } from '../archive/i18n/messages.ts';
import { generateCorpus, INSTITUTIONS, makeCtSeries, makeSecondaryCaptures, residentIdNumber, STUDIES, type FixtureInstance, type Study } from '../fixtures/generate.ts';
import { translator } from '../viewer/src/i18n/i18n.ts';
import {
  browserUnavailable,
  canvasSignature,
  canvasSignatureOtherThan,
  cornerText,
  createUser,
  ensureViewerBuilt,
  fillSignIn,
  launchChromium,
  screenshot,
  signIn,
  startSystemWith,
  viewportTimings,
  waitForCornerText,
  waitForFirstImage,
  waitForCondition,
  waitForText,
  watchForPageProblems,
  type Credentials,
} from './support/browser.ts';
import type { TestSystem } from './support/system.ts';

/**
 * The viewer in headless Chromium against the real system loaded with the demo fixtures: every
 * step is asserted from what is on screen (canvas pixels, overlay text, the measured value), and
 * screenshots go to test-artifacts/viewer/. With UPDATE_DOC_IMAGES=1 the ones the guide uses are
 * also written to docs/images/. The reader signs in through the sign-in screen as a radiologist
 * of TEST_HOSPITAL, where the fixtures are stored; one linked patient also has a study at
 * OTHER_HOSPITAL, which opens only with a stated purpose of use.
 */

const unavailable = browserUnavailable();
const zh = translator('zh-CN');
const en = translator('en');
const DOC_IMAGES = fileURLToPath(new URL('../docs/images/', import.meta.url));

const JPEG_BASELINE = '1.2.840.10008.1.2.4.50';

/** A study no browser can show: JPEG Baseline declared, but the one fragment is not a JPEG image. */
const brokenStudy: Study = {
  ...STUDIES.taoDx,
  patient: { name: 'Huai^TuXiang=坏^图像', id: 'NL000999', birthDate: '19800101', sex: 'F' },
  accessionNumber: 'NL24111900001',
  date: '20200101',
  description: '无法解码的图像',
};

/** The same instance with its File Meta transfer syntax changed and its Pixel Data replaced by an encapsulated fragment. */
function undecodable(instance: FixtureInstance): FixtureInstance {
  const part10 = instance.bytes;
  const parsed = parseInstance(part10);
  const pixelData = parsed.bulkData.find((bulk) => bulk.path === '7FE00010')!;
  const element = (group: number, number: number, vr: string, value: Buffer) => {
    const header = Buffer.alloc(vr === 'OB' ? 12 : 8);
    header.writeUInt16LE(group, 0);
    header.writeUInt16LE(number, 2);
    header.write(vr, 4, 'latin1');
    if (vr === 'OB') header.writeUInt32LE(value.length, 8);
    else header.writeUInt16LE(value.length, 6);
    return Buffer.concat([header, value]);
  };
  const meta: Buffer[] = [];
  for (let offset = 132; offset < parsed.datasetOffset; ) {
    const number = part10.readUInt16LE(offset + 2);
    const vr = part10.toString('latin1', offset + 4, offset + 6);
    const long = ['OB', 'OW', 'UN', 'SQ', 'UT'].includes(vr);
    const length = long ? part10.readUInt32LE(offset + 8) : part10.readUInt16LE(offset + 6);
    const size = (long ? 12 : 8) + length;
    // The UID has an even length, so it needs no padding.
    if (number === 0x0010) meta.push(element(0x0002, 0x0010, 'UI', Buffer.from(JPEG_BASELINE, 'latin1')));
    else if (number !== 0x0000) meta.push(part10.subarray(offset, offset + size));
    offset += size;
  }
  const metaBody = Buffer.concat(meta);
  const groupLength = Buffer.alloc(4);
  groupLength.writeUInt32LE(metaBody.length);
  const item = (value: Buffer, tag = 0xe000) => {
    const header = Buffer.alloc(8);
    header.writeUInt16LE(0xfffe, 0);
    header.writeUInt16LE(tag, 2);
    header.writeUInt32LE(value.length, 4);
    return Buffer.concat([header, value]);
  };
  const notAJpeg = Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0x00, 0x10, 0x4a, 0x46, 0x49, 0x46, 0x00, 0x01, 0xde, 0xad, 0xbe, 0xef]);
  const bytes = Buffer.concat([
    part10.subarray(0, 132),
    element(0x0002, 0x0000, 'UL', groupLength),
    metaBody,
    part10.subarray(parsed.datasetOffset, pixelData.offset - 12),
    Buffer.from([0xe0, 0x7f, 0x10, 0x00, 0x4f, 0x42, 0, 0, 0xff, 0xff, 0xff, 0xff]),
    item(Buffer.alloc(0)),
    item(notAJpeg),
    item(Buffer.alloc(0), 0xe0dd),
  ]);
  return { ...instance, bytes };
}

/** The same woman at two hospitals: her current CT at TEST_HOSPITAL, her prior at OTHER_HOSPITAL, linked by her resident ID. */
const LIU_ID = residentIdNumber('19700808', '468');
const liuCurrent: Study = {
  institution: INSTITUTIONS.yunxi,
  patient: { name: 'Liu^Yang=刘^洋', id: 'YX20990001', birthDate: '19700808', sex: 'F', nationalId: LIU_ID },
  accessionNumber: 'YX25011000001',
  date: '20250110',
  time: '100000',
  description: 'CT胸部平扫',
  referringPhysicianName: 'Sun^Li=孙^丽',
};
const liuPrior: Study = {
  ...liuCurrent,
  institution: INSTITUTIONS.qingshi,
  patient: { ...liuCurrent.patient, id: 'QS20990001' },
  accessionNumber: 'QS23061000001',
  date: '20230610',
};
const PURPOSE = '对比既往检查 comparison with priors';

describe('viewer in the browser (end to end)', { skip: unavailable }, () => {
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  let reader: Credentials;
  const demo = [...generateCorpus({ preset: 'demo' })];
  const liu = [...makeCtSeries({ study: liuCurrent, seriesNumber: 2, slices: 6, rows: 128, columns: 128 })];
  const liuElsewhere = [...makeCtSeries({ study: liuPrior, seriesNumber: 2, slices: 6, rows: 128, columns: 128 })];
  const broken = [...makeSecondaryCaptures({ study: brokenStudy, seriesNumber: 1, count: 1 })].map(undecodable);
  // Enough older studies for a second page of results.
  const filler = Array.from({ length: 24 }, (_, index) => {
    const number = String(index + 1).padStart(3, '0');
    const study: Study = { ...brokenStudy, patient: { ...brokenStudy.patient, name: `Zhou^Shi${number}=周^十${number}`, id: `NL900${number}` }, accessionNumber: `NL19${number}`, date: `2019${String((index % 12) + 1).padStart(2, '0')}15`, description: '胸部DR' };
    return [...makeSecondaryCaptures({ study, seriesNumber: 1, count: 1 })];
  }).flat();
  const uidOf = (study: Study) => demo.find(({ description }) => description.patientId === study.patient.id && description.studyDate === study.date)!.description.studyInstanceUid;
  const pageProblems: string[] = [];
  const contexts: BrowserContext[] = [];

  /** A browser of its own (cookies, storage) for another person, watched like the main one. */
  const newPersonPage = async (locale = 'zh-CN'): Promise<Page> => {
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale });
    contexts.push(context);
    const other = await context.newPage();
    await watchForPageProblems(other, pageProblems);
    return other;
  };

  before(async () => {
    [system] = await Promise.all([startSystemWith([...demo, ...broken, ...filler, ...liu]), ensureViewerBuilt()]);
    const elsewhere = await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'OTHER_HOSPITAL', name: '其他医院 Other Hospital', kind: 'hospital' });
    for (const instance of liuElsewhere) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'viewer-test', institutionId: elsewhere.id });
    await system.runtime.queue.whenIdle();
    reader = await createUser(system, 'reader', 'radiologist', '阅片医生');
    browser = await launchChromium();
    const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale: 'zh-CN' });
    contexts.push(context);
    page = await context.newPage();
    await watchForPageProblems(page, pageProblems);
    await signIn(page, system.httpUrl, reader);
  });
  after(async () => {
    for (const context of contexts) await context.close().catch(() => undefined);
    await browser?.close();
    await system?.shutdown();
  });

  const saveDocImage = async (shown: Page, name: string) => {
    const file = await screenshot(shown, name);
    if (process.env.UPDATE_DOC_IMAGES === '1') {
      fs.mkdirSync(DOC_IMAGES, { recursive: true });
      // A 128-colour palette keeps the guide's pictures small in the repository; they are for reading, not diagnosis.
      await sharp(file).png({ palette: true, colours: 128, effort: 10 }).toFile(path.join(DOC_IMAGES, `${name}.png`));
    }
  };

  it('lists studies newest first, a page at a time, in Chinese by default for a Chinese browser', async () => {
    await page.goto(system.httpUrl);
    await page.waitForSelector('tr.study');
    assert.equal(await page.locator('.app-header .brand').innerText(), zh('app.title'));
    const total = 6 + broken.length + filler.length + 1;
    assert.equal(await page.locator('tr.study').count(), 25);
    const dates = await page.locator('tr.study td.col-StudyDate').allInnerTexts();
    assert.deepEqual(dates, [...dates].sort().reverse());
    assert.equal(await page.locator('.pager .range').innerText(), zh('list.range', { first: 1, last: 25, total }));
    await page.click('.pager button:last-child');
    await waitForText(page, '.pager .range', zh('list.range', { first: 26, last: total, total }));
    assert.equal(await page.locator('tr.study').count(), total - 25);
    assert.ok(page.url().includes('offset=25'), 'the page is in the URL');
  });

  it('sorts by a column', async () => {
    await page.goto(system.httpUrl);
    await page.locator('th button.sort', { hasText: zh('column.patientId') }).click();
    await page.waitForSelector('th[aria-sort=ascending]');
    await page.waitForSelector('tr.study');
    const ids = await page.locator('tr.study td.col-PatientID').allInnerTexts();
    assert.deepEqual(ids, [...ids].sort(), 'ascending by patient ID');
    assert.equal(ids[0], STUDIES.taoDx.patient.id, 'the archive sorted the whole result, not just the first page');
  });

  it('finds a patient by Chinese name and shows the series thumbnails of a study', async () => {
    await page.goto(system.httpUrl);
    await page.fill('input[name=patientName]', '王小东');
    await page.click('.search button[type=submit]');
    await page.waitForURL((url) => url.searchParams.get('name') === '王小东');
    await page.waitForSelector('tr.study');
    const names = await page.locator('tr.study td.col-PatientName').allInnerTexts();
    assert.deepEqual(names, ['王小东 (Wang, XiaoDong)', '王小东 (Wang, XiaoDong)']);
    const institutions = await page.locator('tr.study td.col-InstitutionName').allInnerTexts();
    assert.deepEqual(institutions, ['云溪县人民医院', '青石县人民医院']);
    await page.locator('tr.study button.expand').first().click();
    const thumbnails = page.locator('.series-strip img');
    await thumbnails.first().waitFor();
    assert.equal(await thumbnails.count(), 2);
    await waitForCondition(page, `[...document.querySelectorAll('.series-strip img')].every((image) => image.complete && image.naturalWidth > 0)`);
    await saveDocImage(page, 'viewer-study-list');
  });

  it('opens the study: the first image is drawn, with the overlays', async () => {
    await page.locator('tr.study button.open').first().click();
    await page.waitForURL(/\/viewer\?StudyInstanceUIDs=/);
    await waitForFirstImage(page, 'viewport-0');
    assert.equal(new URL(page.url()).searchParams.get('StudyInstanceUIDs'), uidOf(STUDIES.wangCurrentCt));
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __yingyun: { renderer: string } }).__yingyun.renderer), 'cpu', 'no GPU here: drawn on the CPU');
    assert.equal(await page.locator('.app-header .badge').innerText(), 'CPU');
    const signature = await canvasSignature(page, 0);
    assert.ok(signature.mean > 20, `the canvas shows an image (mean ${signature.mean})`);
    assert.match(await cornerText(page, 0, 'top-left'), /王小东 \(Wang, XiaoDong\)\nYX20240456/);
    assert.match(await cornerText(page, 0, 'top-right'), /云溪县人民医院\n2024-11-05/);
    assert.match(await cornerText(page, 0, 'bottom-left'), new RegExp(zh('overlay.image', { index: 1, total: 60 })));
    assert.match(await cornerText(page, 0, 'bottom-right'), new RegExp(zh('overlay.window', { width: 400, center: 40 })));
  });

  it('scrolls by wheel and keyboard: another slice is drawn and the overlay follows', async () => {
    const before = await canvasSignature(page, 0);
    const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 100);
    await waitForCornerText(page, 0, 'bottom-left', zh('overlay.image', { index: 2, total: 60 }));
    await page.keyboard.press('ArrowDown');
    await page.keyboard.press('ArrowDown');
    await waitForCornerText(page, 0, 'bottom-left', zh('overlay.image', { index: 4, total: 60 }));
    assert.match(await cornerText(page, 0, 'bottom-left'), /位置 -115 mm/);
    assert.notEqual((await canvasSignatureOtherThan(page, 0, before, 'hash')).hash, before.hash, 'the canvas shows another slice');
  });

  it('changes window/level by dragging and by preset', async () => {
    const before = await canvasSignature(page, 0);
    const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.down();
    await page.mouse.move(box.x + box.width / 2 + 120, box.y + box.height / 2 + 60, { steps: 6 });
    await page.mouse.up();
    const dragged = await cornerText(page, 0, 'bottom-right');
    assert.doesNotMatch(dragged, new RegExp(zh('overlay.window', { width: 400, center: 40 })));
    const afterDrag = await canvasSignatureOtherThan(page, 0, before, 'mean');
    assert.notEqual(afterDrag.mean, before.mean, 'the image got lighter or darker');
    const bone = await page.locator('select[data-action=presets] option', { hasText: zh('preset.bone') }).getAttribute('value');
    await page.selectOption('select[data-action=presets]', bone!);
    await waitForCornerText(page, 0, 'bottom-right', zh('overlay.window', { width: 2000, center: 500 }));
    await page.keyboard.press('2');
    await waitForCornerText(page, 0, 'bottom-right', zh('overlay.window', { width: 1500, center: -600 }));
    // Drawn on the next frame, after the overlay: CI once sampled the canvas in between.
    assert.notEqual((await canvasSignatureOtherThan(page, 0, afterDrag, 'mean')).mean, afterDrag.mean);
  });

  it('measures a length in millimetres, from the pixel spacing', async () => {
    const { x, y } = await drawLengthAcrossCentre(page);
    // The label follows the mouse while dragging and settles after the release is drawn.
    const readMeasurement = async () => {
      const label = (await page.locator('.viewport[data-cell="0"] svg text', { hasText: 'mm' }).allTextContents())[0] ?? '';
      const lines = (await page.evaluate(
        `[...document.querySelectorAll('.viewport[data-cell="0"] svg line')].map((line) => Math.hypot(line.x2.baseVal.value - line.x1.baseVal.value, line.y2.baseVal.value - line.y1.baseVal.value))`,
      )) as number[];
      return { measured: Number(/([\d.]+) mm/.exec(label)?.[1]), drawn: Math.max(0, ...lines) };
    };
    let reading = await readMeasurement();
    for (let attempt = 0; attempt < 30; attempt++) {
      await page.waitForTimeout(100);
      const next = await readMeasurement();
      if (next.measured === reading.measured && next.drawn === reading.drawn && next.measured > 0) break;
      reading = next;
    }
    const { measured, drawn } = reading;
    assert.ok(drawn > 150, `a line of about 200 screen pixels is drawn (${drawn})`);
    const zoom = Number(/缩放 (\d+)%/.exec(await cornerText(page, 0, 'bottom-right'))?.[1]) / 100;
    const expected = (drawn / zoom) * 0.68359375;
    assert.ok(Math.abs(measured - expected) / expected < 0.03, `measured ${measured} mm, expected about ${expected.toFixed(1)} mm`);
  });

  it('measures an ellipse ROI: area in mm², mean and SD in HU', async () => {
    await page.click('button[data-action=tool-EllipticalROI]');
    const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
    // Over the mediastinum, below the line measured above.
    const [x, y] = [box.x + box.width / 2, box.y + box.height / 2 + 80];
    await page.mouse.move(x - 40, y - 25);
    await page.mouse.down();
    await page.mouse.move(x + 40, y + 25, { steps: 8 });
    await page.mouse.up();
    const labels = page.locator('.viewport[data-cell="0"] svg text');
    await waitForText(page, '.viewport[data-cell="0"] svg', '标准差');
    const text = (await labels.allTextContents()).join('\n');
    assert.match(text, /面积 [\d.]+ mm²/);
    assert.match(text, /均值 -?[\d.]+ HU/);
    assert.match(text, /标准差 [\d.]+ HU/);
    await page.click('button[data-action=tool-WindowLevel]');
    await saveDocImage(page, 'viewer-reading');
  });

  it('shows a series dragged from the series panel into a 2×2 layout', async () => {
    await page.click('button[data-action=layout-2x2]');
    await waitForCondition(page, `document.querySelectorAll('.viewport').length === 4`);
    // The second series (2.5 mm lung kernel) fills the new cell it was not on screen in; drag it over the third.
    const lung = page.locator('.study-series .series-card', { hasText: '2.5mm' });
    await lung.dragTo(page.locator('.viewport[data-cell="2"]'));
    await waitForFirstImage(page, 'viewport-2');
    await waitForCornerText(page, 2, 'top-right', '序列 3 2.5mm 肺窗');
    assert.match(await cornerText(page, 2, 'bottom-left'), new RegExp(zh('overlay.image', { index: 1, total: 120 })));
    assert.ok((await canvasSignature(page, 2)).mean > 20);
    await page.locator('.viewport[data-cell="0"]').click({ position: { x: 20, y: 300 } });
    await page.click('button[data-action=layout-1x1]');
    await waitForCondition(page, `document.querySelectorAll('.viewport').length === 1`);
  });

  it('lists the prior from the other hospital and opens it beside the current study, scrolling together', async () => {
    const prior = page.locator('.priors li.prior');
    await prior.first().waitFor();
    assert.equal(await prior.count(), 1);
    assert.match(await prior.innerText(), /2023-03-14[\s\S]*青石县人民医院[\s\S]*CT胸部平扫/);
    await prior.locator('button.compare').click();
    await waitForFirstImage(page, 'viewport-1');
    await waitForCondition(page, `document.querySelectorAll('.viewport').length === 2`);
    assert.deepEqual(await page.locator('.study-label').allInnerTexts(), ['云溪县人民医院 · 2024-11-05', '青石县人民医院 · 2023-03-14']);
    const priorDrawn = await canvasSignature(page, 1);
    assert.ok(priorDrawn.mean > 20, `the prior is drawn (${JSON.stringify(priorDrawn)})`);
    assert.match(await cornerText(page, 1, 'top-left'), /QS0012345/);
    assert.equal(await cornerText(page, 1, 'bottom-right').then((text) => text.split('\n')[0]), (await cornerText(page, 0, 'bottom-right')).split('\n')[0], 'the prior takes the window the reader chose');

    const left = Number(/图像 (\d+)\//.exec(await cornerText(page, 0, 'bottom-left'))?.[1]);
    const right = Number(/图像 (\d+)\//.exec(await cornerText(page, 1, 'bottom-left'))?.[1]);
    const priorBefore = await canvasSignature(page, 1);
    const windowBefore = (await cornerText(page, 0, 'bottom-right')).split('\n')[0];
    const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 100);
    await page.mouse.wheel(0, 100);
    await page.mouse.wheel(0, 100);
    await waitForCornerText(page, 1, 'bottom-left', zh('overlay.image', { index: right + 3, total: 60 }));
    assert.match(await cornerText(page, 0, 'bottom-left'), new RegExp(zh('overlay.image', { index: left + 3, total: 60 })));
    assert.notEqual((await canvasSignature(page, 1)).hash, priorBefore.hash, 'the prior moved with the current study');
    for (const cell of [0, 1]) assert.equal((await cornerText(page, cell, 'bottom-right')).split('\n')[0], windowBefore, 'the reader’s window stays while scrolling');
    await saveDocImage(page, 'viewer-prior-compare');

    await page.click('button[data-action=link]');
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    await page.mouse.wheel(0, 100);
    await waitForCornerText(page, 0, 'bottom-left', zh('overlay.image', { index: left + 4, total: 60 }));
    assert.match(await cornerText(page, 1, 'bottom-left'), new RegExp(zh('overlay.image', { index: right + 3, total: 60 })), 'unlinked, the prior stays');
  });

  it("opens a linked patient's study at another institution only for a stated purpose, which every request carries", async () => {
    const current = liu[0]!.description.studyInstanceUid;
    const prior = liuElsewhere[0]!.description.studyInstanceUid;
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${current}`);
    await waitForFirstImage(page, 'viewport-0');
    await waitForText(page, '.sidebar', zh('viewer.priorsNone'));
    assert.equal(await page.locator('.sidebar .purpose-notice[data-purpose=none]').innerText().then((text) => text.includes(zh('viewer.priorsOwnOnly'))), true, 'the panel says it shows only this institution');

    await page.click('.sidebar [data-action=state-purpose]');
    const dialog = page.locator('.purpose-dialog');
    await dialog.waitFor();
    await dialog.locator('input[name=preset][value=""]').check();
    await dialog.locator('[data-action=confirm-purpose]').click();
    await waitForText(page, '.purpose-dialog .form-error', zh('purpose.required'));
    await dialog.locator('input[name=preset][value=priors]').check();
    await saveDocImage(page, 'viewer-purpose-of-use');
    await dialog.locator('[data-action=confirm-purpose]').click();
    await dialog.waitFor({ state: 'detached' });

    const priorItem = page.locator(`.priors li.prior[data-study="${prior}"]`);
    await priorItem.waitFor();
    assert.match(await priorItem.innerText(), /2023-06-10[\s\S]*青石县人民医院/);
    assert.match(await page.locator('.sidebar .purpose-notice[data-purpose=stated]').innerText(), new RegExp(PURPOSE));
    await priorItem.locator('button.compare').click();
    await waitForFirstImage(page, 'viewport-1');
    assert.ok((await canvasSignature(page, 1)).mean > 20, "the other institution's frames were fetched (with the purpose) and drawn");
    await waitForCondition(page, `[...document.querySelectorAll('.study-series[data-study="${prior}"] img')].some((image) => image.complete && image.naturalWidth > 0)`);

    // Remembered for the session: after a reload the prior is listed at once.
    await page.reload();
    await page.locator(`.priors li.prior[data-study="${prior}"]`).waitFor();
    // Every request for the other institution's study went with the purpose, the image loader's frames included.
    const auditor = await createUser(system, 'purpose-auditor', 'auditor');
    const { token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: auditor.username, label: 'e2e' });
    let frames: { purpose: string | null; detail: { crossInstitution?: boolean } }[] = [];
    for (let attempt = 0; attempt < 50 && frames.length === 0; attempt++) {
      const response = await fetch(`${system.httpUrl}/api/audit/events?user=reader&study=${prior}&type=instances-accessed&limit=1000`, { headers: { authorization: `Bearer ${token}` } });
      assert.equal(response.status, 200);
      frames = ((await response.json()) as typeof frames).filter((event) => JSON.stringify(event.detail).includes('/frames/'));
      if (frames.length === 0) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    assert.ok(frames.length >= 6, `the prior's frames were audited (${frames.length})`);
    for (const event of frames) {
      assert.equal(event.purpose, PURPOSE);
      assert.equal(event.detail.crossInstitution, true);
    }

    await page.click('.sidebar [data-action=withdraw-purpose]');
    await waitForText(page, '.sidebar', zh('viewer.priorsNone'));
  });

  it('opens a deep link drawn with WebGL: a colour ultrasound cine, frame by frame', async () => {
    // cpu=0 keeps WebGL even on SwiftShader, where the viewer would otherwise draw on the CPU (as the steps above did).
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${uidOf(STUDIES.chenUs)}&cpu=0`);
    await waitForFirstImage(page, 'viewport-0');
    assert.equal(await page.evaluate(() => (globalThis as unknown as { __yingyun: { renderer: string } }).__yingyun.renderer), 'gpu');
    assert.ok((await canvasSignature(page, 0)).colourShare > 0.001, 'colour Doppler pixels are drawn in colour');
    assert.match(await cornerText(page, 0, 'bottom-left'), new RegExp(zh('overlay.frame', { index: 1, total: 24 })));
    await page.keyboard.press('End');
    await waitForCornerText(page, 0, 'bottom-left', zh('overlay.frame', { index: 24, total: 24 }));
  });

  it('measures a radiograph at the detector spacing, and calibrates from a line of known length', async () => {
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${uidOf(STUDIES.liJiCr)}`);
    await waitForFirstImage(page, 'viewport-0');
    await waitForCornerText(page, 0, 'bottom-left', zh('viewport.projection'));
    const { x, y } = await drawLengthAcrossCentre(page);
    await page.mouse.move(x, y + 80);
    await waitForText(page, '.viewport[data-cell="0"] svg', ' mm');
    page.once('dialog', (dialog) => void dialog.accept('150'));
    await page.click('button[data-action=calibrate]');
    await waitForCornerText(page, 0, 'bottom-left', zh('viewport.calibrated'));
    await page.mouse.move(x, y + 90);
    await waitForText(page, '.viewport[data-cell="0"] svg', '150.0 mm');
  });

  it('says why an image cannot be shown instead of a blank viewport', async () => {
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${broken[0]!.description.studyInstanceUid}`);
    const notice = page.locator('.viewport[data-cell="0"] .viewport-notice');
    await notice.waitFor({ state: 'visible' });
    assert.match(await notice.innerText(), /无法显示第 1 幅图像：浏览器无法解码/);
    await screenshot(page, 'viewer-undecodable');
  });

  it('says when a linked study is not in the archive', async () => {
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=1.2.3.4.5`);
    const message = page.locator('.reading-message[role=alert]');
    await message.waitFor();
    assert.match(await message.innerText(), /无法打开检查 1\.2\.3\.4\.5：HTTP 404/);
  });

  it('switches to English, remembers it, and lists the keyboard shortcuts', async () => {
    await page.goto(system.httpUrl);
    await page.selectOption('select[data-action=language]', 'en');
    await waitForText(page, '.app-header .brand', en('app.title'));
    await page.reload();
    await page.waitForSelector('tr.study');
    assert.equal(await page.locator('th button.sort').first().innerText(), en('column.patientName'));
    await page.click('button[data-action=help]');
    const dialog = page.locator('[role=dialog]');
    await dialog.waitFor();
    assert.match(await dialog.innerText(), new RegExp(`${en('shortcut.title')}[\\s\\S]*${en('shortcut.nextImage')}[\\s\\S]*${en('tool.Length')}`));
    await page.keyboard.press('Escape');
    await dialog.waitFor({ state: 'detached' });
  });

  it('asks who you are: a wrong password is refused in the reader’s language, the right one opens the study list', async () => {
    const person = await newPersonPage();
    await person.goto(system.httpUrl);
    await person.locator('form.sign-in-form').waitFor();
    assert.equal(await person.locator('.sign-in-form h1').innerText(), zh('signIn.title'));
    assert.equal(await person.locator('tr.study').count(), 0);
    assert.equal((await person.request.get(`${system.httpUrl}/api/auth/me`)).status(), 401);
    await fillSignIn(person, { username: reader.username, password: 'not the password at all' });
    await waitForText(person, '.sign-in-form .form-error', message('auth.invalidCredentials', 'zh-CN'));
    assert.equal(await person.locator('.sign-in-form input[name=password]').inputValue(), '', 'the refused password is cleared');
    await saveDocImage(person, 'viewer-sign-in');
    // The archive words the refusal in the language the viewer is set to, not the browser's.
    await person.selectOption('select[data-action=language]', 'en');
    await fillSignIn(person, { username: reader.username, password: 'still not the password' });
    await waitForText(person, '.sign-in-form .form-error', message('auth.invalidCredentials', 'en'));
    await fillSignIn(person, reader);
    await person.waitForSelector('tr.study');
    assert.equal(await person.locator('.app-header .user-name').innerText(), reader.displayName);
    assert.equal(await person.locator('.app-header .user-role').innerText(), en('role.radiologist'));
    assert.equal(await person.locator('form.sign-in-form').isVisible(), false);
    assert.equal(await person.locator('[data-nav=admin]').count(), 0, 'a radiologist has no administration');
    await person.context().close();
  });

  it('signs out: back to the sign-in screen, and the archive has ended the session', async () => {
    const person = await newPersonPage();
    await signIn(person, system.httpUrl, reader);
    await person.waitForSelector('tr.study');
    const session = (await person.context().cookies()).find((cookie) => cookie.name === 'yingyun_session')!;
    assert.ok(session.httpOnly, 'the session cookie is out of scripts’ reach');
    await person.click('[data-action=sign-out]');
    await person.locator('form.sign-in-form input[name=username]').waitFor();
    assert.equal(new URL(person.url()).pathname, '/');
    assert.equal(await person.locator('tr.study').count(), 0);
    assert.equal((await person.request.get(`${system.httpUrl}/api/auth/me`)).status(), 401);
    const replayed = await fetch(`${system.httpUrl}/dicom-web/studies`, { headers: { cookie: `yingyun_session=${session.value}` } });
    assert.equal(replayed.status, 401, 'the old session cookie is refused: signing out revoked it');
    await person.context().close();
  });

  it('returns to where the reader was after the session ends under them', async () => {
    const person = await newPersonPage();
    await signIn(person, system.httpUrl, reader, '/?name=%E7%8E%8B%E5%B0%8F%E4%B8%9C');
    await person.waitForSelector('tr.study');
    await person.context().clearCookies();
    await person.locator('th button.sort', { hasText: zh('column.patientId') }).click();
    await waitForText(person, '.sign-in-notice', zh('signIn.expired'));
    await fillSignIn(person, reader);
    await person.waitForSelector('th[aria-sort=ascending]');
    await person.waitForSelector('tr.study');
    const url = new URL(person.url());
    assert.equal(url.searchParams.get('name'), '王小东');
    assert.equal(url.searchParams.get('sort'), 'PatientID');
    assert.equal(await person.locator('tr.study').count(), 2);
    await person.context().close();
  });

  it('shows an auditor the audit trail, and no patient images', async () => {
    const auditor = await createUser(system, 'auditor', 'auditor', '审计员甲');
    const person = await newPersonPage();
    await signIn(person, system.httpUrl, auditor);
    await person.waitForURL((url) => url.pathname === '/admin');
    await person.locator('table[data-table=audit] tbody tr').first().waitFor();
    assert.deepEqual(await person.locator('.admin-tabs [role=tab]').allInnerTexts(), [zh('admin.tab.audit')]);
    assert.equal(await person.locator('[data-nav=studies]').count(), 0);
    assert.equal(await person.locator('section.study-list').isVisible(), false);
    assert.equal(await person.locator('tr.study').count(), 0);

    await person.locator('[data-form=audit] input[name=user]').fill(reader.username);
    await person.selectOption('[data-form=audit] select[name=type]', 'login');
    await person.click('[data-action=search-audit]');
    await waitForCondition(person, `[...document.querySelectorAll('table[data-table=audit] tbody tr')].length > 0 && [...document.querySelectorAll('table[data-table=audit] tbody tr')].every((row) => row.cells[3].textContent.startsWith('reader ('))`);
    const outcomes = await person.locator('table[data-table=audit] tbody tr td:nth-child(3)').allInnerTexts();
    assert.ok(outcomes.includes(zh('audit.outcome.success')) && outcomes.includes(zh('audit.outcome.minorFailure')), `the reader's sign-ins and the refused ones: ${outcomes.join(', ')}`);
    await person.click('[data-action=verify-audit]');
    await person.locator('[data-chain=intact]').waitFor();
    const csv = await person.locator('[data-action=export-csv]').getAttribute('href');
    assert.equal(csv, '/api/audit/export.csv?user=reader&type=login');
    const exported = await person.request.get(`${system.httpUrl}${csv}`);
    assert.equal(exported.status(), 200);
    assert.match(exported.headers()['content-type'] ?? '', /text\/csv/);
    await saveDocImage(person, 'viewer-admin-audit');

    await person.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${uidOf(STUDIES.wangCurrentCt)}`);
    await person.waitForURL((url) => url.pathname === '/admin');
    assert.equal(await person.locator('.viewport').count(), 0);
    await person.context().close();
  });

  it('lets a system administrator create a user who can then sign in, and issue and revoke an API token', async () => {
    const administrator = await createUser(system, 'sysadmin', 'system_admin', '系统管理员甲');
    const person = await newPersonPage();
    await signIn(person, system.httpUrl, administrator);
    await person.click('[data-nav=admin]');
    await person.locator('table[data-table=institutions]').waitFor();
    const institutions = await person.locator('table[data-table=institutions]').innerText();
    assert.ok(institutions.includes('TEST_HOSPITAL') && institutions.includes('OTHER_HOSPITAL'), institutions);

    await person.click('.admin-tabs [data-tab=users]');
    await person.locator('table[data-table=users]').waitFor();
    const form = person.locator('form[data-form=user]');
    await form.locator('input[name=username]').fill('dr.new');
    await form.locator('input[name=displayName]').fill('新医生');
    await form.locator('select[name=role]').selectOption('referring_doctor');
    await waitForCondition(person, `[...document.querySelectorAll('form[data-form=user] select[name=institutionCode] option')].some((option) => option.value === 'TEST_HOSPITAL')`);
    await form.locator('select[name=institutionCode]').selectOption('TEST_HOSPITAL');
    await form.locator('input[name=password]').fill('too short');
    await form.locator('[data-action=create-user]').click();
    await waitForText(person, 'form[data-form=user] .form-outcome', zh('admin.invalid.passwordShort'));
    const password = 'a new doctor passphrase';
    await form.locator('input[name=password]').fill(password);
    await form.locator('[data-action=create-user]').click();
    await waitForText(person, 'form[data-form=user] .form-outcome', zh('admin.done.userCreated', { username: 'dr.new' }));
    await waitForText(person, 'table[data-table=users]', '新医生');
    await saveDocImage(person, 'viewer-admin-users');
    const newPassword = 'a reset doctor passphrase';
    await person.locator('table[data-table=users] tbody tr', { hasText: 'dr.new' }).locator('[data-action=reset-password]').click();
    const passwordForm = person.locator('form[data-form=password]');
    await waitForText(person, 'form[data-form=password] h3', zh('admin.resetPasswordFor', { username: 'dr.new' }));
    await passwordForm.locator('input[name=password]').fill(newPassword);
    await passwordForm.locator('[data-action=save-password]').click();
    await waitForText(person, '.admin-outcome', zh('admin.done.passwordReset', { username: 'dr.new' }));
    await passwordForm.waitFor({ state: 'hidden' });

    await person.click('.admin-tabs [data-tab=peers]');
    await person.locator('table[data-table=peers]').waitFor();
    const peerForm = person.locator('form[data-form=peer]');
    await waitForCondition(person, `[...document.querySelectorAll('form[data-form=peer] select[name=institutionCode] option')].some((option) => option.value === 'OTHER_HOSPITAL')`);
    await peerForm.locator('select[name=institutionCode]').selectOption('OTHER_HOSPITAL');
    await peerForm.locator('input[name=aeTitle]').fill('E2E_CT');
    await peerForm.locator('textarea[name=allowedNetworks]').fill('10.9.0.0/16\n10.8.7.6');
    await peerForm.locator('input[name=port]').fill('70000');
    await peerForm.locator('[data-action=save-peer]').click();
    await waitForText(person, 'form[data-form=peer] .form-outcome', zh('admin.invalid.port'));
    await peerForm.locator('input[name=port]').fill('104');
    await peerForm.locator('[data-action=save-peer]').click();
    const peerRow = person.locator('table[data-table=peers] tbody tr', { hasText: 'E2E_CT' });
    await peerRow.waitFor();
    assert.match(await peerRow.innerText(), /其他医院 Other Hospital[\s\S]*10\.9\.0\.0\/16, 10\.8\.7\.6[\s\S]*:104/);
    await peerRow.locator('[data-action=edit-peer]').click();
    assert.equal(await peerForm.locator('input[name=aeTitle]').inputValue(), 'E2E_CT');
    await peerForm.locator('input[name=host]').fill('ct.other.example');
    await peerForm.locator('[data-action=save-peer]').click();
    await waitForText(person, 'table[data-table=peers]', 'ct.other.example:104');
    person.once('dialog', (dialog) => void dialog.accept());
    await peerRow.locator('[data-action=delete-peer]').click();
    await waitForText(person, '.admin-outcome', zh('admin.done.peerDeleted', { aeTitle: 'E2E_CT' }));
    await peerRow.waitFor({ state: 'detached' });

    await person.click('.admin-tabs [data-tab=tokens]');
    const tokenForm = person.locator('form[data-form=token]');
    await waitForCondition(person, `[...document.querySelectorAll('form[data-form=token] select[name=username] option')].some((option) => option.value === 'dr.new')`);
    await tokenForm.locator('select[name=username]').selectOption('dr.new');
    await tokenForm.locator('input[name=label]').fill('e2e script');
    await tokenForm.locator('[data-action=create-token]').click();
    const secret = await person.locator('.token-secret').innerText();
    assert.match(secret, /^yy_/);
    assert.equal((await fetch(`${system.httpUrl}/api/auth/me`, { headers: { authorization: `Bearer ${secret}` } })).status, 200);
    await person.click('[data-action=dismiss-token]');
    assert.equal(await person.locator('.token-secret').count(), 0, 'the token is shown once');
    const row = person.locator('table[data-table=tokens] tbody tr', { hasText: 'e2e script' });
    person.once('dialog', (dialog) => void dialog.accept());
    await row.locator('[data-action=revoke-token]').click();
    await waitForText(person, 'table[data-table=tokens]', zh('admin.tokenStatus.revoked'));
    assert.equal((await fetch(`${system.httpUrl}/api/auth/me`, { headers: { authorization: `Bearer ${secret}` } })).status, 401);

    await person.click('[data-action=sign-out]');
    await person.locator('form.sign-in-form input[name=username]').waitFor();
    await fillSignIn(person, { username: 'dr.new', password });
    await waitForText(person, '.sign-in-form .form-error', message('auth.invalidCredentials', 'zh-CN'));
    await fillSignIn(person, { username: 'dr.new', password: newPassword });
    await person.waitForSelector('tr.study');
    assert.equal(await person.locator('.app-header .user-role').innerText(), zh('role.referring_doctor'));
    await person.context().close();
  });

  it("hides who the patient is from quality-control staff", async () => {
    const qc = await createUser(system, 'qc', 'qc_staff', '质控员');
    const person = await newPersonPage();
    await signIn(person, system.httpUrl, qc);
    await person.waitForSelector('tr.study');
    const names = await person.locator('tr.study td.col-PatientName').allInnerTexts();
    const ids = await person.locator('tr.study td.col-PatientID').allInnerTexts();
    assert.ok(names.length > 0 && names.every((name) => name === '***'), names.join(', '));
    assert.ok(ids.every((id) => id === '***'), ids.join(', '));
    await person.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${uidOf(STUDIES.liJiCr)}`);
    await waitForFirstImage(person, 'viewport-0');
    assert.match(await cornerText(person, 0, 'top-left'), /^\*\*\*\n\*\*\*/);
    assert.equal(await person.locator('.purpose-notice').count(), 0, 'a purpose would change nothing for QC staff');
    await person.context().close();
  });

  it('raised no uncaught errors and broke no Content-Security-Policy rule in any page', () => {
    assert.deepEqual(pageProblems, []);
  });

  it('kept its timings on window.__yingyun for the benchmark', async () => {
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${uidOf(STUDIES.wangCurrentCt)}`);
    await page.waitForFunction(() => (globalThis as unknown as { __yingyun: { viewports: Record<string, { fullyLoadedAt?: number }> } }).__yingyun.viewports['viewport-0']?.fullyLoadedAt !== undefined);
    const timings = (await viewportTimings(page, 'viewport-0'))!;
    assert.equal(timings.loaded, 60);
    assert.ok(timings.firstImageAt! <= timings.fullyLoadedAt!);
  });
});

/** Picks the length tool and drags a 200-pixel horizontal line through the first viewport's centre. */
async function drawLengthAcrossCentre(page: Page): Promise<{ x: number; y: number }> {
  await page.click('button[data-action=tool-Length]');
  const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2];
  await page.mouse.move(x - 100, y);
  await page.mouse.down();
  await page.mouse.move(x + 100, y, { steps: 10 });
  await page.mouse.up();
  return { x, y };
}
