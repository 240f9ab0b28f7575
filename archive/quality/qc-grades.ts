import type { ConfiguredLabel } from '../i18n/configured-label.ts';

/**
 * The rules of grading on a QC scale, without the schemas that check a configuration (qc-scales.ts):
 * zod-free, so the viewer's grading panel applies the same veto rule the archive does before a
 * grade is sent.
 */

export const defectCategories = [
  'positioning',
  'centring',
  'scan-range',
  'artefact',
  'exposure',
  'labels',
  'missing-content',
  'patient-data',
] as const;
export type DefectCategory = (typeof defectCategories)[number];

export interface QcGrade {
  code: string;
  label: ConfiguredLabel;
  reject: boolean;
}

export interface QcScale {
  id: string;
  /** DICOM Modality (0008,0060) values graded on this scale. */
  modalities: string[];
  /** Best first; reject grades last. */
  grades: QcGrade[];
}

export interface QcDefect {
  code: string;
  category: DefectCategory;
  label: ConfiguredLabel;
  veto: boolean;
  /** The modalities it applies to; absent: all. */
  modalities?: string[];
}

export interface QcConfiguration {
  scales: QcScale[];
  defects: QcDefect[];
}

/** The scale a modality is graded on, or null when the centre grades it on none. */
export function scaleForModality(configuration: QcConfiguration, modalityCode: string): QcScale | null {
  const wanted = modalityCode.trim().toUpperCase();
  return configuration.scales.find((scale) => scale.modalities.includes(wanted)) ?? null;
}

/** The defects a grader may pick for a series of this modality. */
export function defectsForModality(configuration: QcConfiguration, modalityCode: string): QcDefect[] {
  const wanted = modalityCode.trim().toUpperCase();
  return configuration.defects.filter((candidate) => !candidate.modalities || candidate.modalities.includes(wanted));
}

/** The position of a grade in its scale, 0 the best; a code the scale does not have is an error of the caller. */
export function gradeRank(scale: QcScale, gradeCode: string): number {
  const rank = scale.grades.findIndex((grade) => grade.code === gradeCode);
  if (rank < 0) throw new RangeError(`grade '${gradeCode}' is not on the QC scale '${scale.id}'`);
  return rank;
}

export function gradeOf(scale: QcScale, gradeCode: string): QcGrade {
  return scale.grades[gradeRank(scale, gradeCode)] as QcGrade;
}

/** A study takes its worst series' grade; null before any series is graded. */
export function gradeOfStudy(scale: QcScale, seriesGrades: readonly string[]): QcGrade | null {
  let worst: number | null = null;
  for (const seriesGrade of seriesGrades) worst = Math.max(worst ?? 0, gradeRank(scale, seriesGrade));
  return worst === null ? null : (scale.grades[worst] as QcGrade);
}

/**
 * The grade after the veto factors: the scale's lowest when any of the defects is a veto, else the
 * grade given. A defect code the catalogue does not have is an error of the caller (validate first).
 */
export function applyVetoes(configuration: QcConfiguration, scale: QcScale, gradeCode: string, defectCodes: readonly string[]): QcGrade {
  const given = gradeOf(scale, gradeCode);
  const vetoed = defectCodes.some((defectCode) => {
    const found = configuration.defects.find((candidate) => candidate.code === defectCode);
    if (!found) throw new RangeError(`defect '${defectCode}' is not in the QC catalogue`);
    return found.veto;
  });
  return vetoed ? (scale.grades[scale.grades.length - 1] as QcGrade) : given;
}
