import { z } from 'zod';
import { dicomDateToIso, firstString } from '../dicom/normalize.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';

/**
 * The automatic technical checks run at ingest (自动技术质控): pure functions over a study's headers
 * and a histogram of a few sampled images per series. Each result explains itself with a code, an
 * outcome, the series it concerns and a message key with parameters (the viewer's catalogue,
 * `quality.check.<messageKey>`), so a QC screen can say why without knowing the rule.
 */

export type CheckOutcome = 'pass' | 'warn' | 'fail';

export const CHECK_CODES = ['required-attributes', 'study-date', 'sex-body-part', 'patient-age', 'image-count', 'dose-information', 'slice-order', 'burned-in-annotation', 'pixels'] as const;
export type CheckCode = (typeof CHECK_CODES)[number];

export interface CheckResult {
  code: CheckCode;
  outcome: CheckOutcome;
  /** The series a result is about; none for a study-level check. */
  seriesInstanceUid?: string;
  /** A key under `quality.check.` in the message catalogue. */
  messageKey: string;
  parameters: Record<string, string | number>;
}

/** What a centre may tune (qc_worklist_settings.settings.checks); every field has a shipped default. */
export const technicalCheckThresholdsSchema = z.strictObject({
  /** A study date later than today by more than this is in the future (time zones, clock drift). */
  futureDateToleranceDays: z.number().int().min(0).max(7).default(1),
  /** Patient's Age (0010,1010) may differ from the age computed from birth and study dates by this much. */
  ageToleranceYears: z.number().int().min(0).max(5).default(1),
  /** Images sampled per series for the histogram checks (first, middle, last, then evenly between). */
  samplesPerSeries: z.number().int().min(1).max(10).default(3),
  /** An image is blank when one grey level covers at least this share of its pixels. */
  blankShare: z.number().gt(0.5).max(1).default(0.995),
  /** An image is saturated when the brightest level covers at least this share. */
  saturatedShare: z.number().gt(0).max(1).default(0.9),
  /** An image is mostly clipped when the darkest and brightest levels together cover at least this share. */
  clippedShare: z.number().gt(0).max(1).default(0.5),
  /** Clipping is judged only for these modalities: a CT or MR shows air as black by design. */
  clippingModalities: z.array(z.string().min(1).max(16)).max(32).default(['CR', 'DX', 'MG']),
  /** How many images a series is expected to have, by modality and optionally body part (first match wins). */
  imageCounts: z
    .array(z.strictObject({ modality: z.string().min(1).max(16), bodyPart: z.string().min(1).max(64).optional(), min: z.number().int().min(0).optional(), max: z.number().int().min(1).optional() }))
    .max(100)
    .default([
      { modality: 'CT', min: 10 },
      { modality: 'MR', min: 5 },
      { modality: 'DX', min: 1, max: 4 },
      { modality: 'CR', min: 1, max: 4 },
      { modality: 'MG', min: 1, max: 8 },
    ]),
  /** Two slices closer than this along the slice normal are at the same position (duplicates). */
  duplicateSliceToleranceMm: z.number().min(0).max(1).default(0.01),
  /** Modalities where pixel-burned text is normal (ultrasound, captures, endoscopy, documents). */
  burnedInExpected: z.array(z.string().min(1).max(16)).max(32).default(['US', 'SC', 'OT', 'ES', 'XC', 'DOC', 'SM']),
});
export type TechnicalCheckThresholds = z.infer<typeof technicalCheckThresholdsSchema>;
export const DEFAULT_CHECK_THRESHOLDS: TechnicalCheckThresholds = technicalCheckThresholdsSchema.parse({});

/** One sampled image as the pixel checks see it: a 256-bin histogram of its displayed grey levels. */
export interface ImageSample {
  sopInstanceUid: string;
  histogram: readonly number[];
}

export interface CheckedSeries {
  seriesInstanceUid: string;
  /** Each current instance's header (DICOM JSON without bulk data), in any order. */
  instances: readonly DicomJsonDataset[];
  /** Histograms of the sampled images; empty when none could be drawn. */
  samples: readonly ImageSample[];
}

export interface CheckedStudy {
  series: readonly CheckedSeries[];
}

const TAG = {
  sopClassUid: '00080016',
  studyDate: '00080020',
  modality: '00080060',
  institutionName: '00080080',
  operatorsName: '00081070',
  patientBirthDate: '00100030',
  patientSex: '00100040',
  patientAge: '00101010',
  bodyPartExamined: '00180015',
  exposure: '00181152',
  exposureInMicroAs: '00181153',
  areaDoseProduct: '0018115E',
  ctdiVol: '00189345',
  imageType: '00080008',
  instanceNumber: '00200013',
  imagePositionPatient: '00200032',
  imageOrientationPatient: '00200037',
  burnedInAnnotation: '00280301',
  entranceDose: '00400302',
  organDose: '00400316',
  entranceDoseInMgy: '00408302',
} as const;

