import type { Translate } from '../i18n/i18n.ts';
import type { Problem } from '../state/app-state.ts';

/** A failed request in the reader's language: the archive's own detail, or that it did not answer. */
export function problemText(problem: Problem, t: Translate): string {
  return problem.status === 0 ? t('error.network', { detail: problem.detail }) : t('error.http', { status: problem.status, detail: problem.detail });
}
