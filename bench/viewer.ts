/**
 * `npm run bench:viewer`: the web viewer in headless Chromium against a Yingyun on this machine
 * holding the bench preset's 500-slice 512×512 CT. Prints, for the renderer the viewer picks (CPU
 * here, where WebGL is SwiftShader without a GPU) and for WebGL forced:
 *   - time from clicking Open in the study list to the first image drawn (and from a cold deep link);
 *   - time until all 500 slices are loaded (fetched from WADO-RS and decoded in web workers);
 *   - scroll frame rate once loaded: one slice per animation frame, frames actually drawn per second.
 * Targets (issue 4): first image < 500 ms, fully loaded < 10 s, scrolling ≥ 30 frames/s.
 */
import os from 'node:os';
import type { Page } from 'playwright-core';
import { generateCorpus, type FixtureInstance } from '../fixtures/generate.ts';
import { createUser, ensureViewerBuilt, launchChromium, signIn, startSystemWith, viewportTimings, waitForFirstImage, type Credentials } from '../test/support/browser.ts';

const SCROLL_SECONDS = 4;

function benchCt(): FixtureInstance[] {
  const slices = [...generateCorpus({ preset: 'bench' })].filter((instance) => instance.description.modality === 'CT');
  if (slices.length !== 500) throw new Error(`expected the bench preset's 500-slice CT, found ${slices.length} CT instances`);
  return slices;
}

async function waitFullyLoaded(page: Page): Promise<void> {
  await page.waitForFunction(
    () => (globalThis as unknown as { __yingyun: { viewports: Record<string, { fullyLoadedAt?: number }> } }).__yingyun.viewports['viewport-0']?.fullyLoadedAt !== undefined,
    undefined,
    { timeout: 120_000 },
  );
}

/** Scrolls one slice per animation frame through the app's own key handling, bouncing at the ends, and counts drawn frames. */
async function scrollFrameRate(page: Page): Promise<{ framesPerSecond: number; slicesPerSecond: number }> {
  const box = (await page.locator('.viewport[data-cell="0"]').boundingBox())!;
  await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
  return page.evaluate(`new Promise((resolve) => {
    const stats = () => globalThis.__yingyun.viewports['viewport-0'];
    const overlay = () => document.querySelector('.viewport[data-cell="0"] .corner.bottom-left').textContent;
    const total = stats().total;
    const startFrames = stats().renderedFrames;
    const seen = new Set();
    let down = true;
    let steps = 0;
    const started = performance.now();
    const tick = () => {
      const elapsed = (performance.now() - started) / 1000;
      seen.add(overlay());
      if (elapsed >= ${SCROLL_SECONDS}) {
        resolve({ framesPerSecond: (stats().renderedFrames - startFrames) / elapsed, slicesPerSecond: steps / elapsed });
        return;
      }
      steps++;
      if (steps % (total - 1) === 0) down = !down;
      document.dispatchEvent(new KeyboardEvent('keydown', { key: down ? 'ArrowDown' : 'ArrowUp', bubbles: true }));
      requestAnimationFrame(tick);
    };
    requestAnimationFrame(tick);
  })`) as Promise<{ framesPerSecond: number; slicesPerSecond: number }>;
}

/**
 * `choice`: the viewer's own renderer (CPU when WebGL is software-only, as here without a GPU), or
 * WebGL forced. The reader is signed in first, through the sign-in screen; the timings include
 * asking the archive who is signed in, as every page load does.
 */
async function measure(page: Page, baseUrl: string, reader: Credentials, studyInstanceUid: string, choice: 'auto' | 'webgl') {
  const flag = choice === 'webgl' ? '?cpu=0' : '';
  await signIn(page, baseUrl, reader, `/${flag}`);
  // Cold deep link: the app itself (Cornerstone, codecs) is loaded, parsed and started first.
  await page.goto(`${baseUrl}/viewer?StudyInstanceUIDs=${studyInstanceUid}${choice === 'webgl' ? '&cpu=0' : ''}`);
  await waitForFirstImage(page, 'viewport-0', 60_000);
  const deepLink = (await viewportTimings(page, 'viewport-0'))!;
  await waitFullyLoaded(page);
  // In the app: the list is on screen, the reader clicks Open.
  await page.goto(`${baseUrl}/${flag}`);
  await page.waitForSelector('tr.study button.open');
  // Timed from the click as the page receives it, not from when the test driver starts clicking.
  await page.evaluate(`document.addEventListener('click', () => { globalThis.clickedAt = performance.now(); }, { capture: true, once: true })`);
  await page.locator('tr.study button.open').first().click();
  const clickedAt = (await page.evaluate('globalThis.clickedAt')) as number;
  await waitForFirstImage(page, 'viewport-0', 60_000);
  await waitFullyLoaded(page);
  const opened = (await viewportTimings(page, 'viewport-0'))!;
  const renderer = (await page.evaluate('globalThis.__yingyun.renderer')) as string;
  const scroll = await scrollFrameRate(page);
  return {
    renderer,
    deepLinkFirstImageMs: deepLink.firstImageAt!,
    openFirstImageMs: opened.firstImageAt! - clickedAt,
    openFullyLoadedMs: opened.fullyLoadedAt! - clickedAt,
    ...scroll,
  };
}

const started = Date.now();
console.log('generating the 500-slice CT and loading it into a fresh Yingyun …');
const [system] = await Promise.all([startSystemWith(benchCt()), ensureViewerBuilt()]);
console.log(`ready in ${((Date.now() - started) / 1000).toFixed(1)} s`);
const browser = await launchChromium();
try {
  const { studies } = await system.fetch(`${system.dicomWebUrl}/studies?ModalitiesInStudy=CT`).then(async (response) => ({ studies: (await response.json()) as { '0020000D': { Value: string[] } }[] }));
  const studyInstanceUid = studies[0]!['0020000D'].Value[0]!;
  const reader = await createUser(system, 'bench-reader', 'radiologist');
  const rows = [];
  for (const choice of ['auto', 'webgl'] as const) {
    const page = await browser.newPage({ viewport: { width: 1400, height: 900 } });
    rows.push({ choice, ...(await measure(page, system.httpUrl, reader, studyInstanceUid, choice)) });
    await page.close();
  }
  console.log(`\nviewer, 500-slice 512×512 CT (16-bit, uncompressed), headless Chromium, ${os.cpus().length} × ${os.cpus()[0]?.model.trim()}, node ${process.version}`);
  console.log('| renderer | Open → first image | cold deep link → first image | Open → 500 slices loaded | scroll (frames drawn/s) |');
  console.log('|---|---|---|---|---|');
  for (const row of rows) {
    console.log(
      `| ${row.choice === 'auto' ? 'viewer’s choice' : 'WebGL forced (?cpu=0)'}: ${row.renderer === 'cpu' ? 'CPU' : 'WebGL'} | ${row.openFirstImageMs.toFixed(0)} ms | ${row.deepLinkFirstImageMs.toFixed(0)} ms | ${(row.openFullyLoadedMs / 1000).toFixed(2)} s | ${row.framesPerSecond.toFixed(1)} (${row.slicesPerSecond.toFixed(1)} slices/s asked) |`,
    );
  }
  console.log('targets: first image < 500 ms, fully loaded < 10 s, scrolling ≥ 30 frames/s');
} finally {
  await browser.close();
  await system.shutdown();
}
