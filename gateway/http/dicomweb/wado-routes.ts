import { Router, type Request, type Response } from 'express';
import { RetrieveRepository, type RetrieveScope, type StoredInstance } from '../../../archive/db/retrieve-repository.ts';
import { renderFrame, RenderUnsupported, chooseRenderedFormat, type RenderOptions } from '../../../archive/render/render.ts';
import {
  EXPLICIT_VR_LITTLE_ENDIAN,
  FrameError,
  mediaTypeOfTransferSyntax,
  NATIVE_TRANSFER_SYNTAXES,
  readBulkValue,
  readFrames,
} from '../../../archive/retrieve/frames.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';
import { MultipartRelatedWriter, parseMediaType, splitOutsideQuotes } from './multipart.ts';
import { dicomWebBase, isUid } from './urls.ts';

const THUMBNAIL_SIZE = 256;

/**
 * WADO-RS (PS3.18 10.4): instances as stored, metadata from the index, frames, bulk data, rendered
 * images and thumbnails, at study, series, instance and frame level.
 */
export function wadoRoutes(runtime: Runtime): Router {
  const router = Router();
  const repository = new RetrieveRepository(runtime.db.pool);

  const scopeOf = (request: Request): RetrieveScope => {
    const { study, series, instance } = request.params as { study: string; series?: string; instance?: string };
    for (const uid of [study, series, instance]) {
      if (uid !== undefined && !isUid(uid)) throw new HttpProblem(400, 'problem.badRequest', `"${uid}" is not a UID`);
    }
    return { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: instance };
  };
  const existing = async (scope: RetrieveScope): Promise<StoredInstance[]> => {
    const instances = await repository.instances(scope);
    if (instances.length === 0) throw new HttpProblem(404, 'problem.notFound', `no ${describeScope(scope)} is stored here`);
    return instances;
  };

  const retrieve = async (request: Request, response: Response) => {
    const scope = scopeOf(request);
    assertDicomAcceptable(request.get('accept'));
    const instances = await existing(scope);
    const writer = new MultipartRelatedWriter(response, 'application/dicom');
    for (const instance of instances) {
      // Stored bytes as received: the transfer syntax the sender chose, byte for byte.
      await writer.writePart(`application/dicom; transfer-syntax=${instance.transferSyntaxUid}`, await runtime.store.stream(instance.objectKey));
    }
    await writer.end();
  };
  router.get('/studies/:study', retrieve);
  router.get('/studies/:study/series/:series', retrieve);
  router.get('/studies/:study/series/:series/instances/:instance', retrieve);

  const metadata = async (request: Request, response: Response) => {
    const scope = scopeOf(request);
    const accept = request.get('accept');
    if (accept && !/(application\/dicom\+json|application\/json|\*\/\*)/i.test(accept)) {
      throw new HttpProblem(406, 'problem.notAcceptable', 'metadata is available as application/dicom+json');
    }
    const texts = await repository.metadataTexts(scope, dicomWebBase(request));
    if (texts.length === 0) throw new HttpProblem(404, 'problem.notFound', `no ${describeScope(scope)} is stored here`);
    response.status(200).type('application/dicom+json').send(`[${texts.join(',')}]`);
  };
  router.get('/studies/:study/metadata', metadata);
  router.get('/studies/:study/series/:series/metadata', metadata);
  router.get('/studies/:study/series/:series/instances/:instance/metadata', metadata);

  router.get('/studies/:study/series/:series/instances/:instance/frames/:frames', async (request, response) => {
    const scope = scopeOf(request);
    const frameNumbers = parseFrameList(request.params.frames as string);
    const [instance] = await existing(scope);
    const choice = chooseFrameMediaType(request.get('accept'), instance!.transferSyntaxUid);
    if (!choice) {
      throw new HttpProblem(
        406,
        'problem.notAcceptable',
        `frames are stored as ${instance!.transferSyntaxUid} (${mediaTypeOfTransferSyntax(instance!.transferSyntaxUid)}); ` +
          'ask for that media type or for application/octet-stream with transfer-syntax=* (transcoding is not offered)',
      );
    }
    let frames: Buffer[];
    try {
      frames = await readFrames(runtime.store, instance!, frameNumbers);
    } catch (error) {
      if (error instanceof FrameError) throw error.message.includes('does not exist') ? new HttpProblem(404, 'problem.notFound', error.message) : new HttpProblem(400, 'problem.badRequest', error.message);
      throw error;
    }
    const writer = new MultipartRelatedWriter(response, choice.rootType, choice.transferSyntax ? `; transfer-syntax=${choice.transferSyntax}` : '');
    for (const frame of frames) await writer.writePart(choice.partType, frame);
    await writer.end();
  });

  router.get('/studies/:study/series/:series/instances/:instance/bulkdata/:path', async (request, response) => {
    const scope = scopeOf(request);
    const path = request.params.path as string;
    if (!/^[0-9A-F]{8}(\.\d+\.[0-9A-F]{8})*$/.test(path)) throw new HttpProblem(400, 'problem.badRequest', `"${path}" is not a bulk data path`);
    const [instance] = await existing(scope);
    if (path === '7FE00010') {
      // Pixel Data: every frame, in the form frames would give with transfer-syntax=*.
      const pixel = instance!.pixel;
      const frames = await readFrames(runtime.store, instance!, Array.from({ length: pixel?.numberOfFrames ?? 1 }, (_, index) => index + 1));
      const partType = NATIVE_TRANSFER_SYNTAXES.has(instance!.transferSyntaxUid)
        ? `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`
        : `${mediaTypeOfTransferSyntax(instance!.transferSyntaxUid)}; transfer-syntax=${instance!.transferSyntaxUid}`;
      const writer = new MultipartRelatedWriter(response, partType.split(';')[0]!);
      for (const frame of frames) await writer.writePart(partType, frame);
      await writer.end();
      return;
    }
    const value = await readBulkValue(runtime.store, instance!, path);
    if (!value) throw new HttpProblem(404, 'problem.notFound', `no bulk data at ${path}`);
    const writer = new MultipartRelatedWriter(response, 'application/octet-stream');
    await writer.writePart('application/octet-stream', value);
    await writer.end();
  });

  const rendered = async (request: Request, response: Response) => {
    const scope = scopeOf(request);
    const format = chooseRenderedFormat(request.get('accept'));
    if (!format) throw new HttpProblem(406, 'problem.notAcceptable', 'rendered images are available as image/jpeg, image/png or image/webp');
    const options = renderOptionsFrom(request.query as Record<string, string>, format);
    const frame = request.params.frames ? parseFrameList(request.params.frames as string) : undefined;
    const instances = await existing(scope);
    if (scope.sopInstanceUid) {
      const [instance] = instances;
      const image = await renderOrExplain(runtime, instance!, { ...options, frame: frame ? frame[0]! - 1 : 0 });
      response.status(200).type(image.contentType).send(image.bytes);
      return;
    }
    // A rendered study or series is every instance's first frame, as a multipart response.
    const writer = new MultipartRelatedWriter(response, `image/${format}`);
    for (const instance of instances) {
      try {
        const image = await renderFrame(await runtime.store.get(instance.objectKey), { ...options, frame: 0 });
        await writer.writePart(image.contentType, image.bytes);
      } catch (error) {
        if (!(error instanceof RenderUnsupported)) throw error;
      }
    }
    await writer.end();
  };
  router.get('/studies/:study/rendered', rendered);
  router.get('/studies/:study/series/:series/rendered', rendered);
  router.get('/studies/:study/series/:series/instances/:instance/rendered', rendered);
  router.get('/studies/:study/series/:series/instances/:instance/frames/:frames/rendered', rendered);

  const thumbnail = async (request: Request, response: Response) => {
    const scope = scopeOf(request);
    const format = chooseRenderedFormat(request.get('accept'));
    if (!format) throw new HttpProblem(406, 'problem.notAcceptable', 'thumbnails are available as image/jpeg, image/png or image/webp');
    const frame = request.params.frames ? parseFrameList(request.params.frames as string)[0]! - 1 : undefined;
    const instances = await existing(scope);
    const custom = request.query.viewport !== undefined || format !== 'jpeg' || frame !== undefined;
    const storedKey = custom
      ? null
      : scope.sopInstanceUid
        ? instances[0]!.thumbnailKey
        : await repository.seriesThumbnailKey(scope.studyInstanceUid, scope.seriesInstanceUid);
    if (storedKey) {
      response.status(200).type('image/jpeg').send(await runtime.store.get(storedKey));
      return;
    }
    const representative = instances[Math.floor((instances.length - 1) / 2)]!;
    const options = renderOptionsFrom(request.query as Record<string, string>, format);
    const image = await renderOrExplain(runtime, representative, { ...options, frame, maxSize: options.viewport ? undefined : THUMBNAIL_SIZE });
    response.status(200).type(image.contentType).send(image.bytes);
  };
  router.get('/studies/:study/thumbnail', thumbnail);
  router.get('/studies/:study/series/:series/thumbnail', thumbnail);
  router.get('/studies/:study/series/:series/instances/:instance/thumbnail', thumbnail);
  router.get('/studies/:study/series/:series/instances/:instance/frames/:frames/thumbnail', thumbnail);

  return router;
}

