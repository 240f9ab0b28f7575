import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { configuredLabelSchema, configuredLabelText } from '../archive/i18n/configured-label.ts';
import {
  applyVetoes,
  DEFAULT_QC_CONFIGURATION,
  defectCategories,
  defectsForModality,
  gradeOfStudy,
  qcConfigurationSchema,
  scaleForModality,
  type QcScale,
} from '../archive/quality/qc-scales.ts';
import {
  accreditationSchema,
  DEFAULT_RECOGNITION_REGION,
  hrMarkOf,
  recognitionRegionSchema,
  type Accreditation,
  type HrStudy,
  type RecognitionRegion,
} from '../archive/recognition/hr-mark.ts';
import { DEFAULT_RECOGNITION_REASONS, recognitionDecisionSchema, recognitionReasonsSchema } from '../archive/recognition/recognition-reasons.ts';

const qc = DEFAULT_QC_CONFIGURATION;
const scaleOf = (modality: string): QcScale => {
  const scale = scaleForModality(qc, modality);
  assert.ok(scale, `a default scale for ${modality}`);
  return scale;
};
const radiography = scaleOf('DX');
const ct = scaleOf('CT');
const ZH = 'zh-CN,zh;q=0.9';

describe('QC grade scales and defects', () => {
  it('ships radiography on 甲/乙/丙/废片 and CT, MR on their own scale, each ending in a reject grade', () => {
    assert.deepEqual(qcConfigurationSchema.parse(qc), qc, 'the defaults pass their own schema');
    assert.deepEqual(radiography.grades.map((grade) => configuredLabelText(grade.label, ZH)), ['甲级', '乙级', '丙级', '废片']);
    assert.deepEqual(radiography.grades.map((grade) => grade.reject), [false, false, false, true]);
    assert.equal(scaleOf('cr').id, 'radiography', 'modality codes compare in upper case');
    assert.deepEqual(ct.grades.map((grade) => configuredLabelText(grade.label)), ['Excellent', 'Good', 'Acceptable', 'Unacceptable (repeat)']);
    assert.equal(scaleOf('MR').grades.at(-1)?.reject, true);
    assert.equal(scaleForModality(qc, 'US'), null, 'ultrasound is graded on no default scale');
  });

  it('codes defects in every category the issue names, each with a label in both languages', () => {
    assert.deepEqual(new Set(qc.defects.map((defect) => defect.category)), new Set(defectCategories));
    for (const defect of qc.defects) {
      const zh = configuredLabelText(defect.label, ZH);
      const en = configuredLabelText(defect.label, 'en');
      assert.ok(/\p{Script=Han}/u.test(zh) && /^[A-Z]/.test(en), `${defect.code}: ${zh} / ${en}`);
    }
    assert.deepEqual(
      qc.defects.filter((defect) => defect.category === 'artefact').map((defect) => defect.code),
      ['artefact-motion', 'artefact-metal', 'artefact-foreign-body', 'artefact-equipment'],
    );
    assert.deepEqual(qc.defects.filter((defect) => defect.veto).map((defect) => defect.code), ['lr-marker-missing', 'lr-marker-wrong', 'patient-data-wrong']);
  });

  it('offers each modality only the defects that apply to it', () => {
    const ctCodes = defectsForModality(qc, 'CT').map((defect) => defect.code);
    const mrCodes = defectsForModality(qc, 'MR').map((defect) => defect.code);
    const dxCodes = defectsForModality(qc, 'DX').map((defect) => defect.code);
    assert.ok(ctCodes.includes('window-missing') && !ctCodes.includes('sequence-missing') && !ctCodes.includes('lr-marker-missing'));
    assert.ok(mrCodes.includes('sequence-missing') && mrCodes.includes('phase-missing') && !mrCodes.includes('dose-excessive'));
    assert.ok(dxCodes.includes('lr-marker-wrong') && dxCodes.includes('collimation') && !dxCodes.includes('scan-range'));
    assert.ok(dxCodes.includes('patient-data-wrong'), 'a defect without modalities applies to all');
  });

  it('gives a study its worst series grade', () => {
    assert.equal(gradeOfStudy(radiography, ['A', 'C', 'B'])?.code, 'C');
    assert.equal(gradeOfStudy(radiography, ['A', 'A'])?.code, 'A');
    assert.equal(gradeOfStudy(radiography, ['B', 'reject', 'A'])?.code, 'reject');
    assert.equal(gradeOfStudy(ct, ['good', 'excellent'])?.code, 'good');
    assert.equal(gradeOfStudy(radiography, []), null, 'no series graded: no grade');
    assert.throws(() => gradeOfStudy(radiography, ['A', 'good']), /not on the QC scale 'radiography'/);
  });

  it('lets a veto defect force the lowest grade and leaves the grade alone otherwise', () => {
    assert.equal(applyVetoes(qc, radiography, 'A', ['lr-marker-wrong']).code, 'reject');
    assert.equal(applyVetoes(qc, radiography, 'B', ['positioning', 'patient-data-wrong']).code, 'reject');
    assert.equal(applyVetoes(qc, ct, 'excellent', ['patient-data-wrong']).code, 'unacceptable');
    assert.equal(applyVetoes(qc, radiography, 'B', ['positioning', 'artefact-motion']).code, 'B');
    assert.equal(applyVetoes(qc, radiography, 'C', []).code, 'C');
    assert.throws(() => applyVetoes(qc, radiography, 'A', ['smudge']), /not in the QC catalogue/);
  });

  it("accepts a centre's own scale and defects, in its own words, and refuses inconsistent ones", () => {
    const own = {
      scales: [
        {
          id: 'ct',
          modalities: ['ct'],
          grades: [
            { code: 'A', label: { key: 'qc.grade.A' }, reject: false },
            { code: 'B', label: { key: 'qc.grade.B' }, reject: false },
            { code: 'C', label: { zh: '丙级（需复核）', en: 'Grade C (review)' }, reject: false },
            { code: 'R', label: { key: 'qc.grade.reject' }, reject: true },
          ],
        },
      ],
      defects: [{ code: 'contrast-timing', category: 'missing-content', label: { zh: '增强时相不当', en: 'Contrast timing wrong' }, veto: true, modalities: ['CT'] }],
    };
    const parsed = qcConfigurationSchema.parse(own);
    const scale = scaleForModality(parsed, 'CT');
    assert.ok(scale);
    assert.equal(configuredLabelText(scale.grades[2]!.label, ZH), '丙级（需复核）');
    assert.equal(applyVetoes(parsed, scale, 'A', ['contrast-timing']).code, 'R');

    const refusals: [string, unknown][] = [
      ['reject above a usable grade', { ...own, scales: [{ ...own.scales[0], grades: [own.scales[0]!.grades[0], own.scales[0]!.grades[3], own.scales[0]!.grades[1]] }] }],
      ['repeated grade codes', { ...own, scales: [{ ...own.scales[0], grades: [own.scales[0]!.grades[0], own.scales[0]!.grades[0]] }] }],
      ['a modality on two scales', { ...own, scales: [own.scales[0], { ...own.scales[0], id: 'ct2' }] }],
      ['repeated defect codes', { ...own, defects: [own.defects[0], own.defects[0]] }],
      ['an unknown category', { ...own, defects: [{ ...own.defects[0], category: 'smell' }] }],
      ['a label key the catalogue lacks', { ...own, defects: [{ ...own.defects[0], label: { key: 'qc.defect.smell' } }] }],
      ['a label in one language only', { ...own, defects: [{ ...own.defects[0], label: { zh: '增强时相不当' } }] }],
    ];
    for (const [what, input] of refusals) assert.equal(qcConfigurationSchema.safeParse(input).success, false, what);
  });
});

