import type { ConfiguredLabel } from '../../../archive/i18n/configured-label.ts';
import type { RecognitionRegion } from '../../../archive/recognition/hr-mark.ts';
import type { RecognitionReason } from '../../../archive/recognition/recognition-reasons.ts';
import type { AccreditationOnWire } from '../api/admin-models.ts';
import { configuredText } from './quality.ts';

/**
 * The recognition configuration screen's logic (互认配置): the rows an administrator edits, the body
 * PUT /api/admin/regions/{id}/recognition takes, zod's reasons read back per field, and an
 * accreditation's status. The archive validates; nothing here second-guesses it.
 */

/** A label as edited: both languages, and the catalogue label it started as (kept while neither text changes). */
export interface LabelDraft {
  original: ConfiguredLabel | null;
  zh: string;
  en: string;
}

export interface ItemDraft {
  code: string;
  label: LabelDraft;
  /** Comma- or space-separated, as typed. */
  modalities: string;
  bodyParts: string;
  validityDays: string;
}

export interface ReasonDraft {
  code: string;
  label: LabelDraft;
  requiresText: boolean;
}

export function labelDraft(label: ConfiguredLabel | null): LabelDraft {
  return { original: label, zh: label ? configuredText(label, 'zh-CN') : '', en: label ? configuredText(label, 'en') : '' };
}

/** The catalogue label while its texts are untouched (so it stays translated as the catalogue changes), else the words typed. */
export function labelOfDraft(draft: LabelDraft): ConfiguredLabel {
  const zh = draft.zh.trim();
  const en = draft.en.trim();
  if (draft.original && zh === configuredText(draft.original, 'zh-CN') && en === configuredText(draft.original, 'en')) return draft.original;
  return { zh, en };
}

export function itemDrafts(region: RecognitionRegion): ItemDraft[] {
  return region.items.map((item) => ({
    code: item.code,
    label: labelDraft(item.label),
    modalities: item.modalities.join(', '),
    bodyParts: item.bodyParts.join(', '),
    validityDays: String(item.validityDays),
  }));
}

export function reasonDrafts(reasons: readonly RecognitionReason[]): ReasonDraft[] {
  return reasons.map((reason) => ({ code: reason.code, label: labelDraft(reason.label), requiresText: reason.requiresText }));
}

/** DICOM codes as typed: separated by commas (either width), 、 or spaces, upper-cased. */
export function codeList(typed: string): string[] {
  return typed
    .split(/[\s,，、]+/)
    .map((code) => code.trim().toUpperCase())
    .filter(Boolean);
}

/**
 * The PUT body. A validity that is not a whole number goes as it is typed, as a number or not at all,
 * so the archive's reason names the field.
 */
export function recognitionBody(draft: { abbreviation: string; items: readonly ItemDraft[]; minimumGrades: Record<string, string>; reasons: readonly ReasonDraft[] }): {
  configuration: RecognitionRegion;
  reasons: RecognitionReason[];
} {
  return {
    configuration: {
      abbreviation: draft.abbreviation.trim(),
      items: draft.items.map((item) => ({
        code: item.code.trim(),
        label: labelOfDraft(item.label),
        modalities: codeList(item.modalities),
        bodyParts: codeList(item.bodyParts),
        validityDays: item.validityDays.trim() === '' ? Number.NaN : Number(item.validityDays),
      })),
      minimumGrades: draft.minimumGrades,
    },
    reasons: draft.reasons.map((reason) => ({ code: reason.code.trim(), label: labelOfDraft(reason.label), requiresText: reason.requiresText })),
  };
}

/** The mark as it will read: the abbreviation before HR (渝HR). */
export function markPreview(abbreviation: string): string {
  return `${abbreviation.trim()}HR`;
}

/**
 * The archive's 400 detail ("configuration.items.0.validityDays: Too small…; reasons: …", one issue per
 * "; ") as field paths and messages; a detail in another form is one problem without a path.
 */
export function problemsOf(detail: string): { path: string; message: string }[] {
  return detail
    .split('; ')
    .filter(Boolean)
    .map((part) => {
      const match = /^([A-Za-z0-9_.-]+): (.*)$/s.exec(part);
      return match ? { path: match[1]!, message: match[2]! } : { path: '', message: part };
    });
}

export type AccreditationStatus = 'current' | 'pending' | 'expired' | 'withdrawn';

/** 有效, 未生效, 已过期 or 已撤销 on the region's calendar day `today` (YYYY-MM-DD). */
export function accreditationStatus(accreditation: Pick<AccreditationOnWire, 'validFrom' | 'validUntil' | 'withdrawnAt'>, today: string): AccreditationStatus {
  if (accreditation.withdrawnAt) return 'withdrawn';
  if (accreditation.validFrom > today) return 'pending';
  if (accreditation.validUntil !== null && accreditation.validUntil < today) return 'expired';
  return 'current';
}
