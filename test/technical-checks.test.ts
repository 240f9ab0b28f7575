import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { DicomJsonDataset } from '../archive/dicom/types.ts';
import { qcWorklistSettingsSchema, reportQcGradeRequestSchema } from '../archive/quality/qc-worklist.ts';
import { CATALOGUES } from '../viewer/src/i18n/messages.ts';
import {
  checkBurnedInAnnotation,
  checkDoseInformation,
  checkImageCount,
  checkPatientAge,
  checkPixels,
  checkRequiredAttributes,
  checkSexBodyPart,
  checkSliceOrder,
  checkStudyDate,
  classifyHistogram,
  DEFAULT_CHECK_THRESHOLDS as T,
  runTechnicalChecks,
  sampleIndexes,
  technicalCheckThresholdsSchema,
  worstOutcome,
  type CheckedSeries,
  type CheckResult,
} from '../archive/quality/technical-checks.ts';

/** A DICOM JSON header from keyword-like tags: strings, numbers and arrays of them. */
function header(values: Record<string, string | number | (string | number)[] | undefined>): DicomJsonDataset {
  const dataset: DicomJsonDataset = {};
  for (const [tag, value] of Object.entries(values)) {
    if (value === undefined) continue;
    dataset[tag] = { vr: 'UN', Value: Array.isArray(value) ? value : [value] };
  }
  return dataset;
}

const AXIAL = [1, 0, 0, 0, 1, 0];
/** A CT slice with everything the checks ask for. */
function ctSlice(index: number, overrides: Record<string, string | number | (string | number)[] | undefined> = {}): DicomJsonDataset {
  return header({
    '00080016': '1.2.840.10008.5.1.4.1.1.2',
    '00080020': '20261105',
    '00080060': 'CT',
    '00080080': '青石县人民医院',
    '00081070': 'Li^Jishi',
    '00100030': '19650302',
    '00100040': 'M',
    '00101010': '061Y',
    '00180015': 'CHEST',
    '00189345': 8.2,
    '00200013': index + 1,
    '00200032': [-175, -175, -100 - index * 5],
    '00200037': AXIAL,
    '00280010': 512,
    ...overrides,
  });
}
const series = (instances: readonly DicomJsonDataset[], samples: CheckedSeries['samples'] = []): CheckedSeries => ({ seriesInstanceUid: '1.2.3', instances, samples });
const ct = (count: number, overrides = {}) => series(Array.from({ length: count }, (_, index) => ctSlice(index, overrides)));

/** A histogram of `pixels` grey levels: `at` maps a level to its count, the rest spread over 1..254. */
function histogram(at: Record<number, number>, spread = 0): number[] {
  const bins = new Array<number>(256).fill(0);
  for (let level = 1; level < 255; level++) bins[level] = spread;
  for (const [level, count] of Object.entries(at)) bins[Number(level)] = count;
  return bins;
}

