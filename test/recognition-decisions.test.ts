import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { PriorEntry, ReasonChoice, RecognitionDecisionEntry, RecognitionDecisionsAnswer } from '../archive/recognition/recognition-wire.ts';
import { makeSecondaryCaptures, PATIENTS, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const PURPOSE = '对比既往检查 comparison with priors';

/**
 * Priors by person and recognition decisions (互认), against the running system: Wang's CT at
 * Qingshi (A) and Yunxi (B), linked by his resident ID; a Nanling (C) record of him without the number,
 * linked by hand; Beishan (D) has nothing of his.
 */
describe('recognition: priors by person, prior views and decisions', () => {
  let system: TestSystem;
  const institutions: Record<string, string> = {};
  const uids: Record<string, string> = {};
  const tokens = new Map<string, string>();
  const call = (username: string, path: string, init: RequestInit & { purpose?: string; json?: unknown } = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${tokens.get(username)}`);
    if (init.purpose) headers.set('x-purpose-of-use', encodeURIComponent(init.purpose));
    if (init.json !== undefined) headers.set('content-type', 'application/json');
    return system.fetch(`${system.httpUrl}${path}`, { ...init, headers, ...(init.json !== undefined ? { method: init.method ?? 'POST', body: JSON.stringify(init.json) } : {}) });
  };
  const priorsOf = async (username: string, study: string, purpose?: string) => {
    const response = await call(username, `/api/studies/${study}/priors`, { purpose });
    assert.equal(response.status, 200);
    return (await response.json()) as PriorEntry[];
  };
  const uidOf = (prior: PriorEntry) => String(prior.study['0020000D']!.Value![0]);
  const ingestStudy = async (key: string, study: Study, institution: string) => {
    const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 1 })];
    uids[key] = instance!.description.studyInstanceUid;
    await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'recognition', institutionId: institutions[institution]! });
  };
  const auditOf = async (route: string) => {
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; purpose: string | null; study_uids: string[]; user_name: string; detail: Record<string, unknown> }>(
      'SELECT event_type, action, purpose, study_uids, user_name, detail FROM audit_events WHERE detail->>\'route\' = $1 ORDER BY id',
      [route],
    );
    return rows;
  };

  before(async () => {
    system = await startTestSystem();
    for (const [code, name] of [['A', '青石县人民医院'], ['B', '云溪县人民医院'], ['C', '南岭县中医院'], ['D', '北山县人民医院']] as const) {
      institutions[code] = (await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: `RD-${code}`, name, kind: 'hospital' })).id;
    }
    for (const [username, role, code] of [
      ['a-doctor', 'radiologist', 'A'],
      ['b-doctor', 'referring_doctor', 'B'],
      ['c-doctor', 'radiologist', 'C'],
      ['d-doctor', 'radiologist', 'D'],
      ['b-qc', 'qc_staff', 'B'],
    ] as const) {
      await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: `${code} 医生`, role, institutionCode: `RD-${code}` });
      tokens.set(username, (await system.administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'recognition' })).token);
    }
    await ingestStudy('a', STUDIES.wangPriorCt, 'A');
    await ingestStudy('b', STUDIES.wangCurrentCt, 'B');
    const { nationalId: _none, ...wangWithoutNumber } = PATIENTS.wangAtYunxi;
    await ingestStudy('c', { ...STUDIES.wangCurrentCt, accessionNumber: 'NL0001', date: '20240601', patient: { ...wangWithoutNumber, id: 'NL-WANG' } }, 'C');
    // Linking is debounced after indexing: wait until the three records are linked.
    const linksOf = async () =>
      (
        await system.runtime.db.pool.query<{ patient_pk: string; person_id: string; code: string }>(
          `SELECT pl.patient_pk::text, pl.person_id::text, i.code FROM person_links pl JOIN patients p ON p.id = pl.patient_pk JOIN institutions i ON i.id = p.institution_id`,
        )
      ).rows;
    let rows = await linksOf();
    for (let waited = 0; rows.length < 3 && waited < 100; waited++) {
      await system.runtime.queue.whenIdle();
      await new Promise((resolve) => setTimeout(resolve, 100));
      rows = await linksOf();
    }
    // Nanling's record carries no number: a person links it to Wang by hand.
    const wang = rows.find((row) => row.code === 'RD-A')!;
    const nanling = rows.find((row) => row.code === 'RD-C')!;
    const linked = await system.fetch(`${system.httpUrl}/api/person-links`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ patientPk: nanling.patient_pk, personId: wang.person_id, reason: '登记时未录入身份证号，经核对为同一人' }),
    });
    assert.equal(linked.status, 204, await linked.text());
  });
  after(() => system?.shutdown());

  it("shows a clinician at B with a purpose the same person's study at A, audited with the purpose; without a purpose only B's own", async () => {
    const withPurpose = await priorsOf('b-doctor', uids.b!, PURPOSE);
    const fromA = withPurpose.find((prior) => uidOf(prior) === uids.a);
    assert.ok(fromA, "A's study is a prior of B's");
    assert.deepEqual(fromA.institution, { id: institutions.A, name: '青石县人民医院' });
    assert.equal(fromA.otherInstitution, true);
    assert.equal(fromA.reportStatus, null);
    assert.equal(withPurpose.some((prior) => uidOf(prior) === uids.c), false, "C's manually linked record shares no identifier with B's: not visible to B");
    const audited = (await auditOf(`/api/studies/${uids.b}/priors`)).filter((event) => event.user_name === 'b-doctor');
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.purpose, PURPOSE);
    assert.deepEqual(audited[0]!.study_uids, [uids.b], 'the event names the study whose priors were listed');

    assert.deepEqual(await priorsOf('b-doctor', uids.b!), []);
  });

  it('shows a user of an unrelated institution nothing, with or without a purpose', async () => {
    for (const purpose of [undefined, PURPOSE]) {
      assert.equal((await call('d-doctor', `/api/studies/${uids.b}/priors`, { purpose })).status, 404);
      assert.equal((await call('d-doctor', `/api/studies/${uids.b}/recognition-decisions`, { purpose, json: { decision: 'recognised', order: { kind: 'text', value: '胸部CT' } } })).status, 404);
    }
  });

  it('matches a manually linked record of a third hospital, shown only where visibility allows', async () => {
    // The system administrator sees every institution: the manual link makes C's study match.
    const all = await system.fetch(`${system.httpUrl}/api/studies/${uids.b}/priors`);
    const everyone = ((await all.json()) as PriorEntry[]).map(uidOf);
    assert.ok(everyone.includes(uids.c!) && everyone.includes(uids.a!), 'A by identifier, C by the manual link');
    // Nanling's own doctor sees no other hospital's study through the manual link, even with a purpose.
    assert.deepEqual(await priorsOf('c-doctor', uids.c!, PURPOSE), []);
    // Nor does A's doctor see C's study: the person index widens what matches, never what is seen.
    const fromA = (await priorsOf('a-doctor', uids.a!, PURPOSE)).map(uidOf);
    assert.deepEqual(fromA, [uids.b]);
  });

  it('records a prior view once per user and day, only for another institution opened with a purpose', async () => {
    const first = await call('b-doctor', `/api/studies/${uids.a}/prior-views`, { method: 'POST', purpose: PURPOSE });
    assert.equal(first.status, 201);
    const again = await call('b-doctor', `/api/studies/${uids.a}/prior-views`, { method: 'POST', purpose: PURPOSE });
    assert.equal(again.status, 200);
    assert.equal((await call('b-doctor', `/api/studies/${uids.a}/prior-views`, { method: 'POST' })).status, 404, 'without a purpose A is not visible');
    assert.equal((await call('b-doctor', `/api/studies/${uids.b}/prior-views`, { method: 'POST', purpose: PURPOSE })).status, 400, "one's own study is no prior view");
    assert.equal((await call('b-qc', `/api/studies/${uids.b}/prior-views`, { method: 'POST', purpose: PURPOSE })).status, 403);
    const { rows } = await system.runtime.db.pool.query(
      'SELECT study_institution_id::text, viewing_institution_id::text, purpose, hr_mark, modality FROM prior_views WHERE study_pk = (SELECT id FROM studies WHERE study_instance_uid = $1)',
      [uids.a],
    );
    assert.deepEqual(rows, [{ study_institution_id: institutions.A, viewing_institution_id: institutions.B, purpose: PURPOSE, hr_mark: null, modality: 'OT' }]);
  });

  it('stores a decision with who, where, person and study from the session, audited; refuses a bad body with the reasons', async () => {
    const reasons = (await (await call('b-doctor', '/api/recognition/reasons')).json()) as ReasonChoice[];
    const judgement = reasons.find((reason) => reason.code === 'physician-judgement');
    assert.deepEqual(judgement, { code: 'physician-judgement', label: { zh: '诊治医师认为有必要再次检查', en: 'The physician judges a new examination necessary' }, requiresText: true });

    const decide = (json: unknown, purpose = PURPOSE) => call('b-doctor', `/api/studies/${uids.a}/recognition-decisions`, { purpose, json });
    const valid = { decision: 'not-recognised', reasonCode: 'condition-changed', patientInformed: true, order: { kind: 'accession-number', value: 'YX24120100001' } };
    for (const [body, pattern] of [
      [{ ...valid, reasonCode: 'no-such-reason' }, /reasonCode: not a reason of this region/],
      [{ ...valid, patientInformed: undefined }, /patientInformed/],
      [{ ...valid, decidedBy: 'someone else' }, /decidedBy|unrecognized/i],
      [{ ...valid, reasonCode: 'physician-judgement' }, /text: this reason needs an explanation/],
    ] as const) {
      const refused = await decide(body);
      assert.equal(refused.status, 400);
      assert.match(((await refused.json()) as { detail: string }).detail, pattern);
    }
    assert.equal((await decide(valid, '')).status, 404, 'without a purpose the study is not visible');

    const stored = await decide({ ...valid, text: '  咳嗽加重两周  ' });
    assert.equal(stored.status, 201);
    const decision = (await stored.json()) as RecognitionDecisionEntry;
    assert.equal(decision.decidingInstitutionId, institutions.B);
    assert.equal(decision.decidedByName, 'B 医生');
    assert.equal(decision.reasonText, '咳嗽加重两周');
    assert.deepEqual(decision.order, { kind: 'accession-number', value: 'YX24120100001' });

    const { rows } = await system.runtime.db.pool.query(
      `SELECT d.person_id = pl.person_id AS "samePerson", d.study_institution_id::text AS "studyInstitution", d.decision, d.reason_code AS "reasonCode", d.patient_informed AS "patientInformed", d.hr_mark AS "hrMark"
       FROM recognition_decisions d JOIN studies st ON st.id = d.study_pk JOIN person_links pl ON pl.patient_pk = st.patient_pk WHERE d.id = $1`,
      [decision.id],
    );
    assert.deepEqual(rows, [{ samePerson: true, studyInstitution: institutions.A, decision: 'not-recognised', reasonCode: 'condition-changed', patientInformed: true, hrMark: null }]);
    const audited = (await auditOf(`/api/studies/${uids.a}/recognition-decisions`)).filter((event) => event.detail.status === 201);
    assert.equal(audited.length, 1);
    assert.equal(audited[0]!.event_type, 'procedure-record');
    assert.equal(audited[0]!.purpose, PURPOSE);
    assert.equal(audited[0]!.detail.recognitionDecisionId, decision.id);
    assert.deepEqual(audited[0]!.study_uids, [uids.a]);

    const recognised = await decide({ decision: 'recognised', order: { kind: 'text', value: '复查胸部CT' } });
    assert.equal(recognised.status, 201);
  });

  it("gives the study's own institution every decision on its study as feedback, and others only their own", async () => {
    const feedback = (await (await call('a-doctor', `/api/studies/${uids.a}/recognition-decisions`)).json()) as RecognitionDecisionsAnswer;
    assert.deepEqual(feedback.studyInstitution, { id: institutions.A, name: '青石县人民医院' });
    assert.equal(feedback.otherInstitution, false);
    assert.deepEqual(
      feedback.decisions.map((decision) => [decision.decidingInstitutionName, decision.decision, decision.reasonCode]),
      [
        ['云溪县人民医院', 'not-recognised', 'condition-changed'],
        ['云溪县人民医院', 'recognised', null],
      ],
    );
    const own = (await (await call('b-doctor', `/api/studies/${uids.a}/recognition-decisions`, { purpose: PURPOSE })).json()) as RecognitionDecisionsAnswer;
    assert.equal(own.otherInstitution, true);
    assert.equal(own.decisions.length, 2);
    assert.ok(own.decisions.every((decision) => decision.decidingInstitutionId === institutions.B));
    // Nanling's doctor cannot see A's study at all.
    assert.equal((await call('c-doctor', `/api/studies/${uids.a}/recognition-decisions`, { purpose: PURPOSE })).status, 404);
  });
});
