import type { Visibility } from '../access/policy.ts';

/**
 * The one SQL condition that limits rows to what a caller may see, on a query with the study as
 * `st` and its patient as `p`. Every query behind QIDO, WADO and the study list includes it; null
 * means unrestricted (a system administrator).
 *
 * With a stated purpose, a study of another institution is visible when its patient is the same
 * person as a patient of the caller's institutions: one record names the other's issuer|Patient ID
 * among its identifiers, or both name the same issuer-qualified identifier (the resident ID) — the
 * rule of the priors list. Identifiers without an issuer ('|123') never link. Written as two
 * EXISTS that each use an index (the GIN index on other_patient_ids; the unique (issuer, patient_id)),
 * because one combined array expression would make PostgreSQL read a hospital's every patient per row.
 */
export function visibilityCondition(visibility: Visibility, parameter: (value: unknown) => string): string | null {
  if (visibility.institutionIds === 'all') return null;
  const institutions = parameter([...visibility.institutionIds]);
  // A single institution as `=`, so the (institution_id, study_date, id) index also gives the order.
  const own = visibility.institutionIds.length === 1 ? `st.institution_id = (${institutions}::bigint[])[1]` : `st.institution_id = ANY (${institutions}::bigint[])`;
  if (!visibility.linkedPatientsPurpose) return own;
  const identifiers = `array_append(array_remove_bare(p.other_patient_ids), p.issuer || '|' || p.patient_id)`;
  return `(${own}
       OR EXISTS (SELECT 1 FROM patients mine
                  WHERE mine.other_patient_ids && ${identifiers} AND mine.institution_id = ANY (${institutions}::bigint[]))
       OR EXISTS (SELECT 1 FROM unnest(${identifiers}) AS identifier
                  JOIN patients mine ON mine.issuer = split_part(identifier, '|', 1)
                                    AND mine.patient_id = substr(identifier, length(split_part(identifier, '|', 1)) + 2)
                  WHERE mine.institution_id = ANY (${institutions}::bigint[])))`;
}
