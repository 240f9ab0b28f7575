import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import pg from 'pg';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { CriticalCategory, CriticalNotice, CriticalSettings, CriticalWebhookBody } from '../archive/reading/critical-finding-wire.ts';
import { readBackMatches } from '../archive/reading/critical-read-back.ts';
import { DELIVERY_HEADER, SIGNATURE_HEADER, signWebhook, TIMESTAMP_HEADER } from '../archive/reading/critical-findings.ts';
import type { Report } from '../archive/reading/report.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Critical findings (危急值) against the running system. A reader at the region's reading centre
 * raises one on a study Qingshi county hospital sent; Qingshi's doctor sees it at once, in the
 * list and on the study; Qingshi's webhook (a local server standing in for the SMS gateway) gets it
 * signed, after one refused attempt that the durable job retries; the doctor acknowledges by reading
 * it back; the reader sees the acknowledgement; an unacknowledged one escalates to the department
 * head then 医务科; the register shows every step and exports as Excel-readable CSV; Nanling, another
 * hospital of the region, sees none of it.
 */
const USERS = [
  { username: 'cf-reader', institution: 'CF_CENTRE', role: 'radiologist' },
  { username: 'cf-doctor', institution: 'CF_QINGSHI', role: 'referring_doctor' },
  { username: 'cf-qs-admin', institution: 'CF_QINGSHI', role: 'institution_admin' },
  { username: 'cf-nl-doctor', institution: 'CF_NANLING', role: 'referring_doctor' },
  { username: 'cf-nl-admin', institution: 'CF_NANLING', role: 'institution_admin' },
  { username: 'cf-qs-qc', institution: 'CF_QINGSHI', role: 'qc_staff' },
] as const;
type Username = (typeof USERS)[number]['username'];
const WEBHOOK_SECRET = 'qingshi-sms-gateway-secret-0123456789';

interface Delivery {
  body: string;
  headers: http.IncomingHttpHeaders;
  status: number;
}

