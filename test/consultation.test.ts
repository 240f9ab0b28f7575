import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { WebSocket } from 'ws';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { ConsultationRelay, type RelayEvent } from '../archive/consultation/consultation-relay.ts';
import type { Consultation, ConsultationClientMessage, ConsultationServerMessage, SharedView } from '../archive/consultation/wire.ts';
import { message } from '../archive/i18n/messages.ts';
import { createLogger } from '../archive/log.ts';
import { NOT_REPORTABLE_HERE } from '../archive/reading/report-wire.ts';
import { makeSecondaryCaptures, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Live consultations (远程会诊) against the running system: a Qingshi radiologist invites an expert at
 * Nanling to Wang's CT. Accepting grants the expert that one study — every image endpoint, nothing
 * else of Qingshi's, nothing to store or export — until the consultation ends; the expert's
 * colleague never sees it. The session's WebSocket relays view, pointer, chat and floor control to
 * participants only, through PostgreSQL LISTEN/NOTIFY; the opinion is attached to the study and audited
 * with both participants.
 */
const USERS = [
  { username: 'c-qs-radiologist', institution: 'QINGSHI' },
  { username: 'c-nl-expert', institution: 'NANLING' },
  { username: 'c-nl-colleague', institution: 'NANLING' },
] as const;
type Username = (typeof USERS)[number]['username'];
const INVITER = 'c-qs-radiologist';
const EXPERT = 'c-nl-expert';
const COLLEAGUE = 'c-nl-colleague';

interface StoredStudy {
  study: string;
  series: string;
  instance: string;
}

const VIEW: SharedView = {
  layout: '1x1',
  activeCell: 0,
  cells: [{ studyInstanceUid: '1.2.3', seriesInstanceUid: '1.2.3.4', imageIndex: 4 }],
  voi: { windowCenter: 40, windowWidth: 400 },
  camera: { parallelScale: 120, focalPoint: [0, 0, 0], position: [0, 0, 500] },
  annotations: [],
};

describe('live consultation', () => {
  let system: TestSystem;
  const tokens = new Map<Username, string>();
  let consulted: StoredStudy;
  let otherOfQingshi: StoredStudy;
  const neverStored = '2.25.222222222222222222222222222222';

  const call = (username: Username, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${tokens.get(username)}`);
    if (typeof init.body === 'string') headers.set('content-type', 'application/json');
    return fetch(`${system.httpUrl}${path}`, { ...init, headers });
  };
  const json = async <T>(response: Response, status: number): Promise<T> => {
    const text = await response.text();
    assert.equal(response.status, status, text);
    return JSON.parse(text) as T;
  };
  const post = (username: Username, path: string, body?: unknown) => call(username, path, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body) });
  const invite = async (study = consulted.study) =>
    json<Consultation>(await post(INVITER, '/api/consultations', { inviteeUsername: EXPERT, studyInstanceUid: study, reason: '肺结节性质待定 nodule, second opinion' }), 201);

  /** The endpoints that read one study, as in the authorisation matrix. */
  const studyEndpoints = (s: StoredStudy) => [
    { name: 'QIDO series of study', path: `/dicom-web/studies/${s.study}/series` },
    { name: 'WADO-RS study metadata', path: `/dicom-web/studies/${s.study}/metadata` },
    { name: 'WADO-RS instance', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}`, accept: 'multipart/related; type="application/dicom"; transfer-syntax=*' },
    { name: 'WADO-RS frames', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}/frames/1`, accept: 'multipart/related; type="application/octet-stream"; transfer-syntax=*' },
    { name: 'WADO-RS rendered', path: `/dicom-web/studies/${s.study}/series/${s.series}/instances/${s.instance}/rendered`, accept: 'image/png' },
    { name: 'WADO-RS thumbnail', path: `/dicom-web/studies/${s.study}/thumbnail`, accept: 'image/jpeg' },
    { name: 'WADO-URI', path: `/wado?requestType=WADO&studyUID=${s.study}&seriesUID=${s.series}&objectUID=${s.instance}&contentType=application%2Fdicom` },
    { name: 'priors', path: `/api/studies/${s.study}/priors` },
  ];
  /** Every endpoint answers `expected`; a 404 is exactly the one a study never stored gets. */
  const assertReach = async (username: Username, s: StoredStudy, expected: 200 | 404, when: string) => {
    for (const endpoint of studyEndpoints(s)) {
      const headers: Record<string, string> = endpoint.accept ? { accept: endpoint.accept } : {};
      const response = await call(username, endpoint.path, { headers });
      const body = await response.text();
      const label = `${username} ${when}: ${endpoint.name}`;
      assert.equal(response.status, expected, `${label}: ${body.slice(0, 300)}`);
      if (expected === 404) {
        const control = await call(username, endpoint.path.replaceAll(s.study, neverStored), { headers });
        assert.equal(body.replaceAll(s.study, neverStored), await control.text(), `${label}: the same 404 as a study never stored`);
      }
    }
  };
  const newestAuditEvents = async (count: number) => {
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; user_name: string; study_uids: string[]; detail: Record<string, unknown> }>(
      'SELECT event_type, action, user_name, study_uids, detail FROM audit_events ORDER BY id DESC LIMIT $1',
      [count],
    );
    return rows;
  };

  before(async () => {
    system = await startTestSystem();
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'QINGSHI_DISTRICT', name: '青石区', level: 'district' });
    await administration.createRegion(actor, { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' });
    const institutions: Record<string, string> = {};
    for (const [code, name, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'QINGSHI_DISTRICT'],
      ['NANLING', '南岭县中医院', 'NANLING_COUNTY'],
    ] as const) {
      institutions[code] = (await administration.createInstitution(actor, { code, name, kind: 'hospital', regionCode })).id;
    }
    for (const { username, institution } of USERS) {
      await administration.createUser(actor, { username, displayName: username, role: 'radiologist', institutionCode: institution });
      tokens.set(username, (await administration.createToken(actor, { username, label: 'consultation' })).token);
    }
    const ingestStudy = async (study: Study): Promise<StoredStudy> => {
      const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 81 })];
      const outcome = await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'consultation', institutionId: institutions.QINGSHI! });
      return { study: outcome.parsed.studyInstanceUid, series: outcome.parsed.seriesInstanceUid, instance: outcome.parsed.sopInstanceUid };
    };
    consulted = await ingestStudy(STUDIES.wangPriorCt);
    otherOfQingshi = await ingestStudy(STUDIES.liJiCr);
    await system.runtime.queue.whenIdle();
  });
  after(() => system?.shutdown());

  it('an accepted invitation grants the invitee that one study, for reading only, until the consultation ends', async () => {
    await assertReach(EXPERT, consulted, 404, 'before any invitation');
    const invited = await invite();
    assert.equal(invited.status, 'invited');
    assert.equal(invited.floorHolder, INVITER);
    assert.equal(invited.invitee.institutionName, '南岭县中医院');
    await assertReach(EXPERT, consulted, 404, 'invited, not yet accepted');

    const accepted = await json<Consultation>(await post(EXPERT, `/api/consultations/${invited.id}/accept`), 200);
    assert.equal(accepted.status, 'active');
    await assertReach(EXPERT, consulted, 200, 'in session');
    // Each use is audited as cross-institution access naming the grant.
    const [used] = await newestAuditEvents(1);
    assert.equal(used!.user_name, EXPERT);
    assert.deepEqual(used!.study_uids, [consulted.study]);
    assert.equal(used!.detail.crossInstitution, true);
    assert.equal((used!.detail.accessGrantIds as string[]).length, 1);

    // Only that study: a search finds it and nothing else of Qingshi's; the hospital's other study stays closed.
    const found = await json<Record<string, { Value?: string[] }>[]>(await call(EXPERT, '/dicom-web/studies'), 200);
    assert.deepEqual(found.map((result) => result['0020000D']!.Value![0]), [consulted.study]);
    const [searched] = await newestAuditEvents(1);
    assert.deepEqual(searched!.detail.accessGrantIds, used!.detail.accessGrantIds, 'the search names the grant too');
    await assertReach(EXPERT, otherOfQingshi, 404, 'in session, another study of the hospital');
    // Reading only: no export, no storing into it.
    assert.equal((await post(EXPERT, `/api/studies/${consulted.study}/export`, { deidentify: false })).status, 404);
    // Nor a report: refused by name (the viewer then shows no report panel), its title in the caller's language.
    const reportRefused = await call(EXPERT, `/api/studies/${consulted.study}/report`, { method: 'POST', body: '{}', headers: { 'accept-language': 'zh-CN' } });
    const notReportable = await json<{ status: number; reason: string; title: string }>(reportRefused, 403);
    assert.equal(notReportable.reason, NOT_REPORTABLE_HERE);
    assert.equal(notReportable.title, message('problem.notReportableHere', 'zh-CN'));
    // The colleague, with no grant, is told only what a study never stored would tell them.
    const colleagueOpens = await call(COLLEAGUE, `/api/studies/${consulted.study}/report`, { method: 'POST', body: '{}' });
    assert.equal(colleagueOpens.status, 404, await colleagueOpens.text());
    // The expert's colleague has no grant.
    await assertReach(COLLEAGUE, consulted, 404, 'colleague of the invitee');
    // A grant cannot be passed on: the expert may not invite a third doctor to the study.
    const passedOn = await post(EXPERT, '/api/consultations', { inviteeUsername: COLLEAGUE, studyInstanceUid: consulted.study, reason: 'pass it on' });
    assert.equal(passedOn.status, 404, await passedOn.text());

    const ended = await json<Consultation>(await post(INVITER, `/api/consultations/${invited.id}/end`), 200);
    assert.equal(ended.status, 'ended');
    assert.ok(ended.endedAt);
    await assertReach(EXPERT, consulted, 404, 'after the end');
    assert.equal((await post(EXPERT, `/api/studies/${consulted.study}/report`, {})).status, 404, 'the grant gone, the study is not named any more');
    const [audited] = (await newestAuditEvents(20)).filter((event) => event.detail.route === `/api/consultations/${invited.id}/end`);
    assert.equal(audited!.event_type, 'procedure-record');
    assert.deepEqual(audited!.detail.participants, [INVITER, EXPERT]);
  });

  it('refuses invitations and actions that do not belong to the caller', async () => {
    const refused = async (response: Response, status: number) => assert.equal(response.status, status, await response.text());
    await refused(await post(INVITER, '/api/consultations', { inviteeUsername: INVITER, studyInstanceUid: consulted.study, reason: 'me' }), 400);
    await refused(await post(INVITER, '/api/consultations', { inviteeUsername: 'nobody-here', studyInstanceUid: consulted.study, reason: 'x' }), 404);
    await refused(await post(INVITER, '/api/consultations', { inviteeUsername: EXPERT, studyInstanceUid: neverStored, reason: 'x' }), 404);
    await refused(await post(INVITER, '/api/consultations', { inviteeUsername: EXPERT, studyInstanceUid: 'not a uid', reason: 'x' }), 400);
    await refused(await post(COLLEAGUE, '/api/consultations', { inviteeUsername: EXPERT, studyInstanceUid: consulted.study, reason: 'not mine' }), 404);
    const invited = await invite();
    await refused(await call(COLLEAGUE, `/api/consultations/${invited.id}`), 404);
    await refused(await post(COLLEAGUE, `/api/consultations/${invited.id}/accept`), 404);
    await refused(await post(INVITER, `/api/consultations/${invited.id}/accept`), 409);
    await refused(await post(EXPERT, `/api/consultations/${invited.id}/end`), 409);
    const declined = await json<Consultation>(await post(EXPERT, `/api/consultations/${invited.id}/decline`), 200);
    assert.equal(declined.status, 'declined');
    await refused(await post(EXPERT, `/api/consultations/${invited.id}/accept`), 409);
    await assertReach(EXPERT, consulted, 404, 'after declining');
    const mine = await json<Consultation[]>(await call(EXPERT, '/api/consultations'), 200);
    assert.ok(mine.some((consultation) => consultation.id === invited.id && consultation.status === 'declined'));
    assert.deepEqual(await json<Consultation[]>(await call(COLLEAGUE, '/api/consultations'), 200), []);
  });

  describe('the session WebSocket', () => {
    let consultation: Consultation;
    before(async () => {
      consultation = await invite();
      await json<Consultation>(await post(EXPERT, `/api/consultations/${consultation.id}/accept`), 200);
    });

    const url = (id = consultation.id) => `${system.httpUrl.replace(/^http/, 'ws')}/api/consultations/${id}/live`;
    /** A participant's socket, with every message it received, in order. */
    const connect = async (username: Username) => {
      const socket = new WebSocket(url(), { headers: { authorization: `Bearer ${tokens.get(username)}` } });
      const received: ConsultationServerMessage[] = [];
      const waiters: (() => void)[] = [];
      socket.on('message', (data) => {
        received.push(JSON.parse(String(data)) as ConsultationServerMessage);
        for (const wake of waiters.splice(0)) wake();
      });
      const closed = new Promise<{ code: number; reason: string }>((resolve) => socket.on('close', (code, reason) => resolve({ code, reason: String(reason) })));
      const next = async <T extends ConsultationServerMessage['type']>(type: T, where: (message: Extract<ConsultationServerMessage, { type: T }>) => boolean = () => true) => {
        for (let seen = 0; ; ) {
          for (; seen < received.length; seen++) {
            const message = received[seen]!;
            if (message.type === type && where(message as Extract<ConsultationServerMessage, { type: T }>)) {
              received.splice(0, seen + 1);
              return message as Extract<ConsultationServerMessage, { type: T }>;
            }
          }
          await Promise.race([new Promise<void>((resolve) => waiters.push(resolve)), closed.then(() => assert.fail(`${username}'s socket closed while waiting for ${type}`))]);
        }
      };
      const send = (message: ConsultationClientMessage) => socket.send(JSON.stringify(message));
      await next('consultation');
      return { socket, next, send, closed, received };
    };

    it('refuses non-participants and callers without credentials', async () => {
      const outsider = new WebSocket(url(), { headers: { authorization: `Bearer ${tokens.get(COLLEAGUE)}` } });
      const { code } = await new Promise<{ code: number }>((resolve) => outsider.on('close', (closeCode) => resolve({ code: closeCode })));
      assert.equal(code, 4404);
      const anonymous = new WebSocket(url());
      // Terminating a socket the server refused reports that it never opened: expected here.
      anonymous.on('error', () => undefined);
      const status = await new Promise<number>((resolve) => anonymous.on('unexpected-response', (_request, response) => resolve(response.statusCode ?? 0)));
      assert.equal(status, 401);
      anonymous.terminate();
    });

    it("ends a participant's session once the token it was opened with is revoked", async () => {
      // A consultation of its own, so the other tests' audit and state are not this one's.
      const own = await invite();
      await json<Consultation>(await post(EXPERT, `/api/consultations/${own.id}/accept`), 200);
      const { id, token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: EXPERT, label: 'consultation, revoked' });
      const socket = new WebSocket(url(own.id), { headers: { authorization: `Bearer ${token}` } });
      const closed = new Promise<number>((resolve) => socket.on('close', resolve));
      await new Promise((resolve) => socket.once('message', resolve));
      await system.administration.revokeToken(COMMAND_LINE_ACTOR, id);
      assert.equal(await closed, 1008);
      await json<Consultation>(await post(INVITER, `/api/consultations/${own.id}/end`), 200);
    });

    it('relays the presenter view, pointers and chat, and hands the floor over on request', async () => {
      const presenter = await connect(INVITER);
      const follower = await connect(EXPERT);
      // Opening the session is audited for each participant, naming the study and both of them.
      await system.runtime.audit.drain();
      const opened = (await newestAuditEvents(10)).filter((event) => event.detail.route === `/api/consultations/${consultation.id}/live`);
      assert.deepEqual(opened.map((event) => event.user_name).sort(), [INVITER, EXPERT].sort());
      for (const event of opened) {
        assert.deepEqual(event.study_uids, [consulted.study]);
        assert.deepEqual(event.detail.participants, [INVITER, EXPERT]);
      }
      // The presenter hears that the follower joined, and answers with its whole view.
      await presenter.next('joined', (message) => message.username === EXPERT);
      presenter.send({ type: 'view', view: VIEW });
      const shown = await follower.next('view');
      assert.equal(shown.from, INVITER);
      assert.deepEqual(shown.view, VIEW);

      follower.send({ type: 'pointer', pointer: { x: 0.25, y: 0.75 } });
      assert.deepEqual((await presenter.next('pointer')).pointer, { x: 0.25, y: 0.75 });

      follower.send({ type: 'chat', text: '右上肺结节，建议增强 CT' });
      for (const side of [presenter, follower]) assert.equal((await side.next('chat')).text, '右上肺结节，建议增强 CT');

      // Without the floor, the follower's view goes nowhere.
      follower.send({ type: 'view', view: { ...VIEW, voi: { windowCenter: -600, windowWidth: 1500 } } });
      assert.match((await follower.next('refused')).reason, /floor/);

      follower.send({ type: 'floor-request' });
      assert.equal((await presenter.next('consultation', (message) => message.consultation.floorRequestedBy === EXPERT)).you, INVITER);
      presenter.send({ type: 'floor-hand-over' });
      for (const side of [presenter, follower]) await side.next('consultation', (message) => message.consultation.floorHolder === EXPERT);
      follower.send({ type: 'view', view: { ...VIEW, voi: { windowCenter: -600, windowWidth: 1500 } } });
      assert.deepEqual((await presenter.next('view')).view.voi, { windowCenter: -600, windowWidth: 1500 });

      // The chat is kept with the consultation: a participant reopening the session reads it again.
      follower.socket.close();
      const reopened = await connect(EXPERT);
      assert.equal((await reopened.next('chat')).text, '右上肺结节，建议增强 CT');

      // Ending closes both sessions.
      await json<Consultation>(await post(INVITER, `/api/consultations/${consultation.id}/end`), 200);
      for (const side of [presenter, reopened]) {
        await side.next('consultation', (message) => message.consultation.status === 'ended');
        assert.equal((await side.closed).code, 1000);
      }
      const late = new WebSocket(url(), { headers: { authorization: `Bearer ${tokens.get(EXPERT)}` } });
      assert.equal(await new Promise<number>((resolve) => late.on('close', resolve)), 4409);
    });
  });

  it('relays through PostgreSQL, so a participant on another gateway process hears it', async () => {
    // A second relay with its own connection, as another gateway process would have.
    const elsewhere = new ConsultationRelay(system.runtime.db.pool, createLogger('silent'));
    try {
      const consultation = await invite();
      const heard = new Promise<RelayEvent>((resolve) => elsewhere.subscribe(consultation.id, resolve));
      // Listening starts at the first subscription: publish once it is in place.
      await elsewhere.publish('0', { message: { type: 'joined', username: 'warm-up' } });
      await post(EXPERT, `/api/consultations/${consultation.id}/accept`);
      const event = await heard;
      assert.ok('consultation' in event && event.consultation.status === 'active');
      await post(INVITER, `/api/consultations/${consultation.id}/end`);
    } finally {
      await elsewhere.close();
    }
  });

  it('attaches the written opinion to the study and audits it with both participants', async () => {
    const consultation = await invite();
    await json<Consultation>(await post(EXPERT, `/api/consultations/${consultation.id}/accept`), 200);
    const opinion = '右肺上叶磨玻璃结节，考虑早期腺癌可能，建议手术。 Ground-glass nodule, right upper lobe: early adenocarcinoma likely.';
    const written = await json<Consultation>(await post(EXPERT, `/api/consultations/${consultation.id}/opinion`, { text: opinion }), 200);
    assert.equal(written.opinion?.text, opinion);
    assert.equal(written.opinion?.author, EXPERT);
    const [audited] = await newestAuditEvents(1);
    assert.equal(audited!.event_type, 'procedure-record');
    assert.equal(audited!.action, 'U');
    assert.equal(audited!.user_name, EXPERT);
    assert.deepEqual(audited!.study_uids, [consulted.study]);
    assert.deepEqual(audited!.detail.participants, [INVITER, EXPERT]);
    assert.equal(audited!.detail.consultationId, consultation.id);
    await json<Consultation>(await post(INVITER, `/api/consultations/${consultation.id}/end`), 200);

    // Whoever reads the study finds the opinion with it; whoever may not read the study, does not.
    const attached = await json<Consultation[]>(await call(INVITER, `/api/studies/${consulted.study}/consultations`), 200);
    assert.ok(attached.some((found) => found.id === consultation.id && found.opinion?.text === opinion));
    const [listed] = await newestAuditEvents(1);
    assert.deepEqual(listed!.study_uids, [consulted.study]);
    assert.equal((await call(EXPERT, `/api/studies/${consulted.study}/consultations`)).status, 404, 'the grant ended with the session');
    assert.equal((await call(COLLEAGUE, `/api/studies/${consulted.study}/consultations`)).status, 404);
  });
});
