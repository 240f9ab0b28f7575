import { z } from 'zod';
import type { JobQueue, JobDefinition } from '../queue.ts';
import type { JobContext } from './context.ts';
import { renderInstanceThumbnail } from './render-instance-thumbnail.ts';

export const RENDER_SERIES_THUMBNAIL = 'render-series-thumbnail';
/** A series arrives as a burst of instances; its thumbnail is chosen once the burst has paused. */
const QUIET_PERIOD_MS = 1000;

const payload = z.object({ seriesInstanceUid: z.string().min(1).max(64) });
type RenderSeriesThumbnailPayload = z.infer<typeof payload>;

export function enqueueSeriesThumbnail(queue: JobQueue, seriesInstanceUid: string): Promise<void> {
  return queue.enqueue(RENDER_SERIES_THUMBNAIL, { seriesInstanceUid } satisfies RenderSeriesThumbnailPayload, {
    debounceId: `series-thumbnail-${seriesInstanceUid}`,
    delayMs: QUIET_PERIOD_MS,
  });
}

/** The series thumbnail is its middle instance's thumbnail, rendered here only if not there yet. */
export function renderSeriesThumbnailJob(context: JobContext): JobDefinition<RenderSeriesThumbnailPayload> {
  return {
    name: RENDER_SERIES_THUMBNAIL,
    payload,
    async handle({ seriesInstanceUid }) {
      const middle = await context.thumbnails.middleInstanceOfSeries(seriesInstanceUid);
      if (!middle) return;
      const key =
        middle.thumbnailReceiptId === middle.receiptId && middle.thumbnailKey
          ? middle.thumbnailKey
          : await renderInstanceThumbnail(context, middle);
      if (key) await context.thumbnails.recordSeriesThumbnail(seriesInstanceUid, middle, key);
    },
  };
}
