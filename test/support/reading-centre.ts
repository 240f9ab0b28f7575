import assert from 'node:assert/strict';
import dcmjs from 'dcmjs';
import { COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
import type { Role } from '../../archive/access/policy.ts';
import type { DicomJsonDataset } from '../../archive/dicom/types.ts';
import type { Report } from '../../archive/reading/report.ts';
import type { Institution, Study } from '../../fixtures/model.ts';
import type { TestSystem } from './system.ts';

/**
 * The reading suites' networks and what they do there: the region of the report-output suites (PDF,
 * FHIR), where 青石县人民医院 sends, 清河市影像诊断中心 reads (a reader and a senior who verifies) and
 * 南岭县中医院 in another region sees none of it; the UPS-RS suites' network; the county studies and
 * the emergencies the worklist suites put on the centre's list.
 */
export const PATIENT = { id: 'QS-0001', issuer: 'QINGSHI', name: { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' } };
export const FINDINGS = '右肺上叶尖段见一磨玻璃结节，大小约8mm×6mm，边界清楚。纵隔内未见肿大淋巴结。';
export const IMPRESSION = '右肺上叶磨玻璃结节，建议3个月后复查胸部CT。';

const USERS: TestUser[] = [
  { username: 'rc-reader', displayName: '李明 Li Ming', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 'rc-senior', displayName: '张伟 Zhang Wei', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 'rc-admin', displayName: '中心管理员', role: 'institution_admin', institution: 'READING_CENTRE' },
  { username: 'qs-referrer', displayName: '赵磊 Zhao Lei', role: 'referring_doctor', institution: 'QINGSHI' },
  { username: 'qs-qc', displayName: '质控员', role: 'qc_staff', institution: 'QINGSHI' },
  { username: 'nl-radiologist', displayName: '孙丽 Sun Li', role: 'radiologist', institution: 'NANLING' },
];

const SMALL_CENTRE_USERS: TestUser[] = [
  { username: 'sc-reader', displayName: '王芳 Wang Fang', role: 'radiologist', institution: 'SMALL_CENTRE' },
  { username: 'sc-admin', displayName: '小中心管理员', role: 'institution_admin', institution: 'SMALL_CENTRE' },
];

let uidCounter = 0;
export const newUid = () => `2.25.${Date.now()}${process.pid}${++uidCounter}`;

/** A user the suites make, each with an API token; the display name is the user name unless given. */
export interface TestUser {
  username: string;
  displayName?: string;
  role: Role;
  institution: string;
}

/** fetch as a user by their API token (null: the test administrator); a JSON answer parsed. */
export type Call = <Body = unknown>(username: string | null, method: string, route: string, body?: unknown, headers?: Record<string, string>) => Promise<{ status: number; headers: Headers; json: Body; bytes: Buffer }>;

/** Regions, then institutions in them; the institutions' ids by code. */
async function network(
  system: TestSystem,
  regions: Parameters<TestSystem['administration']['createRegion']>[1][],
  institutions: Parameters<TestSystem['administration']['createInstitution']>[1][],
): Promise<Map<string, string>> {
  for (const region of regions) await system.administration.createRegion(COMMAND_LINE_ACTOR, region);
  const institutionIds = new Map<string, string>();
  for (const institution of institutions) institutionIds.set(institution.code, (await system.administration.createInstitution(COMMAND_LINE_ACTOR, institution)).id);
  return institutionIds;
}

/** The users, each with an API token labelled `label`: their ids and tokens by user name. */
async function usersWithTokens(system: TestSystem, users: readonly TestUser[], label: string, password?: string) {
  const userIds = new Map<string, string>();
  const tokens = new Map<string, string>();
  for (const { username, displayName = username, role, institution } of users) {
    userIds.set(username, (await system.administration.createUser(COMMAND_LINE_ACTOR, { username, displayName, role, institutionCode: institution, password })).id);
    tokens.set(username, (await system.administration.createToken(COMMAND_LINE_ACTOR, { username, label })).token);
  }
  return { userIds, tokens };
}

/** `Call` under `baseUrl`, a body sent as `contentType`, and `accept` asked for unless a call says otherwise. */
function callAs(system: TestSystem, tokens: Map<string, string>, baseUrl: string, contentType: string, accept?: string): Call {
  return async (username, method, route, body, headers = {}) => {
    const sent = new Headers({ ...(accept ? { accept } : {}), authorization: `Bearer ${username ? tokens.get(username) : system.adminToken}`, ...headers });
    if (body !== undefined) sent.set('content-type', contentType);
    const response = await fetch(`${baseUrl}${route}`, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
    const bytes = Buffer.from(await response.arrayBuffer());
    const type = response.headers.get('content-type') ?? '';
    return { status: response.status, headers: response.headers, json: (/json/.test(type) && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined) as never, bytes };
  };
}

/**
 * A client of the running system's API and DICOMweb (paths from the root) that asks for JSON, acting
 * as the user named (their token in `tokens`, read at each call) or, for null, the administrator.
 */
export function jsonApi(system: TestSystem, tokens: Map<string, string>): Call {
  return callAs(system, tokens, system.httpUrl, 'application/json', 'application/json, application/dicom+json');
}

/**
 * The UPS-RS suites' network: 青石县人民医院 in 青石区 of 清河市, 南岭县中医院 in a county elsewhere, and
 * the city's reading centre, which sees the city's hospitals; the users there with their tokens, and
 * a DICOMweb client (paths under /dicom-web) acting as any of them.
 */
export async function upsNetwork(system: TestSystem, users: readonly TestUser[], label: string, password?: string): Promise<{ tokens: Map<string, string>; call: Call }> {
  await network(
    system,
    [
      { code: 'QINGHE', name: '清河市', level: 'city' },
      { code: 'QINGSHI_DISTRICT', name: '青石区', level: 'district', parentCode: 'QINGHE' },
      { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' },
    ],
    [
      { code: 'QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'QINGSHI_DISTRICT' },
      { code: 'NANLING', name: '南岭县中医院', kind: 'hospital', regionCode: 'NANLING_COUNTY' },
      { code: 'READING_CENTRE', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'QINGHE' },
    ],
  );
  const { tokens } = await usersWithTokens(system, users, label, password);
  return { tokens, call: callAs(system, tokens, system.dicomWebUrl, 'application/dicom+json', 'application/dicom+json') };
}

/** A chest CT reading as a workitem: the patient, a priority, when, what; `overrides` add or replace attributes. */
export function upsWorkitem(overrides: DicomJsonDataset = {}): DicomJsonDataset {
  return {
    '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }] },
    '00100020': { vr: 'LO', Value: ['QS-0001'] },
    '00741200': { vr: 'CS', Value: ['MEDIUM'] },
    '00404005': { vr: 'DT', Value: ['20261205093000'] },
    '00741204': { vr: 'LO', Value: ['胸部CT诊断 Chest CT reading'] },
    ...overrides,
  };
}
/** A performer's Performed Procedure Step start and end, which completing a workitem needs. */
export const PERFORMED = { '00741216': { vr: 'SQ', Value: [{ '00404050': { vr: 'DT', Value: ['20261205100000'] }, '00404051': { vr: 'DT', Value: ['20261205102000'] } }] } };

/** 青石县人民医院 as fixtures/model.ts describes a sender. */
const QINGSHI_SENDER: Institution = { name: '青石县人民医院', code: 'QINGSHI', address: '青石路1号', patientIdIssuer: 'QINGSHI', characterSet: 'ISO_IR 192' };

/** A chest CT 青石县人民医院 sends, for fixtures/modalities.ts's makeCtSeries. */
export function qingshiChestCt(patient: Study['patient'], accessionNumber: string): Study {
  return { institution: QINGSHI_SENDER, patient, accessionNumber, date: '20261205', time: '100000', description: '胸部CT平扫', referringPhysicianName: '' };
}

/** A DT value `minutes` ago, in UTC as Yingyun writes scheduled starts. */
const minutesAgo = (minutes: number) => `${new Date(Date.now() - minutes * 60_000).toISOString().replace(/[-:T]/g, '').slice(0, 14)}+0000`;

/**
 * Emergency CT readings a hospital's RIS asks of the centre `centreCode` through UPS-RS with `token`,
 * each scheduled the given minutes ago (an emergency's limit is an hour: three hours show red, fifty
 * minutes amber).
 */
export async function askEmergencies(system: TestSystem, token: string, centreCode: string, waits: readonly (readonly [patientId: string, minutes: number])[]): Promise<void> {
  for (const [patientId, minutes] of waits) {
    const task: DicomJsonDataset = {
      '00100010': { vr: 'PN', Value: [{ Alphabetic: 'Liu^Yang', Ideographic: '刘^洋' }] },
      '00100020': { vr: 'LO', Value: [patientId] },
      '00741200': { vr: 'CS', Value: ['HIGH'] },
      '00404005': { vr: 'DT', Value: [minutesAgo(minutes)] },
      '00404041': { vr: 'CS', Value: ['READY'] },
      '00404025': { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: [centreCode] }, '00080102': { vr: 'SH', Value: ['99YINGYUN'] }, '00080104': { vr: 'LO', Value: ['清河市影像诊断中心'] } }] },
      '0040A370': { vr: 'SQ', Value: [{ '0020000D': { vr: 'UI', Value: [`1.2.826.0.1.3680043.8.498.88${minutes}`] }, '00401002': { vr: 'LO', Value: ['排除颅内出血'] } }] },
      '00080060': { vr: 'CS', Value: ['CT'] },
      '00380300': { vr: 'LO', Value: ['emergency'] },
      '00080080': { vr: 'LO', Value: ['青石县人民医院'] },
    };
    const created = await fetch(`${system.dicomWebUrl}/workitems`, { method: 'POST', headers: { authorization: `Bearer ${token}`, 'content-type': 'application/dicom+json' }, body: JSON.stringify(task) });
    assert.equal(created.status, 201, await created.text());
  }
}

export interface ReadingCentre {
  institutionIds: Map<string, string>;
  /** The users' ids and API tokens by user name. */
  userIds: Map<string, string>;
  tokens: Map<string, string>;
  call: Call;
  /** A new study of the patient at 青石县人民医院: `series` CT series of one small image each. */
  countyStudy(series?: number): Promise<string>;
  /** Opens the study's report, types FINDINGS and IMPRESSION, and signs the 初诊 as rc-reader. */
  signPreliminary(study: string): Promise<Report>;
  /** Signs the 审核 as rc-senior (after signPreliminary). */
  signFinal(study: string): Promise<Report>;
  /** Amends the final report as rc-senior, with a reason. */
  amend(study: string, impression: string, reason: string): Promise<Report>;
}

/**
 * `oneLevelCentre` adds a second centre of the city, 清河市第二影像中心, that signs in one level, with its
 * administrator (sc-admin) and a reader who may verify (sc-reader): the reports suite signs there too.
 */
export async function readingCentre(system: TestSystem, options: { oneLevelCentre?: boolean } = {}): Promise<ReadingCentre> {
  const institutionIds = await network(
    system,
    [
      { code: 'QINGHE', name: '清河市', level: 'city' },
      { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' },
    ],
    [
      { code: 'QINGSHI', name: '青石县人民医院', kind: 'hospital', regionCode: 'QINGHE' },
      { code: 'NANLING', name: '南岭县中医院', kind: 'hospital', regionCode: 'NANLING_COUNTY' },
      { code: 'READING_CENTRE', name: '清河市影像诊断中心', kind: 'reading_centre', regionCode: 'QINGHE' },
      ...(options.oneLevelCentre ? [{ code: 'SMALL_CENTRE', name: '清河市第二影像中心', kind: 'reading_centre' as const, regionCode: 'QINGHE' }] : []),
    ],
  );
  const { userIds, tokens } = await usersWithTokens(system, options.oneLevelCentre ? [...USERS, ...SMALL_CENTRE_USERS] : USERS, 'report outputs');
  const call = callAs(system, tokens, system.httpUrl, 'application/json');
  const setReader = async (administrator: string, username: string, professionalTitle: string, licenceNumber: string, mayVerifyReports: boolean) => {
    const response = await call(administrator, 'PUT', `/api/report-readers/${userIds.get(username)}`, { professionalTitle, licenceNumber, mayVerifyReports });
    assert.equal(response.status, 204);
  };
  await setReader('rc-admin', 'rc-reader', '住院医师', '110100000001', false);
  await setReader('rc-admin', 'rc-senior', '主任医师', '110100000002', true);
  if (options.oneLevelCentre) {
    await setReader('sc-admin', 'sc-reader', '副主任医师', '110100000003', true);
    assert.equal((await call('sc-admin', 'PUT', '/api/report-settings', { signingLevels: 1 })).status, 200);
  }

  const sign = async (username: string, study: string, body: Record<string, unknown>) => {
    const current = await call<Report>(username, 'GET', `/api/studies/${study}/report`);
    const signed = await call<Report>(username, 'POST', `/api/studies/${study}/report/signatures`, { ...body, revision: current.json.draftRevision });
    assert.equal(signed.status, 201, JSON.stringify(signed.json));
    return signed.json;
  };

  return {
    institutionIds,
    userIds,
    tokens,
    call,
    async countyStudy(series = 1) {
      const study = newUid();
      for (let number = 1; number <= series; number++) {
        await system.runtime.ingest.ingest({ part10: countyImage(study, number) }, { via: 'import', name: 'county-ct', institutionId: institutionIds.get('QINGSHI')! });
      }
      await system.runtime.queue.whenIdle();
      return study;
    },
    async signPreliminary(study) {
      const opened = await call<Report>('rc-reader', 'POST', `/api/studies/${study}/report`, {});
      assert.equal(opened.status, 200, JSON.stringify(opened.json));
      const saved = await call('rc-reader', 'PUT', `/api/studies/${study}/report/draft`, { content: { findings: FINDINGS, impression: IMPRESSION }, revision: opened.json.draftRevision });
      assert.equal(saved.status, 200, JSON.stringify(saved.json));
      return sign('rc-reader', study, { role: 'preliminary' });
    },
    signFinal: (study) => sign('rc-senior', study, { role: 'final' }),
    async amend(study, impression, reason) {
      const current = await call<Report>('rc-senior', 'GET', `/api/studies/${study}/report`);
      const saved = await call('rc-senior', 'PUT', `/api/studies/${study}/report/draft`, { content: { ...current.json.draft, impression }, revision: current.json.draftRevision });
      assert.equal(saved.status, 200, JSON.stringify(saved.json));
      return sign('rc-senior', study, { role: 'amendment', reason });
    },
  };
}

/** One 16×16 CT image of PATIENT at 青石县人民医院, with a gradient to draw, in a series of its own. */
export function countyImage(studyInstanceUid: string, seriesNumber = 1, seriesInstanceUid = newUid()): Buffer {
  const sopInstanceUid = newUid();
  const pixels = new Uint8Array(16 * 16).map((_value, index) => (index * 7) % 256);
  const dictionary = new dcmjs.data.DicomDict({
    '00020001': { vr: 'OB', Value: [new Uint8Array([0, 1]).buffer] },
    '00020002': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00020003': { vr: 'UI', Value: [sopInstanceUid] },
    '00020010': { vr: 'UI', Value: ['1.2.840.10008.1.2.1'] },
  });
  dictionary.dict = {
    '00080005': { vr: 'CS', Value: ['ISO_IR 192'] },
    '00080016': { vr: 'UI', Value: ['1.2.840.10008.5.1.4.1.1.7'] },
    '00080018': { vr: 'UI', Value: [sopInstanceUid] },
    '00080020': { vr: 'DA', Value: ['20261205'] },
    '00080030': { vr: 'TM', Value: ['093000'] },
    '00080050': { vr: 'SH', Value: [`ACC${uidCounter}`] },
    '00080060': { vr: 'CS', Value: ['CT'] },
    '00080090': { vr: 'PN', Value: [{ Alphabetic: 'Zhao^Lei', Ideographic: '赵^磊' }] },
    '00080201': { vr: 'SH', Value: ['+0800'] },
    '00081030': { vr: 'LO', Value: ['胸部CT平扫'] },
    '0008103E': { vr: 'LO', Value: [`序列 ${seriesNumber}`] },
    '00100010': { vr: 'PN', Value: [PATIENT.name] },
    '00100020': { vr: 'LO', Value: [PATIENT.id] },
    '00100021': { vr: 'LO', Value: [PATIENT.issuer] },
    '00100030': { vr: 'DA', Value: ['19700101'] },
    '00100040': { vr: 'CS', Value: ['M'] },
    '00180015': { vr: 'CS', Value: ['CHEST'] },
    '0020000D': { vr: 'UI', Value: [studyInstanceUid] },
    '0020000E': { vr: 'UI', Value: [seriesInstanceUid] },
    '00200010': { vr: 'SH', Value: ['1'] },
    '00200011': { vr: 'IS', Value: [seriesNumber] },
    '00200013': { vr: 'IS', Value: [1] },
    '00280002': { vr: 'US', Value: [1] },
    '00280004': { vr: 'CS', Value: ['MONOCHROME2'] },
    '00280010': { vr: 'US', Value: [16] },
    '00280011': { vr: 'US', Value: [16] },
    '00280100': { vr: 'US', Value: [8] },
    '00280101': { vr: 'US', Value: [8] },
    '00280102': { vr: 'US', Value: [7] },
    '00280103': { vr: 'US', Value: [0] },
    '7FE00010': { vr: 'OB', Value: [pixels.buffer] },
  };
  return Buffer.from(dictionary.write());
}
