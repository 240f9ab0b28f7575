import { z } from 'zod';
import { configuredCodeSchema, configuredLabelSchema, type CataloguedCode, type ConfiguredLabel } from '../i18n/configured-label.ts';
import { dicomCodeSchema, gradeOf, gradeRank, scaleForModality, type QcConfiguration } from '../quality/qc-scales.ts';

/**
 * The mutual-recognition mark (互认标识), computed from facts and never typed by anyone. A study
 * carries it only when all of these hold:
 *
 * 1. its modality and body part are an examination item on the region's list of recognised items;
 * 2. its institution's accreditation for that item is current today (validFrom ≤ today ≤ validUntil);
 * 3. its QC grade is at or above the region's minimum for its scale, and is never a reject grade,
 *    whatever the minimum says;
 * 4. today is within the item's validity period counted from the study date.
 *
 * The mark belongs to the images: the 2022 national measures recognise images and objective data,
 * not the diagnostic conclusion, so nothing here looks at the report. Its text is the region's
 * abbreviation before `HR` (渝HR, 鄂HR, 晋HR), valid in that region.
 *
 * When a study lacks it, every failed condition is returned with its parameters, so a screen can
 * always say why (not graded yet *and* beyond validity, say). An unknown item stops the accreditation
 * and validity checks, which are per item.
 *
 * "Today" is the region's local calendar date, given by the caller: study dates are local dates.
 */

const isoDate = z.iso.date();

export interface ExaminationItem {
  code: string;
  label: ConfiguredLabel;
  /** DICOM Modality (0008,0060) values. */
  modalities: string[];
  /** DICOM Body Part Examined (0018,0015) values. */
  bodyParts: string[];
  /** Days after the study date during which its images may be recognised. */
  validityDays: number;
}

export interface RecognitionRegion {
  /** The province or city abbreviation written before HR. */
  abbreviation: string;
  items: ExaminationItem[];
  /** Per QC scale id, the lowest grade code that still earns the mark. */
  minimumGrades: Record<string, string>;
}

export interface Accreditation {
  institutionId: string;
  itemCode: string;
  validFrom: string;
  /** null: until withdrawn. */
  validUntil: string | null;
}

export interface HrStudy {
  institutionId: string;
  modality: string;
  bodyPart: string | null;
  /** YYYY-MM-DD, as the index stores Study Date. */
  studyDate: string | null;
  /** The study's QC grade code (its worst series'), null before grading. */
  qcGrade: string | null;
}

export type HrAbsenceReason =
  | { code: 'no-examination-item'; modality: string; bodyPart: string | null }
  | { code: 'institution-not-accredited'; itemCode: string }
  | { code: 'accreditation-not-current'; itemCode: string; validFrom: string; validUntil: string | null }
  | { code: 'no-qc-scale'; modality: string }
  | { code: 'not-graded' }
  | { code: 'grade-rejected'; grade: string }
  | { code: 'grade-below-minimum'; grade: string; minimumGrade: string }
  | { code: 'study-date-unknown' }
  | { code: 'beyond-validity'; itemCode: string; studyDate: string; validityDays: number; expiredOn: string };

export type HrMarkResult =
  | { carries: true; text: string; itemCode: string; grade: string; validUntil: string }
  | { carries: false; reasons: HrAbsenceReason[] };


export const examinationItemSchema: z.ZodType<ExaminationItem> = z.strictObject({
  code: configuredCodeSchema,
  label: configuredLabelSchema,
  modalities: z.array(dicomCodeSchema).min(1).max(16),
  bodyParts: z.array(dicomCodeSchema).min(1).max(32),
  validityDays: z.number().int().min(1).max(3650),
});

/** A region's recognition settings, checked where they enter (the admin API). */
export const recognitionRegionSchema: z.ZodType<RecognitionRegion> = z
  .strictObject({
    abbreviation: z.string().trim().regex(/^\p{Script=Han}{1,4}$/u, 'one to four Chinese characters'),
    items: z.array(examinationItemSchema).max(500),
    minimumGrades: z.record(configuredCodeSchema, configuredCodeSchema),
  })
  .superRefine((region, context) => {
    if (new Set(region.items.map((item) => item.code)).size !== region.items.length) {
      context.addIssue({ code: 'custom', path: ['items'], message: 'item codes repeat' });
    }
    // One modality and body part must name one item, or a study's validity would depend on list order.
    const pairs = region.items.flatMap((item) => item.modalities.flatMap((modality) => item.bodyParts.map((bodyPart) => `${modality}|${bodyPart}`)));
    if (new Set(pairs).size !== pairs.length) {
      context.addIssue({ code: 'custom', path: ['items'], message: 'a modality and body part belong to two items' });
    }
  });

export const accreditationSchema: z.ZodType<Accreditation> = z
  .strictObject({ institutionId: z.string().min(1), itemCode: configuredCodeSchema, validFrom: isoDate, validUntil: isoDate.nullable() })
  .refine((accreditation) => accreditation.validUntil === null || accreditation.validFrom <= accreditation.validUntil, {
    message: 'validUntil is before validFrom',
    path: ['validUntil'],
  });

/** The default items are the ones the catalogue has a `recognition.item.<code>` label for. */
type DefaultItemCode = CataloguedCode<'recognition.item.'>;

