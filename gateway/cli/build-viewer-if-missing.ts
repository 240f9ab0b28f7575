import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { VIEWER_DIST } from '../http/viewer-app.ts';

/**
 * `npm start` runs this first (prestart). `npm install` builds the viewer (the prepare script); this
 * covers a checkout where that did not happen (install with --ignore-scripts, a deleted
 * viewer/dist), so a newcomer never has to know about `npm run build`.
 */
if (!fs.existsSync(path.join(VIEWER_DIST, 'index.html'))) {
  console.log('building the web viewer (once, about a minute) …');
  const vite = await import('vite');
  await vite.build({ configFile: fileURLToPath(new URL('../../viewer/vite.config.ts', import.meta.url)), logLevel: 'warn' });
}