describe('technical checks', () => {
  it('required attributes: modality or study date missing fails; body part, institution, operator missing warn', () => {
    assert.equal(checkRequiredAttributes(ct(1)).outcome, 'pass');
    const warned = checkRequiredAttributes(ct(1, { '00081070': undefined, '00180015': '' }));
    assert.equal(warned.outcome, 'warn');
    assert.equal(warned.parameters.attributes, 'BodyPartExamined, OperatorsName');
    const failed = checkRequiredAttributes(ct(1, { '00080060': undefined }));
    assert.equal(failed.outcome, 'fail');
    assert.equal(failed.messageKey, 'required-attributes.missing');
  });

  it('study date: present, a calendar date, not in the future beyond the tolerance', () => {
    const study = (date: string | undefined) => ({ series: [ct(1, { '00080020': date })] });
    assert.equal(checkStudyDate(study('20261105'), '2026-12-05', T).outcome, 'pass');
    assert.equal(checkStudyDate(study('20261206'), '2026-12-05', T).outcome, 'pass', 'one day ahead is within the tolerance');
    const future = checkStudyDate(study('20261210'), '2026-12-05', T);
    assert.deepEqual([future.outcome, future.messageKey, future.parameters.date], ['fail', 'study-date.future', '2026-12-10']);
    assert.equal(checkStudyDate(study(undefined), '2026-12-05', T).messageKey, 'study-date.missing');
    assert.equal(checkStudyDate(study('20260231'), '2026-12-05', T).messageKey, 'study-date.invalid');
  });

  it('sex against body part: an organ of the other sex fails, a man\'s mammogram warns', () => {
    assert.equal(checkSexBodyPart(ct(1)).outcome, 'pass');
    assert.equal(checkSexBodyPart(ct(1, { '00100040': 'F', '00180015': 'PROSTATE' })).outcome, 'fail');
    assert.equal(checkSexBodyPart(ct(1, { '00100040': 'M', '00180015': 'UTERUS' })).outcome, 'fail');
    const mammogram = checkSexBodyPart(ct(1, { '00080060': 'MG', '00180015': 'BREAST' }));
    assert.deepEqual([mammogram.outcome, mammogram.messageKey], ['warn', 'sex-body-part.unusual']);
    assert.equal(checkSexBodyPart(ct(1, { '00100040': 'F', '00080060': 'MG', '00180015': 'BREAST' })).outcome, 'pass');
  });

  it('patient age against birth and study dates', () => {
    assert.equal(checkPatientAge({ series: [ct(1)] }, T).outcome, 'pass');
    const off = checkPatientAge({ series: [ct(1, { '00101010': '045Y' })] }, T);
    assert.deepEqual([off.outcome, off.parameters.computed], ['warn', 61]);
    assert.equal(checkPatientAge({ series: [ct(1, { '00100030': '20270101' })] }, T).outcome, 'fail', 'born after the study');
    assert.equal(checkPatientAge({ series: [ct(1, { '00101010': undefined })] }, T).messageKey, 'patient-age.not-checked');
  });

  it('image count against the expectation of the modality (and body part), localizers not counted', () => {
    assert.equal(checkImageCount(ct(20), T).outcome, 'pass');
    const few = checkImageCount(ct(4), T);
    assert.deepEqual([few.outcome, few.messageKey, few.parameters.count, few.parameters.min], ['warn', 'image-count.too-few', 4, 10]);
    assert.equal(checkImageCount(ct(2, { '00080008': ['ORIGINAL', 'PRIMARY', 'LOCALIZER'] }), T).messageKey, 'image-count.not-checked');
    const thresholds = technicalCheckThresholdsSchema.parse({ imageCounts: [{ modality: 'CT', bodyPart: 'HEAD', min: 30 }, { modality: 'CT', min: 2 }] });
    assert.equal(checkImageCount(ct(4), thresholds).outcome, 'pass', 'the CHEST series meets the CT rule');
    assert.equal(checkImageCount(ct(4, { '00180015': 'HEAD' }), thresholds).outcome, 'warn', 'the HEAD rule matches first');
  });

  it('dose information: CTDIvol, exposure or an RDSR in the study', () => {
    assert.equal(checkDoseInformation({ series: [ct(3)] })[0]!.messageKey, 'dose-information.header');
    const missing = checkDoseInformation({ series: [ct(3, { '00189345': undefined })] });
    assert.deepEqual([missing[0]!.outcome, missing[0]!.parameters.modality], ['warn', 'CT']);
    const rdsr = series([header({ '00080016': '1.2.840.10008.5.1.4.1.1.88.67', '00080060': 'SR' })]);
    assert.equal(checkDoseInformation({ series: [ct(3, { '00189345': undefined }), rdsr] })[0]!.messageKey, 'dose-information.rdsr');
    const dx = series([header({ '00080060': 'DX', '00280010': 64, '00181153': 2500 })]);
    assert.equal(checkDoseInformation({ series: [dx] })[0]!.outcome, 'pass');
    assert.deepEqual(checkDoseInformation({ series: [series([header({ '00080060': 'MR', '00280010': 64 })])] }), [], 'MR records no dose');
  });

  it('slices: duplicates along the normal fail, instance numbers out of order warn', () => {
    assert.equal(checkSliceOrder(ct(5), T).outcome, 'pass');
    const duplicated = series([...ct(5).instances, ctSlice(2, { '00200013': 6 })]);
    const result = checkSliceOrder(duplicated, T);
    assert.deepEqual([result.outcome, result.parameters.duplicates], ['fail', 1]);
    const shuffled = series([0, 1, 2, 3].map((index) => ctSlice(index, { '00200013': [1, 3, 2, 4][index]! })));
    assert.equal(checkSliceOrder(shuffled, T).messageKey, 'slice-order.out-of-order');
    const repeated = series([0, 1, 2].map((index) => ctSlice(index, { '00200013': 1 })));
    assert.equal(checkSliceOrder(repeated, T).messageKey, 'slice-order.repeated-numbers');
    const reversed = series([0, 1, 2, 3].map((index) => ctSlice(index, { '00200013': 4 - index })));
    assert.equal(checkSliceOrder(reversed, T).outcome, 'pass', 'numbering from the feet up is an order too');
    assert.equal(checkSliceOrder(ct(2), T).messageKey, 'slice-order.not-checked');
  });

  it('burned-in annotation YES warns where it is not expected', () => {
    assert.equal(checkBurnedInAnnotation(ct(2, { '00280301': 'YES' }), T).outcome, 'warn');
    assert.equal(checkBurnedInAnnotation(ct(2, { '00280301': 'NO' }), T).outcome, 'pass');
    assert.equal(checkBurnedInAnnotation(ct(2, { '00080060': 'US', '00280301': 'YES' }), T).outcome, 'pass');
  });

  it('histograms: blank, saturated, clipped (radiography only) and ordinary images', () => {
    assert.equal(classifyHistogram(histogram({ 0: 16384 }), false, T), 'blank');
    assert.equal(classifyHistogram(histogram({ 128: 16384 }), false, T), 'blank', 'one grey all over is blank too');
    assert.equal(classifyHistogram(histogram({ 255: 15000 }, 5), false, T), 'saturated');
    assert.equal(classifyHistogram(histogram({ 0: 5000, 255: 4000 }, 20), true, T), 'clipped');
    assert.equal(classifyHistogram(histogram({ 0: 5000, 255: 4000 }, 20), false, T), 'ok', 'a CT shows air black by design');
    assert.equal(classifyHistogram(histogram({}, 60), true, T), 'ok');
  });

  it('pixels of a series: all sampled images blank fails, some warn', () => {
    const blank = { sopInstanceUid: '1', histogram: histogram({ 0: 16384 }) };
    const fine = { sopInstanceUid: '2', histogram: histogram({}, 60) };
    const all = checkPixels(series([ctSlice(0)], [blank, blank, blank]), T);
    assert.deepEqual([all.outcome, all.messageKey, all.parameters], ['fail', 'pixels.blank', { count: 3, sampled: 3 }]);
    assert.equal(checkPixels(series([ctSlice(0)], [blank, fine, fine]), T).outcome, 'warn');
    assert.equal(checkPixels(series([ctSlice(0)], [fine]), T).outcome, 'pass');
    assert.equal(checkPixels(series([ctSlice(0)], []), T).messageKey, 'pixels.not-checked');
  });

  it('a study: every check, the worst outcome, and non-image series left to the study-level checks', () => {
    const blank = { sopInstanceUid: '1', histogram: histogram({ 0: 16384 }) };
    const results = runTechnicalChecks({ series: [series(ct(12).instances, [blank]), series([header({ '00080016': '1.2.840.10008.5.1.4.1.1.88.22', '00080060': 'SR' })])] }, '2026-12-05');
    assert.deepEqual(
      [...new Set(results.map((result) => result.code))].sort(),
      ['burned-in-annotation', 'dose-information', 'image-count', 'patient-age', 'pixels', 'required-attributes', 'sex-body-part', 'slice-order', 'study-date'],
    );
    assert.equal(worstOutcome(results), 'fail');
    assert.equal(worstOutcome([]), 'pass');
  });

  it('every outcome explains itself with a message the viewer has in both languages, its parameters filled in', () => {
    const blank = { sopInstanceUid: '1', histogram: histogram({ 0: 16384 }) };
    const saturated = { sopInstanceUid: '2', histogram: histogram({ 255: 16384 }, 1) };
    const clipped = { sopInstanceUid: '3', histogram: histogram({ 0: 5000, 255: 5000 }, 10) };
    const dx = (overrides = {}) => series([header({ '00080060': 'DX', '00280010': 64, '00100040': 'M', '00180015': 'CHEST', ...overrides })], [clipped]);
    const studies = [
      { series: [ct(12), series(ct(3).instances, [blank]), series(ct(3).instances, [saturated])] },
      { series: [ct(3, { '00080020': undefined, '00101010': '030Y', '00280301': 'YES', '00189345': undefined, '00200013': 1 })] },
      { series: [ct(12, { '00080020': '20270101', '00100030': '20270601', '00180015': 'UTERUS' }), dx({ '00181153': 10 }), dx({ '00080060': 'MG', '00180015': 'BREAST' })] },
      { series: [ct(1, { '00080020': 'x' }), series([header({ '00080016': '1.2.840.10008.5.1.4.1.1.88.67' })])] },
      { series: [series([0, 1, 2, 3].map((index) => ctSlice(index, { '00200013': [1, 3, 2, 4][index]! }))), series([...ct(4).instances, ctSlice(1, { '00200013': 9 })])] },
      { series: [series(ct(12, { '00101010': '045Y' }).instances, [{ sopInstanceUid: '4', histogram: histogram({}, 60) }]), series(Array.from({ length: 5 }, () => header({ '00080060': 'DX', '00280010': 64 }))), series([header({ '00080060': 'US', '00280010': 64 })])] },
    ];
    const results: CheckResult[] = studies.flatMap((study) => runTechnicalChecks(study, '2026-12-05'));
    const keys = new Set(results.map((result) => result.messageKey));
    assert.equal(keys.size, 32, 'every message the checks give is exercised here');
    for (const result of results) {
      for (const locale of ['en', 'zh-CN'] as const) {
        const text = (CATALOGUES[locale] as Record<string, string>)[`check.${result.messageKey}`];
        assert.ok(text, `check.${result.messageKey} in ${locale}`);
        const unfilled = [...text.matchAll(/\{(\w+)\}/g)].map((match) => match[1]!).filter((name) => !(name in result.parameters));
        assert.deepEqual(unfilled, [], `check.${result.messageKey} (${locale}) has its parameters`);
      }
    }
  });

  it('samples first, last and evenly between', () => {
    assert.deepEqual(sampleIndexes(2, 3), [0, 1]);
    assert.deepEqual(sampleIndexes(101, 3), [0, 50, 100]);
    assert.deepEqual(sampleIndexes(10, 1), [0]);
  });

  it('settings: defaults, and bounds refused', () => {
    const defaults = qcWorklistSettingsSchema.parse({});
    assert.equal(defaults.sampling.defaultRatePercent, 5);
    assert.equal(defaults.checks.blankShare, 0.995);
    assert.equal(qcWorklistSettingsSchema.parse({ sampling: { rules: [{ modality: 'ct', ratePercent: 10 }] } }).sampling.rules[0]!.modality, 'CT');
    assert.equal(qcWorklistSettingsSchema.safeParse({ sampling: { rules: [{ ratePercent: 101 }] } }).success, false);
    assert.equal(qcWorklistSettingsSchema.safeParse({ checks: { blankShare: 0.3 } }).success, false);
    assert.equal(qcWorklistSettingsSchema.safeParse({ other: 1 }).success, false);
  });

  it('report QC requests: a non-conforming report names an error, a conforming one none', () => {
    assert.equal(reportQcGradeRequestSchema.safeParse({ grade: 'conforming' }).success, true);
    assert.equal(reportQcGradeRequestSchema.safeParse({ grade: 'non-conforming' }).success, false);
    assert.equal(reportQcGradeRequestSchema.safeParse({ grade: 'non-conforming', errors: ['wrong-laterality'] }).success, true);
    assert.equal(reportQcGradeRequestSchema.safeParse({ grade: 'conforming', errors: ['late'] }).success, false);
    assert.equal(reportQcGradeRequestSchema.safeParse({ grade: 'basically-conforming', errors: ['typo'] }).success, false);
  });
});