describe('the HR mark', () => {
  const TODAY = '2026-12-05';
  const accreditations: Accreditation[] = [
    { institutionId: 'city-hospital', itemCode: 'CT-CHEST', validFrom: '2025-01-01', validUntil: null },
    { institutionId: 'city-hospital', itemCode: 'DR-CHEST', validFrom: '2025-01-01', validUntil: '2027-12-31' },
    { institutionId: 'county-hospital', itemCode: 'CT-CHEST', validFrom: '2024-01-01', validUntil: '2025-12-31' },
  ];
  const context = { region: DEFAULT_RECOGNITION_REGION, accreditations, qc, today: TODAY };
  const chestCt: HrStudy = { institutionId: 'city-hospital', modality: 'CT', bodyPart: 'CHEST', studyDate: '2026-11-20', qcGrade: 'good' };

  it('marks a graded, accredited study within its validity with the region abbreviation before HR', () => {
    assert.deepEqual(hrMarkOf(chestCt, context), { carries: true, text: '渝HR', itemCode: 'CT-CHEST', grade: 'good', validUntil: '2026-12-20' });
    const hubei = { ...context, region: { ...DEFAULT_RECOGNITION_REGION, abbreviation: '鄂' } };
    assert.equal(hrMarkOf({ ...chestCt, qcGrade: 'excellent', bodyPart: 'lung' }, hubei).carries && '鄂HR', '鄂HR');
    const chestFilm: HrStudy = { institutionId: 'city-hospital', modality: 'DX', bodyPart: 'CHEST', studyDate: '2026-11-20', qcGrade: 'B' };
    assert.equal(hrMarkOf(chestFilm, context).carries, true, '乙 is enough by default');
  });

  it('counts validity in calendar days from the study date, the last day included', () => {
    const lastDay = { ...chestCt, studyDate: '2026-11-05' };
    assert.deepEqual(hrMarkOf(lastDay, context), { carries: true, text: '渝HR', itemCode: 'CT-CHEST', grade: 'good', validUntil: '2026-12-05' });
    assert.deepEqual(hrMarkOf({ ...chestCt, studyDate: '2026-11-04' }, context), {
      carries: false,
      reasons: [{ code: 'beyond-validity', itemCode: 'CT-CHEST', studyDate: '2026-11-04', validityDays: 30, expiredOn: '2026-12-05' }],
    });
  });

  it('says why a study lacks it, every failed condition with its parameters', () => {
    const absent = (study: Partial<HrStudy>, region: RecognitionRegion = DEFAULT_RECOGNITION_REGION) => {
      const result = hrMarkOf({ ...chestCt, ...study }, { ...context, region });
      assert.equal(result.carries, false);
      return result.carries ? [] : result.reasons;
    };
    assert.deepEqual(absent({ modality: 'US', bodyPart: 'ABDOMEN' }), [
      { code: 'no-examination-item', modality: 'US', bodyPart: 'ABDOMEN' },
      { code: 'no-qc-scale', modality: 'US' },
    ]);
    assert.deepEqual(absent({ bodyPart: null }), [{ code: 'no-examination-item', modality: 'CT', bodyPart: null }]);
    assert.deepEqual(absent({ institutionId: 'township-clinic' }), [{ code: 'institution-not-accredited', itemCode: 'CT-CHEST' }]);
    assert.deepEqual(absent({ institutionId: 'county-hospital' }), [
      { code: 'accreditation-not-current', itemCode: 'CT-CHEST', validFrom: '2024-01-01', validUntil: '2025-12-31' },
    ]);
    assert.deepEqual(absent({ qcGrade: null, studyDate: '2026-01-10' }), [
      { code: 'not-graded' },
      { code: 'beyond-validity', itemCode: 'CT-CHEST', studyDate: '2026-01-10', validityDays: 30, expiredOn: '2026-02-10' },
    ]);
    assert.deepEqual(absent({ qcGrade: 'acceptable' }), [{ code: 'grade-below-minimum', grade: 'acceptable', minimumGrade: 'good' }]);
    assert.deepEqual(absent({ studyDate: null }), [{ code: 'study-date-unknown' }]);
    assert.deepEqual(absent({ institutionId: 'city-hospital', modality: 'DX', qcGrade: 'C' }), [{ code: 'grade-below-minimum', grade: 'C', minimumGrade: 'B' }]);
  });

  it('never marks a reject grade, whatever minimum the region sets', () => {
    const lenient: RecognitionRegion = { ...DEFAULT_RECOGNITION_REGION, minimumGrades: { ct: 'unacceptable' } };
    assert.deepEqual(hrMarkOf({ ...chestCt, qcGrade: 'unacceptable' }, { ...context, region: lenient }), {
      carries: false,
      reasons: [{ code: 'grade-rejected', grade: 'unacceptable' }],
    });
    assert.equal(hrMarkOf({ ...chestCt, qcGrade: 'acceptable' }, { ...context, region: lenient }).carries, true, 'the lenient minimum does apply to usable grades');
    const silent: RecognitionRegion = { ...DEFAULT_RECOGNITION_REGION, minimumGrades: {} };
    assert.deepEqual(hrMarkOf(chestCt, { ...context, region: silent }), {
      carries: false,
      reasons: [{ code: 'grade-below-minimum', grade: 'good', minimumGrade: 'excellent' }],
    }, 'a scale without a minimum accepts only its best grade');
  });

  it('takes a current accreditation over an expired one and one not yet started as not current', () => {
    const renewed: Accreditation[] = [
      { institutionId: 'county-hospital', itemCode: 'CT-CHEST', validFrom: '2024-01-01', validUntil: '2025-12-31' },
      { institutionId: 'county-hospital', itemCode: 'CT-CHEST', validFrom: '2026-01-01', validUntil: '2028-12-31' },
    ];
    assert.equal(hrMarkOf({ ...chestCt, institutionId: 'county-hospital' }, { ...context, accreditations: renewed }).carries, true);
    const future: Accreditation[] = [{ institutionId: 'county-hospital', itemCode: 'CT-CHEST', validFrom: '2027-01-01', validUntil: null }];
    assert.deepEqual(hrMarkOf({ ...chestCt, institutionId: 'county-hospital' }, { ...context, accreditations: future }), {
      carries: false,
      reasons: [{ code: 'accreditation-not-current', itemCode: 'CT-CHEST', validFrom: '2027-01-01', validUntil: null }],
    });
  });

  it('ships default items keyed by modality and body part, and checks a region’s settings', () => {
    assert.deepEqual(recognitionRegionSchema.parse(DEFAULT_RECOGNITION_REGION), DEFAULT_RECOGNITION_REGION);
    assert.deepEqual(
      DEFAULT_RECOGNITION_REGION.items.map((item) => `${item.code} ${configuredLabelText(item.label, ZH)} ${item.validityDays}`),
      ['DR-CHEST 胸部 DR 30', 'CT-HEAD 头颅 CT 30', 'CT-CHEST 胸部 CT 30', 'CT-ABDOMEN 腹部 CT 30', 'MR-HEAD 头颅 MR 90', 'MR-LSPINE 腰椎 MR 90', 'MR-KNEE 膝关节 MR 180'],
    );
    const item = DEFAULT_RECOGNITION_REGION.items[0]!;
    const refusals: [string, unknown][] = [
      ['a Latin abbreviation', { ...DEFAULT_RECOGNITION_REGION, abbreviation: 'CQ' }],
      ['a modality and body part in two items', { ...DEFAULT_RECOGNITION_REGION, items: [item, { ...item, code: 'DR-CHEST-2' }] }],
      ['repeated item codes', { ...DEFAULT_RECOGNITION_REGION, items: [item, { ...item, bodyParts: ['RIBS'] }] }],
      ['a validity of zero days', { ...DEFAULT_RECOGNITION_REGION, items: [{ ...item, validityDays: 0 }] }],
    ];
    for (const [what, input] of refusals) assert.equal(recognitionRegionSchema.safeParse(input).success, false, what);
    assert.equal(recognitionRegionSchema.safeParse({ ...DEFAULT_RECOGNITION_REGION, abbreviation: '晋' }).success, true);
    assert.equal(accreditationSchema.safeParse({ institutionId: 'a', itemCode: 'CT-CHEST', validFrom: '2026-02-01', validUntil: '2026-01-31' }).success, false);
    assert.equal(accreditationSchema.safeParse({ institutionId: 'a', itemCode: 'CT-CHEST', validFrom: '2026-02-30', validUntil: null }).success, false);
  });
});

