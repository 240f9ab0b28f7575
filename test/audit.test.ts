import assert from 'node:assert/strict';
import http from 'node:http';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import dicomParser from 'dicom-parser';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeSecondaryCaptures, STUDIES } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { unzip } from './support/zip.ts';

interface RequestOptions {
  method?: string;
  headers?: Record<string, string>;
  body?: string;
}

interface AuditRow {
  id: string;
  event_type: string;
  user_name: string | null;
  source_address: string | null;
  patient_id: string | null;
  study_uids: string[];
  outcome: number;
  purpose: string | null;
  route: string | null;
}

describe('audit trail: one event per access to patient data, hash-chained, searchable and exportable', () => {
  let system: TestSystem;
  let pool: pg.Pool;
  let auditorToken: string;
  let study: { study: string; series: string; instance: string };

  const events = async (): Promise<AuditRow[]> => {
    await system.runtime.audit.drain();
    return (await pool.query<AuditRow>(`SELECT id, event_type, user_name, source_address, patient_id, study_uids, outcome, purpose, detail->>'route' AS route FROM audit_events ORDER BY id`)).rows;
  };
  /**
   * A request on a connection of its own, resolved with the status once the server has closed that
   * connection. The server closes it only after the response's `close` handlers have run (where an
   * interrupted access would be recorded a second time), and the access itself is recorded before the
   * first byte is sent; so every event the request causes is then committed or in the audit log's
   * queue, which `events()` drains. No waiting for an event that should not come.
   */
  const served = (path: string, options: RequestOptions = {}) =>
    new Promise<number>((resolve, reject) => {
      let status = 0;
      const request = http.request(
        `${system.httpUrl}${path}`,
        { method: options.method ?? 'GET', agent: false, headers: { authorization: `Bearer ${system.adminToken}`, connection: 'close', ...options.headers } },
        (response) => {
          status = response.statusCode!;
          response.resume();
        },
      );
      request.once('socket', (socket) => socket.once('close', () => resolve(status)));
      request.once('error', reject);
      request.end(options.body);
    });
  const asAuditor = (path: string) => system.fetch(`${system.httpUrl}${path}`, { headers: { authorization: `Bearer ${auditorToken}` } });

  before(async () => {
    system = await startTestSystem();
    pool = new pg.Pool({ connectionString: system.databaseUrl, max: 2 });
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'auditor', displayName: '审计员', role: 'auditor' });
    auditorToken = (await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'auditor', label: 'audit test' })).token;
    const [instance] = [...makeSecondaryCaptures({ study: STUDIES.wangPriorCt, count: 1 })];
    const outcome = await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'audit-test', institutionId: system.institutionId });
    await system.runtime.queue.whenIdle();
    study = { study: outcome.parsed.studyInstanceUid, series: outcome.parsed.seriesInstanceUid, instance: outcome.parsed.sopInstanceUid };
  });
  after(async () => {
    await pool?.end();
    await system?.shutdown();
  });

  it('records exactly one event, with who, whose, which study and from where, for every patient-data route', async () => {
    const base = `/dicom-web/studies/${study.study}`;
    const instance = `${base}/series/${study.series}/instances/${study.instance}`;
    const routes: { path: string; type: string; init?: RequestOptions; oneStudy: boolean }[] = [
      { path: '/dicom-web/studies', type: 'query', oneStudy: false },
      { path: '/dicom-web/series', type: 'query', oneStudy: false },
      { path: '/dicom-web/instances', type: 'query', oneStudy: false },
      { path: `${base}/series`, type: 'query', oneStudy: true },
      { path: `${base}/instances`, type: 'query', oneStudy: true },
      { path: `/api/studies/${study.study}/priors`, type: 'query', oneStudy: true },
      { path: `${base}/metadata`, type: 'instances-accessed', oneStudy: true },
      { path: instance, type: 'instances-accessed', init: { headers: { Accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' } }, oneStudy: true },
      { path: `${instance}/frames/1`, type: 'instances-accessed', init: { headers: { Accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' } }, oneStudy: true },
      { path: `${instance}/rendered`, type: 'instances-accessed', oneStudy: true },
      { path: `${base}/thumbnail`, type: 'instances-accessed', oneStudy: true },
      { path: `/wado?requestType=WADO&studyUID=${study.study}&seriesUID=${study.series}&objectUID=${study.instance}&contentType=application%2Fdicom`, type: 'instances-accessed', oneStudy: true },
      { path: `/api/studies/${study.study}/export`, type: 'export', init: { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: '{}' }, oneStudy: true },
    ];
    for (const route of routes) {
      const known = (await events()).length;
      const status = await served(route.path, route.init);
      assert.equal(status, 200, `${route.path}: ${status}`);
      const added = (await events()).slice(known);
      assert.equal(added.length, 1, `${route.path}: exactly one audit event (${added.map((event) => event.event_type).join(', ')})`);
      const [event] = added;
      assert.equal(event!.event_type, route.type, route.path);
      assert.equal(event!.route, route.path.split('?')[0], 'the full path the access rule matched, not what a mounted router sees');
      assert.equal(event!.user_name, 'test-admin');
      assert.equal(event!.outcome, 0);
      assert.match(event!.source_address ?? '', /127\.0\.0\.1/);
      assert.ok(event!.study_uids.includes(study.study), `${route.path}: names the study`);
      if (route.oneStudy) assert.match(event!.patient_id ?? '', /QS0012345$/, `${route.path}: names the patient`);
    }
    // A refused access is one event too: a security alert, not silence.
    const known = (await events()).length;
    assert.equal(await served(`${base}/metadata`, { headers: { authorization: `Bearer ${auditorToken}` } }), 403);
    const added = (await events()).slice(known);
    assert.deepEqual(added.map((event) => [event.event_type, event.user_name, event.outcome]), [['access-denied', 'auditor', 4]]);
  });

  it('records sign-ins and administration', async () => {
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'someone', displayName: 'x', role: 'radiologist', institutionCode: 'TEST_HOSPITAL', password: 'a long enough password' });
    for (const password of ['wrong password!', 'a long enough password']) {
      await system.fetch(`${system.httpUrl}/api/auth/login`, { method: 'POST', headers: { authorization: '', 'Content-Type': 'application/json' }, body: JSON.stringify({ username: 'someone', password }) });
    }
    const recent = (await events()).slice(-3);
    assert.deepEqual(recent.map((event) => [event.event_type, event.user_name, event.outcome]), [['admin-change', 'cli', 0], ['login', 'someone', 4], ['login', 'someone', 0]]);
  });

  it('answers an auditor: who looked at this patient, and using the trail is itself recorded', async () => {
    const response = await asAuditor('/api/audit/events?patientId=QS0012345&limit=100');
    assert.equal(response.status, 200);
    const found = (await response.json()) as { eventType: string; userName: string; studyUids: string[] }[];
    assert.ok(found.length >= 12, `events about the patient: ${found.length}`);
    assert.ok(found.every((event) => event.studyUids.includes(study.study) || event.eventType === 'query'));
    const byStudy = (await (await asAuditor(`/api/audit/events?study=${study.study}&type=export`)).json()) as { eventType: string }[];
    assert.deepEqual(byStudy.map((event) => event.eventType), ['export']);
    const known = (await events()).length;
    assert.equal(await served('/api/audit/events?type=no-such-type', { headers: { authorization: `Bearer ${auditorToken}` } }), 400);
    // Even a refused search of the trail is one use of it, recorded with its outcome.
    const added = (await events()).slice(known);
    assert.deepEqual(added.map((event) => [event.event_type, event.user_name, event.outcome]), [['audit-log-used', 'auditor', 4]]);
  });

  it('exports the trail as CSV (UTF-8, for Excel/WPS) and as DICOM audit messages', async () => {
    const csv = await asAuditor('/api/audit/export.csv?patientId=QS0012345');
    assert.equal(csv.status, 200);
    assert.match(csv.headers.get('content-disposition') ?? '', /attachment; filename="?yingyun-audit.csv"?/);
    const bytes = Buffer.from(await csv.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'a UTF-8 byte order mark');
    const text = bytes.toString('utf8', 3);
    assert.ok(text.startsWith('id,occurred_at,event_type'), 'then the header');
    assert.ok(text.split('\r\n').length > 12);
    const xml = await asAuditor(`/api/audit/export.xml?study=${study.study}&type=export`);
    assert.equal(xml.status, 200);
    const body = await xml.text();
    assert.match(body, /^<\?xml version="1.0" encoding="UTF-8"\?>\n<AuditMessages>\n<AuditMessage/);
    assert.match(body, /csd-code="110106"/, 'the Export event ID');
    assert.match(body, /<\/AuditMessages>\n$/);
  });

  it('verifies the hash chain, and detects an altered, a removed and a refused change', async () => {
    const verified = (await (await asAuditor('/api/audit/verify')).json()) as { intact: boolean; events: number };
    assert.equal(verified.intact, true);
    assert.ok(verified.events > 20);

    await assert.rejects(pool.query("UPDATE audit_events SET user_name = 'nobody' WHERE id = (SELECT min(id) FROM audit_events)"), /append-only/);
    await assert.rejects(pool.query('DELETE FROM audit_events WHERE id = (SELECT max(id) FROM audit_events)'), /append-only/);

    // Someone with the database's superuser password goes around the trigger.
    const { rows: [target] } = await pool.query<{ id: string }>("SELECT id FROM audit_events WHERE event_type = 'export' LIMIT 1");
    await pool.query('ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only');
    await pool.query("UPDATE audit_events SET user_name = 'somebody-else' WHERE id = $1", [target!.id]);
    const altered = await system.runtime.audit.verify();
    assert.deepEqual(altered.breaks.map((entry) => entry.id), [target!.id]);
    assert.match(altered.breaks[0]!.reason, /altered/);
    await pool.query("UPDATE audit_events SET user_name = 'test-admin' WHERE id = $1", [target!.id]);
    assert.equal((await system.runtime.audit.verify()).breaks.length, 0, 'restored, it verifies again');
    const { rows: [middle] } = await pool.query<{ id: string }>('SELECT id FROM audit_events ORDER BY id OFFSET 5 LIMIT 1');
    await pool.query('DELETE FROM audit_events WHERE id = $1', [middle!.id]);
    await pool.query('ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only');
    const removed = await system.runtime.audit.verify();
    assert.equal(removed.breaks.length, 1);
    assert.match(removed.breaks[0]!.reason, /removed or inserted/);
  });

  it('keeps the chain verifiable when retention removes the oldest events', async () => {
    // The break made above is in the oldest events: retention of everything older than now removes it.
    await system.runtime.audit.record({ eventType: 'admin-change', action: 'U', outcome: 0, userName: 'cli', detail: { change: 'before retention' } });
    const removed = await system.runtime.audit.removeOlderThanDays(0);
    assert.ok(removed > 20);
    await system.runtime.audit.record({ eventType: 'admin-change', action: 'U', outcome: 0, userName: 'cli', detail: { change: 'after retention' } });
    const result = await system.runtime.audit.verify();
    assert.deepEqual(result.breaks, []);
    assert.equal(result.events, 1);
  });

  it('exports a de-identified study as a zip of valid DICOM files', async () => {
    const response = await system.fetch(`${system.httpUrl}/api/studies/${study.study}/export`, { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ retainLongitudinalDates: true }) });
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'application/zip');
    const files = await unzip(Buffer.from(await response.arrayBuffer()));
    const dicomFiles = [...files].filter(([name]) => name.endsWith('.dcm'));
    assert.equal(dicomFiles.length, 1);
    assert.ok(files.has('BURNED-IN-ANNOTATION.txt'), 'a secondary capture is flagged for burned-in text');
    const [name, bytes] = dicomFiles[0]!;
    const dataset = dicomParser.parseDicom(new Uint8Array(bytes));
    assert.match(dataset.string('x00100010') ?? '', /^ANON\^/);
    assert.match(dataset.string('x00100020') ?? '', /^ANON-/);
    assert.notEqual(dataset.string('x0020000d'), study.study, 'new Study Instance UID');
    assert.ok(name.startsWith(`${dataset.string('x0020000d')}/`));
    assert.equal(dataset.string('x00120062'), 'YES', 'Patient Identity Removed');
    assert.equal(dataset.string('x00080020'), STUDIES.wangPriorCt.date, 'dates retained as asked');
    assert.ok(!bytes.includes(Buffer.from('QS0012345')), 'the Patient ID is nowhere in the file');
  });
});
