-- Issue 18, region scale: `instances_by_study (study_pk)` (001, recreated by 032 for "look-ups by study_pk
-- alone") has no reader left. Every statement on `instances` names the study's UID with its `study_pk`
-- (or finds rows by series, SOP Instance UID or id), and the primary key `(study_instance_uid, id)` finds a
-- study's instances, the foreign key's check when a study is deleted included. Dropped, it is one index
-- entry less to write for every instance indexed and one index less on the region's largest table (a
-- bigint B-tree: about 20 bytes an instance, some 20 GB at 10^9 instances).
DROP INDEX instances_by_study;
