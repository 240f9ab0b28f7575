import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import dcmjs from 'dcmjs';
import type { Reader } from '../archive/db/reports-repository.ts';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { readerAttributesSchema, type Report, type ReportSignature, type ReportVersion, type SignRequest } from '../archive/reading/report.ts';
import { personNameText, refusalOf } from '../archive/reading/report-service.ts';
import { encapsulatedReportPdf } from '../archive/reading/report-pdf.ts';
import { buildReportSr, ENHANCED_SR_SOP_CLASS_UID, writeReportSr, type StudyHeader } from '../archive/reading/report-sr.ts';
import { checkTid2000, claimsTid2000, TAGS } from '../archive/reading/tid2000.ts';

/**
 * The report SR builder and the TID 2000 checker, pure: what the SR says for each kind of version,
 * that the checker passes it and catches each departure, and the report's signing rules row by row.
 */
const STUDY: StudyHeader = {
  studyInstanceUid: '1.2.826.0.1.3680043.8.498.90001',
  institutionId: '7',
  institutionName: '青石县人民医院',
  patientId: 'QS-0001',
  issuer: 'QINGSHI',
  patientName: { Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' },
  birthDate: '19700101',
  sex: 'M',
  studyDate: '20261205',
  studyTime: '093000',
  accessionNumber: 'ACC1',
  studyId: '1',
  attributes: { '00080090': { vr: 'PN', Value: [{ Alphabetic: 'Zhao^Lei', Ideographic: '赵^磊' }] } },
};
const signature = (role: ReportSignature['role'], overrides: Partial<ReportSignature> = {}): ReportSignature => ({
  role,
  userId: role === 'final' ? '2' : '1',
  name: role === 'final' ? 'Zhang^Wei=张^伟' : 'Li^Ming=李^明',
  title: role === 'final' ? '主任医师' : '住院医师',
  licence: role === 'final' ? '110100000002' : null,
  institution: '清河市影像诊断中心',
  signedAt: role === 'final' ? '2026-12-05T11:00:00.000Z' : '2026-12-05T10:00:00.000Z',
  ...overrides,
});
const version = (overrides: Partial<ReportVersion> = {}): ReportVersion => ({
  version: 1,
  status: 'preliminary',
  content: { findings: '右肺上叶见一磨玻璃结节，直径约8mm。', impression: '右肺上叶磨玻璃结节，建议随访。', criticalFinding: null, templateId: 'ct-chest-zh' },
  signatures: [signature('preliminary')],
  amendmentReason: null,
  srSopInstanceUid: '2.25.100',
  srSeriesInstanceUid: '2.25.200',
  createdAt: '2026-12-05T10:00:00.000Z',
  ...overrides,
});
const items = (dataset: DicomJsonDataset, tag: string) => (dataset[tag]?.Value ?? []) as DicomJsonDataset[];
const value = (dataset: DicomJsonDataset | undefined, tag: string) => dataset?.[tag]?.Value?.[0];
const conceptCode = (item: DicomJsonDataset) => value(items(item, TAGS.conceptNameCodeSequence)[0], '00080100');

describe('report SR (Enhanced SR, TID 2000)', () => {
  it('writes a preliminary as COMPLETE / UNVERIFIED, naming TID 2000, with the LOINC title and headings', () => {
    const sr = buildReportSr({ study: STUDY, version: version(), predecessor: null });
    assert.deepEqual(checkTid2000(sr), []);
    assert.equal(claimsTid2000(sr), true);
    assert.equal(value(sr, '00080016'), ENHANCED_SR_SOP_CLASS_UID);
    assert.equal(value(sr, '00080005'), 'ISO_IR 192');
    assert.equal(value(sr, '0040A491'), 'COMPLETE');
    assert.equal(value(sr, '0040A493'), 'UNVERIFIED');
    assert.equal('0040A073' in sr, false, 'no Verifying Observer before 审核');
    assert.equal('0040A360' in sr, false);
    assert.equal(conceptCode(sr), '18748-4');
    const sections = items(sr, TAGS.contentSequence).filter((item) => value(item, TAGS.valueType) === 'CONTAINER');
    assert.deepEqual(sections.map(conceptCode), ['59776-5', '19005-8']);
    assert.equal(value(items(sections[0]!, TAGS.contentSequence)[0], TAGS.textValue), '右肺上叶见一磨玻璃结节，直径约8mm。');
    assert.deepEqual(sr['00100010']?.Value, [{ Alphabetic: 'Wang^XiaoDong', Ideographic: '王^小东' }], 'the Ideographic group is kept');
    const observer = items(sr, TAGS.contentSequence).find((item) => conceptCode(item) === '121008');
    assert.deepEqual(value(observer, TAGS.personName), { Alphabetic: 'Li^Ming', Ideographic: '李^明' });
    const codes = JSON.stringify(sr);
    for (const retired of ['121060', '121062', '121064', '121066', '121068', '121070', '121072', '121074', '121076', '121078']) assert.equal(codes.includes(`"${retired}"`), false, `retired heading ${retired}`);
  });

  it('writes a final as VERIFIED with the Verifying Observer (name, organisation, time, licence as code) and the preliminary as predecessor', () => {
    const sr = buildReportSr({ study: STUDY, version: version({ version: 2, status: 'final', signatures: [signature('preliminary'), signature('final')] }), predecessor: { sopInstanceUid: '2.25.100', seriesInstanceUid: '2.25.200' } });
    assert.deepEqual(checkTid2000(sr), []);
    assert.equal(value(sr, '0040A493'), 'VERIFIED');
    const verifier = items(sr, '0040A073')[0]!;
    assert.deepEqual(value(verifier, '0040A075'), { Alphabetic: 'Zhang^Wei', Ideographic: '张^伟' });
    assert.equal(value(verifier, '0040A027'), '清河市影像诊断中心');
    assert.equal(value(verifier, '0040A030'), '20261205110000+0000');
    assert.equal(value(items(verifier, '0040A088')[0], '00080100'), '110100000002');
    const predecessor = items(sr, '0040A360')[0]!;
    const referenced = items(items(predecessor, '00081115')[0]!, '00081199')[0]!;
    assert.equal(value(referenced, '00081155'), '2.25.100');
    assert.equal(value(sr, '00200011'), 902, 'a new series per version');
  });

  it('writes a licence number over 16 characters as Long Code Value, and refuses one with a backslash or control character', () => {
    const licence = 'ZJ-2026-110100000000000002';
    const sr = buildReportSr({ study: STUDY, version: version({ version: 2, status: 'final', signatures: [signature('preliminary'), signature('final', { licence })] }), predecessor: { sopInstanceUid: '2.25.100', seriesInstanceUid: '2.25.200' } });
    assert.deepEqual(checkTid2000(sr), []);
    const code = items(items(sr, '0040A073')[0]!, '0040A088')[0]!;
    assert.equal(code['00080100'], undefined, 'Code Value is SH: 16 characters at most');
    assert.deepEqual(code['00080119'], { vr: 'UC', Value: [licence] });
    assert.equal(readerAttributesSchema.safeParse({ professionalTitle: null, licenceNumber: '1101\\0002', mayVerifyReports: true }).success, false);
    assert.equal(readerAttributesSchema.safeParse({ professionalTitle: null, licenceNumber: '1101\n0002', mayVerifyReports: true }).success, false);
    assert.equal(readerAttributesSchema.safeParse({ professionalTitle: null, licenceNumber: licence, mayVerifyReports: true }).success, true);
  });

  it('leaves out Issuer of Patient ID when the images had none (the index keeps its own key then)', () => {
    assert.equal(value(buildReportSr({ study: STUDY, version: version(), predecessor: null }), '00100021'), 'QINGSHI');
    for (const issuer of ['source:12', `study:${STUDY.studyInstanceUid}`]) {
      const sr = buildReportSr({ study: { ...STUDY, issuer }, version: version(), predecessor: null });
      assert.equal(sr['00100021'], undefined, issuer);
      assert.equal(value(sr, '00100020'), 'QS-0001');
    }
    const overlong = buildReportSr({ study: { ...STUDY, issuer: 'Q'.repeat(70) }, version: version(), predecessor: null });
    assert.equal(value(overlong, '00100021'), 'Q'.repeat(64), 'LO holds 64 characters, as the reading workitem has it');
  });

  it('writes the SR and the Encapsulated PDF of a study without Accession Number, Study ID, date or referring physician, those attributes present and empty', () => {
    const bare: StudyHeader = { ...STUDY, accessionNumber: null, studyId: null, studyDate: null, studyTime: null, patientName: null, birthDate: null, sex: null, attributes: {} };
    const read = (part10: Buffer) => dcmjs.data.DicomMessage.readFile(part10.buffer.slice(part10.byteOffset, part10.byteOffset + part10.length) as ArrayBuffer).dict;
    for (const [kind, part10] of [
      ['SR', writeReportSr(buildReportSr({ study: bare, version: version(), predecessor: null }))],
      ['PDF', encapsulatedReportPdf(bare, version(), Buffer.from('%PDF-1.7 stand-in'))],
    ] as const) {
      const dataset = read(part10);
      for (const tag of ['00080050', '00200010', '00080020', '00080090', '00100010']) {
        assert.ok(tag in dataset, `${kind} has ${tag}`);
        assert.ok((dataset[tag]!.Value as unknown[]).every((element) => element === '' || element === null), `${kind} ${tag} is empty: ${JSON.stringify(dataset[tag])}`);
      }
      assert.equal(dataset['0020000D']!.Value[0], STUDY.studyInstanceUid, kind);
    }
  });

  it('adds Communication of Critical Results (73568-8) when the report has a critical finding', () => {
    const sr = buildReportSr({ study: STUDY, version: version({ content: { ...version().content, criticalFinding: { category: '肺栓塞', text: '左肺动脉主干充盈缺损' } } }), predecessor: null });
    assert.deepEqual(checkTid2000(sr), []);
    const critical = items(sr, TAGS.contentSequence).find((item) => conceptCode(item) === '73568-8');
    assert.equal(value(items(critical!, TAGS.contentSequence)[0], TAGS.textValue), '肺栓塞: 左肺动脉主干充盈缺损');
  });

  it('the checker catches a retired heading, a missing observer, no sections, and no template', () => {
    const good = buildReportSr({ study: STUDY, version: version(), predecessor: null });
    const content = items(good, TAGS.contentSequence);
    const retitled = structuredClone(good);
    const section = items(retitled, TAGS.contentSequence).find((item) => conceptCode(item) === '59776-5')!;
    section[TAGS.conceptNameCodeSequence] = { vr: 'SQ', Value: [{ '00080100': { vr: 'SH', Value: ['121070'] }, '00080102': { vr: 'SH', Value: ['DCM'] }, '00080104': { vr: 'LO', Value: ['Findings'] } }] };
    assert.match(checkTid2000(retitled).map((problem) => problem.message).join(), /retired/);
    const anonymous = { ...good, [TAGS.contentSequence]: { vr: 'SQ', Value: content.filter((item) => conceptCode(item) !== '121008') } };
    assert.match(checkTid2000(anonymous).map((problem) => problem.message).join(), /Person Observer Name/);
    const empty = { ...good, [TAGS.contentSequence]: { vr: 'SQ', Value: content.filter((item) => value(item, TAGS.valueType) !== 'CONTAINER') } };
    assert.match(checkTid2000(empty).map((problem) => problem.message).join(), /no section/);
    const { [TAGS.contentTemplateSequence]: _template, ...untemplated } = good;
    assert.equal(claimsTid2000(untemplated), false);
    assert.match(checkTid2000(untemplated).map((problem) => problem.message).join(), /TID 2000/);
  });

  it('writes a display name as PN text with both writings, family name first', () => {
    assert.equal(personNameText('李明 Li Ming'), 'Li^Ming=李^明');
    assert.equal(personNameText('张伟'), '=张^伟');
    assert.equal(personNameText('Li Ming'), 'Li^Ming');
    assert.equal(personNameText('Li^Ming=李^明'), 'Li^Ming=李^明');
  });
});

describe('report signing rules (refusalOf)', () => {
  const reader = (overrides: Partial<Reader> = {}): Reader => ({ userId: '1', displayName: '李明 Li Ming', institutionId: '9', institutionName: '中心', professionalTitle: null, licenceNumber: null, mayVerifyReports: false, ...overrides });
  const verifier = reader({ userId: '2', mayVerifyReports: true });
  const report = (status: Report['status'], versions: ReportVersion[] = []): Report => ({
    id: '1',
    studyInstanceUid: STUDY.studyInstanceUid,
    workitemUid: null,
    studyInstitutionId: '7',
    status,
    draft: version().content,
    draftRevision: 3,
    draftUpdatedAt: '',
    draftUpdatedBy: null,
    versions,
  });
  const preliminaryVersion = version();
  const cases: { name: string; report: Report; request: SignRequest; signer: Reader; levels: 1 | 2; refused: number | null }[] = [
    { name: 'a reader signs the 初诊 of a draft', report: report('draft'), request: { role: 'preliminary', revision: 3 }, signer: reader(), levels: 2, refused: null },
    { name: 'a stale revision is refused', report: report('draft'), request: { role: 'preliminary', revision: 2 }, signer: reader(), levels: 2, refused: 409 },
    { name: 'no second 初诊', report: report('preliminary', [preliminaryVersion]), request: { role: 'preliminary', revision: 3 }, signer: reader(), levels: 2, refused: 409 },
    { name: 'one-level centres sign no 初诊', report: report('draft'), request: { role: 'preliminary', revision: 3 }, signer: reader(), levels: 1, refused: 409 },
    { name: 'a verifier signs the final of a preliminary', report: report('preliminary', [preliminaryVersion]), request: { role: 'final', revision: 3 }, signer: verifier, levels: 2, refused: null },
    { name: 'not without the verify attribute', report: report('preliminary', [preliminaryVersion]), request: { role: 'final', revision: 3 }, signer: reader({ userId: '3' }), levels: 2, refused: 403 },
    { name: 'not by the preliminary reader', report: report('preliminary', [preliminaryVersion]), request: { role: 'final', revision: 3 }, signer: reader({ mayVerifyReports: true }), levels: 2, refused: 403 },
    { name: 'two levels: no final straight from a draft', report: report('draft'), request: { role: 'final', revision: 3 }, signer: verifier, levels: 2, refused: 409 },
    { name: 'one level: a verifier signs final from the draft', report: report('draft'), request: { role: 'final', revision: 3 }, signer: verifier, levels: 1, refused: null },
    { name: 'a final changes only by amendment', report: report('final', [preliminaryVersion]), request: { role: 'final', revision: 3 }, signer: verifier, levels: 2, refused: 409 },
    { name: 'a verifier amends a final', report: report('final', [preliminaryVersion]), request: { role: 'amendment', revision: 3, reason: '左右侧写反' }, signer: verifier, levels: 2, refused: null },
    { name: 'a reader may not amend', report: report('final', [preliminaryVersion]), request: { role: 'amendment', revision: 3, reason: '左右侧写反' }, signer: reader(), levels: 2, refused: 403 },
    { name: 'an unsigned report is not amended', report: report('preliminary', [preliminaryVersion]), request: { role: 'amendment', revision: 3, reason: 'x' }, signer: verifier, levels: 2, refused: 409 },
  ];
  for (const row of cases) {
    it(row.name, () => {
      assert.equal(refusalOf(row.report, row.request, row.signer, row.levels)?.httpStatus ?? null, row.refused);
    });
  }
  it('refuses to sign without an impression', () => {
    const blank = { ...report('draft'), draft: { ...version().content, impression: '  ' } };
    assert.equal(refusalOf(blank, { role: 'preliminary', revision: 3 }, reader(), 2)?.httpStatus, 400);
  });
});
