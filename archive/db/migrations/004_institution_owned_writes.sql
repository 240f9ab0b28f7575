-- An institution's upload never writes another institution's records (issue 13, findings 4 to 6).

-- A study and an instance belong to the institution whose source sent their first receipt; the
-- ingest path looks that receipt up with every receipt it inserts (archive/db/receipts-repository.ts).
-- By study UID in arrival order, so the first one is a single index entry however large the study.
CREATE INDEX receipts_by_study ON receipts (study_instance_uid, id);

-- A patient record is one institution's: the same issuer and Patient ID sent by two institutions
-- are two records, so one institution's upload can never rewrite another's patient (name, other IDs).
-- Links between records (visibility-sql.ts) go through Other Patient IDs and its GIN index, not this key.
ALTER TABLE patients DROP CONSTRAINT patients_issuer_patient_id_key;
ALTER TABLE patients ADD CONSTRAINT patients_identity UNIQUE (institution_id, issuer, patient_id);
