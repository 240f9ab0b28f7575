import { Router } from 'express';
import type { Runtime } from '../../../workers/runtime.ts';
import { qidoRoutes } from './qido-routes.ts';
import { stowRoutes } from './stow-routes.ts';
import { upsRoutes } from './ups-routes.ts';
import { wadoRoutes } from './wado-routes.ts';
import { wadoUriRoutes } from './wado-uri-routes.ts';

/** DICOMweb (PS3.18) under /dicom-web, and WADO-URI at /wado. */
export function dicomWebRouter(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  router.use('/dicom-web', stowRoutes(runtime), qidoRoutes(runtime), wadoRoutes(runtime), upsRoutes(runtime));
  router.use('/wado', wadoUriRoutes(runtime));
  return router;
}
