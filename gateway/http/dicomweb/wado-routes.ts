import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { Router, type Request, type RequestHandler, type Response } from 'express';
import type { RetrieveScope } from '../../../archive/db/retrieve-repository.ts';
import { chooseRenderedFormat, RenderUnsupported, type RenderedFormat } from '../../../archive/render/render.ts';
import { bulkDataLocation, isBulkDataPath, NoSuchBulkData, readBulkValue } from '../../../archive/retrieve/bulk-data.ts';
import { FrameDecodeError } from '../../../archive/retrieve/decode.ts';
import { FrameOutOfRange, NoPixelData, UnreadablePixelData, type FrameReader } from '../../../archive/retrieve/frames.ts';
import {
  bulkDataRepresentation,
  frameRepresentation,
  instanceRepresentation,
  type AcceptedMediaType,
  type FrameRepresentation,
} from '../../../archive/retrieve/negotiation.ts';
import { NotStored, RetrieveService, type RenderRequest } from '../../../archive/retrieve/retrieve-service.ts';
import { frameMediaType, isDecodableTransferSyntax, isNativeTransferSyntax } from '../../../archive/retrieve/transfer-syntaxes.ts';
import { maskIdentityText } from '../../../archive/access/masking.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf } from '../access.ts';
import { HttpProblem } from '../problem.ts';
import { MultipartRelatedWriter, parseMediaType, splitOutsideQuotes } from './multipart.ts';
import { dicomWebBase, instanceUrl, isUid } from './urls.ts';

/**
 * WADO-RS (PS3.18 10.4): instances as stored, metadata from the index, frames, bulk data, rendered
 * images and thumbnails, at study, series, instance and frame level. Parses and negotiates here;
 * everything else is RetrieveService's.
 */
