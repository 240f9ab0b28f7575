-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): the name keys of
-- a study (031) already carry its UID; their primary key and their foreign key to the study now include
-- it, as Citus requires of a table distributed by it and co-located with `studies`. The triggers of 031
-- delete and insert a study's keys by `study_pk`, which still leads the key. A study's UID determines its
-- `study_pk`, so the key is no weaker.
ALTER TABLE study_name_keys DROP CONSTRAINT study_name_keys_study_pk_fkey,
  ADD CONSTRAINT study_name_keys_study_fkey FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies (study_instance_uid, id) ON DELETE CASCADE;
ALTER TABLE study_name_keys DROP CONSTRAINT study_name_keys_pkey, ADD PRIMARY KEY (study_pk, key, study_instance_uid);