const item = (itemCode: DefaultItemCode, modalities: string[], bodyParts: string[], validityDays: number): ExaminationItem => ({
  code: itemCode,
  label: { key: `recognition.item.${itemCode}` as const },
  modalities,
  bodyParts,
  validityDays,
});

/**
 * Ours, not published: provinces publish their recognised items (dozens to hundreds) but we found
 * no published validity periods to copy, so these are conservative starting values a region edits.
 * Radiographs and body CT change with the illness within weeks; MR of the head, spine and knee is
 * used for longer.
 */
export const DEFAULT_RECOGNITION_REGION: RecognitionRegion = {
  abbreviation: '渝',
  items: [
    item('DR-CHEST', ['DX', 'CR'], ['CHEST'], 30),
    item('CT-HEAD', ['CT'], ['HEAD', 'BRAIN'], 30),
    item('CT-CHEST', ['CT'], ['CHEST', 'LUNG'], 30),
    item('CT-ABDOMEN', ['CT'], ['ABDOMEN'], 30),
    item('MR-HEAD', ['MR'], ['HEAD', 'BRAIN'], 90),
    item('MR-LSPINE', ['MR'], ['LSPINE'], 90),
    item('MR-KNEE', ['MR'], ['KNEE'], 180),
  ],
  minimumGrades: { radiography: 'B', ct: 'good', mr: 'good' },
};

export { regionToday } from './region-day.ts';

export function examinationItemOf(region: RecognitionRegion, modality: string, bodyPart: string | null): ExaminationItem | null {
  if (!bodyPart) return null;
  const wantedModality = modality.trim().toUpperCase();
  const wantedBodyPart = bodyPart.trim().toUpperCase();
  return region.items.find((candidate) => candidate.modalities.includes(wantedModality) && candidate.bodyParts.includes(wantedBodyPart)) ?? null;
}

export function hrMarkOf(
  study: HrStudy,
  context: { region: RecognitionRegion; accreditations: readonly Accreditation[]; qc: QcConfiguration; today: string },
): HrMarkResult {
  const { region, accreditations, qc, today } = context;
  const reasons: HrAbsenceReason[] = [];
  const examinationItem = examinationItemOf(region, study.modality, study.bodyPart);

  if (!examinationItem) {
    reasons.push({ code: 'no-examination-item', modality: study.modality, bodyPart: study.bodyPart });
  } else {
    const accreditation = currentOrLatestAccreditation(accreditations, study.institutionId, examinationItem.code, today);
    if (!accreditation) reasons.push({ code: 'institution-not-accredited', itemCode: examinationItem.code });
    else if (!isCurrent(accreditation, today)) {
      reasons.push({ code: 'accreditation-not-current', itemCode: examinationItem.code, validFrom: accreditation.validFrom, validUntil: accreditation.validUntil });
    }
  }

  const scale = scaleForModality(qc, study.modality);
  if (!scale) reasons.push({ code: 'no-qc-scale', modality: study.modality });
  else if (study.qcGrade === null) reasons.push({ code: 'not-graded' });
  else if (gradeOf(scale, study.qcGrade).reject) reasons.push({ code: 'grade-rejected', grade: study.qcGrade });
  else {
    // A scale the region set no minimum for accepts only its best grade: no silent pass.
    const minimumGrade = region.minimumGrades[scale.id] ?? (scale.grades[0]?.code as string);
    if (gradeRank(scale, study.qcGrade) > gradeRank(scale, minimumGrade)) {
      reasons.push({ code: 'grade-below-minimum', grade: study.qcGrade, minimumGrade });
    }
  }

  let validUntil: string | null = null;
  if (study.studyDate === null) reasons.push({ code: 'study-date-unknown' });
  else if (examinationItem) {
    validUntil = addDays(study.studyDate, examinationItem.validityDays);
    if (today > validUntil) {
      reasons.push({
        code: 'beyond-validity',
        itemCode: examinationItem.code,
        studyDate: study.studyDate,
        validityDays: examinationItem.validityDays,
        expiredOn: addDays(validUntil, 1),
      });
    }
  }

  // Past the first test the others only narrow types: each of them pushed a reason above.
  if (reasons.length > 0 || !examinationItem || validUntil === null || study.qcGrade === null) return { carries: false, reasons };
  return { carries: true, text: `${region.abbreviation}HR`, itemCode: examinationItem.code, grade: study.qcGrade, validUntil };
}

function isCurrent(accreditation: Accreditation, today: string): boolean {
  return accreditation.validFrom <= today && (accreditation.validUntil === null || today <= accreditation.validUntil);
}

/** The current accreditation if there is one, else the one to name in the reason (the latest started). */
function currentOrLatestAccreditation(accreditations: readonly Accreditation[], institutionId: string, itemCode: string, today: string): Accreditation | null {
  const own = accreditations.filter((candidate) => candidate.institutionId === institutionId && candidate.itemCode === itemCode);
  return own.find((candidate) => isCurrent(candidate, today)) ?? own.sort((a, b) => b.validFrom.localeCompare(a.validFrom))[0] ?? null;
}

/** YYYY-MM-DD plus whole days, on the calendar (no time zone enters). */
function addDays(date: string, days: number): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  return new Date(Date.UTC(year, month - 1, day + days)).toISOString().slice(0, 10);
}
