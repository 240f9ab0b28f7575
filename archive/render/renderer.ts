import { Piscina } from 'piscina';
import { RenderUnsupported, type RenderedImage, type RenderOptions } from './render.ts';
import type { RenderOutcome, RenderTask } from './render-worker.ts';

/**
 * Renders frames in a pool of worker threads. Decoding a 512×512 CT slice and encoding its JPEG
 * takes several milliseconds of CPU; on the event loop that time would be taken from every
 * association and HTTP request in flight, so thumbnails and /rendered are drawn here instead.
 */
export class Renderer {
  private readonly pool: Piscina<RenderTask, RenderOutcome>;

  /**
   * `workerFailed` hears a thread that failed with no task to fail instead (a task's own failure goes
   * to its caller). Unheard, Piscina's 'error' event would end the process: a thread still starting
   * when the process is told to stop cannot load its TypeScript any more (the loader's hooks go first)
   * and failed a clean Ctrl-C that way.
   */
  constructor(threads: number, workerFailed: (error: unknown) => void) {
    this.pool = new Piscina({
      filename: new URL('./render-worker.ts', import.meta.url).href,
      minThreads: threads,
      maxThreads: threads,
      // Threads inherit process.execArgv, so the TypeScript loader the process started with loads the worker too.
    });
    this.pool.on('error', workerFailed);
  }

  /** Throws RenderUnsupported when there is no image to draw, RangeError for a frame beyond the last. */
  async render(part10: Buffer, options: RenderOptions): Promise<RenderedImage> {
    const outcome = await this.pool.run({ part10, options });
    if (outcome.ok) {
      // A Buffer arrives as a plain Uint8Array after the structured clone.
      const { bytes } = outcome.image;
      return { ...outcome.image, bytes: Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) };
    }
    if (outcome.kind === 'unsupported') throw new RenderUnsupported(outcome.message);
    if (outcome.kind === 'frame-out-of-range') throw new RangeError(outcome.message);
    throw new Error(`rendering failed: ${outcome.message}`);
  }

  close(): Promise<void> {
    return this.pool.destroy();
  }
}
