import { ensureViewerBuilt } from '../viewer-build.ts';

/** `npm start` runs this first (prestart), so a newcomer never has to know about `npm run build`. */
if (await ensureViewerBuilt()) console.log('web viewer built');
