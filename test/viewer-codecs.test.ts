import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { Browser, Page } from 'playwright-core';
import { parseInstance } from '../archive/dicom/parse.ts';
import { makeCtSeries, STUDIES, type FixtureInstance } from '../fixtures/generate.ts';
import { browserUnavailable, canvasSignature, createUser, ensureViewerBuilt, launchChromium, screenshot, signIn, startSystemWith, waitForFirstImage } from './support/browser.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { encodeHtj2k, encodeJpegXl, part10Of, testFrame } from './support/codecs.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import type { TestSystem } from './support/system.ts';

/**
 * Frames travel as stored (compressed when stored compressed) and are decoded in the browser's web
 * workers by Cornerstone's WASM codecs: each stored transfer syntax is opened in the viewer and must
 * draw without an error; lossless ones must draw exactly what the uncompressed original draws.
 * Compressed files come from DCMTK (converting a fixture CT) and pydicom's sample files, each given
 * UIDs of its own (dcmodify) so no two are versions of one instance.
 */

const havePeers = commandExists('dcmcjpls') && commandExists('dcmodify') && fs.existsSync(PYDICOM_TEST_FILES);
const PEERS = 'DCMTK (dcmcjpeg, dcmcjpls, dcmcrle, dcmodify) and python3-pydicom test files';

interface Case {
  name: string;
  transferSyntaxUid: string;
  file: string;
  /** Lossless: must draw the same pixels as this uncompressed file (the fixture CT, or the codec test image). */
  losslessOf?: string;
}

