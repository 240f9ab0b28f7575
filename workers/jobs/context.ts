import type { IndexRepository, ThumbnailsRepository } from '../../archive/db/index-repository.ts';
import type { ReceiptsRepository } from '../../archive/db/receipts-repository.ts';
import type { Logger } from '../../archive/log.ts';
import type { Renderer } from '../../archive/render/renderer.ts';
import type { ObjectStore } from '../../archive/storage/object-store.ts';
import type { JobQueue } from '../queue.ts';

/** What job handlers may use; built once per process by the composition root. */
export interface JobContext {
  receipts: ReceiptsRepository;
  index: IndexRepository;
  thumbnails: ThumbnailsRepository;
  store: ObjectStore;
  renderer: Renderer;
  queue: JobQueue;
  log: Logger;
}
