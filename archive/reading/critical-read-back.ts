import type { CriticalNotice } from './critical-finding-wire.ts';

// Its own module, free of zod: the viewer imports it, and zod's start-up probe for eval would break
// the viewer's Content-Security-Policy.

/** Letters and digits only, case- and width-folded: how a read-back is compared with the finding. */
function folded(text: string): string {
  return text.normalize('NFKC').toLowerCase().replace(/[\p{P}\p{S}\s]/gu, '');
}

/**
 * 复述确认 passes when what the clinician typed back names the finding: its category (in Chinese or
 * English) or the finding's own words. Shared with the viewer, which says so before sending.
 */
export function readBackMatches(notice: Pick<CriticalNotice, 'category' | 'text'>, readBack: string): boolean {
  const typed = folded(readBack);
  if (typed === '') return false;
  const names = [notice.category.nameZh, notice.category.nameEn, notice.text].map(folded).filter((name) => name !== '');
  return names.some((name) => typed.includes(name));
}
