-- Person-name keys per study (issue 18, "Index at scale"; docs/architecture.md, "Region scale").
-- patient_name_keys (027) finds the patients with a name, but a study search must still get from
-- them to the caller's newest studies: for a name shared by a few thousand patients (王*, a Latin
-- surname prefix, a fuzzy given name, a full name as common as 张伟) at 10^7 instances that was either
-- a walk of the hospital's studies probing each one's patient or every study of every such patient
-- read and sorted, 27-79 ms at p50 and up to 1.1 s at p99 inside PostgreSQL. Here each study carries
-- its patient's keys with what QIDO-RS scopes and orders studies by (the institution, then
-- study_date DESC NULLS LAST, id DESC: archive/db/query-repository.ts, STUDY_ORDER), so that "this
-- name in these hospitals, newest first, 25" is answered from the index's entries, and only the
-- studies it returns are fetched. The keys are person_name_keys() of 027, under COLLATE "C";
-- the PN regex stays the exact test, the keys only narrow.
--
-- study_instance_uid is the distribution column of the Citus plan: this table is distributed with
-- studies and co-located with them, so the join from a key to its study stays on one shard.

CREATE TABLE study_name_keys (
  key                text COLLATE "C" NOT NULL,
  study_pk           bigint NOT NULL REFERENCES studies (id) ON DELETE CASCADE,
  study_instance_uid text NOT NULL,
  institution_id     bigint NOT NULL,
  study_date         date,
  -- also the other way in: a name common in the caller's hospitals (2,000+ keys) walks their studies
  -- newest first and probes each one's keys here, stopping at the page's end (QueryRepository.lookUpNames)
  PRIMARY KEY (study_pk, key)
);
-- A name in the caller's hospitals: one key range per institution, read from the index alone and
-- sorted by its date and id (a few hundred to a few thousand entries for a common surname in a
-- hospital), then only the page's studies fetched (archive/db/query-repository.ts, keyedStudies).
CREATE INDEX study_name_keys_by_name ON study_name_keys (institution_id, key, study_date DESC NULLS LAST, study_pk DESC);

-- The keys of studies that have none, from their patients' keys: the backfill below, and a bulk
-- load that writes studies with its triggers off (bench/synthetic-index.ts, a migration from
-- another archive by COPY) calls it after the load. One statement, sorted once, where a trigger per
-- study would look its patient up 10^6 times.
CREATE FUNCTION study_name_keys_fill() RETURNS bigint LANGUAGE sql AS $$
  WITH added AS (
    INSERT INTO study_name_keys (key, study_pk, study_instance_uid, institution_id, study_date)
    SELECT k.key, st.id, st.study_instance_uid, st.institution_id, st.study_date
    FROM studies st JOIN patient_name_keys k ON k.patient_pk = st.patient_pk
    WHERE NOT EXISTS (SELECT 1 FROM study_name_keys done WHERE done.study_pk = st.id)
    RETURNING 1
  )
  SELECT count(*) FROM added
$$;

-- Kept by the database, like patient_name_keys: every writer of studies and patients keeps them
-- without knowing of them. Each refresh deletes and rewrites from the rows as they are now, so the
-- order in which a statement's triggers fire does not matter (the indexer upserts the patient and
-- its study in one statement: the patient's rename and the study's insert both rewrite the study).
CREATE FUNCTION study_name_keys_refresh_study() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  -- On an insert too: the patient's trigger of the same statement may have written them already.
  DELETE FROM study_name_keys WHERE study_pk = NEW.id;
  INSERT INTO study_name_keys (key, study_pk, study_instance_uid, institution_id, study_date)
  SELECT key, NEW.id, NEW.study_instance_uid, NEW.institution_id, NEW.study_date
  FROM patients p, unnest(person_name_keys(p.name_search)) AS key
  WHERE p.id = NEW.patient_pk
  -- A concurrent refresh of the same study (its patient renamed while the study moves to another
  -- record) may have committed keys this statement's snapshot did not see to delete: a key left over
  -- only makes the name test run on one more study (the PN regex stays the exact test), never fewer.
  ON CONFLICT DO NOTHING;
  RETURN NULL;
END $$;

CREATE TRIGGER studies_name_keys_inserted AFTER INSERT ON studies
  FOR EACH ROW EXECUTE FUNCTION study_name_keys_refresh_study();
-- Only when what the keys copy changes: the indexer upserts the study row with every instance.
CREATE TRIGGER studies_name_keys_updated AFTER UPDATE OF patient_pk, institution_id, study_date, study_instance_uid ON studies
  FOR EACH ROW WHEN ((OLD.patient_pk, OLD.institution_id, OLD.study_date, OLD.study_instance_uid)
                     IS DISTINCT FROM (NEW.patient_pk, NEW.institution_id, NEW.study_date, NEW.study_instance_uid))
  EXECUTE FUNCTION study_name_keys_refresh_study();

CREATE FUNCTION study_name_keys_refresh_patient() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM study_name_keys WHERE study_pk IN (SELECT id FROM studies WHERE patient_pk = NEW.id);
  INSERT INTO study_name_keys (key, study_pk, study_instance_uid, institution_id, study_date)
  SELECT key, st.id, st.study_instance_uid, st.institution_id, st.study_date
  FROM studies st, unnest(person_name_keys(NEW.name_search)) AS key
  WHERE st.patient_pk = NEW.id
  ON CONFLICT DO NOTHING; -- as above
  RETURN NULL;
END $$;

CREATE TRIGGER patients_study_name_keys_updated AFTER UPDATE OF name_search ON patients
  FOR EACH ROW WHEN (OLD.name_search IS DISTINCT FROM NEW.name_search) EXECUTE FUNCTION study_name_keys_refresh_patient();

SELECT study_name_keys_fill();
