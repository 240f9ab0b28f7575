import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import express from 'express';
import { HttpProblem, problemHandler } from '../gateway/http/problem.ts';
import { viewerRoutes } from '../gateway/http/viewer-app.ts';
import { expectProblem } from './support/wado.ts';

const silent = { warn: () => {}, error: () => {} };

/** The gateway's viewer routes over a built app folder, behind the same 404 the gateway uses for its own paths. */
async function serve(distDirectory: string): Promise<{ url: string; close: () => Promise<void> }> {
  const app = express();
  app.use(viewerRoutes(distDirectory));
  app.use((request, _response, next) => next(new HttpProblem(404, 'problem.notFound', `no resource at ${request.path}`)));
  app.use(problemHandler(silent));
  const server = http.createServer(app);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

describe('the viewer app at /', () => {
  let dist: string;
  let site: Awaited<ReturnType<typeof serve>>;
  before(async () => {
    dist = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-dist-'));
    await fs.mkdir(path.join(dist, 'assets'));
    await fs.writeFile(path.join(dist, 'index.html'), '<!doctype html><title>影云</title>');
    await fs.writeFile(path.join(dist, 'assets', 'main-abc123.js'), 'console.log(1)');
    site = await serve(dist);
  });
  after(async () => {
    await site?.close();
    await fs.rm(dist, { recursive: true, force: true });
  });

  it('serves index.html, uncached, for the root and for deep links such as /viewer?StudyInstanceUIDs=…', async () => {
    for (const route of ['/', '/viewer?StudyInstanceUIDs=1.2.3', '/studies/list']) {
      const response = await fetch(`${site.url}${route}`);
      assert.equal(response.status, 200, route);
      assert.match(response.headers.get('content-type') ?? '', /text\/html/);
      assert.equal(response.headers.get('cache-control'), 'no-cache');
      assert.match(await response.text(), /影云/);
    }
  });

  it('caches hashed assets for a year', async () => {
    const response = await fetch(`${site.url}/assets/main-abc123.js`);
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('cache-control'), 'public, max-age=31536000, immutable');
    assert.equal(await response.text(), 'console.log(1)');
  });

  it("leaves the server's own paths to the server: unknown API paths are 404 problem JSON, not the app", async () => {
    for (const route of ['/api/nothing', '/dicom-web/nothing', '/wado', '/healthz/x']) {
      await expectProblem(await fetch(`${site.url}${route}`), 404, /no resource at/);
    }
  });

  it('says how to build the viewer when it is not built, instead of a blank page', async () => {
    const unbuilt = await serve(path.join(dist, 'missing'));
    try {
      await expectProblem(await fetch(`${unbuilt.url}/viewer`), 503, /npm run build/);
    } finally {
      await unbuilt.close();
    }
  });
});