describe('viewer decodes every stored transfer syntax in the browser', () => {
  // Throws under CI=true when Chromium is missing; otherwise the reason each test is skipped for.
  const noBrowser = browserUnavailable();
  let directory: string;
  let system: TestSystem;
  let browser: Browser;
  let page: Page;
  const cases: Case[] = [];
  const original = [...makeCtSeries({ study: STUDIES.wangCurrentCt, seriesNumber: 80, slices: 1, rows: 128, columns: 128 })][0]!;
  const read = (file: string): FixtureInstance => {
    const bytes = fs.readFileSync(file);
    const parsed = parseInstance(bytes);
    return { ...original, bytes, description: { ...original.description, studyInstanceUid: parsed.studyInstanceUid, seriesInstanceUid: parsed.seriesInstanceUid, sopInstanceUid: parsed.sopInstanceUid } };
  };

  before(async () => {
    if (noBrowser || !havePeers) return;
    directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-codecs-'));
    const source = path.join(directory, 'ct.dcm');
    fs.writeFileSync(source, original.bytes);
    const convert = async (name: string, transferSyntaxUid: string, tool: string, args: string[], lossless = false) => {
      const file = path.join(directory, `${cases.length}.dcm`);
      const converted = await runDcmtk(tool, [...args, source, file]);
      assert.equal(converted.code, 0, `${tool}: ${converted.output}`);
      cases.push({ name, transferSyntaxUid, file, ...(lossless ? { losslessOf: source } : {}) });
    };
    await convert('JPEG Lossless SV1', '1.2.840.10008.1.2.4.70', 'dcmcjpeg', ['+e1'], true);
    await convert('JPEG-LS Lossless', '1.2.840.10008.1.2.4.80', 'dcmcjpls', [], true);
    await convert('RLE Lossless', '1.2.840.10008.1.2.5', 'dcmcrle', [], true);
    for (const [name, transferSyntaxUid, sample] of [
      ['JPEG Baseline (colour)', '1.2.840.10008.1.2.4.50', 'SC_rgb_jpeg_dcmtk.dcm'],
      ['JPEG Extended (12-bit)', '1.2.840.10008.1.2.4.51', 'JPEG-lossy.dcm'],
      ['JPEG 2000 Lossless', '1.2.840.10008.1.2.4.90', 'MR_small_jp2klossless.dcm'],
      ['JPEG 2000', '1.2.840.10008.1.2.4.91', 'JPEG2000.dcm'],
    ] as const) {
      const file = path.join(directory, `${cases.length}.dcm`);
      fs.copyFileSync(path.join(PYDICOM_TEST_FILES, sample), file);
      cases.push({ name, transferSyntaxUid, file });
    }
    for (const { file } of cases) {
      const renamed = await runDcmtk('dcmodify', ['-nb', '-gst', '-gse', '-gin', file]);
      assert.equal(renamed.code, 0, `dcmodify: ${renamed.output}`);
    }
    // No sample files exist of these: the codec test image, encoded by OpenJPH and libjxl, with UIDs of
    // its own already (and in syntaxes this DCMTK cannot read, so dcmodify could not give them new ones).
    const image = testFrame(12);
    const uncompressed = path.join(directory, 'codec-image.dcm');
    fs.writeFileSync(uncompressed, part10Of(image));
    for (const [name, transferSyntaxUid, encode, lossless] of [
      ['HTJ2K Lossless', '1.2.840.10008.1.2.4.201', () => encodeHtj2k(image, 'lossless'), true],
      ['HTJ2K', '1.2.840.10008.1.2.4.203', () => encodeHtj2k(image, { quantizationStep: 0.002 }), false],
      ['JPEG XL Lossless', '1.2.840.10008.1.2.4.110', () => encodeJpegXl(image, 'lossless'), true],
      ['JPEG XL', '1.2.840.10008.1.2.4.112', () => encodeJpegXl(image, { distance: 1 }), false],
    ] as const) {
      const file = path.join(directory, `${cases.length}.dcm`);
      fs.writeFileSync(file, part10Of(image, transferSyntaxUid, await encode()));
      cases.push({ name, transferSyntaxUid, file, ...(lossless ? { losslessOf: uncompressed } : {}) });
    }
    [system] = await Promise.all([startSystemWith([original, read(uncompressed), ...cases.map((entry) => read(entry.file))]), ensureViewerBuilt()]);
    browser = await launchChromium();
    page = await browser.newPage({ viewport: { width: 900, height: 700 }, locale: 'en' });
    await signIn(page, system.httpUrl, await createUser(system, 'codec-reader', 'radiologist'));
  });
  after(async () => {
    await browser?.close();
    await system?.shutdown();
    if (directory) fs.rmSync(directory, { recursive: true, force: true });
  });

  const open = async (file: string | Buffer) => {
    const parsed = parseInstance(typeof file === 'string' ? fs.readFileSync(file) : file);
    await page.goto(`${system.httpUrl}/viewer?StudyInstanceUIDs=${parsed.studyInstanceUid}`);
    await waitForFirstImage(page, 'viewport-0');
    // The first image is on screen; the canvas is read after the next frame has been painted.
    await page.evaluate('new Promise((resolve) => requestAnimationFrame(() => requestAnimationFrame(resolve)))');
    return { parsed, signature: await canvasSignature(page, 0) };
  };

  it('draws each one, lossless ones exactly as the uncompressed original', async (t) => {
    if (!requirePeer(t, !noBrowser, 'Chromium') || !requirePeer(t, havePeers, PEERS)) return;
    const references = new Map<string, Awaited<ReturnType<typeof open>>['signature']>();
    for (const entry of cases) {
      const { parsed, signature } = await open(entry.file);
      assert.equal(parsed.transferSyntaxUid, entry.transferSyntaxUid, `${entry.name} is stored as ${entry.transferSyntaxUid}`);
      assert.equal(await page.locator('.viewport-notice').isVisible(), false, `${entry.name}: ${await page.locator('.viewport-notice').innerText().catch(() => '')}`);
      assert.ok(signature.mean > 5, `${entry.name} draws an image (mean ${signature.mean})`);
      if (entry.losslessOf) {
        if (!references.has(entry.losslessOf)) references.set(entry.losslessOf, (await open(entry.losslessOf)).signature);
        assert.equal(signature.hash, references.get(entry.losslessOf)!.hash, `${entry.name} draws the same pixels as the uncompressed original`);
      }
      await screenshot(page, `viewer-codec-${entry.name.replace(/\W+/g, '-').toLowerCase()}`);
    }
  });
});
