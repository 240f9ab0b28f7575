import assert from 'node:assert/strict';
import dcmjs from 'dcmjs';
import { COMMAND_LINE_ACTOR } from '../../archive/access/administration.ts';
import type { Role } from '../../archive/access/policy.ts';
import type { Report } from '../../archive/reading/report.ts';
import type { TestSystem } from './system.ts';

/**
 * A region for the report-output suites (PDF, FHIR): 青石县人民医院 sends, 清河市影像诊断中心 reads
 * (a reader and a senior who verifies), and 南岭县中医院 in another region sees none of it.
 */
export const PATIENT = { id: 'QS-0001', issuer: 'QINGSHI', name: { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' } };
export const FINDINGS = '右肺上叶尖段见一磨玻璃结节，大小约8mm×6mm，边界清楚。纵隔内未见肿大淋巴结。';
export const IMPRESSION = '右肺上叶磨玻璃结节，建议3个月后复查胸部CT。';

const USERS: { username: string; displayName: string; role: Role; institution: string }[] = [
  { username: 'rc-reader', displayName: '李明 Li Ming', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 'rc-senior', displayName: '张伟 Zhang Wei', role: 'radiologist', institution: 'READING_CENTRE' },
  { username: 'rc-admin', displayName: '中心管理员', role: 'institution_admin', institution: 'READING_CENTRE' },
  { username: 'qs-referrer', displayName: '赵磊 Zhao Lei', role: 'referring_doctor', institution: 'QINGSHI' },
  { username: 'qs-qc', displayName: '质控员', role: 'qc_staff', institution: 'QINGSHI' },
  { username: 'nl-radiologist', displayName: '孙丽 Sun Li', role: 'radiologist', institution: 'NANLING' },
];

let uidCounter = 0;
export const newUid = () => `2.25.${Date.now()}${process.pid}${++uidCounter}`;

export interface ReadingCentre {
  institutionIds: Map<string, string>;
  /** fetch as a user (null: the test administrator). */
  call<Body = unknown>(username: string | null, method: string, route: string, body?: unknown, headers?: Record<string, string>): Promise<{ status: number; headers: Headers; json: Body; bytes: Buffer }>;
  /** A new study of the patient at 青石县人民医院: `series` CT series of one small image each. */
  countyStudy(series?: number): Promise<string>;
  /** Opens the study's report, types FINDINGS and IMPRESSION, and signs the 初诊 as rc-reader. */
  signPreliminary(study: string): Promise<Report>;
  /** Signs the 审核 as rc-senior (after signPreliminary). */
  signFinal(study: string): Promise<Report>;
  /** Amends the final report as rc-senior, with a reason. */
  amend(study: string, impression: string, reason: string): Promise<Report>;
}

export async function readingCentre(system: TestSystem): Promise<ReadingCentre> {
  const { administration } = system;
  const actor = COMMAND_LINE_ACTOR;
  const institutionIds = new Map<string, string>();
  const tokens = new Map<string, string>();
  const userIds = new Map<string, string>();
  await administration.createRegion(actor, { code: 'QINGHE', name: '清河市', level: 'city' });
  await administration.createRegion(actor, { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' });
  for (const [code, name, kind, regionCode] of [
    ['QINGSHI', '青石县人民医院', 'hospital', 'QINGHE'],
    ['NANLING', '南岭县中医院', 'hospital', 'NANLING_COUNTY'],
    ['READING_CENTRE', '清河市影像诊断中心', 'reading_centre', 'QINGHE'],
  ] as const) {
    institutionIds.set(code, (await administration.createInstitution(actor, { code, name, kind, regionCode })).id);
  }
  for (const { username, displayName, role, institution } of USERS) {
    userIds.set(username, (await administration.createUser(actor, { username, displayName, role, institutionCode: institution })).id);
    tokens.set(username, (await administration.createToken(actor, { username, label: 'report outputs' })).token);
  }

  const call: ReadingCentre['call'] = async (username, method, route, body, headers = {}) => {
    const sent = new Headers({ authorization: `Bearer ${username ? tokens.get(username) : system.adminToken}`, ...headers });
    if (body !== undefined) sent.set('content-type', 'application/json');
    const response = await fetch(`${system.httpUrl}${route}`, { method, headers: sent, body: body === undefined ? undefined : JSON.stringify(body) });
    const bytes = Buffer.from(await response.arrayBuffer());
    const type = response.headers.get('content-type') ?? '';
    return { status: response.status, headers: response.headers, json: (/json/.test(type) && bytes.length ? JSON.parse(bytes.toString('utf8')) : undefined) as never, bytes };
  };
  const setReader = async (username: string, professionalTitle: string, licenceNumber: string, mayVerifyReports: boolean) => {
    const response = await call('rc-admin', 'PUT', `/api/report-readers/${userIds.get(username)}`, { professionalTitle, licenceNumber, mayVerifyReports });
    assert.equal(response.status, 204);
  };
  await setReader('rc-reader', '住院医师', '110100000001', false);
  await setReader('rc-senior', '主任医师', '110100000002', true);

  const sign = async (username: string, study: string, body: Record<string, unknown>) => {
    const current = await call<Report>(username, 'GET', `/api/studies/${study}/report`);
    const signed = await call<Report>(username, 'POST', `/api/studies/${study}/report/signatures`, { ...body, revision: current.json.draftRevision });
    assert.equal(signed.status, 201, JSON.stringify(signed.json));
    return signed.json;
  };

  return {
    institutionIds,
    call,
    async countyStudy(series = 1) {
      const study = newUid();
      for (let number = 1; number <= series; number++) {
        await system.runtime.ingest.ingest({ part10: countyImage(study, newUid(), number) }, { via: 'import', name: 'county-ct', institutionId: institutionIds.get('QINGSHI')! });
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

/** One 16×16 CT image of the patient, with a gradient to draw. */
function countyImage(studyInstanceUid: string, seriesInstanceUid: string, seriesNumber: number): Buffer {
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
