import sharp from 'sharp';
import type { ObjectStore } from '../storage/object-store.ts';
import { RenderUnsupported } from './render.ts';
import type { Renderer } from './renderer.ts';

/** Small enough to count quickly, large enough that a thin bright border does not pass for an image. */
const HISTOGRAM_SIZE = 128;

/**
 * A 256-bin histogram of an image's grey levels as the viewer first shows it (its own window,
 * MONOCHROME1 inverted), from a small lossless rendering by the render pool; null when the object
 * has no image to draw. The technical checks judge blank, saturated and clipped images from it.
 */
export function imageHistogram(renderer: Renderer, store: ObjectStore) {
  return async (objectKey: string): Promise<number[] | null> => {
    let png: Buffer;
    try {
      png = (await renderer.render(await store.get(objectKey), { maxSize: HISTOGRAM_SIZE, format: 'png' })).bytes;
    } catch (error) {
      if (error instanceof RenderUnsupported) return null;
      throw error;
    }
    const grey = await sharp(png).greyscale().raw().toBuffer();
    const histogram = new Array<number>(256).fill(0);
    for (const level of grey) histogram[level]!++;
    return histogram;
  };
}