export function wadoRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer);

  router.get(
    ['/studies/:study', '/studies/:study/series/:series', '/studies/:study/series/:series/instances/:instance'],
    handle(async (request, response) => {
      const scope = scopeOf(request);
      const representation = instanceRepresentation(acceptedMediaTypes(request, 'application/dicom'));
      if (!representation) throw new HttpProblem(406, 'problem.notAcceptable', 'instances are available as multipart/related; type="application/dicom", as stored');
      const objects = await service.objects(scope);
      const selected = objects.filter((object) => representation.accepts(object.transferSyntaxUid));
      if (selected.length === 0) {
        const stored = [...new Set(objects.map((object) => object.transferSyntaxUid))].join(', ');
        throw new HttpProblem(406, 'problem.notAcceptable', `stored as ${stored}; transcoding is not offered: ask for transfer-syntax=* or the stored transfer syntax`);
      }
      if (!representation.multipart) {
        if (selected.length > 1) {
          throw new HttpProblem(406, 'problem.notAcceptable', `${selected.length} instances need multipart/related; type="application/dicom"; single-part application/dicom holds one`);
        }
        const [object] = selected;
        response.status(200).type('application/dicom').setHeader('Content-Length', object!.sizeBytes);
        await pipeline(await service.content(object!), response);
        return;
      }
      if (selected.length < objects.length) {
        // PS3.18: what can be sent is sent; the rest are named by count so a client can tell.
        response.setHeader('Warning', `299 yingyun: ${objects.length - selected.length} of ${objects.length} instances are stored in a transfer syntax that was not requested and are left out (no transcoding)`);
      }
      const writer = new MultipartRelatedWriter(response, 'application/dicom');
      for (const object of selected) {
        await writer.writePart(`application/dicom; transfer-syntax=${object.transferSyntaxUid}`, await service.content(object));
      }
      await writer.end();
    }),
  );

  router.get(
    ['/studies/:study/metadata', '/studies/:study/series/:series/metadata', '/studies/:study/series/:series/instances/:instance/metadata'],
    handle(async (request, response) => {
      const scope = scopeOf(request);
      const acceptsJson = acceptedMediaTypes(request, 'application/dicom+json').some((range) =>
        ['application/dicom+json', 'application/json', 'application/*', '*/*'].includes(range.type),
      );
      if (!acceptsJson) throw new HttpProblem(406, 'problem.notAcceptable', 'metadata is available as application/dicom+json');
      const rows = await service.metadata(scope, dicomWebBase(request));
      response.status(200).type('application/dicom+json');
      await writeJsonArray(response, accessOf(response).visibility.maskIdentity ? masked(rows) : rows);
    }),
  );

  router.get(
    '/studies/:study/series/:series/instances/:instance/frames/:frames',
    handle(async (request, response) => {
      const scope = instanceScopeOf(request);
      const frameNumbers = parseFrameList(request.params.frames as string);
      const instance = await service.instance(scope);
      const frames = service.frames(instance);
      frames.assertFrames(frameNumbers);
      const representation = frameRepresentation(acceptedMediaTypes(request, 'application/octet-stream'), instance.transferSyntaxUid);
      if (!representation) throw framesNotAcceptable(instance.transferSyntaxUid);
      await sendFrames(response, frames, frameNumbers, representation);
    }),
  );

  router.get(
    '/studies/:study/series/:series/instances/:instance/bulkdata/:path',
    handle(async (request, response) => {
      const scope = instanceScopeOf(request);
      const path = request.params.path as string;
      if (!isBulkDataPath(path)) throw new HttpProblem(400, 'problem.badRequest', `"${path}" is not a bulk data path such as 7FE00010 or 00540016.0.00181072`);
      const instance = await service.instance(scope);
      const location = bulkDataLocation(instance, path);
      const contentLocation = `${instanceUrl(dicomWebBase(request), scope.studyInstanceUid, scope.seriesInstanceUid, scope.sopInstanceUid)}/bulkdata/${path}`;
      const accepted = acceptedMediaTypes(request, 'application/octet-stream');
      if (location.length < 0) {
        // Encapsulated Pixel Data: each frame as a part, in the form /frames would give (PS3.18 10.4.3.3.5).
        const frames = service.frames(instance);
        const representation = frameRepresentation(accepted, instance.transferSyntaxUid);
        if (!representation) throw framesNotAcceptable(instance.transferSyntaxUid);
        await sendFrames(response, frames, Array.from({ length: frames.numberOfFrames }, (_, index) => index + 1), representation, contentLocation);
        return;
      }
      const representation = bulkDataRepresentation(accepted);
      if (!representation) throw new HttpProblem(406, 'problem.notAcceptable', 'bulk data is available as application/octet-stream (little endian)');
      const value = await readBulkValue(runtime.store, instance, location);
      if (!representation.multipart) {
        response.status(200).type('application/octet-stream').send(value);
        return;
      }
      const writer = new MultipartRelatedWriter(response, 'application/octet-stream');
      await writer.writePart('application/octet-stream', value, { 'Content-Location': contentLocation });
      await writer.end();
    }),
  );

  router.get(
    [
      '/studies/:study/rendered',
      '/studies/:study/series/:series/rendered',
      '/studies/:study/series/:series/instances/:instance/rendered',
      '/studies/:study/series/:series/instances/:instance/frames/:frames/rendered',
    ],
    handle(async (request, response) => {
      const scope = scopeOf(request);
      const format = renderedFormatOf(request);
      const options = renderOptionsFrom(request.query as Record<string, unknown>, format);
      const frameNumbers = request.params.frames ? parseFrameList(request.params.frames as string) : [1];
      if (scope.sopInstanceUid) {
        const instance = await service.instance(scope as Required<RetrieveScope>);
        if (frameNumbers.length === 1) {
          const image = await service.render(instance, { ...options, frameNumber: frameNumbers[0] });
          response.status(200).type(image.contentType).send(image.bytes);
          return;
        }
        const images = frameNumbers.map((frameNumber) => () => service.render(instance, { ...options, frameNumber }));
        await sendRenderedParts(response, format, images);
        return;
      }
      // A study or series renders as each instance's first frame; instances without an image are passed over.
      const instances = await service.instances(scope);
      const images = instances.map((instance) => async () => {
        try {
          return await service.render(instance, options);
        } catch (error) {
          if (error instanceof RenderUnsupported) return null;
          throw error;
        }
      });
      await sendRenderedParts(response, format, images);
    }),
  );

  router.get(
    [
      '/studies/:study/thumbnail',
      '/studies/:study/series/:series/thumbnail',
      '/studies/:study/series/:series/instances/:instance/thumbnail',
      '/studies/:study/series/:series/instances/:instance/frames/:frames/thumbnail',
    ],
    handle(async (request, response) => {
      const scope = scopeOf(request);
      const format = renderedFormatOf(request);
      const { viewport } = renderOptionsFrom(request.query as Record<string, unknown>, format);
      const frameNumbers = request.params.frames ? parseFrameList(request.params.frames as string) : undefined;
      if (frameNumbers && frameNumbers.length > 1) throw new HttpProblem(400, 'problem.badRequest', 'a thumbnail is one image: name one frame');
      const image = await service.thumbnail(scope, { format, viewport, frameNumber: frameNumbers?.[0] });
      response.status(200).type(image.contentType).send(image.bytes);
    }),
  );

  return router;
}

/** Wraps a handler so that domain errors become the problem JSON a client can act on. */
export function handle(handler: (request: Request, response: Response) => Promise<void>): RequestHandler {
  return async (request, response) => {
    try {
      await handler(request, response);
    } catch (error) {
      throw retrieveProblem(error);
    }
  };
}

