import type { Visibility } from '../access/policy.ts';

/**
 * The one SQL condition that limits rows to what a caller may see, on a query with the study as
 * `st` and, with a stated purpose, its patient record as `p` (patientRecordJoin). Every query behind QIDO, WADO and the study list includes it; null
 * means unrestricted (a system administrator).
 *
 * With a stated purpose, a study of another institution is visible when its patient is the same
 * person as a patient of the caller's institutions: both records name the same issuer-qualified
 * identifier among their Other Patient IDs (the resident ID), each institution vouching for it
 * about its own patient — the rule of the priors list. A record naming the other's issuer|Patient
 * ID links nothing: that is one institution's claim about another's namespace, which any uploader
 * could make. Identifiers without an issuer ('|123') never link, and only a study's own
 * institution's patient record speaks for it. One EXISTS on the GIN index on other_patient_ids:
 * a combined array expression over both records would make PostgreSQL read a hospital's every
 * patient per row.
 *
 * A live study access grant (`grantedStudies`) adds that one study, whatever its institution.
 */
export function visibilityCondition(visibility: Visibility, parameter: (value: unknown) => string): string | null {
  if (visibility.institutionIds === 'all') return null;
  const institutions = parameter([...visibility.institutionIds]);
  // A single institution as `=`, so the (institution_id, study_date, id) index also gives the order.
  const own = visibility.institutionIds.length === 1 ? `st.institution_id = (${institutions}::bigint[])[1]` : `st.institution_id = ANY (${institutions}::bigint[])`;
  const scoped = visibility.linkedPatientsPurpose
    ? `(${own}
       OR (p.institution_id = st.institution_id
           AND EXISTS (SELECT 1 FROM patients mine
                       WHERE mine.other_patient_ids && array_remove_bare(p.other_patient_ids) AND mine.institution_id = ANY (${institutions}::bigint[]))))`
    : own;
  // Studies granted one by one (a consultation, a share link): only when there are any, so that
  // everyone else's plans stay those of the institution scope alone.
  if (!visibility.grantedStudies?.length) return scoped;
  const granted = parameter(visibility.grantedStudies.map((grant) => grant.studyInstanceUid));
  return `(${scoped} OR st.study_instance_uid = ANY (${granted}::text[]))`;
}

/**
 * The study's patient record as `p`, joined only where visibilityCondition reads it (a stated
 * purpose reaches another institution's study through the patients' identifiers). Everything else
 * a query matches or returns of the patient is copied onto the study (migration 036), so without a
 * purpose a search reads the study alone: on Citus, no join between the study's shard and the
 * patient record's.
 */
export function patientRecordJoin(visibility: Visibility): string {
  return visibility.linkedPatientsPurpose ? ' JOIN patients p ON p.id = st.patient_pk' : '';
}
