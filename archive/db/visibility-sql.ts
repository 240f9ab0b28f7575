import type { Visibility } from '../access/policy.ts';

/**
 * The one SQL condition that limits rows to what a caller may see, on a query with the study as
 * `st` and its patient as `p`. Every query behind QIDO, WADO and the study list includes it; null
 * means unrestricted (a system administrator).
 *
 * With a stated purpose, a study of another institution is visible when its patient is the same
 * person as a patient of the caller's institutions: their identifiers that name an issuer (own
 * issuer|Patient ID, and Other Patient IDs) meet — the same rule as the priors list. Identifiers
 * without an issuer ('|123') never link.
 */
export function visibilityCondition(visibility: Visibility, parameter: (value: unknown) => string): string | null {
  if (visibility.institutionIds === 'all') return null;
  const institutions = parameter([...visibility.institutionIds]);
  const own = `st.institution_id = ANY (${institutions}::bigint[])`;
  if (!visibility.linkedPatientsPurpose) return own;
  return `(${own} OR EXISTS (
         SELECT 1 FROM patients mine
         WHERE mine.institution_id = ANY (${institutions}::bigint[])
           AND array_append(array_remove_bare(mine.other_patient_ids), mine.issuer || '|' || mine.patient_id)
               && array_append(array_remove_bare(p.other_patient_ids), p.issuer || '|' || p.patient_id)))`;
}
