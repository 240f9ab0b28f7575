import { z } from 'zod';
import type { ThumbnailTarget } from '../../archive/db/index-repository.ts';
import { RenderUnsupported } from '../../archive/render/render.ts';
import type { JobQueue, JobDefinition } from '../queue.ts';
import type { JobContext } from './context.ts';

export const RENDER_INSTANCE_THUMBNAIL = 'render-instance-thumbnail';
/** Longest side in pixels: sharp enough for a HiDPI series strip, small enough to list by the hundred. */
const THUMBNAIL_SIZE = 256;

// The receipt's study names the partitions to read (migration 035); jobs queued before it have none.
const payload = z.object({ receiptId: z.string().regex(/^\d+$/), studyInstanceUid: z.string().optional() });
type RenderInstanceThumbnailPayload = z.infer<typeof payload>;

export function enqueueInstanceThumbnail(queue: JobQueue, receiptId: string, studyInstanceUid: string): Promise<void> {
  return queue.enqueue(RENDER_INSTANCE_THUMBNAIL, { receiptId, studyInstanceUid } satisfies RenderInstanceThumbnailPayload, {
    jobId: `thumbnail-${receiptId}`,
  });
}

/**
 * Renders the current version's thumbnail into the object store and records it. Returns its key, or
 * null when the instance has no image to show (SR, video, encapsulated PDF…), which is recorded
 * as the reason instead of being retried.
 */
export async function renderInstanceThumbnail(context: JobContext, target: ThumbnailTarget): Promise<string | null> {
  try {
    const image = await context.renderer.render(await context.store.get(target.objectKey), { maxSize: THUMBNAIL_SIZE, format: 'jpeg' });
    const key = `thumbnails/instances/${target.sopInstanceUid}/${target.receiptId}.jpg`;
    await context.store.putDerived(key, image.bytes, image.contentType);
    await context.thumbnails.recordInstanceThumbnail(target, key);
    return key;
  } catch (error) {
    if (!(error instanceof RenderUnsupported)) throw error;
    await context.thumbnails.recordInstanceThumbnailError(target, error.message);
    return null;
  }
}

export function renderInstanceThumbnailJob(context: JobContext): JobDefinition<RenderInstanceThumbnailPayload> {
  return {
    name: RENDER_INSTANCE_THUMBNAIL,
    payload,
    async handle({ receiptId, studyInstanceUid }) {
      const target = await context.thumbnails.currentInstanceForReceipt(receiptId, studyInstanceUid);
      // A newer version replaced this one before we got here; its own job renders it.
      if (!target || target.thumbnailReceiptId === receiptId) return;
      await renderInstanceThumbnail(context, target);
    },
  };
}
