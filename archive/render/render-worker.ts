import fs from 'node:fs';
import os from 'node:os';
import { renderFrame, RenderUnsupported, type RenderedImage, type RenderOptions } from './render.ts';

/**
 * Images are drawn at a lower CPU priority than the event loop: when cores are scarce, a C-STORE
 * acknowledgement (which a sender waits for) goes before a thumbnail (which nobody waits for yet).
 * Linux sets priorities per thread, and names this thread's id in /proc/thread-self.
 */
const RENDER_NICENESS = 10;
try {
  const threadId = Number(fs.readlinkSync('/proc/thread-self').split('/').pop());
  os.setPriority(threadId, RENDER_NICENESS);
} catch {
  // Not Linux, or not permitted: images are then drawn at the process's own priority.
}

export interface RenderTask {
  part10: Uint8Array;
  options: RenderOptions;
}

/**
 * Errors cross the thread boundary as plain data: a structured clone keeps an Error's message but
 * not its class, and callers decide by class (record "no image" vs retry vs 400).
 */
export type RenderOutcome =
  | { ok: true; image: RenderedImage }
  | { ok: false; kind: 'unsupported' | 'frame-out-of-range' | 'failed'; message: string };

/** Runs in a render thread (archive/render/renderer.ts): decoding and encoding stay off the event loop. */
export default async function renderInThread({ part10, options }: RenderTask): Promise<RenderOutcome> {
  try {
    const image = await renderFrame(Buffer.from(part10.buffer, part10.byteOffset, part10.byteLength), options);
    return { ok: true, image };
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    if (error instanceof RenderUnsupported) return { ok: false, kind: 'unsupported', message };
    if (error instanceof RangeError) return { ok: false, kind: 'frame-out-of-range', message };
    return { ok: false, kind: 'failed', message };
  }
}
