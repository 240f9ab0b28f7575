import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import type { Role } from '../archive/access/policy.ts';
import { DEFAULT_RECOGNITION_REASONS } from '../archive/recognition/recognition-reasons.ts';
import { HR_PRIVATE_CREATOR, HR_TAGS, hrMarkFromAttributes } from '../archive/recognition/hr-mark-dicom.ts';
import { regionToday, type HrMarkResult } from '../archive/recognition/hr-mark.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { renderReportPdf } from '../archive/reading/report-pdf.ts';
import { makeChestRadiograph } from '../fixtures/modalities.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { jsonApi, qingshiChestCt, type Call } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The HR mark against the running system and real PostgreSQL. 重庆市 (province level) configures
 * recognition: abbreviation 渝, chest radiographs recognised for 60 days (the default is 30), and
 * its own reasons list; 青石县人民医院 sits two regions below it (渝北区 › 青石镇), so the
 * configuration reaches it by the nearest ancestor. 南岭县中医院 is in a region without any, so the
 * shipped defaults and no accreditation. "Today" is fixed at 2026-12-10.
 */
const TODAY = '2026-12-10';

const USERS: { username: string; role: Role; institution: string }[] = [
  { username: 'cq-qc', role: 'qc_staff', institution: 'CQ_CENTRE' },
  { username: 'nl-qc', role: 'qc_staff', institution: 'NANLING' },
  { username: 'cq-admin', role: 'institution_admin', institution: 'CQ_CENTRE' },
  { username: 'qs-admin', role: 'institution_admin', institution: 'QINGSHI' },
  { username: 'cq-auditor', role: 'auditor', institution: 'CQ_CENTRE' },
  { username: 'qs-doctor', role: 'referring_doctor', institution: 'QINGSHI' },
];

const CHONGQING_CONFIGURATION = {
  abbreviation: '渝',
  items: [
    { code: 'DR-CHEST', label: { key: 'recognition.item.DR-CHEST' }, modalities: ['DX', 'CR'], bodyParts: ['CHEST'], validityDays: 60 },
    { code: 'CT-HEAD', label: { zh: '头颅CT', en: 'CT head' }, modalities: ['CT'], bodyParts: ['HEAD'], validityDays: 30 },
  ],
  minimumGrades: { radiography: 'B', ct: 'good', mr: 'good' },
};
const CHONGQING_REASONS = DEFAULT_RECOGNITION_REASONS.slice(0, 3);

