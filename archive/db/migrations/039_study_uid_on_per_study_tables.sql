-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): five per-study
-- tables keyed by `study_pk` carry their study's UID, the distribution column, so that on Citus they can
-- be distributed by it and co-located with `studies`, as 035 did for the receipts' tables. The column is
-- written by the statements that insert the rows (each knows its study's UID; on Citus a row is routed by
-- it before any trigger could fill it in), and kept equal to the study's by a composite foreign key on
-- `studies (study_instance_uid, id)` (032). Every primary and unique key gets the column; a study's UID
-- determines its `study_pk`, so no key becomes weaker. The keys keep their leading columns, so the
-- statements using them (by id, by series, by study) read them as before.
--
-- The tables are small beside the index (a row per graded series, flag, checked study, decision and
-- daily view); each is rewritten once under the ACCESS EXCLUSIVE lock that adding a column and
-- rebuilding its keys take (docs/operations.md has the time measured).

DO $$
DECLARE
  per_study text;
BEGIN
  FOREACH per_study IN ARRAY ARRAY['qc_grades', 'qc_flags', 'study_quality_checks', 'recognition_decisions', 'prior_views'] LOOP
    EXECUTE format('ALTER TABLE %I ADD COLUMN study_instance_uid text', per_study);
    EXECUTE format('UPDATE %I t SET study_instance_uid = st.study_instance_uid FROM studies st WHERE st.id = t.study_pk', per_study);
    EXECUTE format('ALTER TABLE %I ALTER COLUMN study_instance_uid SET NOT NULL', per_study);
    EXECUTE format('ALTER TABLE %I DROP CONSTRAINT %I', per_study, per_study || '_study_pk_fkey');
    EXECUTE format('ALTER TABLE %I ADD CONSTRAINT %I FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies (study_instance_uid, id)',
                   per_study, per_study || '_study_fkey');
  END LOOP;
END $$;

-- A grade is superseded by a later grade of the same series, so of the same study.
ALTER TABLE qc_grades DROP CONSTRAINT qc_grades_superseded_by_fkey;
ALTER TABLE qc_grades DROP CONSTRAINT qc_grades_pkey;
ALTER TABLE qc_grades ADD PRIMARY KEY (id, study_instance_uid);
ALTER TABLE qc_grades ADD CONSTRAINT qc_grades_superseded_by_fkey FOREIGN KEY (superseded_by, study_instance_uid)
  REFERENCES qc_grades (id, study_instance_uid) DEFERRABLE INITIALLY DEFERRED;
DROP INDEX qc_grades_current;
CREATE UNIQUE INDEX qc_grades_current ON qc_grades (series_pk, study_instance_uid) WHERE superseded_by IS NULL;

ALTER TABLE qc_flags DROP CONSTRAINT qc_flags_pkey, ADD PRIMARY KEY (id, study_instance_uid);
ALTER TABLE recognition_decisions DROP CONSTRAINT recognition_decisions_pkey, ADD PRIMARY KEY (id, study_instance_uid);
ALTER TABLE study_quality_checks DROP CONSTRAINT study_quality_checks_pkey, ADD PRIMARY KEY (study_pk, study_instance_uid);
ALTER TABLE prior_views DROP CONSTRAINT prior_views_pkey, ADD PRIMARY KEY (id, study_instance_uid);
ALTER TABLE prior_views DROP CONSTRAINT prior_views_study_pk_viewed_by_user_id_viewed_on_key,
  ADD CONSTRAINT prior_views_once_a_day UNIQUE (study_pk, viewed_by_user_id, viewed_on, study_instance_uid);
