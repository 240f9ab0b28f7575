import type { ConfiguredLabel } from '../../../archive/i18n/configured-label.ts';
import { message } from '../../../archive/i18n/messages.ts';
import { applyVetoes, defectCategories, type DefectCategory, type QcDefect, type QcGrade, type QcScale } from '../../../archive/quality/qc-grades.ts';
import type { Locale } from '../i18n/messages.ts';

/**
 * The grading panel's logic: labels a centre configured (a catalogue key or its own words in both
 * languages), the grade a choice will be recorded as (the archive's own veto rule), and the defects
 * grouped by category in the catalogue's order.
 */

export function configuredText(label: ConfiguredLabel, locale: Locale): string {
  return 'key' in label ? message(label.key, locale) : label[locale === 'zh-CN' ? 'zh' : 'en'];
}

/** What the archive will record for this choice: the scale's lowest grade when a veto defect is ticked. */
export function recordedGrade(scale: QcScale, defects: readonly QcDefect[], gradeCode: string, ticked: readonly string[]): QcGrade {
  return applyVetoes({ scales: [scale], defects: [...defects] }, scale, gradeCode, ticked);
}

/** Whether grading so writes the "Rejected for Quality Reasons" KOS into the study. */
export function writesRejection(scale: QcScale, defects: readonly QcDefect[], gradeCode: string | undefined, ticked: readonly string[]): boolean {
  return gradeCode !== undefined && recordedGrade(scale, defects, gradeCode, ticked).reject;
}

export function defectsByCategory(defects: readonly QcDefect[]): { category: DefectCategory; defects: QcDefect[] }[] {
  return defectCategories.map((category) => ({ category, defects: defects.filter((defect) => defect.category === category) })).filter((group) => group.defects.length > 0);
}
