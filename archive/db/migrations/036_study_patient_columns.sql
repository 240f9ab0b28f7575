-- The patient's matchable and returned attributes on each study row (issue 18, "Index at scale";
-- docs/architecture.md, "Region scale", item 1). Study, series and instance searches joined
-- `patients` (st.patient_pk = p.id) for the Patient ID, issuer, name, birth date, sex and the
-- patient's attributes QIDO-RS returns: on Citus that is a join between tables distributed by
-- different keys (studies by study_instance_uid, patients by their own id), so every search would
-- have been a repartition join. Here the study carries a copy of its patient record's columns,
-- so those searches read the study alone (and its co-located name keys, series and instances).
--
-- The copy costs a few hundred bytes per study and is written by the database, like the name keys
-- (031): every writer of studies and patients keeps it without knowing of it. A patient record
-- whose attributes change (a new study with a corrected name, an IOCM patient update) rewrites
-- its studies' copies; on Citus that is a write fanned out to the shards of the patient's studies,
-- rare (a correction, not an ingest). The patient record stays the source: the person index
-- (person_links, Other Patient IDs) and patient-level searches read it.

-- Nullable, like the patient's own optional columns: a bulk load with its triggers off
-- (bench/recognition.ts) writes studies without them.
ALTER TABLE studies
  ADD COLUMN patient_issuer      text,
  ADD COLUMN patient_id          text,
  ADD COLUMN patient_name        jsonb,
  ADD COLUMN patient_name_search text,
  ADD COLUMN patient_birth_date  date,
  ADD COLUMN patient_sex         text,
  ADD COLUMN patient_attributes  jsonb;

-- A study gets its patient's columns when it is written or moved to another patient record. BEFORE,
-- so that the row is written once: the indexer upserts the patient and its study in one statement,
-- and a row trigger's query sees what the statement's earlier parts wrote (the patient's upsert).
-- The indexer names patient_pk in every study upsert, so this reads the patient by primary key
-- once per indexed instance: one index probe.
CREATE FUNCTION studies_copy_patient() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  SELECT p.issuer, p.patient_id, p.patient_name, p.name_search, p.birth_date, p.sex, p.attributes
    INTO NEW.patient_issuer, NEW.patient_id, NEW.patient_name, NEW.patient_name_search, NEW.patient_birth_date, NEW.patient_sex, NEW.patient_attributes
    FROM patients p WHERE p.id = NEW.patient_pk;
  RETURN NEW;
END $$;

CREATE TRIGGER studies_patient_copied BEFORE INSERT OR UPDATE OF patient_pk ON studies
  FOR EACH ROW EXECUTE FUNCTION studies_copy_patient();

-- A patient record changed: its studies' copies follow. Only rows that differ are written, so the
-- study the same statement already upserted (with the new values, above) is not written twice.
CREATE FUNCTION patients_copy_to_studies() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE studies SET patient_issuer = NEW.issuer, patient_id = NEW.patient_id, patient_name = NEW.patient_name,
         patient_name_search = NEW.name_search, patient_birth_date = NEW.birth_date, patient_sex = NEW.sex,
         patient_attributes = NEW.attributes
   WHERE patient_pk = NEW.id
     AND (patient_issuer, patient_id, patient_name, patient_name_search, patient_birth_date, patient_sex, patient_attributes)
         IS DISTINCT FROM (NEW.issuer, NEW.patient_id, NEW.patient_name, NEW.name_search, NEW.birth_date, NEW.sex, NEW.attributes);
  RETURN NULL;
END $$;

-- The indexer rewrites the patient's attributes with every instance: the WHEN keeps that free.
CREATE TRIGGER patients_copied_to_studies AFTER UPDATE OF issuer, patient_id, patient_name, name_search, birth_date, sex, attributes ON patients
  FOR EACH ROW WHEN ((OLD.issuer, OLD.patient_id, OLD.patient_name, OLD.name_search, OLD.birth_date, OLD.sex, OLD.attributes)
                     IS DISTINCT FROM (NEW.issuer, NEW.patient_id, NEW.patient_name, NEW.name_search, NEW.birth_date, NEW.sex, NEW.attributes))
  EXECUTE FUNCTION patients_copy_to_studies();

UPDATE studies st SET patient_issuer = p.issuer, patient_id = p.patient_id, patient_name = p.patient_name,
       patient_name_search = p.name_search, patient_birth_date = p.birth_date, patient_sex = p.sex, patient_attributes = p.attributes
  FROM patients p WHERE p.id = st.patient_pk;

-- Study search by Patient ID (exact or a leading prefix, as patients_by_patient_id served it).
CREATE INDEX studies_by_patient_id ON studies (patient_id text_pattern_ops);
