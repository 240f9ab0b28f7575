import { Router } from 'express';
import { RetrieveRepository } from '../../../archive/db/retrieve-repository.ts';
import { chooseRenderedFormat, type RenderOptions } from '../../../archive/render/render.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';
import { isUid } from './urls.ts';
import { renderOrExplain } from './wado-routes.ts';

/**
 * WADO-URI (PS3.18 9): GET /wado?requestType=WADO&studyUID=…&seriesUID=…&objectUID=…, as PACS and
 * HIS links from before DICOMweb still use. contentType application/dicom returns the object as
 * stored; image/jpeg (the default), image/png or image/webp a rendered frame.
 */
export function wadoUriRoutes(runtime: Runtime): Router {
  const router = Router();
  const repository = new RetrieveRepository(runtime.db.pool);
  router.get('/', async (request, response) => {
    const query = request.query as Record<string, string | undefined>;
    if (query.requestType !== 'WADO') throw new HttpProblem(400, 'problem.badRequest', 'requestType=WADO is required');
    for (const name of ['studyUID', 'seriesUID', 'objectUID']) {
      if (!isUid(query[name])) throw new HttpProblem(400, 'problem.badRequest', `${name} is required and must be a UID`);
    }
    const [instance] = await repository.instances({ studyInstanceUid: query.studyUID!, seriesInstanceUid: query.seriesUID, sopInstanceUid: query.objectUID });
    if (!instance) throw new HttpProblem(404, 'problem.notFound', `no instance ${query.objectUID} in series ${query.seriesUID} of study ${query.studyUID}`);

    const contentTypes = (query.contentType ?? 'image/jpeg').split(',').map((type) => type.trim().toLowerCase());
    if (contentTypes.includes('application/dicom')) {
      if (query.transferSyntax && query.transferSyntax !== instance.transferSyntaxUid && query.transferSyntax !== '*') {
        throw new HttpProblem(406, 'problem.notAcceptable', `the instance is stored as ${instance.transferSyntaxUid}; transcoding is not offered`);
      }
      response.status(200).type('application/dicom');
      (await runtime.store.stream(instance.objectKey)).pipe(response);
      return;
    }
    const format = chooseRenderedFormat(contentTypes.join(','));
    if (!format) throw new HttpProblem(406, 'problem.notAcceptable', `contentType ${query.contentType} is not offered`);
    const options: RenderOptions = { format };
    if (query.frameNumber) {
      const frame = Number(query.frameNumber);
      if (!Number.isInteger(frame) || frame < 1) throw new HttpProblem(400, 'problem.badRequest', 'frameNumber must be 1 or more');
      options.frame = frame - 1;
    }
    if (query.windowCenter || query.windowWidth) {
      const center = Number(query.windowCenter);
      const width = Number(query.windowWidth);
      if (!Number.isFinite(center) || !Number.isFinite(width) || width <= 0) throw new HttpProblem(400, 'problem.badRequest', 'windowCenter and windowWidth go together; width > 0');
      options.window = { center, width };
    }
    const rows = query.rows ? Number(query.rows) : undefined;
    const columns = query.columns ? Number(query.columns) : undefined;
    if ((rows !== undefined && !(rows >= 1 && rows <= 8192)) || (columns !== undefined && !(columns >= 1 && columns <= 8192))) {
      throw new HttpProblem(400, 'problem.badRequest', 'rows and columns must be 1 to 8192');
    }
    if (rows || columns) options.maxSize = Math.max(rows ?? 0, columns ?? 0);
    if (query.imageQuality) options.quality = Math.min(100, Math.max(1, Number(query.imageQuality) || 85));
    const image = await renderOrExplain(runtime, instance, options);
    response.status(200).type(image.contentType).send(image.bytes);
  });
  return router;
}
