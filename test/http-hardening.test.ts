import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { isGuardedPath, ruleFor } from '../gateway/http/access.ts';
import { createHttpApp } from '../gateway/http/server.ts';
import { makeSecondaryCaptures, STUDIES } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

interface RouterLayer {
  rawPath?: string;
  route?: { path: string | string[]; methods: Record<string, boolean> };
  handle?: { stack?: RouterLayer[] };
}

/** Every route the gateway's router serves, as (method, path with its parameters). */
function routesOf(stack: RouterLayer[], prefix = ''): { method: string; path: string }[] {
  return stack.flatMap((layer) => {
    if (layer.route) {
      const paths = [layer.route.path].flat().map((path) => (path === '/' && prefix ? prefix : prefix + path));
      return Object.keys(layer.route.methods).flatMap((method) => paths.map((path) => ({ method: method.toUpperCase(), path })));
    }
    if (layer.handle?.stack) return routesOf(layer.handle.stack, prefix + (layer.rawPath && layer.rawPath !== '/' ? layer.rawPath : ''));
    return [];
  });
}

describe('HTTP hardening (issue 13)', () => {
  let system: TestSystem;
  let stored: { study: string; series: string; instance: string };

  before(async () => {
    system = await startTestSystem();
    const [instance] = [...makeSecondaryCaptures({ study: STUDIES.wangPriorCt, count: 1, seriesNumber: 90 })];
    const outcome = await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'hardening', institutionId: system.institutionId });
    stored = { study: outcome.parsed.studyInstanceUid, series: outcome.parsed.seriesInstanceUid, instance: outcome.parsed.sopInstanceUid };
    await system.runtime.queue.whenIdle();
  });
  after(() => system?.shutdown());

  it('names every route the router serves in the access table, so none can be added outside it', () => {
    const app = createHttpApp(system.runtime, () => true) as unknown as { router: { stack: RouterLayer[] } };
    const routes = routesOf(app.router.stack);
    assert.ok(routes.length > 30, `the walk found the routes (${routes.length})`);
    const sample = (path: string) => path.replace(/:(\w+)/g, (_all, name: string) => (/study|series|instance|uid/i.test(name) ? '1.2.840.113619.2.1' : name === 'frames' ? '1' : 'x'));
    const unnamed = routes.filter(({ method, path }) => isGuardedPath(path) && !ruleFor(method, sample(path)) && !(method === 'HEAD' && ruleFor('GET', sample(path))));
    assert.deepEqual(unnamed, [], 'routes under /api, /dicom-web or /wado that no access rule names');
    // Patient-data routes are audited: every route whose rule reaches images, exports or the audit trail
    // (which names patients) has an audit event, and so does every DICOMweb route.
    const patientData = new Set(['read-images', 'store', 'export', 'read-audit']);
    for (const { method, path } of routes) {
      const rule = ruleFor(method, sample(path));
      if (!rule || !(patientData.has(rule.requires) || /^\/(dicom-web|wado)/.test(path))) continue;
      assert.ok(rule.audit, `${method} ${path} is audited`);
    }
  });

  it('audits a refused request to a guarded path that no rule names, whatever its case', async () => {
    const response = await fetch(`${system.httpUrl}/API/audit/events`);
    assert.equal(response.status, 401);
    await response.arrayBuffer();
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ detail: { route: string; status: number } }>(
      `SELECT detail FROM audit_events WHERE event_type = 'access-denied' ORDER BY id DESC LIMIT 1`,
    );
    assert.deepEqual([rows[0]?.detail.route, rows[0]?.detail.status], ['/API/audit/events', 401]);
  });

  it('writes RetrieveURLs from the gateway address, never from the Host header', async () => {
    const response = await system.fetch(`${system.dicomWebUrl}/studies?StudyInstanceUID=${stored.study}`, { headers: { Host: 'evil.example' } });
    assert.equal(response.status, 200);
    const [result] = (await response.json()) as Record<string, { Value: string[] }>[];
    const retrieveUrl = result!['00081190']!.Value[0]!;
    assert.equal(retrieveUrl, `${system.httpUrl}/dicom-web/studies/${stored.study}`);
    assert.doesNotMatch(response.headers.get('warning') ?? '', /evil/);
  });

  it('uses YINGYUN_PUBLIC_URL for RetrieveURLs when configured', async () => {
    const behindProxy = await startTestSystem({ YINGYUN_PUBLIC_URL: 'https://pacs.example.cn/yingyun/' });
    try {
      const [instance] = [...makeSecondaryCaptures({ study: STUDIES.taoDx, count: 1, seriesNumber: 91 })];
      const outcome = await behindProxy.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'hardening', institutionId: behindProxy.institutionId });
      await behindProxy.runtime.queue.whenIdle();
      const response = await behindProxy.fetch(`${behindProxy.dicomWebUrl}/studies`, { headers: { Host: 'evil.example' } });
      const [result] = (await response.json()) as Record<string, { Value: string[] }>[];
      assert.equal(result!['00081190']!.Value[0], `https://pacs.example.cn/yingyun/dicom-web/studies/${outcome.parsed.studyInstanceUid}`);
    } finally {
      await behindProxy.shutdown();
    }
  });

  it('serves patient data only once its audit event is committed, and refuses with 503 when it cannot be', async () => {
    const path = `/wado?requestType=WADO&studyUID=${stored.study}&seriesUID=${stored.series}&objectUID=${stored.instance}&contentType=application%2Fdicom`;
    const pool = system.runtime.db.pool;
    const before = await system.fetch(`${system.httpUrl}${path}`);
    assert.equal(before.status, 200);
    assert.ok((await before.arrayBuffer()).byteLength > 1000);
    // The audit table gone from under the running system: writing an event now fails.
    await pool.query('ALTER TABLE audit_events RENAME TO audit_events_away');
    try {
      const during = await system.fetch(`${system.httpUrl}${path}`);
      const body = await during.text();
      assert.equal(during.status, 503, body);
      assert.equal(during.headers.get('content-type'), 'application/problem+json; charset=utf-8');
      assert.match(body, /audit trail cannot be written/);
      assert.ok(!body.includes('DICM') && !body.includes(stored.series), 'nothing of the object went out');
      const metadata = await system.fetch(`${system.dicomWebUrl}/studies/${stored.study}/metadata`);
      assert.equal(metadata.status, 503, 'the same for WADO-RS metadata');
      const search = await system.fetch(`${system.dicomWebUrl}/studies`);
      assert.equal(search.status, 503, 'and for a search');
    } finally {
      await pool.query('ALTER TABLE audit_events_away RENAME TO audit_events');
    }
    const afterwards = await system.fetch(`${system.httpUrl}${path}`);
    assert.equal(afterwards.status, 200, 'served again once the audit trail is back');
    await afterwards.arrayBuffer();
    const { rows } = await pool.query<{ outcome: number }>(`SELECT outcome FROM audit_events WHERE $1 = ANY (study_uids) AND event_type = 'instances-accessed' ORDER BY id`, [stored.study]);
    assert.deepEqual(rows.map((row) => row.outcome), [0, 0], 'the two served requests are audited; the refused ones could not be');
  });
});
