import { pipeline } from 'node:stream/promises';
import { Router } from 'express';
import { chooseRenderedFormat } from '../../../archive/render/render.ts';
import { RetrieveService, type RenderRequest } from '../../../archive/retrieve/retrieve-service.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';
import { parseMediaType, splitOutsideQuotes } from './multipart.ts';
import { isUid } from './urls.ts';
import { handle } from './wado-routes.ts';

/**
 * WADO-URI (PS3.18 9): GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…, as PACS and
 * HIS links from before DICOMweb still use. contentType application/dicom returns the object as
 * stored; image/jpeg (the default), image/png or image/webp one rendered frame.
 */
export function wadoUriRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const service = new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer);

  router.get(
    '/',
    handle(async (request, response) => {
      const query = request.query as Record<string, unknown>;
      const text = (name: string): string | undefined => {
        const value = query[name];
        if (value === undefined) return undefined;
        if (typeof value !== 'string') throw new HttpProblem(400, 'problem.badRequest', `${name} may be given once`);
        return value;
      };
      if (text('requestType') !== 'WADO') throw new HttpProblem(400, 'problem.badRequest', 'requestType=WADO is required');
      const uid = (name: string): string => {
        const value = text(name);
        if (!isUid(value)) throw new HttpProblem(400, 'problem.badRequest', `${name} is required and must be a UID`);
        return value;
      };
      const scope = { studyInstanceUid: uid('studyUID'), seriesInstanceUid: uid('seriesUID'), sopInstanceUid: uid('objectUID') };
      // Ignoring these would hand out identified data, or an image other than the one asked for.
      if (text('anonymize') === 'yes') throw new HttpProblem(400, 'problem.badRequest', 'anonymize=yes is not offered');
      for (const name of ['region', 'presentationUID', 'presentationSeriesUID']) {
        if (text(name) !== undefined) throw new HttpProblem(400, 'problem.badRequest', `${name} is not supported`);
      }
      const contentTypes = splitOutsideQuotes(text('contentType') ?? 'image/jpeg', ',').map((type) => parseMediaType(type).type);
      const instance = await service.instance(scope);

      for (const contentType of contentTypes) {
        if (contentType === 'application/dicom') {
          const transferSyntax = text('transferSyntax');
          if (transferSyntax !== undefined && transferSyntax !== instance.transferSyntaxUid) {
            throw new HttpProblem(406, 'problem.notAcceptable', `the instance is stored as ${instance.transferSyntaxUid}; transcoding is not offered`);
          }
          response.status(200).type('application/dicom').setHeader('Content-Length', instance.sizeBytes);
          await pipeline(await service.content(instance), response);
          return;
        }
        const format = chooseRenderedFormat(contentType);
        if (!format) continue;
        const options: RenderRequest = { format };
        const frameNumber = text('frameNumber');
        if (frameNumber !== undefined) {
          if (!/^[1-9]\d{0,8}$/.test(frameNumber)) throw new HttpProblem(400, 'problem.badRequest', 'frameNumber must be a positive integer');
          options.frameNumber = Number(frameNumber);
        }
        const windowCenter = text('windowCenter');
        const windowWidth = text('windowWidth');
        if (windowCenter !== undefined || windowWidth !== undefined) {
          const center = Number(windowCenter);
          const width = Number(windowWidth);
          if (!Number.isFinite(center) || !Number.isFinite(width) || width <= 0) {
            throw new HttpProblem(400, 'problem.badRequest', 'windowCenter and windowWidth go together, as numbers, with windowWidth > 0');
          }
          options.window = { center, width };
        }
        options.viewport = outputSize(text('rows'), text('columns'), instance.pixel);
        const quality = text('imageQuality');
        if (quality !== undefined) {
          const value = Number(quality);
          if (!Number.isInteger(value) || value < 1 || value > 100) throw new HttpProblem(400, 'problem.badRequest', 'imageQuality must be an integer from 1 to 100');
          options.quality = value;
        }
        const image = await service.render(instance, options);
        response.status(200).type(image.contentType).send(image.bytes);
        return;
      }
      throw new HttpProblem(406, 'problem.notAcceptable', `contentType ${text('contentType')} is not offered: use application/dicom, image/jpeg, image/png or image/webp`);
    }),
  );
  return router;
}

/**
 * rows and columns (PS3.18 9.5.1.2.2) bound the output; the image keeps its aspect ratio, so with
 * both given it fits inside them.
 */
function outputSize(rows: string | undefined, columns: string | undefined, pixel: { rows: number; columns: number } | null) {
  if (rows === undefined && columns === undefined) return undefined;
  const parse = (name: string, value: string | undefined) => {
    if (value === undefined) return undefined;
    const number = Number(value);
    if (!Number.isInteger(number) || number < 1 || number > 8192) throw new HttpProblem(400, 'problem.badRequest', `${name} must be an integer from 1 to 8192`);
    return number;
  };
  const height = parse('rows', rows);
  const width = parse('columns', columns);
  if (!pixel || pixel.rows === 0 || pixel.columns === 0) return undefined;
  const scale = Math.min(height === undefined ? Infinity : height / pixel.rows, width === undefined ? Infinity : width / pixel.columns);
  return { width: Math.max(1, Math.round(pixel.columns * scale)), height: Math.max(1, Math.round(pixel.rows * scale)) };
}
