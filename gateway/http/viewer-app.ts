import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import type { Logger } from '../../archive/log.ts';
import { HttpProblem } from './problem.ts';

/** Where `npm run build` puts the viewer (viewer/vite.config.ts). */
export const VIEWER_DIST = fileURLToPath(new URL('../../viewer/dist/', import.meta.url));
const VIEWER_CONFIG = fileURLToPath(new URL('../../viewer/vite.config.ts', import.meta.url));

/** Paths that belong to the server; everything else a browser GETs is a route of the viewer app. */
const SERVER_PATHS = /^\/(dicom-web|wado|api|healthz|metrics)(\/|$)/;

let building: Promise<void> | null = null;

/**
 * The built viewer at `/`: hashed assets cached for a year, and index.html (never cached, so a new
 * build is picked up) for every other path, so deep links such as `/viewer?StudyInstanceUIDs=…`
 * open in the app.
 */
export function viewerRoutes(distDirectory = VIEWER_DIST): Router {
  const router = Router();
  router.use(
    express.static(distDirectory, {
      index: false,
      setHeaders: (response, filePath) => {
        const hashed = filePath.includes(`${path.sep}assets${path.sep}`);
        response.setHeader('Cache-Control', hashed ? 'public, max-age=31536000, immutable' : 'no-cache');
      },
    }),
  );
  router.get(/.*/, (request, response, next) => {
    if (SERVER_PATHS.test(request.path)) return next();
    const indexFile = path.join(distDirectory, 'index.html');
    if (!fs.existsSync(indexFile)) {
      const detail = building
        ? 'the viewer is being built on first start; try again in a minute'
        : 'the viewer is not built: run `npm run build`';
      if (building) response.setHeader('Retry-After', '60');
      throw new HttpProblem(503, 'problem.unavailable', detail);
    }
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(indexFile);
  });
  return router;
}

/**
 * `npm install` builds the viewer (the prepare script); this covers a checkout where that did not
 * happen (install with --ignore-scripts, a deleted dist): build it in the background so the DICOM
 * and HTTP services start at once. Vite is a development dependency, so a production image must
 * ship a built viewer instead (see the Dockerfile).
 */
export function buildViewerIfMissing(log: Logger): void {
  if (fs.existsSync(path.join(VIEWER_DIST, 'index.html')) || !fs.existsSync(VIEWER_CONFIG)) return;
  log.info('the viewer is not built yet: building it now (about a minute)');
  building = import('vite')
    .then((vite) => vite.build({ configFile: VIEWER_CONFIG, logLevel: 'warn' }))
    .then(
      () => log.info('viewer built'),
      (error: unknown) => log.error({ err: error }, 'the viewer could not be built; run `npm run build` to see why'),
    )
    .finally(() => {
      building = null;
    });
}