describe('recognition decisions', () => {
  const decision = recognitionDecisionSchema(DEFAULT_RECOGNITION_REASONS);
  const order = { kind: 'accession-number', value: 'A20261205001' };

  it('ships the reasons provinces publish, in both languages, only the physician’s own judgement needing text', () => {
    assert.deepEqual(recognitionReasonsSchema.parse(DEFAULT_RECOGNITION_REASONS), DEFAULT_RECOGNITION_REASONS);
    assert.deepEqual(DEFAULT_RECOGNITION_REASONS.map((reason) => reason.code), [
      'condition-changed',
      'rapidly-changing',
      'major-intervention',
      'emergency',
      'appraisal',
      'quality-insufficient',
      'beyond-validity',
      'patient-request',
      'physician-judgement',
    ]);
    assert.deepEqual(DEFAULT_RECOGNITION_REASONS.filter((reason) => reason.requiresText).map((reason) => reason.code), ['physician-judgement']);
    assert.equal(configuredLabelText(DEFAULT_RECOGNITION_REASONS[3]!.label, ZH), '急诊、急救等抢救生命的紧急状态');
  });

  it('accepts a recognition with its order, and a non-recognition with reason, confirmation and order', () => {
    assert.deepEqual(decision.parse({ decision: 'recognised', order }), { decision: 'recognised', order });
    assert.deepEqual(decision.parse({ decision: 'not-recognised', reasonCode: 'emergency', patientInformed: true, order: { kind: 'text', value: ' 急诊头颅CT ' } }), {
      decision: 'not-recognised',
      reasonCode: 'emergency',
      patientInformed: true,
      order: { kind: 'text', value: '急诊头颅CT' },
    });
    assert.equal(
      decision.safeParse({ decision: 'not-recognised', reasonCode: 'physician-judgement', text: '怀疑新发出血', patientInformed: true, order: { kind: 'order-number', value: 'HIS-778812' } }).success,
      true,
    );
  });

  it('refuses a decision missing what the national measures and the province ask for', () => {
    const base = { decision: 'not-recognised', reasonCode: 'patient-request', patientInformed: true, order };
    const refusals: [string, unknown, string][] = [
      ['no reason', { ...base, reasonCode: undefined }, 'reasonCode'],
      ['a reason the province does not list', { ...base, reasonCode: 'cost' }, 'reasonCode'],
      ['the patient not informed', { ...base, patientInformed: false }, 'patientInformed'],
      ['no confirmation at all', { ...base, patientInformed: undefined }, 'patientInformed'],
      ['the physician’s judgement without text', { ...base, reasonCode: 'physician-judgement' }, 'text'],
      ['the physician’s judgement with blank text', { ...base, reasonCode: 'physician-judgement', text: '   ' }, 'text'],
      ['no order', { ...base, order: undefined }, 'order'],
      ['an accession number longer than an SH', { ...base, order: { kind: 'accession-number', value: 'A'.repeat(17) } }, 'order'],
      ['a recognition carrying a reason', { decision: 'recognised', reasonCode: 'emergency', order }, ''],
      ['an unknown decision', { ...base, decision: 'maybe' }, 'decision'],
    ];
    for (const [what, input, path] of refusals) {
      const result = decision.safeParse(input);
      assert.equal(result.success, false, what);
      assert.equal(result.error?.issues[0]?.path.join('.').split('.')[0] ?? '', path, `${what}: ${JSON.stringify(result.error?.issues)}`);
    }
  });

  it("checks decisions against a province's own list", () => {
    const own = recognitionReasonsSchema.parse([...DEFAULT_RECOGNITION_REASONS, { code: 'insurance', label: { zh: '医保要求', en: 'Insurer requires it' }, requiresText: true }]);
    const ownDecision = recognitionDecisionSchema(own);
    assert.equal(ownDecision.safeParse({ decision: 'not-recognised', reasonCode: 'insurance', text: '商业保险理赔', patientInformed: true, order }).success, true);
    assert.equal(ownDecision.safeParse({ decision: 'not-recognised', reasonCode: 'insurance', patientInformed: true, order }).success, false);
    assert.equal(recognitionReasonsSchema.safeParse([...DEFAULT_RECOGNITION_REASONS, DEFAULT_RECOGNITION_REASONS[0]]).success, false, 'codes repeat');
    assert.equal(recognitionReasonsSchema.safeParse([]).success, false, 'a province lists at least one reason');
  });

  it('reads configured labels from the catalogue or the centre’s own words, and refuses keys the catalogue lacks', () => {
    assert.equal(configuredLabelText({ key: 'recognition.reason.appraisal' }, 'en'), 'Forensic, disability or retirement appraisal');
    assert.equal(configuredLabelText({ zh: '医保要求', en: 'Insurer requires it' }, ZH), '医保要求');
    assert.equal(configuredLabelSchema.safeParse({ key: 'recognition.reason.nothing' }).success, false);
    assert.equal(configuredLabelSchema.safeParse({ key: 'qc.grade.A', zh: '甲' }).success, false);
  });
});
