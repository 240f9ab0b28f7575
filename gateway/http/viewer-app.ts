import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import express, { Router } from 'express';
import { HttpProblem } from './problem.ts';

/** Where `npm run build` puts the viewer (viewer/vite.config.ts). */
export const VIEWER_DIST = fileURLToPath(new URL('../../viewer/dist/', import.meta.url));

/** Paths that belong to the server; everything else a browser GETs is a route of the viewer app. */
const SERVER_PATHS = /^\/(dicom-web|wado|api|healthz|readyz|metrics)(\/|$)/;

/**
 * The built viewer at `/`: hashed assets cached for a year, and index.html (never cached, so a new
 * build is picked up) for every other path, so deep links such as `/viewer?StudyInstanceUIDs=…`
 * open in the app.
 */
export function viewerRoutes(distDirectory = VIEWER_DIST): Router {
  const router = Router({ caseSensitive: true });
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
      throw new HttpProblem(503, 'problem.unavailable', 'the viewer is not built: run `npm run build`');
    }
    response.setHeader('Cache-Control', 'no-cache');
    response.sendFile(indexFile);
  });
  return router;
}