describe('the HR mark: configuration, accreditations and marks', () => {
  let system: TestSystem;
  let api: Call;
  const tokens = new Map<string, string>();
  const ids: Record<string, string> = {};
  const regions: Record<string, string> = {};
  /** Study UID by name: the case each one stands for. */
  const studies: Record<string, string> = {};
  let accession = 0;

  const sendChest = async (institution: string, date: string): Promise<{ studyInstanceUid: string; seriesInstanceUid: string }> => {
    const study = { ...qingshiChestCt({ name: 'Li^Na=李^娜', id: `HR-${++accession}`, birthDate: '19700101', sex: 'F' }, `ACC-HR-${accession}`), date, description: 'DR 胸部正位' };
    const instance = makeChestRadiograph({ study, seriesNumber: 1, modality: 'DX', rows: 32, columns: 32 });
    await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'recognition-marks', institutionId: ids[institution]! });
    return { studyInstanceUid: instance.description.studyInstanceUid, seriesInstanceUid: instance.description.seriesInstanceUid };
  };
  const grade = async (grader: string, sent: { studyInstanceUid: string; seriesInstanceUid: string }, gradeCode: string) => {
    const answer = await api(grader, 'POST', `/api/studies/${sent.studyInstanceUid}/series/${sent.seriesInstanceUid}/quality-grades`, { grade: gradeCode });
    assert.equal(answer.status, 201, JSON.stringify(answer.json));
  };
  /** Runs `work` counting the queries of the mark's tables (background jobs issue none of these), and hands the count to `check`. */
  const queriesOf = async <T>(work: () => Promise<T>, check: (count: number) => void): Promise<T> => {
    const pool = system.runtime.db.pool;
    const query = pool.query;
    let count = 0;
    pool.query = ((...args: Parameters<typeof query>) => {
      if (typeof args[0] === 'string' && /recognition_configurations|accreditations|qc_configurations|FROM studies st WHERE st\.study_instance_uid = ANY/.test(args[0])) count += 1;
      return (query as (...inner: unknown[]) => unknown).apply(pool, args);
    }) as typeof query;
    try {
      const result = await work();
      check(count);
      return result;
    } finally {
      pool.query = query;
    }
  };
  const reasonCodes = (mark: HrMarkResult | undefined) => (mark && !mark.carries ? mark.reasons.map((reason) => reason.code) : mark);

  before(async () => {
    system = await startTestSystem();
    api = jsonApi(system, tokens);
    const { administration } = system;
    for (const region of [
      { code: 'CQ', name: '重庆市', level: 'province' as const },
      { code: 'CQ_YUBEI', name: '渝北区', level: 'district' as const, parentCode: 'CQ' },
      { code: 'CQ_QINGSHI', name: '青石镇', level: 'county' as const, parentCode: 'CQ_YUBEI' },
      { code: 'NANLING_COUNTY', name: '南岭县', level: 'county' as const },
    ]) {
      regions[region.code] = (await administration.createRegion(COMMAND_LINE_ACTOR, region)).id;
    }
    for (const [code, name, kind, regionCode] of [
      ['QINGSHI', '青石县人民医院', 'hospital', 'CQ_QINGSHI'],
      ['YUBEI_HOSPITAL', '渝北区人民医院', 'hospital', 'CQ_YUBEI'],
      ['CQ_CENTRE', '重庆市医学影像质控中心', 'reading_centre', 'CQ'],
      ['NANLING', '南岭县中医院', 'hospital', 'NANLING_COUNTY'],
    ] as const) {
      ids[code] = (await administration.createInstitution(COMMAND_LINE_ACTOR, { code, name, kind, regionCode })).id;
    }
    await administration.createUser(COMMAND_LINE_ACTOR, { username: 'sys-admin', displayName: 'sys-admin', role: 'system_admin' });
    tokens.set('sys-admin', (await administration.createToken(COMMAND_LINE_ACTOR, { username: 'sys-admin', label: 'recognition-marks' })).token);
    for (const { username, role, institution } of USERS) {
      await administration.createUser(COMMAND_LINE_ACTOR, { username, displayName: username, role, institutionCode: institution });
      tokens.set(username, (await administration.createToken(COMMAND_LINE_ACTOR, { username, label: 'recognition-marks' })).token);
    }

    const carrying = await sendChest('QINGSHI', '20261105');
    const notAccredited = await sendChest('YUBEI_HOSPITAL', '20261205');
    const notGraded = await sendChest('QINGSHI', '20261206');
    const rejected = await sendChest('QINGSHI', '20261207');
    const beyondValidity = await sendChest('QINGSHI', '20260901');
    const belowMinimum = await sendChest('QINGSHI', '20261208');
    const elsewhere = await sendChest('NANLING', '20261208');
    await system.runtime.queue.whenIdle();
    await grade('cq-qc', carrying, 'A');
    await grade('cq-qc', notAccredited, 'A');
    await grade('cq-qc', rejected, 'reject');
    await grade('cq-qc', beyondValidity, 'B');
    await grade('cq-qc', belowMinimum, 'C');
    await grade('nl-qc', elsewhere, 'A');
    await system.runtime.queue.whenIdle();
    Object.assign(studies, {
      carrying: carrying.studyInstanceUid,
      notAccredited: notAccredited.studyInstanceUid,
      notGraded: notGraded.studyInstanceUid,
      rejected: rejected.studyInstanceUid,
      beyondValidity: beyondValidity.studyInstanceUid,
      belowMinimum: belowMinimum.studyInstanceUid,
      elsewhere: elsewhere.studyInstanceUid,
    });
  });
  after(async () => {
    await system?.shutdown();
  });

  it('stores a region\'s configuration and refuses an invalid one', async () => {
    const recognition = system.runtime.recognition;
    await assert.rejects(recognition.setRegionRecognition(COMMAND_LINE_ACTOR, regions.CQ!, { configuration: { ...CHONGQING_CONFIGURATION, abbreviation: 'CQ' }, reasons: null }), { httpStatus: 400 });
    await assert.rejects(recognition.setRegionRecognition(COMMAND_LINE_ACTOR, regions.CQ!, { configuration: null, reasons: [] }), { httpStatus: 400 });
    await assert.rejects(recognition.setRegionRecognition(COMMAND_LINE_ACTOR, regions.CQ!, { configuration: { ...CHONGQING_CONFIGURATION, minimumGrades: { radiography: 'good' } }, reasons: null }), { httpStatus: 400 });
    const saved = await recognition.setRegionRecognition(COMMAND_LINE_ACTOR, regions.CQ!, { configuration: CHONGQING_CONFIGURATION, reasons: CHONGQING_REASONS });
    assert.equal(saved.effective.configurationFrom, regions.CQ);
    assert.deepEqual(saved.effective.configuration.items.map((item) => item.validityDays), [60, 30]);
    const below = await recognition.regionRecognition(COMMAND_LINE_ACTOR, regions.CQ_QINGSHI!);
    assert.equal(below.own, null, 'the county sets nothing itself');
    assert.equal(below.effective.configurationFrom, regions.CQ, 'it inherits from the nearest ancestor that does');
    assert.deepEqual(await recognition.reasons(ids.QINGSHI!), CHONGQING_REASONS);
    assert.deepEqual(await recognition.reasons(ids.NANLING!), DEFAULT_RECOGNITION_REASONS, 'a region with none: the defaults');
  });

  it('accredits institutions for the region\'s items only', async () => {
    const recognition = system.runtime.recognition;
    await assert.rejects(recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: ids.QINGSHI!, itemCode: 'MR-KNEE', validFrom: '2026-01-01', validUntil: null }), { httpStatus: 400 });
    await assert.rejects(recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: 'QINGSHI', itemCode: 'DR-CHEST', validFrom: '2026-01-01', validUntil: null }), { httpStatus: 400 });
    await assert.rejects(recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: ids.QINGSHI!, itemCode: 'DR-CHEST', validFrom: '2026-12-01', validUntil: '2026-11-01' }), { httpStatus: 400 });
    const accredited = await recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: ids.QINGSHI!, itemCode: 'DR-CHEST', validFrom: '2026-01-01', validUntil: null });
    assert.equal(accredited.validUntil, null);
    assert.equal(accredited.grantedByName, 'cli');
  });

  it('computes the marks of several studies in one call, each with why it lacks one', async () => {
    const marks = await queriesOf(() => system.runtime.recognition.marks(Object.values(studies), TODAY), (count) => {
      assert.equal(count, 4, 'the studies, their configurations, accreditations and graders\' QC configurations: one query each');
    });
    const carrying = marks.get(studies.carrying!);
    assert.deepEqual(carrying, { carries: true, text: '渝HR', itemCode: 'DR-CHEST', grade: 'A', validUntil: '2027-01-04' }, '35 days old, within the region\'s 60');
    assert.deepEqual(reasonCodes(marks.get(studies.notAccredited!)), ['institution-not-accredited']);
    assert.deepEqual(reasonCodes(marks.get(studies.notGraded!)), ['not-graded']);
    assert.deepEqual(reasonCodes(marks.get(studies.rejected!)), ['grade-rejected']);
    assert.deepEqual(reasonCodes(marks.get(studies.beyondValidity!)), ['beyond-validity']);
    assert.deepEqual(reasonCodes(marks.get(studies.belowMinimum!)), ['grade-below-minimum']);
    assert.deepEqual(reasonCodes(marks.get(studies.elsewhere!)), ['institution-not-accredited'], 'the defaults, with no accreditations');
    assert.equal(marks.has('2.25.1'), false, 'an unknown study has no entry');
  });

  it('a withdrawn accreditation takes the mark away, and stays on record', async () => {
    const recognition = system.runtime.recognition;
    const [current] = (await recognition.accreditationsInRegion(COMMAND_LINE_ACTOR, regions.CQ!)).filter((entry) => entry.institutionId === ids.QINGSHI);
    const withdrawn = await recognition.withdraw(COMMAND_LINE_ACTOR, current!.id, { validUntil: '2026-12-09', reason: '年度复核未通过' });
    assert.equal(withdrawn.validUntil, '2026-12-09');
    assert.equal(withdrawn.withdrawalReason, '年度复核未通过');
    await assert.rejects(recognition.withdraw(COMMAND_LINE_ACTOR, current!.id, { reason: 'again' }), { httpStatus: 404 });
    const mark = (await recognition.marks([studies.carrying!], TODAY)).get(studies.carrying!);
    assert.deepEqual(reasonCodes(mark), ['accreditation-not-current']);
    assert.equal((await recognition.marks([studies.carrying!], '2026-12-09')).get(studies.carrying!)?.carries, true, 'on its last day it still held');
    await recognition.accredit(COMMAND_LINE_ACTOR, { institutionId: ids.QINGSHI!, itemCode: 'DR-CHEST', validFrom: '2026-12-10', validUntil: '2027-12-09' });
    assert.equal((await recognition.marks([studies.carrying!], TODAY)).get(studies.carrying!)?.carries, true, 're-accredited');
    assert.equal((await recognition.accreditationsInRegion(COMMAND_LINE_ACTOR, regions.CQ!)).length, 2, 'both rows kept');
  });

  it('the admin API: a reading centre\'s administrator configures regions below it, a hospital\'s may not; every change audited', async () => {
    const path = `/api/admin/regions/${regions.CQ_YUBEI}/recognition`;
    const bad = await api('cq-admin', 'PUT', path, { configuration: { ...CHONGQING_CONFIGURATION, minimumGrades: 'B' }, reasons: null });
    assert.equal(bad.status, 400, JSON.stringify(bad.json));
    assert.equal((await api('qs-admin', 'GET', path)).status, 403, 'a hospital administrator does not configure recognition');
    assert.equal((await api('qs-doctor', 'GET', path)).status, 403, 'nor does a doctor');
    assert.equal((await api('cq-admin', 'GET', `/api/admin/regions/${regions.NANLING_COUNTY}/recognition`)).status, 403, 'a region outside the centre\'s');
    const saved = await api<{ own: { reasons: unknown[] }; effective: { configurationFrom: string; reasonsFrom: string } }>('cq-admin', 'PUT', path, { configuration: null, reasons: DEFAULT_RECOGNITION_REASONS.slice(0, 5) });
    assert.equal(saved.status, 200, JSON.stringify(saved.json));
    assert.equal(saved.json.effective.configurationFrom, regions.CQ, 'the configuration still comes from 重庆市');
    assert.equal(saved.json.effective.reasonsFrom, regions.CQ_YUBEI, 'the reasons now from 渝北区');
    assert.equal((await system.runtime.recognition.reasons(ids.QINGSHI!)).length, 5, '青石镇 takes its nearest ancestor\'s reasons');

    const accredited = await api<{ id: string }>('cq-admin', 'POST', '/api/admin/accreditations', { institutionId: ids.YUBEI_HOSPITAL, itemCode: 'DR-CHEST', validFrom: '2020-01-01', validUntil: null });
    assert.equal(accredited.status, 201, JSON.stringify(accredited.json));
    assert.equal((await api('qs-admin', 'POST', '/api/admin/accreditations', { institutionId: ids.QINGSHI, itemCode: 'CT-HEAD', validFrom: '2020-01-01', validUntil: null })).status, 403, 'a hospital may not accredit itself');
    assert.equal((await api('cq-admin', 'POST', '/api/admin/accreditations', { institutionId: ids.YUBEI_HOSPITAL, itemCode: 'DR-CHEST', validFrom: 'soon', validUntil: null })).status, 400);
    const listed = await api<{ id: string; institutionId: string }[]>('cq-admin', 'GET', `/api/admin/regions/${regions.CQ}/accreditations`);
    assert.ok(listed.json.some((entry) => entry.id === accredited.json.id));
    assert.equal((await api('cq-admin', 'POST', `/api/admin/accreditations/${accredited.json.id}/withdrawal`, {})).status, 400, 'a withdrawal needs a reason');

    const events = await api<{ eventType: string; userName: string; detail: { change?: string } }[]>('cq-auditor', 'GET', '/api/audit/events?type=admin-change&limit=100');
    assert.equal(events.status, 200, JSON.stringify(events.json));
    const changes = events.json.filter((event) => event.userName === 'cq-admin').map((event) => event.detail.change);
    assert.deepEqual(changes.sort(), ['accreditation', 'recognition-configuration']);
  });

  it('the regions an administrator configures: all for a system administrator, a reading centre\'s and below for its administrator, none for a hospital\'s', async () => {
    type Listed = { region: { id: string; code: string }; configurationFrom: string | null; reasonsFrom: string | null; institutions: { id: string }[] }[];
    const everywhere = await api<Listed>('sys-admin', 'GET', '/api/admin/recognition-regions');
    assert.equal(everywhere.status, 200, JSON.stringify(everywhere.json));
    const codes = (listed: Listed) => listed.map((entry) => entry.region.code).filter((code) => code in regions).sort();
    assert.deepEqual(codes(everywhere.json), ['CQ', 'CQ_QINGSHI', 'CQ_YUBEI', 'NANLING_COUNTY']);
    const centre = await api<Listed>('cq-admin', 'GET', '/api/admin/recognition-regions');
    assert.equal(centre.status, 200, JSON.stringify(centre.json));
    assert.deepEqual(codes(centre.json), ['CQ', 'CQ_QINGSHI', 'CQ_YUBEI'], '重庆市 and the regions below it, not 南岭县');
    const qingshi = centre.json.find((entry) => entry.region.code === 'CQ_QINGSHI')!;
    assert.equal(qingshi.configurationFrom, regions.CQ, '青石镇 takes 重庆市\'s configuration');
    assert.deepEqual(qingshi.institutions.map((institution) => institution.id), [ids.QINGSHI]);
    const chongqing = centre.json.find((entry) => entry.region.code === 'CQ')!;
    assert.deepEqual(chongqing.institutions.map((institution) => institution.id).sort(), [ids.CQ_CENTRE, ids.QINGSHI, ids.YUBEI_HOSPITAL].sort(), 'a region covers the institutions below it');
    assert.equal(everywhere.json.find((entry) => entry.region.code === 'NANLING_COUNTY')!.configurationFrom, null, 'the shipped defaults');
    assert.equal((await api('qs-admin', 'GET', '/api/admin/recognition-regions')).status, 403, 'a hospital administrator configures no region');
    assert.equal((await api('qs-doctor', 'GET', '/api/admin/recognition-regions')).status, 403);
  });

  it('QIDO-RS returns the private block when asked, and FHIR ImagingStudy the extension', async () => {
    // Dated today, so the mark holds whenever this runs.
    const today = regionToday();
    const sent = await sendChest('YUBEI_HOSPITAL', today.replaceAll('-', ''));
    studies.carryingToday = sent.studyInstanceUid;
    await system.runtime.queue.whenIdle();
    await grade('cq-qc', sent, 'A');

    const plain = await api<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies?StudyInstanceUID=${sent.studyInstanceUid}`);
    assert.equal(plain.status, 200);
    assert.equal(plain.json[0]?.[HR_TAGS.privateCreator], undefined, 'not asked, not sent');

    const uids = [sent.studyInstanceUid, studies.notGraded!].join(',');
    const asked = await api<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies?StudyInstanceUID=${uids}&includefield=${HR_TAGS.markText}`);
    assert.equal(asked.status, 200, JSON.stringify(asked.json));
    const byStudy = new Map(asked.json.map((result) => [result['0020000D']?.Value?.[0], result]));
    const carrying = byStudy.get(sent.studyInstanceUid)!;
    assert.deepEqual(carrying[HR_TAGS.privateCreator], { vr: 'LO', Value: [HR_PRIVATE_CREATOR] });
    assert.deepEqual(carrying[HR_TAGS.markText], { vr: 'LO', Value: ['渝HR'] });
    assert.deepEqual(carrying[HR_TAGS.itemCode], { vr: 'LO', Value: ['DR-CHEST'] });
    const validUntil = new Date(Date.parse(`${today}T00:00:00Z`) + 60 * 86_400_000).toISOString().slice(0, 10);
    assert.deepEqual(hrMarkFromAttributes(carrying), { text: '渝HR', absenceReasons: [], validUntil });
    const absent = hrMarkFromAttributes(byStudy.get(studies.notGraded!)!);
    assert.equal(absent?.text, null);
    assert.ok(absent?.absenceReasons.includes('not-graded'), JSON.stringify(absent));
    const all = await api<DicomJsonDataset[]>(null, 'GET', `/dicom-web/studies?StudyInstanceUID=${sent.studyInstanceUid}&includefield=all`);
    assert.equal(hrMarkFromAttributes(all.json[0]!)?.text, '渝HR', 'includefield=all includes the block');

    type Extension = { url: string; valueBoolean?: boolean; valueString?: string; valueCode?: string; valueDate?: string; extension?: Extension[] };
    const fhir = await api<{ extension?: Extension[] }>(null, 'GET', `/fhir/ImagingStudy/${sent.studyInstanceUid}`, undefined, { accept: 'application/fhir+json' });
    assert.equal(fhir.status, 200, JSON.stringify(fhir.json));
    const extension = fhir.json.extension?.find((candidate) => candidate.url === 'urn:yingyun:fhir:StructureDefinition:hr-mark');
    assert.deepEqual(extension?.extension, [
      { url: 'carries', valueBoolean: true },
      { url: 'text', valueString: '渝HR' },
      { url: 'item', valueCode: 'DR-CHEST' },
      { url: 'validUntil', valueDate: validUntil },
    ]);
    const ungraded = await api<{ extension?: Extension[] }>(null, 'GET', `/fhir/ImagingStudy/${studies.notGraded}`, undefined, { accept: 'application/fhir+json' });
    const parts = ungraded.json.extension?.[0]?.extension ?? [];
    assert.deepEqual(parts[0], { url: 'carries', valueBoolean: false });
    assert.ok(parts.some((part) => part.url === 'absenceReason' && part.valueCode === 'not-graded'));
  });

  it('the report PDF prints the mark with its last valid day, or none with every reason', async (t) => {
    if (!requirePeer(t, commandExists('pdftotext'), 'poppler-utils (pdftotext)')) return;
    const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-hr-pdf-'));
    const printed = async (studyInstanceUid: string) => {
      const study = (await system.runtime.reports.studyHeader(studyInstanceUid))!;
      const mark = (await system.runtime.recognition.marks([studyInstanceUid])).get(studyInstanceUid)!;
      const version = {
        version: 1,
        status: 'final' as const,
        content: { findings: '双肺纹理清晰。', impression: '胸部未见明显异常。', criticalFinding: null, templateId: null },
        signatures: [],
        amendmentReason: null,
        srSopInstanceUid: '2.25.1',
        srSeriesInstanceUid: '2.25.2',
        createdAt: new Date().toISOString(),
      };
      const file = path.join(workDir, `${studyInstanceUid}.pdf`);
      fs.writeFileSync(file, await renderReportPdf({ study, reportId: '1', version, keyImages: [], filmUrl: null, hrMark: { mark, assessedOn: regionToday() } }));
      return execFileSync('pdftotext', ['-enc', 'UTF-8', file, '-'], { encoding: 'utf8' }).replace(/\s+/g, '');
    };
    try {
      const carrying = await printed(studies.carryingToday!);
      assert.ok(carrying.includes('检查结果互认'), carrying);
      assert.ok(carrying.includes('渝HR有效期至'), carrying);
      const ungraded = await printed(studies.notGraded!);
      assert.ok(ungraded.includes('无互认标识'), ungraded);
      assert.ok(ungraded.includes('尚未进行影像质控评级'), ungraded);
      assert.ok(ungraded.includes('Imagequalitynotgradedyet'), ungraded);
    } finally {
      fs.rmSync(workDir, { recursive: true, force: true });
    }
  });
});
