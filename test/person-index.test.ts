import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { PERSON_KEYS_FILE } from '../archive/person/person-keys.ts';
import { makeSecondaryCaptures, PATIENTS, STUDIES, type Study } from '../fixtures/generate.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const WANG_ID = PATIENTS.wangAtQingshi.nationalId;
/** Wang's number with its last digit changed: the check character no longer matches. */
const WANG_ID_WRONG_CHECK = `${WANG_ID.slice(0, 16)}${(Number(WANG_ID[16]) + 1) % 10}${WANG_ID[17]}`;

describe('person index: patient records of several hospitals linked as one person', () => {
  let system: TestSystem;
  const institutions: Record<string, string> = {};
  const patientPkOf = async (institution: string, patientId: string) => {
    const { rows } = await system.runtime.db.pool.query<{ id: string }>('SELECT id::text FROM patients WHERE institution_id = $1 AND patient_id = $2', [institutions[institution], patientId]);
    assert.equal(rows.length, 1, `one record of ${patientId} at ${institution}`);
    return rows[0]!.id;
  };
  const personOf = async (patientPk: string) => {
    const { rows } = await system.runtime.db.pool.query<{ person_id: string; method: string; shared_kinds: string[] }>(
      'SELECT person_id::text, method, shared_kinds FROM person_links WHERE patient_pk = $1',
      [patientPk],
    );
    return rows[0];
  };

  const tokens = new Map<string, string>();
  const call = (username: string, path: string, init: RequestInit = {}) => {
    const headers = new Headers(init.headers);
    headers.set('authorization', `Bearer ${tokens.get(username)}`);
    return system.fetch(`${system.httpUrl}${path}`, { ...init, headers });
  };
  const ingestStudy = async (study: Study, institution: string) => {
    const [instance] = [...makeSecondaryCaptures({ study, count: 1, seriesNumber: 80 })];
    await system.runtime.ingest.ingest({ part10: instance!.bytes }, { via: 'import', name: 'person-index', institutionId: institutions[institution]! });
  };

  before(async () => {
    system = await startTestSystem();
    for (const [code, name] of [['QINGSHI', '青石县人民医院'], ['YUNXI', '云溪镇卫生院'], ['NANLING', '南岭县中医院']] as const) {
      institutions[code] = (await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind: 'hospital' })).id;
    }
    for (const [username, role, institutionCode] of [
      ['qingshi-doctor', 'radiologist', 'QINGSHI'],
      ['nanling-doctor', 'radiologist', 'NANLING'],
      ['nanling-admin', 'institution_admin', 'NANLING'],
      ['yunxi-admin', 'institution_admin', 'YUNXI'],
    ] as const) {
      await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode });
      tokens.set(username, (await system.administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'person-index' })).token);
    }
    await ingestStudy(STUDIES.wangPriorCt, 'QINGSHI');
    await ingestStudy(STUDIES.wangCurrentCt, 'YUNXI');
    // Wang again at a third hospital whose registration mistyped one digit of his number.
    await ingestStudy({ ...STUDIES.wangCurrentCt, institution: { ...STUDIES.wangCurrentCt.institution }, accessionNumber: 'NL0001', patient: { ...PATIENTS.wangAtYunxi, id: 'NL-WANG', nationalId: WANG_ID_WRONG_CHECK } }, 'NANLING');
    // Li Ji at Qingshi with her number, and at Nanling with none: only the name, birth date and sex agree.
    await ingestStudy(STUDIES.liJiCr, 'QINGSHI');
    const { nationalId: _withoutNumber, ...liJiWithoutNumber } = PATIENTS.liJi;
    await ingestStudy({ ...STUDIES.liJiCr, accessionNumber: 'NL0002', patient: { ...liJiWithoutNumber, id: 'NL-LIJI' } }, 'NANLING');
    await system.runtime.queue.whenIdle();
  });
  after(() => system?.shutdown());

  it('links the same man at two hospitals by his resident ID number once both are stored', async () => {
    const atQingshi = await personOf(await patientPkOf('QINGSHI', PATIENTS.wangAtQingshi.id));
    const atYunxi = await personOf(await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id));
    assert.ok(atQingshi && atYunxi);
    assert.equal(atYunxi.person_id, atQingshi.person_id);
    assert.equal(atYunxi.method, 'automatic');
    assert.deepEqual([...atQingshi.shared_kinds, ...atYunxi.shared_kinds], ['resident-id']);
  });

  it('never links on a number with a wrong check digit, and keeps no identifier of it', async () => {
    const mistyped = await patientPkOf('NANLING', 'NL-WANG');
    const wang = await personOf(await patientPkOf('QINGSHI', PATIENTS.wangAtQingshi.id));
    const link = await personOf(mistyped);
    assert.ok(link, 'the record is a person of its own');
    assert.notEqual(link.person_id, wang!.person_id);
    const { rows } = await system.runtime.db.pool.query('SELECT 1 FROM person_identifiers WHERE patient_pk = $1', [mistyped]);
    assert.equal(rows.length, 0);
  });

  it('only suggests a weak match (same name, birth date and sex, no identifier)', async () => {
    const withNumber = await patientPkOf('QINGSHI', PATIENTS.liJi.id);
    const withoutNumber = await patientPkOf('NANLING', 'NL-LIJI');
    assert.notEqual((await personOf(withNumber))!.person_id, (await personOf(withoutNumber))!.person_id);
    const suggestions = await system.runtime.persons.openSuggestions(COMMAND_LINE_ACTOR);
    const pair = suggestions.find((suggestion) => [suggestion.patientPk, suggestion.otherPatientPk].sort().join() === [withNumber, withoutNumber].sort().join());
    assert.ok(pair, 'a suggestion for the pair');
    assert.equal(pair.reason, 'same-name-birth-date-sex');
    // Scoped to a hospital that holds neither record, the queue does not show it.
    const queueOf = async (username: string) => (await call(username, '/api/person-suggestions')).json() as Promise<{ id: string }[]>;
    assert.equal((await queueOf('yunxi-admin')).some((suggestion) => suggestion.id === pair.id), false);
    assert.equal((await queueOf('nanling-admin')).some((suggestion) => suggestion.id === pair.id), true);
  });

  it('stores no plain ID number: the identifier rows hold a keyed hash and a sealed value', async () => {
    const { rows } = await system.runtime.db.pool.query<{ row: string }>('SELECT row_to_json(i)::text AS row FROM person_identifiers i');
    assert.ok(rows.length >= 3, 'Wang twice and Li Ji once');
    for (const { row } of rows) {
      assert.equal(row.includes(WANG_ID), false);
    }
    const { rows: raw } = await system.runtime.db.pool.query<{ bytes: Buffer }>('SELECT match_hash || sealed_value AS bytes FROM person_identifiers');
    for (const { bytes } of raw) assert.equal(bytes.includes(Buffer.from(WANG_ID, 'latin1')), false);
    // The keys are not in the database but in the data folder, readable by this user only.
    const stat = await fs.stat(path.join(system.runtime.config.dataDir, PERSON_KEYS_FILE));
    assert.equal(stat.mode & 0o777, 0o600);
  });

  it('finds the person by ID number for a caller who may see its records, and nothing for another hospital', async () => {
    const lookup = async (username: string, number: string) => {
      const response = await call(username, `/api/persons?identifier=${encodeURIComponent(`resident-id:${number}`)}`);
      return { status: response.status, body: (await response.json()) as { personId: string; studies: { studyInstanceUid: string; institutionId: string }[] }[] };
    };
    const atQingshi = await lookup('qingshi-doctor', WANG_ID);
    assert.equal(atQingshi.status, 200);
    assert.equal(atQingshi.body.length, 1);
    // Without a stated purpose, only the caller's own hospital's study: the index widens no one's view.
    assert.deepEqual(atQingshi.body[0]!.studies.map((study) => study.institutionId), [institutions.QINGSHI]);
    const person = await call('qingshi-doctor', `/api/persons/${atQingshi.body[0]!.personId}`);
    assert.equal(person.status, 200);
    const page = (await person.json()) as { studies: unknown[]; identifiers: { kind: string; issuer: string; value: string }[] };
    assert.deepEqual(page.studies.length, 1);
    // A radiologist, entitled to the patient's identity, reads the number opened from its sealed value.
    assert.deepEqual(page.identifiers.map((identifier) => [identifier.kind, identifier.value]), [['resident-id', WANG_ID]]);

    assert.deepEqual(await lookup('nanling-doctor', WANG_ID), { status: 200, body: [] });
    assert.equal((await call('nanling-doctor', `/api/persons/${atQingshi.body[0]!.personId}`)).status, 404);
    assert.equal((await lookup('qingshi-doctor', WANG_ID_WRONG_CHECK)).status, 400);
    // The lookup is audited without the number it looked up.
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ row: string }>("SELECT row_to_json(a)::text AS row FROM audit_events a WHERE detail->>'route' = '/api/persons'");
    assert.ok(rows.length >= 2);
    for (const { row } of rows) assert.equal(row.includes(WANG_ID), false);
    // Nor does the person page's event name the number it showed: only its kind.
    const shown = await system.runtime.db.pool.query<{ row: string }>("SELECT row_to_json(a)::text AS row FROM audit_events a WHERE detail ? 'identifiersShown'");
    assert.ok(shown.rows.length >= 1);
    for (const { row } of shown.rows) assert.equal(row.includes(WANG_ID), false);
  });

  it('lets an institution administrator unlink only records of their own institution', async () => {
    const atYunxi = await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id);
    const response = await call('nanling-admin', '/api/person-unlinks', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ patientPk: atYunxi, reason: '试图越权' }) });
    assert.equal(response.status, 404);
    const rules = await call('nanling-admin', `/api/admin/institutions/${institutions.YUNXI}/identifier-rules`);
    assert.equal(rules.status, 403);
  });

  it('re-links an institution when its identifier rules change', async () => {
    // Nanling's PACS writes the number as Patient ID after the prefix SFZ.
    const { nationalId: _unused, ...tao } = PATIENTS.taoZhe;
    await ingestStudy({ ...STUDIES.taoDx, accessionNumber: 'NL0003', patient: { ...tao, id: `SFZ${PATIENTS.wangAtQingshi.nationalId}`, name: PATIENTS.wangAtQingshi.name, birthDate: PATIENTS.wangAtQingshi.birthDate, sex: 'M' } }, 'NANLING');
    await system.runtime.queue.whenIdle();
    const record = await patientPkOf('NANLING', `SFZ${WANG_ID}`);
    const wang = (await personOf(await patientPkOf('QINGSHI', PATIENTS.wangAtQingshi.id)))!.person_id;
    assert.notEqual((await personOf(record))!.person_id, wang, 'no rule yet: the Patient ID is the hospital\'s own number');
    const put = await call('nanling-admin', `/api/admin/institutions/${institutions.NANLING}/identifier-rules`, {
      method: 'PUT',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify([{ source: 'patient-id', kind: 'resident-id', prefix: 'SFZ' }]),
    });
    assert.equal(put.status, 200);
    const invalid = await call('nanling-admin', `/api/admin/institutions/${institutions.NANLING}/identifier-rules`, { method: 'PUT', headers: { 'content-type': 'application/json' }, body: JSON.stringify([{ source: 'patient-id', kind: 'health-card' }]) });
    assert.equal(invalid.status, 400);
    await system.runtime.queue.whenIdle();
    assert.deepEqual(await personOf(record), { person_id: wang, method: 'automatic', shared_kinds: ['resident-id'] });
  });

  it('unlinks manually with a reason, audits it, and the linking job does not undo it', async () => {
    const atYunxi = await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id);
    const before = (await personOf(atYunxi))!.person_id;
    const actor = { username: 'mpi-reviewer', role: 'system_admin' as const, institutionId: null };
    const personId = await system.runtime.persons.unlink(actor, atYunxi, '登记错误 registration error');
    assert.notEqual(personId, before);
    assert.deepEqual(await personOf(atYunxi), { person_id: personId, method: 'manual', shared_kinds: [] });
    assert.deepEqual(await system.runtime.persons.linkPatient(atYunxi), { outcome: 'manual-link-kept', personId });
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ user_name: string; detail: Record<string, unknown> }>(
      "SELECT user_name, detail FROM audit_events WHERE event_type = 'admin-change' AND detail->>'change' = 'person-unlink'",
    );
    assert.equal(rows.length, 1);
    assert.equal(rows[0]!.user_name, 'mpi-reviewer');
    assert.deepEqual(rows[0]!.detail, { change: 'person-unlink', patientPk: atYunxi, formerPersonId: before, personId, reason: '登记错误 registration error' });
  });

  const post = (username: string, path: string, body: unknown) => call(username, path, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  const liJiSuggestion = async () => {
    const pair = [await patientPkOf('QINGSHI', PATIENTS.liJi.id), await patientPkOf('NANLING', 'NL-LIJI')];
    const { rows } = await system.runtime.db.pool.query<{ id: string; status: string }>(
      'SELECT id::text, status FROM person_link_suggestions WHERE ARRAY[patient_pk, other_patient_pk] <@ $1::bigint[]',
      [pair],
    );
    assert.equal(rows.length, 1);
    return rows[0]!;
  };
  const auditedChange = async (change: string) => {
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ user_name: string; detail: Record<string, unknown> }>("SELECT user_name, detail FROM audit_events WHERE event_type = 'admin-change' AND detail->>'change' = $1", [change]);
    return rows;
  };

  it("refuses another institution's administrator a merge or a dismissal of records not theirs", async () => {
    const atYunxi = (await personOf(await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id)))!.person_id;
    const wang = (await personOf(await patientPkOf('QINGSHI', PATIENTS.wangAtQingshi.id)))!.person_id;
    assert.equal((await post('nanling-admin', '/api/person-merges', { intoPersonId: wang, fromPersonId: atYunxi, reason: '试图越权' })).status, 404);
    assert.equal((await personOf(await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id)))!.person_id, atYunxi);
    const suggestion = await liJiSuggestion();
    assert.equal((await post('yunxi-admin', `/api/person-suggestions/${suggestion.id}/dismissal`, { reason: '试图越权' })).status, 404);
    assert.equal((await liJiSuggestion()).status, 'open');
    assert.equal((await post('nanling-admin', '/api/person-suggestions/x/dismissal', { reason: '不是编号' })).status, 400);
    assert.deepEqual(await auditedChange('person-merge'), []);
    assert.deepEqual(await auditedChange('person-suggestion-dismissed'), []);
  });

  it('merges two persons over HTTP: the records move to one person, and the merge is audited', async () => {
    const atYunxi = await patientPkOf('YUNXI', PATIENTS.wangAtYunxi.id);
    const fromPersonId = (await personOf(atYunxi))!.person_id;
    const intoPersonId = (await personOf(await patientPkOf('QINGSHI', PATIENTS.wangAtQingshi.id)))!.person_id;
    const response = await post('yunxi-admin', '/api/person-merges', { intoPersonId, fromPersonId, reason: '同一人 same man' });
    assert.equal(response.status, 204);
    assert.deepEqual(await personOf(atYunxi), { person_id: intoPersonId, method: 'manual', shared_kinds: [] });
    assert.deepEqual(await system.runtime.db.pool.query('SELECT 1 FROM person_links WHERE person_id = $1', [fromPersonId]).then(({ rows }) => rows), []);
    assert.deepEqual(await auditedChange('person-merge'), [{ user_name: 'yunxi-admin', detail: { change: 'person-merge', intoPersonId, fromPersonId, patientPks: [atYunxi], reason: '同一人 same man' } }]);
  });

  it('dismisses a suggestion over HTTP: it is closed, leaves the queue, and is audited', async () => {
    const { id } = await liJiSuggestion();
    assert.equal((await post('nanling-admin', `/api/person-suggestions/${id}/dismissal`, { reason: '不同的人 different women' })).status, 204);
    assert.equal((await liJiSuggestion()).status, 'dismissed');
    const queue = (await (await call('nanling-admin', '/api/person-suggestions')).json()) as { id: string }[];
    assert.equal(queue.some((suggestion) => suggestion.id === id), false);
    assert.equal((await post('nanling-admin', `/api/person-suggestions/${id}/dismissal`, { reason: '再次' })).status, 404, 'only an open suggestion is dismissed');
    assert.deepEqual(await auditedChange('person-suggestion-dismissed'), [{ user_name: 'nanling-admin', detail: { change: 'person-suggestion-dismissed', suggestionId: id, reason: '不同的人 different women' } }]);
  });
});