export async function renderOrExplain(runtime: Runtime, instance: StoredInstance, options: RenderOptions) {
  try {
    return await renderFrame(await runtime.store.get(instance.objectKey), options);
  } catch (error) {
    if (error instanceof RenderUnsupported) throw new HttpProblem(406, 'problem.notAcceptable', `cannot render this instance: ${error.message}`);
    if (error instanceof RangeError) throw new HttpProblem(404, 'problem.notFound', error.message);
    throw error;
  }
}

function describeScope(scope: RetrieveScope): string {
  if (scope.sopInstanceUid) return `instance ${scope.sopInstanceUid} in series ${scope.seriesInstanceUid} of study ${scope.studyInstanceUid}`;
  if (scope.seriesInstanceUid) return `series ${scope.seriesInstanceUid} in study ${scope.studyInstanceUid}`;
  return `study ${scope.studyInstanceUid}`;
}

function parseFrameList(value: string): number[] {
  const frames = value.split(',').map((frame) => frame.trim());
  if (frames.length === 0 || frames.length > 10_000 || !frames.every((frame) => /^[1-9]\d{0,8}$/.test(frame))) {
    throw new HttpProblem(400, 'problem.badRequest', `"${value}" is not a list of frame numbers (1-based, comma-separated)`);
  }
  return frames.map(Number);
}

