import type { Locale, MessageKey } from '../i18n/messages.ts';

/**
 * Why a clinician opens a patient's studies at other institutions (检查检验结果互认). The archive
 * keeps the text verbatim in its audit trail, which auditors read in either language, so a preset
 * is sent in both: '对比既往检查 comparison with priors'.
 */
export interface PurposePreset {
  id: string;
  'zh-CN': string;
  en: string;
}

export const PURPOSE_PRESETS: readonly PurposePreset[] = [
  { id: 'priors', 'zh-CN': '对比既往检查', en: 'comparison with priors' },
  { id: 'consultation', 'zh-CN': '会诊', en: 'consultation' },
  { id: 'referral', 'zh-CN': '转诊接诊', en: 'referral' },
  { id: 'emergency', 'zh-CN': '急诊救治', en: 'emergency care' },
  { id: 'follow-up', 'zh-CN': '随访复查', en: 'follow-up' },
];

/** The longest purpose the archive accepts (archive/access/policy.ts parsePurpose). */
export const PURPOSE_MAX_LENGTH = 200;

export function presetPurpose(preset: PurposePreset): string {
  return `${preset['zh-CN']} ${preset.en}`;
}

export function presetLabel(preset: PurposePreset, locale: Locale): string {
  return preset[locale];
}

/** The preset a stated purpose is, if it is one (to pre-select it when the dialog opens again). */
export function presetOf(purpose: string | undefined): PurposePreset | undefined {
  return PURPOSE_PRESETS.find((preset) => presetPurpose(preset) === purpose);
}

/**
 * The purpose to send from the dialog: free text when written (the preset chosen, if any, goes in
 * front of it), otherwise the preset. Undefined with a reason when there is nothing usable: the
 * archive ignores an empty, over-long or control-character purpose, which would silently show
 * only the reader's own institution.
 */
export function statedPurpose(presetId: string, freeText: string): { purpose: string } | { problem: MessageKey } {
  const preset = PURPOSE_PRESETS.find((candidate) => candidate.id === presetId);
  const text = freeText.trim();
  const purpose = [preset ? presetPurpose(preset) : '', text].filter(Boolean).join(' – ');
  if (!purpose) return { problem: 'purpose.required' };
  if (/[\u0000-\u001f\u007f]/.test(purpose)) return { problem: 'purpose.invalid' };
  if (purpose.length > PURPOSE_MAX_LENGTH) return { problem: 'purpose.tooLong' };
  return { purpose };
}

export const PURPOSE_STORAGE_KEY = 'yingyun.purpose';

/** The part of sessionStorage the purpose needs. */
export interface PurposeStorage {
  getItem(key: string): string | null;
  setItem(key: string, value: string): void;
  removeItem(key: string): void;
}

/** A purpose stated earlier in this browser session, if it was the same user's. */
export function rememberedPurpose(stored: string | null, username: string): string | undefined {
  if (!stored) return undefined;
  try {
    const value = JSON.parse(stored) as { username?: unknown; purpose?: unknown };
    return value.username === username && typeof value.purpose === 'string' && value.purpose ? value.purpose : undefined;
  } catch {
    return undefined;
  }
}

export function purposeToRemember(username: string, purpose: string): string {
  return JSON.stringify({ username, purpose });
}
