import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import type { ReadingCentre } from '../archive/reading/reading-wire.ts';
import { makeCtSeries } from '../fixtures/modalities.ts';
import { jsonApi, qingshiChestCt, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Which reading centres a hospital may send a request to (GET /api/reading/centres, the request
 * form's choice), against the running system. The network: 青石县人民医院 in 清河市, covered by the
 * city's centre and by the province's above it; 南岭县中医院 in a county outside the province, whose
 * own centre reads nothing of 清河.
 */
const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'qs-doctor', role: 'referring_doctor', institution: 'QINGSHI' },
  { username: 'qs-qc', role: 'qc_staff', institution: 'QINGSHI' },
  { username: 'nl-doctor', role: 'referring_doctor', institution: 'NANLING' },
];

describe('the reading centres a hospital may ask', () => {
  let system: TestSystem;
  const tokens = new Map<string, string>();
  const ids: Record<string, string> = {};
  let studyInstanceUid: string;

  let api: Call;
  const codes = (centres: unknown) => (centres as ReadingCentre[]).map((centre) => centre.code).sort();
  /** How many workitems are scheduled on a centre's station, as UPS-RS finds them. */
  const tasksAt = async (centreCode: string) => {
    const found = await api(null, 'GET', `/dicom-web/workitems?ScheduledStationNameCodeSequence.CodeValue=${centreCode}`);
    assert.ok(found.status === 200 || found.status === 204, JSON.stringify(found.json));
    return ((found.json ?? []) as unknown[]).length;
  };

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    const { administration } = system;
    for (const region of [
      { code: 'PROVINCE', name: '本省', level: 'province' as const },
      { code: 'QINGHE', name: '清河市', level: 'city' as const, parentCode: 'PROVINCE' },
      { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' as const },
    ]) {
      await administration.createRegion(COMMAND_LINE_ACTOR, region);
    }
    for (const [code, name, kind, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'hospital', 'QINGHE'],
      ['NANLING', '南岭县中医院', 'hospital', 'NANLING_COUNTY'],
      ['CITY_CENTRE', '清河市影像诊断中心', 'reading_centre', 'QINGHE'],
      ['PROVINCE_CENTRE', '省远程影像诊断中心', 'reading_centre', 'PROVINCE'],
      ['NANLING_CENTRE', '南岭县影像中心', 'reading_centre', 'NANLING_COUNTY'],
    ] as const) {
      ids[code] = (await administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind, regionCode })).id;
    }
    for (const { username, role, institution } of USERS) {
      await administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution });
      tokens.set(username, (await administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'reading-centres' })).token);
    }
    const instances = [...makeCtSeries({ study: qingshiChestCt({ name: 'Zhang^Wei', id: 'QS-2001', birthDate: '19700101', sex: 'M' }, 'ACC-CENTRES'), slices: 1, rows: 32, columns: 32 })];
    for (const instance of instances) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'reading-centres', institutionId: ids.QINGSHI! });
    await system.runtime.queue.whenIdle();
    studyInstanceUid = instances[0]!.description.studyInstanceUid;
  });
  after(async () => {
    await system?.shutdown();
  });

  it("lists the centres whose region covers the caller's hospital, never another region's", async () => {
    const qingshi = await api('qs-doctor', 'GET', '/api/reading/centres');
    assert.equal(qingshi.status, 200, JSON.stringify(qingshi.json));
    assert.deepEqual(codes(qingshi.json), ['CITY_CENTRE', 'PROVINCE_CENTRE']);
    assert.deepEqual(
      (qingshi.json as ReadingCentre[]).find((centre) => centre.code === 'CITY_CENTRE'),
      { id: ids.CITY_CENTRE, code: 'CITY_CENTRE', name: '清河市影像诊断中心' },
    );
    const nanling = await api('nl-doctor', 'GET', '/api/reading/centres');
    assert.deepEqual(codes(nanling.json), ['NANLING_CENTRE'], 'the province does not reach a county outside it');
    assert.equal((await api('qs-qc', 'GET', '/api/reading/centres')).status, 403, 'only those who may request reading ask');
    assert.deepEqual((await api(null, 'GET', '/api/reading/centres')).json, [], 'a system administrator belongs to no hospital');
  });

  it('refuses a request that names no centre when two cover the hospital, or names another region’s centre; takes one naming a listed centre', async () => {
    const request = { studyInstanceUid, clinicalQuestion: '排除肺炎', orderingDoctor: '赵医生', patientClass: 'outpatient' };
    const unnamed = await api('qs-doctor', 'POST', '/api/reading/requests', request);
    assert.equal(unnamed.status, 400, JSON.stringify(unnamed.json));
    assert.match((unnamed.json as { detail: string }).detail, /name one/);

    const elsewhere = await api('qs-doctor', 'POST', '/api/reading/requests', { ...request, readingCentreId: ids.NANLING_CENTRE });
    assert.equal(elsewhere.status, 400, JSON.stringify(elsewhere.json));
    assert.match((elsewhere.json as { detail: string }).detail, /does not cover this hospital's region/);
    assert.equal(await tasksAt('NANLING_CENTRE'), 0, 'the refused request made no task there');

    const named = await api('qs-doctor', 'POST', '/api/reading/requests', { ...request, readingCentreId: ids.PROVINCE_CENTRE });
    assert.equal(named.status, 201, JSON.stringify(named.json));
    assert.equal(await tasksAt('PROVINCE_CENTRE'), 1);
    assert.equal(await tasksAt('CITY_CENTRE'), 0, 'the centre not chosen gets nothing');
  });
});
