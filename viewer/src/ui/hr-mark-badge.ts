import { isMessageKey, message } from '../../../archive/i18n/messages.ts';
import type { HrMarkAttributesRead } from '../../../archive/recognition/hr-mark-dicom.ts';
import type { Translate } from '../i18n/i18n.ts';
import type { Locale } from '../i18n/messages.ts';
import { h } from './dom.ts';

/** A study's HR mark as a badge shows it: its text, or why it has none (already in the reader's language). */
export interface HrMarkShown {
  text: string | null;
  validUntil?: string | null;
  absence: string[];
}

/**
 * The HR mark badge (渝HR), or 无互认标识 with every reason on hover; a study the archive did not
 * assess (no mark, no reasons) says so on hover instead. The study list, the priors panel and the
 * viewer's overlay show the same.
 */
export function hrMarkBadge(mark: HrMarkShown, t: Translate): HTMLElement {
  if (mark.text) {
    const title = [t('recognition.markTitle'), mark.validUntil ? t('recognition.validUntil', { date: mark.validUntil }) : ''].filter(Boolean).join('\n');
    return h('span', { class: 'hr-mark', 'data-hr-mark': mark.text, title }, mark.text);
  }
  return h('span', { class: 'hr-mark absent', 'data-hr-mark': 'none', title: mark.absence.length ? mark.absence.join('\n') : t('recognition.markUnknown') }, t('recognition.noMark'));
}

/**
 * The mark as one line of the viewport's overlay, which has no hover: 渝HR with its last valid day,
 * or 无互认标识 followed by every reason.
 */
export function hrMarkLine(mark: HrMarkShown, t: Translate): string {
  if (mark.text) return [mark.text, mark.validUntil ? t('recognition.validUntil', { date: mark.validUntil }) : ''].filter(Boolean).join(' · ');
  return [t('recognition.noMark'), ...mark.absence].join(' · ');
}

/** The mark read from a QIDO-RS result's private block, as the badge shows it; null when the archive sent none. */
export function hrMarkShownOf(read: HrMarkAttributesRead | null, locale: Locale): HrMarkShown | null {
  if (!read) return null;
  return { text: read.text, validUntil: read.validUntil, absence: read.absenceReasons.map((code) => absenceText(code, locale)) };
}

/** A reason's text from the catalogue (recognition.absent.<code>); a code this viewer does not know yet as itself. */
function absenceText(code: string, locale: Locale): string {
  const key = `recognition.absent.${code}`;
  return isMessageKey(key) ? message(key, locale) : code;
}