describe('critical findings (危急值)', () => {
  let system: TestSystem;
  const tokens = new Map<Username, string>();
  const institutions: Record<string, string> = {};
  let wangCt: string;
  let liCr: string;
  let webhook: http.Server;
  let webhookUrl: string;
  const deliveries: Delivery[] = [];

  const call = (username: Username | 'admin', path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    if (username !== 'admin') headers.set('authorization', `Bearer ${tokens.get(username)}`);
    if (typeof init.body === 'string') headers.set('content-type', 'application/json');
    return system.fetch(`${system.httpUrl}${path}`, { ...init, headers });
  };
  const json = async <T>(response: Response, status: number): Promise<T> => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return JSON.parse(text) as T;
  };
  const send = (username: Username | 'admin', method: string, path: string, body: unknown) => call(username, path, { method, body: JSON.stringify(body) });
  /** Polls until `check` stops throwing: the notice's steps are made by jobs and the worker's timer. */
  const eventually = async <T>(check: () => Promise<T>, what: string): Promise<T> => {
    const deadline = Date.now() + 45_000;
    for (;;) {
      try {
        return await check();
      } catch (error) {
        if (Date.now() > deadline) throw new Error(`${what}: never happened`, { cause: error });
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    }
  };
  const notice = async (username: Username, id: string) => json<CriticalNotice>(await call(username, `/api/critical-findings/${id}`), 200);
  const steps = (found: CriticalNotice) => found.steps.map((step) => step.step);

  before(async () => {
    // The stand-in SMS gateway is http://127.0.0.1: allowed only by this tests-and-development setting.
    system = await startTestSystem({ YINGYUN_WEBHOOK_ALLOW_LOOPBACK: 'true' });
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'CF_REGION', name: '青石区', level: 'district' });
    for (const [code, name, kind] of [
      ['CF_CENTRE', '青石区影像诊断中心', 'reading_centre'],
      ['CF_QINGSHI', '青石县人民医院', 'hospital'],
      ['CF_NANLING', '南岭县中医院', 'hospital'],
    ] as const) {
      institutions[code] = (await administration.createInstitution(actor, { code, name, kind, regionCode: 'CF_REGION' })).id;
    }
    for (const { username, institution, role } of USERS) {
      await administration.createUser(actor, { username, displayName: username, role, institutionCode: institution });
      tokens.set(username, (await administration.createToken(actor, { username, label: 'critical findings' })).token);
    }
    const ingestStudy = async (study: Study, institution: string) => {
      const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 91 })];
      return (await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'critical', institutionId: institutions[institution]! })).parsed.studyInstanceUid;
    };
    wangCt = await ingestStudy(STUDIES.wangPriorCt, 'CF_QINGSHI');
    liCr = await ingestStudy(STUDIES.liJiCr, 'CF_QINGSHI');
    await system.runtime.queue.whenIdle();

    // The SMS gateway: refuses its very first delivery (a gateway restarting), takes the rest.
    webhook = http.createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on('data', (chunk: Buffer) => chunks.push(chunk));
      request.on('end', () => {
        const status = deliveries.length === 0 ? 503 : 200;
        deliveries.push({ body: Buffer.concat(chunks).toString('utf8'), headers: request.headers, status });
        response.writeHead(status).end();
      });
    });
    await new Promise<void>((resolve) => webhook.listen(0, '127.0.0.1', resolve));
    webhookUrl = `http://127.0.0.1:${(webhook.address() as AddressInfo).port}/sms`;
  });
  after(async () => {
    webhook?.close();
    await system?.shutdown();
  });

  it('ships the 危急值 list in Chinese and English; only a system administrator edits it', async () => {
    const categories = await json<CriticalCategory[]>(await call('cf-doctor', '/api/critical-findings/categories'), 200);
    const byCode = new Map(categories.map((category) => [category.code, category]));
    assert.equal(byCode.get('intracranial-haemorrhage')?.nameZh, '颅内出血');
    assert.equal(byCode.get('tension-pneumothorax')?.nameZh, '张力性气胸');
    assert.equal(byCode.get('aortic-dissection')?.nameEn, 'Aortic dissection');
    assert.ok(byCode.has('pulmonary-embolism') && byCode.has('gi-perforation') && byCode.has('ruptured-ectopic-pregnancy'), 'the usual categories');

    await json(await send('cf-reader', 'PUT', '/api/critical-findings/categories/severe-hyperkalaemia-ecg', { nameZh: '严重高钾', nameEn: 'Severe hyperkalaemia' }), 403);
    const added = await json<CriticalCategory>(await send('admin', 'PUT', '/api/critical-findings/categories/testicular-torsion', { nameZh: '睾丸扭转', nameEn: 'Testicular torsion', sortOrder: 150 }), 200);
    assert.deepEqual(added, { code: 'testicular-torsion', nameZh: '睾丸扭转', nameEn: 'Testicular torsion', active: true, sortOrder: 150 });
    await json(await send('admin', 'PUT', '/api/critical-findings/categories/testicular-torsion', { nameZh: '睾丸扭转', nameEn: 'Testicular torsion', active: false }), 200);
    const active = await json<CriticalCategory[]>(await call('cf-doctor', '/api/critical-findings/categories'), 200);
    assert.ok(!active.some((category) => category.code === 'testicular-torsion'), 'a retired category is not offered');
  });

  it('a hospital sets its own webhook and escalation contacts; another hospital cannot read or change them', async () => {
    const path = `/api/critical-findings/settings/${institutions.CF_QINGSHI}`;
    const settings = {
      webhookUrl,
      webhookSecret: WEBHOOK_SECRET,
      escalateAfterSeconds: 600,
      contacts: [
        { level: 1, name: '张主任', title: '放射科主任', phone: '13800000001' },
        { level: 2, name: '医务科值班', title: '医务科', phone: '0731-12345678' },
      ],
    };
    await json(await send('cf-qs-admin', 'PUT', path, { ...settings, webhookSecret: undefined }), 400);
    // Patient data over https only, and never aimed at the archive's own network (SSRF).
    for (const refused of ['http://sms.example.com/hook', 'https://10.1.2.3/sms', 'https://192.168.0.9/sms', 'https://169.254.169.254/latest/meta-data', 'https://[fd00::1]/sms', 'https://[::ffff:10.0.0.1]/sms']) {
      const problem = await json<{ detail: string }>(await send('cf-qs-admin', 'PUT', path, { ...settings, webhookUrl: refused }), 400);
      assert.match(problem.detail, /https|private/, refused);
    }
    const saved = await json<CriticalSettings>(await send('cf-qs-admin', 'PUT', path, settings), 200);
    assert.equal(saved.webhookUrl, webhookUrl);
    assert.equal(saved.hasWebhookSecret, true);
    assert.ok(!JSON.stringify(saved).includes(WEBHOOK_SECRET), 'the secret is never served back');
    assert.equal(saved.contacts.length, 2);
    await json(await call('cf-nl-admin', path), 404);
    await json(await send('cf-nl-admin', 'PUT', path, settings), 404);
    await json(await call('cf-doctor', path), 403);
  });

  let haemorrhage: CriticalNotice;
  const finding = '左侧基底节区急性脑出血，约 30 ml，中线右移 6 mm';

  it('a reader raises a finding; the sending hospital sees it at once, in its list and on the study; Nanling sees nothing', async () => {
    await json(await send('cf-doctor', 'POST', '/api/critical-findings', { studyInstanceUid: wangCt, category: '颅内出血', text: finding }), 403);
    await json(await send('cf-reader', 'POST', '/api/critical-findings', { studyInstanceUid: wangCt, category: '不存在的类别', text: finding }), 400);
    await json(await send('cf-nl-doctor', 'POST', '/api/critical-findings', { studyInstanceUid: wangCt, category: '颅内出血', text: finding }), 403);
    haemorrhage = await json<CriticalNotice>(await send('cf-reader', 'POST', '/api/critical-findings', { studyInstanceUid: wangCt, category: '颅内出血', text: finding }), 201);
    assert.equal(haemorrhage.category.code, 'intracranial-haemorrhage');
    assert.equal(haemorrhage.institutionName, '青石县人民医院');
    assert.equal(haemorrhage.raisingInstitutionName, '青石区影像诊断中心');
    assert.equal(haemorrhage.acknowledged, null);
    assert.deepEqual(steps(haemorrhage), ['raised', 'notified']);

    const open = await json<CriticalNotice[]>(await call('cf-doctor', '/api/critical-findings?open=true'), 200);
    assert.deepEqual(open.map((item) => item.id), [haemorrhage.id]);
    assert.equal(open[0]!.text, finding);
    const onStudy = await json<CriticalNotice[]>(await call('cf-doctor', `/api/studies/${wangCt}/critical-findings?open=true`), 200);
    assert.deepEqual(onStudy.map((item) => item.id), [haemorrhage.id]);
    assert.deepEqual(await json(await call('cf-doctor', `/api/studies/${liCr}/critical-findings?open=true`), 200), []);

    assert.deepEqual(await json(await call('cf-nl-doctor', '/api/critical-findings'), 200), []);
    await json(await call('cf-nl-doctor', `/api/critical-findings/${haemorrhage.id}`), 404);
    await json(await call('cf-nl-doctor', `/api/studies/${wangCt}/critical-findings`), 404);
    await json(await send('cf-nl-doctor', 'POST', `/api/critical-findings/${haemorrhage.id}/acknowledge`, { readBack: '颅内出血' }), 404);
  });

  it('the masked QC role (read-images, identities masked) gets no notice: each names the patient', async () => {
    for (const path of ['/api/critical-findings', '/api/critical-findings/register', '/api/critical-findings/register.csv', `/api/critical-findings/${haemorrhage.id}`, `/api/studies/${wangCt}/critical-findings`]) {
      const response = await call('cf-qs-qc', path);
      const text = await response.text();
      assert.equal(response.status, 403, `${path}: ${text}`);
      assert.ok(!text.includes(haemorrhage.patientId) && !(haemorrhage.patientName && text.includes(haemorrhage.patientName)), `${path} names no patient`);
    }
    await json(await send('cf-qs-qc', 'POST', `/api/critical-findings/${haemorrhage.id}/acknowledge`, { readBack: '颅内出血' }), 403);
  });

  it('the webhook is delivered signed (HMAC-SHA256), retried by the job after the gateway refused it', async () => {
    const delivered = await eventually(async () => {
      const found = await notice('cf-reader', haemorrhage.id);
      assert.ok(steps(found).includes('webhook-delivered'), 'not delivered yet');
      return found;
    }, 'webhook delivered');
    assert.deepEqual(steps(delivered), ['raised', 'notified', 'webhook-failed', 'webhook-delivered']);
    const notifiedStep = delivered.steps[1]!;
    assert.equal(delivered.steps[2]!.detail.error, 'HTTP 503');
    assert.equal(delivered.steps[3]!.detail.attempt, 2);

    const forNotice = deliveries.filter((delivery) => delivery.headers[DELIVERY_HEADER] === notifiedStep.id);
    assert.deepEqual(forNotice.map((delivery) => delivery.status), [503, 200]);
    for (const delivery of forNotice) {
      const timestamp = String(delivery.headers[TIMESTAMP_HEADER]);
      assert.equal(delivery.headers[SIGNATURE_HEADER], signWebhook(WEBHOOK_SECRET, timestamp, delivery.body), 'a valid signature over timestamp and body');
      assert.notEqual(delivery.headers[SIGNATURE_HEADER], signWebhook('another secret of the same length!!', timestamp, delivery.body));
      const body = JSON.parse(delivery.body) as CriticalWebhookBody;
      assert.equal(body.event, 'critical-finding.notified');
      assert.equal(body.notice.id, haemorrhage.id);
      assert.equal(body.notice.category.nameZh, '颅内出血');
      assert.equal(body.notice.text, finding);
    }
  });

  it('the hospital acknowledges by reading the finding back; the reader sees who, when and what was read back', async () => {
    const path = `/api/critical-findings/${haemorrhage.id}/acknowledge`;
    const mismatch = await call('cf-doctor', path, { method: 'POST', body: JSON.stringify({ readBack: '收到' }), headers: { 'accept-language': 'zh-CN' } });
    const problem = await json<{ title: string; detail: string }>(mismatch, 422);
    assert.equal(problem.title, '复述内容与危急值不符');
    await json(await send('cf-reader', 'POST', path, { readBack: '颅内出血' }), 403);

    const readBack = '颅内出血，左侧基底节区约30毫升，中线右移';
    const acknowledged = await json<CriticalNotice>(await send('cf-doctor', 'POST', path, { readBack, name: '李护士', role: '急诊科护士', phone: '13900000002' }), 200);
    assert.equal(acknowledged.acknowledged?.name, '李护士');
    assert.equal(acknowledged.acknowledged?.role, '急诊科护士');
    assert.equal(acknowledged.acknowledged?.readBack, readBack);
    await json(await send('cf-doctor', 'POST', path, { readBack }), 409);

    const seenByReader = await notice('cf-reader', haemorrhage.id);
    assert.ok(seenByReader.acknowledged && Date.parse(seenByReader.acknowledged.at) >= Date.parse(seenByReader.raisedAt), 'acknowledged after raised');
    assert.equal(steps(seenByReader).at(-1), 'acknowledged');
    assert.deepEqual(await json(await call('cf-doctor', '/api/critical-findings?open=true'), 200), [], 'no longer open');
  });

  let embolism: CriticalNotice;

  it('an unacknowledged notice escalates to the department head, then 医务科, each escalation recorded and sent', async () => {
    const settingsPath = `/api/critical-findings/settings/${institutions.CF_QINGSHI}`;
    const current = await json<CriticalSettings>(await call('cf-qs-admin', settingsPath), 200);
    await json(await send('cf-qs-admin', 'PUT', settingsPath, { webhookUrl: current.webhookUrl, escalateAfterSeconds: 1, contacts: current.contacts }), 200);
    embolism = await json<CriticalNotice>(await send('cf-reader', 'POST', '/api/critical-findings', { studyInstanceUid: liCr, category: 'pulmonary-embolism', text: '右肺动脉主干充盈缺损' }), 201);

    const escalated = await eventually(async () => {
      const found = await notice('cf-doctor', embolism.id);
      assert.equal(found.escalationLevel, 2);
      assert.equal(found.steps.filter((step) => step.step === 'escalated').length, 2);
      return found;
    }, 'two escalations');
    const [first, second] = escalated.steps.filter((step) => step.step === 'escalated');
    assert.match(first!.recipients, /张主任 \(放射科主任, 13800000001\)/);
    assert.equal(first!.detail.level, 1);
    assert.match(second!.recipients, /医务科值班/);
    assert.ok(Date.parse(second!.occurredAt) > Date.parse(first!.occurredAt), 'level 2 after level 1');

    const escalationDeliveries = await eventually(async () => {
      const bodies = deliveries.filter((delivery) => delivery.status === 200).map((delivery) => JSON.parse(delivery.body) as CriticalWebhookBody).filter((body) => body.event === 'critical-finding.escalated' && body.notice.id === embolism.id);
      assert.equal(bodies.length, 2);
      return bodies;
    }, 'escalation webhooks');
    assert.deepEqual(escalationDeliveries.map((body) => body.contacts.map((contact) => contact.name)).sort(), [['医务科值班'], ['张主任']]);
    assert.equal(escalated.acknowledged, null, 'escalation does not close a notice: it stays open until read back');
  });

  it('the register records every step of every notice, filters by date and institution, and exports as CSV with a BOM', async () => {
    const today = new Date().toISOString().slice(0, 10);
    const tomorrow = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
    const register = await json<CriticalNotice[]>(await call('cf-reader', `/api/critical-findings/register?from=${today}&to=${today}&institution=${institutions.CF_QINGSHI}`), 200);
    assert.deepEqual(register.map((item) => item.id).sort(), [haemorrhage.id, embolism.id].sort());
    const first = register.find((item) => item.id === haemorrhage.id)!;
    assert.deepEqual(steps(first), ['raised', 'notified', 'webhook-failed', 'webhook-delivered', 'acknowledged']);
    assert.equal(first.steps[0]!.actor, 'cf-reader');
    assert.equal(first.steps[4]!.actor, '李护士');
    assert.deepEqual(await json(await call('cf-reader', `/api/critical-findings/register?from=${tomorrow}`), 200), []);
    assert.deepEqual(await json(await call('cf-reader', `/api/critical-findings/register?institution=${institutions.CF_NANLING}`), 200), []);
    assert.deepEqual(await json(await call('cf-nl-doctor', '/api/critical-findings/register'), 200), [], 'another hospital sees nothing');
    await json(await call('cf-reader', '/api/critical-findings/register?from=yesterday'), 400);

    const csvResponse = await call('cf-reader', `/api/critical-findings/register.csv?from=${today}`);
    assert.equal(csvResponse.status, 200);
    assert.match(String(csvResponse.headers.get('content-type')), /^text\/csv; charset=utf-8/);
    const bytes = Buffer.from(await csvResponse.arrayBuffer());
    assert.deepEqual([...bytes.subarray(0, 3)], [0xef, 0xbb, 0xbf], 'UTF-8 BOM for Excel');
    const lines = bytes.toString('utf8').slice(1).trimEnd().split('\r\n');
    assert.match(lines[0]!, /^登记号 Notice,上报时间 Raised at,/);
    const acknowledgedLine = lines.find((line) => line.includes(',acknowledged,'))!;
    assert.ok(acknowledgedLine.includes('颅内出血') && acknowledgedLine.includes('李护士') && acknowledgedLine.includes('颅内出血，左侧基底节区约30毫升'), acknowledgedLine);
    for (const step of ['raised', 'notified', 'webhook-failed', 'webhook-delivered', 'escalated']) assert.ok(lines.some((line) => line.includes(`,${step},`)), step);
  });

  it('every step is in the audit trail with the patient and the study', async () => {
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ action: string; user_name: string; patient_id: string | null; study_uids: string[]; step: string | null }>(
      `SELECT action, user_name, patient_id, study_uids, detail->>'step' AS step FROM audit_events
       WHERE event_type = 'procedure-record' AND detail->>'criticalFindingId' = $1 ORDER BY id`,
      [haemorrhage.id],
    );
    assert.deepEqual(rows.map((row) => row.step), ['raised', 'notified', 'webhook-failed', 'webhook-delivered', 'acknowledged']);
    for (const row of rows) {
      assert.deepEqual(row.study_uids, [wangCt]);
      assert.ok(row.patient_id, 'names the patient');
    }
    const routes = await system.runtime.db.pool.query<{ route: string }>(
      `SELECT detail->>'route' AS route FROM audit_events WHERE detail->'criticalFindingIds' ? $1 AND user_name = 'cf-doctor'`,
      [haemorrhage.id],
    );
    assert.ok(routes.rows.some((row) => row.route === `/api/critical-findings/${haemorrhage.id}/acknowledge`), 'the acknowledgement request is audited');
  });

  it('a signed report carrying a critical finding raises it once, however many signatures follow', async () => {
    const report = await json<Report>(await send('cf-reader', 'POST', `/api/studies/${liCr}/report`, {}), 200);
    const content = { findings: '右肺动脉主干见充盈缺损。', impression: '右肺动脉栓塞。', criticalFinding: { category: 'Pulmonary embolism', text: '右肺动脉主干栓塞' }, templateId: null };
    // A category the list does not know could never be raised after the signature: the signature is refused instead.
    const unknown = { ...content, criticalFinding: { category: '肺动脉高压', text: '肺动脉增宽' } };
    const typed = await json<{ revision: number }>(await send('cf-reader', 'PUT', `/api/studies/${liCr}/report/draft`, { content: unknown, revision: report.draftRevision }), 200);
    const refused = await send('cf-reader', 'POST', `/api/studies/${liCr}/report/signatures`, { role: 'preliminary', revision: typed.revision });
    assert.equal(refused.status, 400);
    assert.match(await refused.text(), /critical-findings list/);
    assert.equal((await json<Report>(await call('cf-reader', `/api/studies/${liCr}/report`), 200)).versions.length, 0, 'nothing was signed');
    const saved = await json<{ revision: number }>(await send('cf-reader', 'PUT', `/api/studies/${liCr}/report/draft`, { content, revision: typed.revision }), 200);
    await json(await send('cf-reader', 'POST', `/api/studies/${liCr}/report/signatures`, { role: 'preliminary', revision: saved.revision }), 201);
    const raised = await json<CriticalNotice[]>(await call('cf-doctor', `/api/studies/${liCr}/critical-findings`), 200);
    const fromReport = raised.filter((item) => item.reportId === report.id);
    assert.equal(fromReport.length, 1);
    assert.equal(fromReport[0]!.category.code, 'pulmonary-embolism');
    await system.runtime.criticalFindings.onReportSigned({ report: { ...report, studyInstanceUid: liCr }, version: { content } as never, signer: (await system.runtime.auth.authenticate({ bearer: tokens.get('cf-reader') }))!.principal });
    const again = await json<CriticalNotice[]>(await call('cf-doctor', `/api/studies/${liCr}/critical-findings`), 200);
    assert.equal(again.filter((item) => item.reportId === report.id).length, 1, 'the listener run again raises nothing new');
  });

  it('a signed version whose notice was never raised (the listener failed after the signing commit) gets one from the sweep, once', async () => {
    const report = await json<Report>(await send('cf-reader', 'POST', `/api/studies/${wangCt}/report`, {}), 200);
    const content = { findings: '右侧胸腔大量积气，纵隔左移。', impression: '右侧张力性气胸。', criticalFinding: { category: '张力性气胸', text: '右侧张力性气胸，纵隔左移' }, templateId: null };
    const saved = await json<{ revision: number }>(await send('cf-reader', 'PUT', `/api/studies/${wangCt}/report/draft`, { content, revision: report.draftRevision }), 200);
    await json(await send('cf-reader', 'POST', `/api/studies/${wangCt}/report/signatures`, { role: 'preliminary', revision: saved.revision }), 201);
    const ofReport = async () => (await json<CriticalNotice[]>(await call('cf-reader', `/api/studies/${wangCt}/critical-findings`), 200)).filter((item) => item.reportId === report.id);
    const [fromListener] = await ofReport();
    assert.ok(fromListener, 'the listener raised it');
    // As if the listener had failed: the notice is gone, the signed version stays.
    const client = new pg.Client({ connectionString: system.databaseUrl });
    await client.connect();
    try {
      await client.query('DELETE FROM critical_notice_steps WHERE notice_id = $1', [fromListener.id]);
      await client.query('DELETE FROM critical_notices WHERE id = $1', [fromListener.id]);
    } finally {
      await client.end();
    }
    assert.deepEqual(await ofReport(), []);
    const swept = await eventually(async () => {
      const found = await ofReport();
      assert.equal(found.length, 1, 'not swept yet');
      return found[0]!;
    }, 'the sweep raised the missed finding');
    assert.equal(swept.category.code, 'tension-pneumothorax');
    assert.equal(swept.text, '右侧张力性气胸，纵隔左移');
    assert.equal(swept.raisedBy, 'cf-reader', 'raised as by the signer');
    assert.deepEqual(steps(swept).slice(0, 2), ['raised', 'notified']);
    await system.runtime.queue.whenIdle();
    assert.equal((await ofReport()).length, 1, 'one notice per report and finding, however many passes');
  });

  it('a webhook whose address has become private since it was saved is refused at delivery, recorded, and not sent', async () => {
    // As if the name now resolved to the hospital's internal network (DNS changes after saving).
    const client = new pg.Client({ connectionString: system.databaseUrl });
    await client.connect();
    try {
      await client.query('UPDATE critical_settings SET webhook_url = $1 WHERE institution_id = $2', ['https://10.255.255.1/sms', institutions.CF_QINGSHI]);
    } finally {
      await client.end();
    }
    const sentBefore = deliveries.length;
    const raised = await json<CriticalNotice>(await send('cf-reader', 'POST', '/api/critical-findings', { studyInstanceUid: liCr, category: '张力性气胸', text: '右侧张力性气胸' }), 201);
    const refused = await eventually(async () => {
      const found = await notice('cf-reader', raised.id);
      assert.ok(steps(found).includes('webhook-failed'), 'not tried yet');
      return found;
    }, 'webhook refused');
    assert.match(String(refused.steps.find((step) => step.step === 'webhook-failed')!.detail.error), /private/);
    await system.runtime.queue.whenIdle();
    assert.equal(deliveries.length, sentBefore, 'nothing was sent');
    assert.ok(!steps(await notice('cf-reader', raised.id)).includes('webhook-delivered'));
  });

  it('复述确认 matches the category in either language or the finding itself, ignoring spaces, case and punctuation', () => {
    const notice = { category: { code: 'tension-pneumothorax', nameZh: '张力性气胸', nameEn: 'Tension pneumothorax' }, text: '右侧张力性气胸，纵隔左移' };
    assert.ok(readBackMatches(notice, '张力性 气胸，右侧'), 'category in Chinese');
    assert.ok(readBackMatches(notice, 'TENSION-pneumothorax on the right'), 'category in English');
    assert.ok(readBackMatches(notice, '右侧张力性气胸 纵隔左移'), 'the finding itself');
    assert.ok(!readBackMatches(notice, '气胸'), 'part of a name is not the finding');
    assert.ok(!readBackMatches(notice, '收到，好的'), '"received" is not a read-back');
    assert.ok(!readBackMatches(notice, '  ，。 '), 'punctuation only');
  });
});
