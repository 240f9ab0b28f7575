import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type Page } from 'playwright-core';
import { COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
import type { Role } from '../../archive/access/policy.ts';
import type { FixtureInstance } from '../../fixtures/generate.ts';
import { ensureViewerBuilt } from '../../gateway/viewer-build.ts';
import { startTestSystem, type TestSystem } from './system.ts';

/**
 * Headless Chromium for the viewer's end-to-end suites and `npm run bench:viewer`, driven by
 * playwright-core against Debian's chromium (.ci/run installs it): no browser download.
 */

const CANDIDATES = [process.env.CHROMIUM_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser', '/usr/bin/google-chrome'];

export function findChromium(): string | undefined {
  return CANDIDATES.find((candidate): candidate is string => !!candidate && fs.existsSync(candidate));
}

/**
 * Why the browser suites cannot run here, or undefined when they can. Under CI=true a missing
 * browser is a failure (thrown), not a skip, as for the other system peers.
 */
export function browserUnavailable(): string | undefined {
  if (findChromium()) return undefined;
  const reason = `no Chromium found (looked for ${CANDIDATES.filter(Boolean).join(', ')}; apt-get install chromium, or set CHROMIUM_PATH)`;
  if (process.env.CI === 'true') throw new Error(`CI=true but ${reason}`);
  return reason;
}

/** Headless, no GPU: WebGL is SwiftShader or absent, which is what the viewer's CPU fallback is for. */
export function launchChromium(): Promise<Browser> {
  return chromium.launch({
    executablePath: findChromium(),
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

/** The gateway serves viewer/dist; the suites test what is built (rebuilt when older than its sources). */
export { ensureViewerBuilt };

/** The whole system on free ports with the given fixture instances stored, indexed and thumbnailed. */
export async function startSystemWith(instances: Iterable<FixtureInstance>): Promise<TestSystem> {
  const system = await startTestSystem();
  try {
    for (const instance of instances) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'viewer-test', institutionId: system.institutionId });
    await system.runtime.queue.whenIdle();
    return system;
  } catch (error) {
    await system.shutdown();
    throw error;
  }
}

/** What a viewer suite runs against: the system, the built viewer and Chromium, started together. */
export interface ViewerSuite {
  system: TestSystem;
  browser: Browser;
  /** What went wrong in any page `newPage` opened (watchForPageProblems): a suite ends by asserting it empty. */
  problems: string[];
  /** A desktop-sized page in a browser context of its own: one person, with cookies of their own. */
  newPage(locale?: string): Promise<Page>;
  close(): Promise<void>;
}

export async function startViewerSuite(instances: Iterable<FixtureInstance>): Promise<ViewerSuite> {
  const [system] = await Promise.all([startSystemWith(instances), ensureViewerBuilt()]);
  const browser = await launchChromium().catch(async (error: unknown) => {
    await system.shutdown();
    throw error;
  });
  const problems: string[] = [];
  return {
    system,
    browser,
    problems,
    async newPage(locale = 'zh-CN') {
      const context = await browser.newContext({ viewport: { width: 1400, height: 860 }, locale });
      const page = await context.newPage();
      await watchForPageProblems(page, problems);
      return page;
    },
    async close() {
      await browser.close();
      await system.shutdown();
    },
  };
}

/** A user the browser signs in as. */
export interface Credentials {
  username: string;
  password: string;
  displayName: string;
}

/** The archive's password rule wants at least 12 characters. */
const TEST_PASSWORD = 'viewer-e2e passphrase';

/** A user of TEST_HOSPITAL (system administrators and auditors too, though they need none), created as `npm run admin` would. */
export async function createUser(system: TestSystem, username: string, role: Role, displayName = username): Promise<Credentials> {
  await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName, role, institutionCode: 'TEST_HOSPITAL', password: TEST_PASSWORD });
  return { username, password: TEST_PASSWORD, displayName };
}

/**
 * Opens `path` and signs in through the viewer's own sign-in screen, as a person would; resolves
 * once the header shows the user signed in (the page then continues to `path`).
 */
export async function signIn(page: Page, baseUrl: string, credentials: Credentials, path = '/'): Promise<void> {
  await page.goto(`${baseUrl}${path}`);
  await fillSignIn(page, credentials);
  await page.waitForSelector('.app-header [data-action=sign-out]');
}

/** Types the credentials into the sign-in screen on show and submits them. */
export async function fillSignIn(page: Page, credentials: Pick<Credentials, 'username' | 'password'>): Promise<void> {
  const form = page.locator('form.sign-in-form');
  await form.locator('input[name=username]').waitFor();
  await form.locator('input[name=username]').fill(credentials.username);
  await form.locator('input[name=password]').fill(credentials.password);
  await form.locator('button[data-action=sign-in]').click();
}

/**
 * Collects what should never happen in a page: uncaught errors, and Content-Security-Policy
 * violations (the gateway's policy allows no inline script or style), as Chromium reports them
 * on the console and as the page's own securitypolicyviolation events.
 */
export async function watchForPageProblems(page: Page, problems: string[]): Promise<void> {
  page.on('pageerror', (error) => problems.push(`${page.url()}: ${error.stack ?? error.message}`));
  page.on('console', (message) => {
    if (/Content Security Policy|securitypolicyviolation/i.test(message.text())) problems.push(`${page.url()}: ${message.text()}`);
  });
  await page.addInitScript(`addEventListener('securitypolicyviolation', (event) => console.error('securitypolicyviolation: ' + event.violatedDirective + ' blocked ' + event.blockedURI + ' at ' + event.sourceFile + ':' + event.lineNumber));`);
}

/** Where the suites keep what the browser showed (test-artifacts/ is not committed). */
export const ARTIFACTS = fileURLToPath(new URL('../../test-artifacts/viewer/', import.meta.url));

export async function screenshot(page: Page, name: string): Promise<string> {
  fs.mkdirSync(ARTIFACTS, { recursive: true });
  const file = path.join(ARTIFACTS, `${name}.png`);
  await page.screenshot({ path: file });
  return file;
}

/** What a viewport's canvas shows, reduced to numbers: changes when the image, window or view changes. */
export interface CanvasSignature {
  /** Mean of R+G+B over all pixels: 0 for a black (empty) canvas. */
  mean: number;
  /** A hash of the pixels, so two different images with equal means still differ. */
  hash: number;
  /** Share of pixels whose channels differ (a colour image), 0 for grayscale. */
  colourShare: number;
}

/**
 * Runs in the page (as source text: this file is type-checked without the DOM library). The
 * viewport's canvas is a 2D canvas whichever renderer drew into it.
 */
const SIGNATURE_IN_PAGE = `(cellIndex) => {
  const canvas = document.querySelector('.viewport[data-cell="' + cellIndex + '"] canvas');
  const context = canvas && canvas.getContext('2d', { willReadFrequently: true });
  if (!canvas || !context || canvas.width === 0) return { mean: 0, hash: 0, colourShare: 0 };
  const data = context.getImageData(0, 0, canvas.width, canvas.height).data;
  let sum = 0, hash = 0, coloured = 0;
  for (let index = 0; index < data.length; index += 4) {
    const r = data[index], g = data[index + 1], b = data[index + 2];
    sum += r + g + b;
    hash = (Math.imul(hash, 31) + r * 65536 + g * 256 + b) | 0;
    if (Math.abs(r - g) > 8 || Math.abs(g - b) > 8) coloured++;
  }
  const pixels = data.length / 4;
  return { mean: sum / pixels, hash, colourShare: coloured / pixels };
}`;

export function canvasSignature(page: Page, cell: number): Promise<CanvasSignature> {
  return page.evaluate(`(${SIGNATURE_IN_PAGE})(${Number(cell)})`) as Promise<CanvasSignature>;
}

/**
 * The canvas's signature once its `by` (mean grey, or the pixels' hash) differs from `previous`'s, or
 * the last one read after `timeout`: a viewport draws a new window or slice on its next animation
 * frame, after the overlay text that announces it may already be there.
 */
export async function canvasSignatureOtherThan(page: Page, cell: number, previous: CanvasSignature, by: 'mean' | 'hash', timeout = 5_000): Promise<CanvasSignature> {
  const deadline = Date.now() + timeout;
  for (;;) {
    const signature = await canvasSignature(page, cell);
    if (signature[by] !== previous[by] || Date.now() > deadline) return signature;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** The text of one overlay corner of a viewport, lines joined by newlines. */
export function cornerText(page: Page, cell: number, corner: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right'): Promise<string> {
  return page.locator(`.viewport[data-cell="${cell}"] .corner.${corner}`).innerText();
}

/** Milliseconds-since-navigation timings the viewer keeps on window.__yingyun (viewer/src/imaging/diagnostics.ts). */
export interface ViewportTimings {
  total: number;
  loaded: number;
  stackStartedAt: number;
  firstImageAt?: number;
  fullyLoadedAt?: number;
  renderedFrames: number;
}

export function viewportTimings(page: Page, viewportId: string): Promise<ViewportTimings | undefined> {
  return page.evaluate((id) => (globalThis as unknown as { __yingyun?: { viewports: Record<string, ViewportTimings> } }).__yingyun?.viewports[id], viewportId);
}

export async function waitForFirstImage(page: Page, viewportId: string, timeout = 15_000): Promise<void> {
  await page.waitForFunction(
    (id) => (globalThis as unknown as { __yingyun?: { viewports: Record<string, { firstImageAt?: number }> } }).__yingyun?.viewports[id]?.firstImageAt !== undefined,
    viewportId,
    { timeout },
  );
}

/**
 * Waits until `expression` (page source text) is true. Asked from here, a poll at a time, rather
 * than with page.waitForFunction(string), which evaluates the text with eval inside the page: the
 * viewer's Content-Security-Policy refuses that, as it should.
 */
export async function waitForCondition(page: Page, expression: string, timeout = 30_000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!(await page.evaluate(expression))) {
    if (Date.now() > deadline) throw new Error(`waited ${timeout} ms in vain for ${expression}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/** Waits until an element's text contains `text`; says what it showed instead when it never does. */
export async function waitForText(page: Page, selector: string, text: string, timeout = 10_000): Promise<void> {
  const deadline = Date.now() + timeout;
  let shown: string | null = null;
  for (;;) {
    shown = (await page.evaluate(`document.querySelector(${JSON.stringify(selector)})?.textContent ?? null`)) as string | null;
    if (shown?.includes(text)) return;
    if (Date.now() > deadline) throw new Error(`waited ${timeout} ms in vain for ${JSON.stringify(text)} in ${selector}, which shows ${JSON.stringify(shown)}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

/**
 * Draws a horizontal length across the middle of a viewport with the Length tool, `halfWidth`
 * pixels either side of its centre and `below` pixels under it.
 */
export async function drawLength(page: Page, cell: number, halfWidth: number, below = 0): Promise<void> {
  await page.click('button[data-action=tool-Length]');
  const box = (await page.locator(`.viewport[data-cell="${cell}"]`).boundingBox())!;
  const [x, y] = [box.x + box.width / 2, box.y + box.height / 2 + below];
  await page.mouse.move(x - halfWidth, y);
  await page.mouse.down();
  await page.mouse.move(x + halfWidth, y, { steps: 10 });
  await page.mouse.up();
  // Cornerstone draws the annotation in the next animation frame: until then the label still says a
  // length from partway through the drag (a loaded machine shows it for a while).
  await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
}

/** The label of the first length Cornerstone draws on a viewport's image ("95.1 mm"), once one shows. */
export async function lengthLabel(page: Page, cell: number): Promise<string> {
  const labels = `.viewport[data-cell="${cell}"] svg text`;
  await waitForCondition(page, `[...document.querySelectorAll(${JSON.stringify(labels)})].some((text) => /\\d mm/.test(text.textContent))`);
  const read = async () => ((await page.locator(labels, { hasText: 'mm' }).allTextContents())[0] ?? '').trim();
  // The same label twice, a few frames apart: not one still changing after a drag or a redraw.
  for (let label = await read(); ; ) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    const again = await read();
    if (again === label) return label;
    label = again;
  }
}

export function waitForCornerText(page: Page, cell: number, corner: 'top-left' | 'top-right' | 'bottom-left' | 'bottom-right', text: string): Promise<void> {
  return waitForText(page, `.viewport[data-cell="${cell}"] .corner.${corner}`, text);
}