function retrieveProblem(error: unknown): unknown {
  if (error instanceof NotStored || error instanceof NoSuchBulkData || error instanceof NoPixelData) {
    return new HttpProblem(404, 'problem.notFound', error.message);
  }
  if (error instanceof FrameOutOfRange) return new HttpProblem(400, 'problem.badRequest', error.message);
  if (error instanceof RenderUnsupported) return new HttpProblem(406, 'problem.notAcceptable', `cannot render this: ${error.message}`);
  // The archive holds pixel data it cannot read: worth telling the client exactly that.
  if (error instanceof UnreadablePixelData || error instanceof FrameDecodeError) return new HttpProblem(500, 'problem.internal', error.message);
  return error;
}

function scopeOf(request: Request): RetrieveScope {
  const { study, series, instance } = request.params as { study: string; series?: string; instance?: string };
  for (const uid of [study, series, instance]) {
    if (uid !== undefined && !isUid(uid)) throw new HttpProblem(400, 'problem.badRequest', `"${uid}" is not a UID`);
  }
  return { studyInstanceUid: study, seriesInstanceUid: series, sopInstanceUid: instance };
}

function instanceScopeOf(request: Request): Required<RetrieveScope> {
  return scopeOf(request) as Required<RetrieveScope>;
}

/**
 * The client's acceptable media types, most preferred first (q-values, then order): from the
 * `accept` query parameter when given (PS3.18 8.3.3.1, for links), else the Accept header. A
 * multipart range without a `type`, and a request that states nothing, mean `defaultPartType`.
 */
export function acceptedMediaTypes(request: Request, defaultPartType: string): AcceptedMediaType[] {
  const header = typeof request.query.accept === 'string' ? request.query.accept : request.get('accept');
  if (!header || header.trim() === '') return [{ type: defaultPartType, multipart: true }];
  return splitOutsideQuotes(header, ',')
    .map((range, order) => ({ media: parseMediaType(range), order }))
    .map(({ media, order }) => ({ media, order, quality: media.parameters.q === undefined ? 1 : Number(media.parameters.q) }))
    .filter(({ media, quality }) => media.type !== '' && Number.isFinite(quality) && quality > 0)
    .sort((a, b) => b.quality - a.quality || a.order - b.order)
    .map(({ media }) => {
      const multipart = media.type === 'multipart/related' || media.type === 'multipart/*';
      return {
        type: multipart ? (media.parameters.type ?? defaultPartType).toLowerCase() : media.type,
        multipart,
        transferSyntax: media.parameters['transfer-syntax'],
      };
    });
}

/** {frameList} (PS3.18 10.4.1.1.4): 1-based, comma-separated, no duplicates. */
function parseFrameList(value: string): number[] {
  const items = value.split(',').map((item) => item.trim());
  if (items.length > 10_000 || !items.every((item) => /^[1-9]\d{0,8}$/.test(item))) {
    throw new HttpProblem(400, 'problem.badRequest', `"${value}" is not a list of frame numbers (1-based, comma-separated)`);
  }
  const numbers = items.map(Number);
  if (new Set(numbers).size !== numbers.length) throw new HttpProblem(400, 'problem.badRequest', `"${value}" names a frame twice`);
  return numbers;
}

function framesNotAcceptable(transferSyntaxUid: string): HttpProblem {
  if (isNativeTransferSyntax(transferSyntaxUid)) {
    return new HttpProblem(406, 'problem.notAcceptable', 'frames are stored uncompressed: ask for multipart/related; type="application/octet-stream" (compressing is not offered)');
  }
  const mediaType = frameMediaType(transferSyntaxUid);
  const decoding = isDecodableTransferSyntax(transferSyntaxUid)
    ? ', or application/octet-stream for uncompressed pixels'
    : `; they cannot be decoded here, and transcoding is not offered`;
  return new HttpProblem(
    406,
    'problem.notAcceptable',
    `frames are stored as ${transferSyntaxUid}: ask for multipart/related; type="${mediaType}" or type="application/octet-stream"; transfer-syntax=*${decoding}`,
  );
}

/** The first frame is read before the response starts, so a decoding failure is still a problem JSON. */
async function sendFrames(response: Response, frames: FrameReader, frameNumbers: number[], representation: FrameRepresentation, contentLocation?: string): Promise<void> {
  const read = (frameNumber: number) => (representation.form === 'uncompressed' ? frames.uncompressed(frameNumber) : frames.stored(frameNumber));
  if (!representation.multipart) {
    if (frameNumbers.length > 1) throw new HttpProblem(406, 'problem.notAcceptable', `${frameNumbers.length} frames need a multipart/related response`);
    const frame = await read(frameNumbers[0]!);
    response.status(200).setHeader('Content-Type', representation.contentType);
    response.send(frame);
    return;
  }
  let frame = await read(frameNumbers[0]!);
  const writer = new MultipartRelatedWriter(response, representation.mediaType);
  const headers: Record<string, string> = contentLocation ? { 'Content-Location': contentLocation } : {};
  for (let index = 0; ; index++) {
    await writer.writePart(representation.contentType, frame, headers);
    if (index + 1 === frameNumbers.length) break;
    frame = await read(frameNumbers[index + 1]!);
  }
  await writer.end();
}

