import type { Readable } from 'node:stream';
import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import { RetrieveRepository, type RetrieveScope, type RetrieveSelection, type StoredInstance, type StoredObject } from '../db/retrieve-repository.ts';
import { RenderUnsupported, type RenderedFormat, type RenderedImage } from '../render/render.ts';
import type { Renderer } from '../render/renderer.ts';
import { ObjectNotFound, type ObjectStore } from '../storage/object-store.ts';
import { FrameOutOfRange, FrameReader } from './frames.ts';

/** Nothing stored at the requested study, series or instance (current versions only). */
export class NotStored extends Error {
  constructor(scope: RetrieveScope) {
    super(`no ${describeScope(scope)} is stored here`);
    this.name = 'NotStored';
  }
}

export function describeScope(scope: RetrieveScope): string {
  if (scope.sopInstanceUid) return `instance ${scope.sopInstanceUid} in series ${scope.seriesInstanceUid} of study ${scope.studyInstanceUid}`;
  if (scope.seriesInstanceUid) return `series ${scope.seriesInstanceUid} in study ${scope.studyInstanceUid}`;
  return `study ${scope.studyInstanceUid}`;
}

/** Longest side of an on-the-fly thumbnail: the size the thumbnail job stores. */
const THUMBNAIL_SIZE = 256;

export interface RenderRequest {
  format: RenderedFormat;
  window?: { center: number; width: number };
  viewport?: { width: number; height: number };
  quality?: number;
  /** 1-based. */
  frameNumber?: number;
}

/**
 * WADO's domain logic: which current versions a request names, their bytes, frames, metadata,
 * rendered images and thumbnails. Knows nothing of HTTP.
 */
export class RetrieveService {
  private readonly repository: RetrieveRepository;

  constructor(
    pool: pg.Pool,
    private readonly store: ObjectStore,
    private readonly renderer: Renderer,
  ) {
    this.repository = new RetrieveRepository(pool);
  }

  async objects(scope: RetrieveScope): Promise<StoredObject[]> {
    const objects = await this.repository.objects(scope);
    if (objects.length === 0) throw new NotStored(scope);
    return objects;
  }

  /** What a C-MOVE or C-GET names, of what its caller may see: empty when nothing matches. */
  visibleObjects(selection: RetrieveSelection, visibility: Visibility): Promise<StoredObject[]> {
    return this.repository.selected(selection, visibility);
  }

  /** The stored Part 10 object, whole (a C-STORE sub-operation sends it in one message), in `reuse` when the store can (ObjectStore.get). */
  bytes(object: StoredObject, reuse?: Buffer): Promise<Buffer> {
    return this.store.get(object.objectKey, reuse);
  }

  async instances(scope: RetrieveScope): Promise<StoredInstance[]> {
    const instances = await this.repository.instances(scope);
    if (instances.length === 0) throw new NotStored(scope);
    return instances;
  }

  async instance(scope: Required<RetrieveScope>): Promise<StoredInstance> {
    const [instance] = await this.instances(scope);
    return instance!;
  }

  /** The stored Part 10 object, byte for byte. */
  content(object: StoredObject): Promise<Readable> {
    return this.store.stream(object.objectKey);
  }

  /**
   * Metadata (DICOM JSON text) of each current version, streamed. The first row is read before this
   * resolves, so an empty scope is a NotStored error rather than an empty response.
   * `instanceUrlPrefix` is the DICOMweb base URL that BulkDataURIs are made absolute with.
   */
  async metadata(scope: RetrieveScope, dicomWebBase: string): Promise<AsyncIterable<string>> {
    // Escaped as JSON string content: the prefix is spliced into JSON text as it is.
    const rows = this.repository.metadataTexts(scope, JSON.stringify(dicomWebBase).slice(1, -1));
    const first = await rows.next();
    if (first.done) throw new NotStored(scope);
    return (async function* () {
      yield first.value;
      yield* rows;
    })();
  }

  frames(instance: StoredInstance): FrameReader {
    return new FrameReader(this.store, instance);
  }

  /** One frame (by default the first) of an instance, rendered. */
  async render(instance: StoredInstance, request: RenderRequest & { maxSize?: number }): Promise<RenderedImage> {
    try {
      return await this.renderer.render(await this.store.get(instance.objectKey), {
        format: request.format,
        window: request.window,
        viewport: request.viewport,
        quality: request.quality,
        maxSize: request.maxSize,
        frame: (request.frameNumber ?? 1) - 1,
      });
    } catch (error) {
      // the renderer's way of saying the frame number is beyond the instance's frames
      if (error instanceof RangeError) throw new FrameOutOfRange(error.message);
      throw error;
    }
  }

  /**
   * A thumbnail (PS3.18 10.4.1.1.4): the one stored by the thumbnail job when a plain JPEG will do,
   * otherwise drawn now from the representative instance (the middle one of the series, or of the
   * study's first series with an image), or from the requested frame.
   */
  async thumbnail(scope: RetrieveScope, request: Pick<RenderRequest, 'format' | 'viewport' | 'frameNumber'>): Promise<{ bytes: Buffer; contentType: string }> {
    const storedWillDo = request.format === 'jpeg' && !request.viewport && request.frameNumber === undefined;
    let representative: StoredInstance | null;
    if (scope.sopInstanceUid) {
      representative = await this.instance(scope as Required<RetrieveScope>);
      const stored = storedWillDo && (await this.storedThumbnail(representative.thumbnailKey));
      if (stored) return { bytes: stored, contentType: 'image/jpeg' };
    } else {
      const stored = storedWillDo && (await this.storedThumbnail(await this.repository.seriesThumbnailKey(scope)));
      if (stored) return { bytes: stored, contentType: 'image/jpeg' };
      representative = await this.repository.representativeInstance(scope);
      if (!representative) {
        await this.objects(scope);
        throw new RenderUnsupported(`no instance of the ${describeScope(scope)} has an image to draw`);
      }
    }
    const image = await this.render(representative, {
      format: request.format,
      viewport: request.viewport,
      maxSize: request.viewport ? undefined : THUMBNAIL_SIZE,
      // Like the stored thumbnails: a multi-frame instance is represented by its middle frame.
      frameNumber: request.frameNumber ?? Math.floor(((representative.pixel?.numberOfFrames ?? 1) - 1) / 2) + 1,
    });
    return { bytes: image.bytes, contentType: image.contentType };
  }

  /** Thumbnails are stored unflushed (ObjectStore.putDerived): one lost to a crash is drawn again. */
  private async storedThumbnail(key: string | null | undefined): Promise<Buffer | null> {
    if (!key) return null;
    try {
      return await this.store.get(key);
    } catch (error) {
      if (error instanceof ObjectNotFound) return null;
      throw error;
    }
  }
}
