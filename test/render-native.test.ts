import assert from 'node:assert/strict';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { describe, it } from 'node:test';
import dcmjsImaging from 'dcmjs-imaging';
import sharp from 'sharp';
import { generateCorpus } from '../fixtures/generate.ts';
import { renderNativeGrayscale } from '../archive/render/native-grayscale.ts';
import { renderFrame } from '../archive/render/render.ts';
import { PYDICOM_TEST_FILES } from './support/peers.ts';

const { DicomImage, NativePixelDecoder } = dcmjsImaging;

/** What dcmjs-imaging (the general path) draws for the same frame: its red channel, grey for grey images. */
async function generalPath(part10: Buffer): Promise<{ grey: Uint8Array; width: number; height: number }> {
  await NativePixelDecoder.initializeAsync({ webAssemblyModulePathOrUrl: createRequire(import.meta.url).resolve('dcmjs-imaging/build/dcmjs-native-codecs.wasm') });
  const image = new DicomImage(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.byteLength) as ArrayBuffer);
  const frames = Math.max(1, image.getNumberOfFrames() || 1);
  const rendered = image.render({ frame: Math.floor((frames - 1) / 2) });
  const rgba = new Uint8Array(rendered.pixels);
  const grey = new Uint8Array(rendered.width * rendered.height);
  for (let i = 0; i < grey.length; i++) grey[i] = rgba[i * 4]!;
  return { grey, width: rendered.width, height: rendered.height };
}

/** Real files (pydicom's, when installed) and every modality of the fixtures' small preset. */
function samples(): Array<{ name: string; part10: Buffer }> {
  const fixtures = [...generateCorpus({ preset: 'small' })].map((instance) => ({ name: `fixtures/${instance.relativePath}`, part10: instance.bytes }));
  const real = fs.existsSync(PYDICOM_TEST_FILES)
    ? fs
        .readdirSync(PYDICOM_TEST_FILES)
        .filter((name) => name.endsWith('.dcm'))
        .map((name) => ({ name: `pydicom/${name}`, part10: fs.readFileSync(path.join(PYDICOM_TEST_FILES, name)) }))
    : [];
  return [...fixtures, ...real];
}

describe('native grayscale fast path', () => {
  it('draws exactly the grey levels dcmjs-imaging draws, for every file it takes on, and leaves the rest to the general path', async () => {
    let drawn = 0;
    let declined = 0;
    for (const { name, part10 } of samples()) {
      const fast = renderNativeGrayscale(part10, undefined);
      if (!fast) {
        declined++;
        continue;
      }
      drawn++;
      const general = await generalPath(part10);
      assert.deepEqual([fast.width, fast.height], [general.width, general.height], name);
      const differing = general.grey.findIndex((level, i) => level !== fast.pixels[i]);
      assert.equal(differing, -1, `${name}: pixel ${differing} is ${fast.pixels[differing]}, dcmjs-imaging draws ${general.grey[differing]}`);
    }
    // CT, MR, CR and DX of the fixtures, and pydicom's uncompressed MR and CT; compressed, colour and
    // overlay images go the general way.
    assert.ok(drawn >= 10, `fast path took ${drawn} files`);
    assert.ok(declined >= 3, `general path kept ${declined} files`);
  });

  it('honours a requested window and the frame asked for, and declines a frame that does not exist', () => {
    const ct = [...generateCorpus({ preset: 'small' })].find((instance) => instance.description.modality === 'CT')!.bytes;
    const wide = renderNativeGrayscale(ct, 0, { center: 40, width: 4000 })!;
    const narrow = renderNativeGrayscale(ct, 0, { center: 40, width: 80 })!;
    const spread = (pixels: Buffer) => new Set(pixels).size;
    assert.ok(spread(narrow.pixels) > spread(wide.pixels), 'a narrow window spreads soft tissue over more grey levels');
    assert.equal(renderNativeGrayscale(ct, 1, undefined), null, 'a single-frame image has no second frame');
  });

  it('renders a thumbnail through it: a JPEG of the requested size with the image in it', async () => {
    const ct = [...generateCorpus({ preset: 'small' })].find((instance) => instance.description.modality === 'CT')!.bytes;
    const thumbnail = await renderFrame(ct, { maxSize: 64, format: 'jpeg' });
    assert.equal(thumbnail.contentType, 'image/jpeg');
    const { data, info } = await sharp(thumbnail.bytes).raw().toBuffer({ resolveWithObject: true });
    assert.equal(Math.max(info.width, info.height), 64);
    const levels = new Set(data);
    assert.ok(levels.size > 20, `an image, not a blank: ${levels.size} grey levels`);
  });
});