/** Radiation dose SR (X-Ray, and Patient Radiation Dose): a study that has one carries its dose there. */
const DOSE_SR_CLASSES = new Set(['1.2.840.10008.5.1.4.1.1.88.67', '1.2.840.10008.5.1.4.1.1.88.76']);
/** Where each dose-recording modality carries its dose in the image header. */
const DOSE_TAGS: Record<string, readonly string[]> = {
  CT: [TAG.ctdiVol],
  DX: [TAG.exposure, TAG.exposureInMicroAs, TAG.areaDoseProduct, TAG.entranceDose, TAG.entranceDoseInMgy],
  CR: [TAG.exposure, TAG.exposureInMicroAs, TAG.areaDoseProduct, TAG.entranceDose, TAG.entranceDoseInMgy],
  MG: [TAG.organDose, TAG.entranceDoseInMgy, TAG.entranceDose, TAG.exposure, TAG.exposureInMicroAs],
};
/** Organs only one sex has: a record of the other sex examined there contradicts itself (fail). A man's breast or mammogram is rare, not impossible (warn). */
const MALE_ONLY_PARTS = new Set(['PROSTATE', 'TESTIS', 'SCROTUM', 'PENIS']);
const FEMALE_ONLY_PARTS = new Set(['UTERUS', 'OVARY', 'CERVIX', 'VAGINA']);
const MILLISECONDS_PER_DAY = 86_400_000;

function upper(value: string | null): string | null {
  const trimmed = value?.trim();
  return trimmed ? trimmed.toUpperCase() : null;
}

function present(dataset: DicomJsonDataset, tag: string): boolean {
  const value = dataset[tag]?.Value?.[0];
  if (value === undefined || value === null) return false;
  if (typeof value === 'string') return value.trim() !== '';
  if (typeof value === 'object' && ('Alphabetic' in value || 'Ideographic' in value)) return Boolean((value as { Alphabetic?: string; Ideographic?: string }).Alphabetic?.trim() || (value as { Ideographic?: string }).Ideographic?.trim());
  return true;
}

function numbers(dataset: DicomJsonDataset, tag: string): number[] {
  return (dataset[tag]?.Value ?? []).map(Number).filter((value) => Number.isFinite(value));
}

/** Image instances: those with rows of pixels (not SR, KOS, PR or an encapsulated document). */
function isImage(dataset: DicomJsonDataset): boolean {
  return Boolean(dataset['00280010']);
}

/** (0008,0060) Modality, (0008,0020) Study Date missing: fail; (0018,0015), (0008,0080), (0008,1070) missing: warn. */
export function checkRequiredAttributes(series: CheckedSeries): CheckResult {
  const first = series.instances.find(isImage) ?? series.instances[0];
  const missing = (tags: readonly [string, string][]) => (first ? tags.filter(([, tag]) => !present(first, tag)).map(([name]) => name) : tags.map(([name]) => name));
  const essential = missing([['Modality', TAG.modality], ['StudyDate', TAG.studyDate]]);
  const expected = missing([['BodyPartExamined', TAG.bodyPartExamined], ['InstitutionName', TAG.institutionName], ['OperatorsName', TAG.operatorsName]]);
  const all = [...essential, ...expected];
  const outcome: CheckOutcome = essential.length ? 'fail' : expected.length ? 'warn' : 'pass';
  return { code: 'required-attributes', outcome, seriesInstanceUid: series.seriesInstanceUid, messageKey: all.length ? 'required-attributes.missing' : 'required-attributes.ok', parameters: all.length ? { attributes: all.join(', ') } : {} };
}

/** The study date: present, a calendar date, and not after today plus the tolerance. */
export function checkStudyDate(study: CheckedStudy, today: string, thresholds: TechnicalCheckThresholds): CheckResult {
  const raw = study.series.flatMap((series) => series.instances).map((dataset) => firstString(dataset, TAG.studyDate)).find((value) => value?.trim());
  const date = dicomDateToIso(raw);
  if (!date) return { code: 'study-date', outcome: 'fail', messageKey: raw ? 'study-date.invalid' : 'study-date.missing', parameters: raw ? { value: raw } : {} };
  const daysAhead = (Date.parse(date) - Date.parse(today)) / MILLISECONDS_PER_DAY;
  if (daysAhead > thresholds.futureDateToleranceDays) return { code: 'study-date', outcome: 'fail', messageKey: 'study-date.future', parameters: { date, today } };
  return { code: 'study-date', outcome: 'pass', messageKey: 'study-date.ok', parameters: { date } };
}

