import type { Translate } from '../i18n/i18n.ts';

/** What Cornerstone computes for a rectangle or ellipse ROI (units: mm² or px², HU on CT). */
export interface RoiStats {
  area?: number;
  areaUnit?: string;
  mean?: number;
  stdDev?: number;
  max?: number;
  min?: number;
  modalityUnit?: string;
  isEmptyArea?: boolean;
}

/** One decimal from 10 up, two below: enough for HU and mm² at a glance. */
export function formatMeasurement(value: number): string {
  return value.toFixed(Math.abs(value) >= 10 ? 1 : 2);
}

/**
 * The label beside an ROI in the reader's language: area, mean, standard deviation, maximum and
 * minimum, each in its unit (Cornerstone's own labels are English only).
 */
export function roiTextLines(stats: RoiStats | undefined, t: Translate): string[] {
  if (!stats) return [];
  const lines: string[] = [];
  const unit = baseUnit(stats.modalityUnit);
  if (typeof stats.area === 'number' && !stats.isEmptyArea) lines.push(t('measure.area', { value: formatMeasurement(stats.area), unit: baseUnit(stats.areaUnit) }).trim());
  for (const [key, value] of [
    ['measure.mean', stats.mean],
    ['measure.stdDev', stats.stdDev],
    ['measure.max', stats.max],
    ['measure.min', stats.min],
  ] as const) {
    if (typeof value === 'number' && Number.isFinite(value)) lines.push(t(key, { value: formatMeasurement(value), unit }).trim());
  }
  return lines;
}

/** A length label: the value and its unit (the overlay says how the image is calibrated, in the reader's language). */
export function lengthTextLines(stats: { length?: number; unit?: string } | undefined): string[] {
  if (typeof stats?.length !== 'number' || !Number.isFinite(stats.length)) return [];
  return [`${formatMeasurement(stats.length)} ${baseUnit(stats.unit)}`.trim()];
}

/** Cornerstone appends the calibration kind to units in English ("mm Proj", "mm User"): keep the unit. */
function baseUnit(unit: string | undefined): string {
  return (unit ?? '').split(' ')[0] ?? '';
}
