import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import sharp from 'sharp';
import { screenshot } from './browser.ts';

const DOC_IMAGES = fileURLToPath(new URL('../../docs/images/', import.meta.url));

/**
 * A screenshot in test-artifacts/viewer/ and, with UPDATE_DOC_IMAGES=1, in docs/images/ for the
 * guides (a 128-colour palette keeps it small).
 */
export async function docImage(page: Page, name: string): Promise<void> {
  const file = await screenshot(page, name);
  if (process.env.UPDATE_DOC_IMAGES !== '1') return;
  fs.mkdirSync(DOC_IMAGES, { recursive: true });
  await sharp(file).png({ palette: true, colours: 128, effort: 10 }).toFile(path.join(DOC_IMAGES, `${name}.png`));
}

/** The same screen in Chinese and in English (`<name>-zh`, `<name>-en`), through the header's language choice, back in Chinese after. */
export async function docImagesBothLanguages(page: Page, name: string, settled: () => Promise<void>): Promise<void> {
  await docImage(page, `${name}-zh`);
  await page.selectOption('select[data-action=language]', 'en');
  await settled();
  await docImage(page, `${name}-en`);
  await page.selectOption('select[data-action=language]', 'zh-CN');
  await settled();
}