/** Patient sex against the body part or modality (the organ sets above). */
export function checkSexBodyPart(series: CheckedSeries): CheckResult {
  const first = series.instances[0];
  const sex = first ? upper(firstString(first, TAG.patientSex)) : null;
  const bodyPart = first ? upper(firstString(first, TAG.bodyPartExamined)) : null;
  const modality = first ? upper(firstString(first, TAG.modality)) : null;
  const base = { code: 'sex-body-part' as const, seriesInstanceUid: series.seriesInstanceUid };
  const part = bodyPart ?? modality ?? '';
  const contradicts = (sex === 'M' && bodyPart !== null && FEMALE_ONLY_PARTS.has(bodyPart)) || (sex === 'F' && bodyPart !== null && MALE_ONLY_PARTS.has(bodyPart));
  if (contradicts) return { ...base, outcome: 'fail', messageKey: 'sex-body-part.mismatch', parameters: { sex: sex!, bodyPart: part } };
  if (sex === 'M' && (modality === 'MG' || bodyPart === 'BREAST')) return { ...base, outcome: 'warn', messageKey: 'sex-body-part.unusual', parameters: { sex, bodyPart: part } };
  return { ...base, outcome: 'pass', messageKey: 'sex-body-part.ok', parameters: {} };
}

/** Patient's Age (nnnY/M/W/D) against the age from birth date to study date; a mismatch beyond the tolerance warns. */
export function checkPatientAge(study: CheckedStudy, thresholds: TechnicalCheckThresholds): CheckResult {
  const first = study.series.flatMap((series) => series.instances)[0];
  const stated = first ? /^(\d{3})([DWMY])$/.exec(firstString(first, TAG.patientAge)?.trim() ?? '') : null;
  const birth = first ? dicomDateToIso(firstString(first, TAG.patientBirthDate)) : null;
  const studyDate = first ? dicomDateToIso(firstString(first, TAG.studyDate)) : null;
  if (!stated || !birth || !studyDate) return { code: 'patient-age', outcome: 'pass', messageKey: 'patient-age.not-checked', parameters: {} };
  const statedYears = Number(stated[1]) / { Y: 1, M: 12, W: 52.18, D: 365.25 }[stated[2] as 'Y' | 'M' | 'W' | 'D'];
  const [by, bm, bd] = birth.split('-').map(Number) as [number, number, number];
  const [sy, sm, sd] = studyDate.split('-').map(Number) as [number, number, number];
  const computed = sy - by - (sm < bm || (sm === bm && sd < bd) ? 1 : 0);
  if (computed < 0) return { code: 'patient-age', outcome: 'fail', messageKey: 'patient-age.born-after-study', parameters: { birthDate: birth, studyDate } };
  if (Math.abs(statedYears - computed) > thresholds.ageToleranceYears) {
    return { code: 'patient-age', outcome: 'warn', messageKey: 'patient-age.mismatch', parameters: { stated: stated[0], computed } };
  }
  return { code: 'patient-age', outcome: 'pass', messageKey: 'patient-age.ok', parameters: { computed } };
}

/** The number of images against the first expectation matching the series' modality (and body part). Localizers are not counted. */
export function checkImageCount(series: CheckedSeries, thresholds: TechnicalCheckThresholds): CheckResult {
  const images = series.instances.filter((dataset) => isImage(dataset) && !(dataset[TAG.imageType]?.Value ?? []).includes('LOCALIZER'));
  const first = series.instances[0];
  const modality = first ? upper(firstString(first, TAG.modality)) : null;
  const bodyPart = first ? upper(firstString(first, TAG.bodyPartExamined)) : null;
  const base = { code: 'image-count' as const, seriesInstanceUid: series.seriesInstanceUid };
  const expectation = thresholds.imageCounts.find((candidate) => candidate.modality.toUpperCase() === modality && (!candidate.bodyPart || candidate.bodyPart.toUpperCase() === bodyPart));
  // A series of localizers only (a CT scout) or with no image at all is not what the expectation is about.
  if (!expectation || images.length === 0) return { ...base, outcome: 'pass', messageKey: 'image-count.not-checked', parameters: { count: images.length } };
  const parameters = { count: images.length, min: expectation.min ?? 0, max: expectation.max ?? '∞' };
  if (expectation.min !== undefined && images.length < expectation.min) return { ...base, outcome: 'warn', messageKey: 'image-count.too-few', parameters };
  if (expectation.max !== undefined && images.length > expectation.max) return { ...base, outcome: 'warn', messageKey: 'image-count.too-many', parameters };
  return { ...base, outcome: 'pass', messageKey: 'image-count.ok', parameters };
}

