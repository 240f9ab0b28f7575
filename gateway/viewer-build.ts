import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const VIEWER = fileURLToPath(new URL('../viewer/', import.meta.url));

/**
 * Builds the viewer (viewer/dist, which the gateway serves) when it is missing or older than its
 * sources. `npm install` builds it (the prepare script); this covers a checkout where that did not
 * happen (--ignore-scripts, a deleted dist) and sources edited since, for `npm start`, the browser
 * suites and bench:viewer alike. Vite is a development dependency: a production image ships a built
 * viewer instead (see the Dockerfile). Resolves true when it built.
 */
export async function ensureViewerBuilt(): Promise<boolean> {
  const index = path.join(VIEWER, 'dist', 'index.html');
  if (fs.existsSync(index) && fs.statSync(index).mtimeMs >= newestSourceTime()) return false;
  console.log('building the web viewer (about a minute) …');
  const vite = await import('vite');
  await vite.build({ configFile: path.join(VIEWER, 'vite.config.ts'), logLevel: 'warn' });
  return true;
}

function newestSourceTime(): number {
  let newest = 0;
  const visit = (entry: string) => {
    const stat = fs.statSync(entry);
    if (stat.isDirectory()) for (const child of fs.readdirSync(entry)) visit(path.join(entry, child));
    else newest = Math.max(newest, stat.mtimeMs);
  };
  for (const entry of ['src', 'index.html', 'vite.config.ts']) visit(path.join(VIEWER, entry));
  return newest;
}
