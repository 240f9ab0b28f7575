-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): the primary key
-- of `series` includes its study's UID, as Citus requires of a table distributed by it, and the two
-- tables that refer to a series (`instances`, `qc_grades`, both carrying the study's UID since 032 and
-- 039) refer to it by `(study_instance_uid, series_pk)`, so a row cannot name a series of another study.
-- Joins from an instance to its series by id alone (`se.id = i.series_pk`) keep an index on the id.
-- The foreign keys are checked against every existing row: an upgrade stops here, changing nothing, if an
-- instance or a grade names a series filed under another study (035 already refused instances misfiled so).
ALTER TABLE instances DROP CONSTRAINT instances_series_pk_fkey;
ALTER TABLE qc_grades DROP CONSTRAINT qc_grades_series_pk_fkey;
ALTER TABLE series DROP CONSTRAINT series_pkey;
ALTER TABLE series ADD PRIMARY KEY (study_instance_uid, id);
CREATE INDEX series_by_id ON series (id);
ALTER TABLE instances ADD CONSTRAINT instances_series_fkey FOREIGN KEY (study_instance_uid, series_pk) REFERENCES series (study_instance_uid, id);
ALTER TABLE qc_grades ADD CONSTRAINT qc_grades_series_fkey FOREIGN KEY (study_instance_uid, series_pk) REFERENCES series (study_instance_uid, id);