/** CT, DX, CR and MG record their dose: in an RDSR of the study, or in the image headers (CTDIvol, exposure, entrance or organ dose, DAP). */
export function checkDoseInformation(study: CheckedStudy): CheckResult[] {
  const all = study.series.flatMap((series) => series.instances);
  const hasDoseSr = all.some((dataset) => DOSE_SR_CLASSES.has(firstString(dataset, TAG.sopClassUid) ?? ''));
  const results: CheckResult[] = [];
  for (const series of study.series) {
    const images = series.instances.filter(isImage);
    const modality = images[0] ? upper(firstString(images[0], TAG.modality)) : null;
    const tags = modality ? DOSE_TAGS[modality] : undefined;
    if (!tags) continue;
    const base = { code: 'dose-information' as const, seriesInstanceUid: series.seriesInstanceUid };
    if (hasDoseSr) results.push({ ...base, outcome: 'pass', messageKey: 'dose-information.rdsr', parameters: { modality: modality ?? '' } });
    else if (images.some((dataset) => tags.some((tag) => numbers(dataset, tag).length > 0))) results.push({ ...base, outcome: 'pass', messageKey: 'dose-information.header', parameters: { modality: modality ?? '' } });
    else results.push({ ...base, outcome: 'warn', messageKey: 'dose-information.missing', parameters: { modality: modality ?? '' } });
  }
  return results;
}

/**
 * Slices of one orientation sorted by their position along the slice normal (Image Position Patient
 * · the normal of Image Orientation Patient): two at the same position are duplicates (fail); Instance
 * Numbers that do not run monotonically with position are out of order (warn), as are repeated numbers.
 */
export function checkSliceOrder(series: CheckedSeries, thresholds: TechnicalCheckThresholds): CheckResult {
  const base = { code: 'slice-order' as const, seriesInstanceUid: series.seriesInstanceUid };
  const slices = series.instances
    .map((dataset) => ({ position: numbers(dataset, TAG.imagePositionPatient), orientation: numbers(dataset, TAG.imageOrientationPatient), number: numbers(dataset, TAG.instanceNumber)[0] }))
    .filter((slice) => slice.position.length === 3 && slice.orientation.length === 6);
  const reference = slices[0]?.orientation;
  const sameOrientation = reference ? slices.filter((slice) => slice.orientation.every((value, index) => Math.abs(value - reference[index]!) < 1e-3)) : [];
  if (!reference || sameOrientation.length < 3) return { ...base, outcome: 'pass', messageKey: 'slice-order.not-checked', parameters: {} };
  const [rx, ry, rz, cx, cy, cz] = reference as [number, number, number, number, number, number];
  const normal = [ry * cz - rz * cy, rz * cx - rx * cz, rx * cy - ry * cx] as const;
  const located = sameOrientation
    .map((slice) => ({ distance: slice.position[0]! * normal[0] + slice.position[1]! * normal[1] + slice.position[2]! * normal[2], number: slice.number }))
    .sort((a, b) => a.distance - b.distance);
  let duplicates = 0;
  for (let index = 1; index < located.length; index++) if (located[index]!.distance - located[index - 1]!.distance <= thresholds.duplicateSliceToleranceMm) duplicates++;
  if (duplicates) return { ...base, outcome: 'fail', messageKey: 'slice-order.duplicates', parameters: { duplicates, slices: located.length } };
  const numbered = located.map((slice) => slice.number).filter((number): number is number => number !== undefined);
  if (new Set(numbered).size !== numbered.length) return { ...base, outcome: 'warn', messageKey: 'slice-order.repeated-numbers', parameters: { slices: located.length } };
  const steps = numbered.slice(1).map((number, index) => Math.sign(number - numbered[index]!));
  if (numbered.length === located.length && steps.some((step) => step !== steps[0])) return { ...base, outcome: 'warn', messageKey: 'slice-order.out-of-order', parameters: { slices: located.length } };
  return { ...base, outcome: 'pass', messageKey: 'slice-order.ok', parameters: { slices: located.length } };
}