/** Rendered images as multipart/related, produced one at a time; `null` entries are skipped. */
async function sendRenderedParts(response: Response, format: RenderedFormat, images: Array<() => Promise<{ bytes: Buffer; contentType: string } | null>>): Promise<void> {
  let writer: MultipartRelatedWriter | undefined;
  for (const produce of images) {
    const image = await produce();
    if (!image) continue;
    writer ??= new MultipartRelatedWriter(response, `image/${format}`);
    await writer.writePart(image.contentType, image.bytes);
  }
  if (!writer) throw new RenderUnsupported('none of its instances has an image to draw');
  await writer.end();
}

/** Writes `[row,row,…]` in chunks of about 64 KiB, waiting when the client reads slower than we write. */
async function writeJsonArray(response: Response, rows: AsyncIterable<string>): Promise<void> {
  // pipeline, not write() and 'drain' by hand: it keeps one drain listener per response, which
  // matters under the compression middleware (it moves 'drain' listeners to its zlib stream, where
  // removing them by hand fails and they pile up).
  await pipeline(Readable.from(jsonArrayChunks(rows)), response);
}

/** The rows as one JSON array, in chunks of about 64 KiB: few writes, and the first bytes leave early. */
async function* masked(rows: AsyncIterable<string>): AsyncGenerator<string> {
  for await (const row of rows) yield maskIdentityText(row);
}

async function* jsonArrayChunks(rows: AsyncIterable<string>): AsyncGenerator<string> {
  let pending: string[] = ['['];
  let pendingLength = 1;
  let first = true;
  for await (const row of rows) {
    pending.push(first ? row : `,${row}`);
    pendingLength += row.length + 1;
    first = false;
    if (pendingLength >= 65_536) {
      yield pending.join('');
      pending = [];
      pendingLength = 0;
    }
  }
  pending.push(']');
  yield pending.join('');
}

/** The rendered media type the client accepts (image/jpeg when it does not say), or 406. */
export function renderedFormatOf(request: Request): RenderedFormat {
  const format = chooseRenderedFormat(
    acceptedMediaTypes(request, 'image/jpeg')
      .map((range) => range.type)
      .join(', '),
  );
  if (!format) throw new HttpProblem(406, 'problem.notAcceptable', 'images are rendered as image/jpeg, image/png or image/webp');
  return format;
}

/**
 * PS3.18 8.3.5 rendering parameters: window=center,width[,function] (linear whatever the function),
 * viewport=width,height, quality=1..100. Others (annotation, charset, iccprofile) are ignored.
 */
export function renderOptionsFrom(query: Record<string, unknown>, format: RenderedFormat): Omit<RenderRequest, 'frameNumber'> {
  const options: Omit<RenderRequest, 'frameNumber'> = { format };
  const text = (name: string): string | undefined => {
    const value = query[name];
    if (value === undefined) return undefined;
    if (typeof value !== 'string') throw new HttpProblem(400, 'problem.badRequest', `${name} may be given once`);
    return value;
  };
  const window = text('window');
  if (window !== undefined) {
    const [center, width] = window.split(',').map((part) => Number(part.trim()));
    if (!Number.isFinite(center) || !Number.isFinite(width) || width! <= 0) throw new HttpProblem(400, 'problem.badRequest', 'window must be center,width[,function] with width > 0');
    options.window = { center: center!, width: width! };
  }
  const viewport = text('viewport');
  if (viewport !== undefined) {
    const values = viewport.split(',').map((part) => part.trim());
    // Cropping a source region silently ignored would show a person the wrong part of the image.
    if (values.length !== 2) throw new HttpProblem(400, 'problem.badRequest', 'viewport must be width,height (a source region is not supported)');
    const [width, height] = values.map(Number);
    if (!Number.isInteger(width) || !Number.isInteger(height) || width! < 1 || height! < 1 || width! > 8192 || height! > 8192) {
      throw new HttpProblem(400, 'problem.badRequest', 'viewport must be width,height in pixels, 1 to 8192');
    }
    options.viewport = { width: width!, height: height! };
  }
  const quality = text('quality');
  if (quality !== undefined) {
    const value = Number(quality);
    if (!Number.isInteger(value) || value < 1 || value > 100) throw new HttpProblem(400, 'problem.badRequest', 'quality must be an integer from 1 to 100');
    options.quality = value;
  }
  return options;
}