/** Instances are returned as stored; a request for another transfer syntax cannot be met (no transcoding). */
function assertDicomAcceptable(accept: string | undefined): void {
  if (!accept) return;
  const acceptable = splitOutsideQuotes(accept, ',').some((range) => {
    const media = parseMediaType(range);
    if (media.type === '*/*' || media.type === 'application/dicom') return true;
    if (media.type !== 'multipart/related') return false;
    const type = (media.parameters.type ?? 'application/dicom').toLowerCase();
    return type === 'application/dicom' || type === '*/*';
  });
  if (!acceptable) throw new HttpProblem(406, 'problem.notAcceptable', 'instances are available as multipart/related; type="application/dicom"');
}

interface FrameChoice {
  rootType: string;
  partType: string;
  transferSyntax?: string;
}

/**
 * Which of the Accept header's media ranges we can satisfy for frames stored in `stored`
 * (PS3.18 8.7.3.5): native frames as application/octet-stream (Explicit VR Little Endian), or the
 * stored compressed bitstream when the client accepts its media type or transfer-syntax=*.
 */
export function chooseFrameMediaType(accept: string | undefined, stored: string): FrameChoice | null {
  const native = NATIVE_TRANSFER_SYNTAXES.has(stored);
  const compressedType = mediaTypeOfTransferSyntax(stored);
  const ranges = accept ? splitOutsideQuotes(accept, ',').map(parseMediaType) : [{ type: 'multipart/related', parameters: {} as Record<string, string> }];
  for (const range of ranges) {
    const inner = range.type === 'multipart/related' ? (range.parameters.type ?? 'application/octet-stream').toLowerCase() : range.type;
    const transferSyntax = range.parameters['transfer-syntax'];
    if (range.type === '*/*' || inner === '*/*') {
      return native
        ? { rootType: 'application/octet-stream', partType: `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}` }
        : { rootType: compressedType, partType: `${compressedType}; transfer-syntax=${stored}` };
    }
    if (inner === 'application/octet-stream') {
      if (native && (!transferSyntax || transferSyntax === '*' || transferSyntax === EXPLICIT_VR_LITTLE_ENDIAN)) {
        return { rootType: inner, partType: `application/octet-stream; transfer-syntax=${EXPLICIT_VR_LITTLE_ENDIAN}`, transferSyntax: EXPLICIT_VR_LITTLE_ENDIAN };
      }
      if (!native && (transferSyntax === '*' || transferSyntax === stored)) {
        return { rootType: inner, partType: `application/octet-stream; transfer-syntax=${stored}`, transferSyntax: stored };
      }
      continue;
    }
    if (!native && inner === compressedType && (!transferSyntax || transferSyntax === '*' || transferSyntax === stored)) {
      return { rootType: inner, partType: `${compressedType}; transfer-syntax=${stored}`, transferSyntax: stored };
    }
  }
  return null;
}

/** window=center,width[,function], viewport=width,height, quality=1..100 (PS3.18 8.3.5). */
export function renderOptionsFrom(query: Record<string, string | undefined>, format: RenderOptions['format']): RenderOptions {
  const options: RenderOptions = { format };
  if (query.window) {
    const [center, width] = query.window.split(',').map(Number);
    if (!Number.isFinite(center) || !Number.isFinite(width) || width! <= 0) throw new HttpProblem(400, 'problem.badRequest', 'window must be center,width[,function] with width > 0');
    options.window = { center: center!, width: width! };
  }
  if (query.viewport) {
    const [width, height] = query.viewport.split(',').map(Number);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width! < 1 || height! < 1 || width! > 8192 || height! > 8192) {
      throw new HttpProblem(400, 'problem.badRequest', 'viewport must be width,height in pixels (1 to 8192)');
    }
    options.viewport = { width: width!, height: height! };
  }
  if (query.quality) {
    const quality = Number(query.quality);
    if (!Number.isInteger(quality) || quality < 1 || quality > 100) throw new HttpProblem(400, 'problem.badRequest', 'quality must be 1 to 100');
    options.quality = quality;
  }
  return options;
}