/** Burned In Annotation (0028,0301) YES on a modality where pixel text is not expected (a CT or radiograph). */
export function checkBurnedInAnnotation(series: CheckedSeries, thresholds: TechnicalCheckThresholds): CheckResult {
  const first = series.instances[0];
  const modality = first ? upper(firstString(first, TAG.modality)) : null;
  const burned = series.instances.filter((dataset) => upper(firstString(dataset, TAG.burnedInAnnotation)) === 'YES').length;
  const expected = modality !== null && thresholds.burnedInExpected.some((candidate) => candidate.toUpperCase() === modality);
  const base = { code: 'burned-in-annotation' as const, seriesInstanceUid: series.seriesInstanceUid };
  if (burned && !expected) return { ...base, outcome: 'warn', messageKey: 'burned-in-annotation.unexpected', parameters: { modality: modality ?? '', images: burned } };
  return { ...base, outcome: 'pass', messageKey: 'burned-in-annotation.ok', parameters: {} };
}

export type ImageVerdict = 'blank' | 'saturated' | 'clipped' | 'ok';

/** One image from its 256-bin histogram of displayed grey levels. */
export function classifyHistogram(histogram: readonly number[], clippingApplies: boolean, thresholds: TechnicalCheckThresholds): ImageVerdict {
  const total = histogram.reduce((sum, count) => sum + count, 0);
  if (total === 0) return 'blank';
  const brightest = histogram[histogram.length - 1] ?? 0;
  if (brightest / total >= thresholds.saturatedShare) return 'saturated';
  if (Math.max(...histogram) / total >= thresholds.blankShare) return 'blank';
  if (clippingApplies && ((histogram[0] ?? 0) + brightest) / total >= thresholds.clippedShare) return 'clipped';
  return 'ok';
}

/** The sampled images of a series: all blank or saturated fails, some warns; mostly clipped warns. */
export function checkPixels(series: CheckedSeries, thresholds: TechnicalCheckThresholds): CheckResult {
  const base = { code: 'pixels' as const, seriesInstanceUid: series.seriesInstanceUid };
  if (series.samples.length === 0) return { ...base, outcome: 'pass', messageKey: 'pixels.not-checked', parameters: {} };
  const modality = series.instances[0] ? upper(firstString(series.instances[0], TAG.modality)) : null;
  const clippingApplies = modality !== null && thresholds.clippingModalities.some((candidate) => candidate.toUpperCase() === modality);
  const verdicts = series.samples.map((sample) => classifyHistogram(sample.histogram, clippingApplies, thresholds));
  const sampled = verdicts.length;
  for (const verdict of ['blank', 'saturated'] as const) {
    const count = verdicts.filter((candidate) => candidate === verdict).length;
    if (count === sampled) return { ...base, outcome: 'fail', messageKey: `pixels.${verdict}`, parameters: { count, sampled } };
    if (count) return { ...base, outcome: 'warn', messageKey: `pixels.${verdict}`, parameters: { count, sampled } };
  }
  const clipped = verdicts.filter((verdict) => verdict === 'clipped').length;
  if (clipped) return { ...base, outcome: 'warn', messageKey: 'pixels.clipped', parameters: { count: clipped, sampled } };
  return { ...base, outcome: 'pass', messageKey: 'pixels.ok', parameters: { sampled } };
}

/** Every check of a study; `today` is the region's calendar date (YYYY-MM-DD). */
export function runTechnicalChecks(study: CheckedStudy, today: string, thresholds: TechnicalCheckThresholds = DEFAULT_CHECK_THRESHOLDS): CheckResult[] {
  const imageSeries = study.series.filter((series) => series.instances.some(isImage));
  return [
    checkStudyDate(study, today, thresholds),
    checkPatientAge(study, thresholds),
    ...imageSeries.flatMap((series) => [
      checkRequiredAttributes(series),
      checkSexBodyPart(series),
      checkImageCount(series, thresholds),
      checkSliceOrder(series, thresholds),
      checkBurnedInAnnotation(series, thresholds),
      checkPixels(series, thresholds),
    ]),
    ...checkDoseInformation(study),
  ];
}

const SEVERITY: Record<CheckOutcome, number> = { pass: 0, warn: 1, fail: 2 };

/** The worst outcome of a study's checks (pass when there are none). */
export function worstOutcome(results: readonly CheckResult[]): CheckOutcome {
  return results.reduce<CheckOutcome>((worst, result) => (SEVERITY[result.outcome] > SEVERITY[worst] ? result.outcome : worst), 'pass');
}

/** Which instances of a series to sample: first, last, middle, then evenly between, up to `count`, in series order. */
export function sampleIndexes(length: number, count: number): number[] {
  if (length <= count) return Array.from({ length }, (_, index) => index);
  const chosen = new Set<number>();
  for (let step = 0; step < count; step++) chosen.add(Math.round((step * (length - 1)) / (count - 1 || 1)));
  return [...chosen].sort((a, b) => a - b);
}
