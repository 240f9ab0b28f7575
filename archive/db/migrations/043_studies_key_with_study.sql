-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): the last two
-- tables that referred to a study by `studies (id)` alone carry the study's UID, and `studies` is keyed
-- by its UID, the distribution column, so that every key of the tables distributed by study includes it
-- as Citus requires.
--
-- - `statistics_studies` (022), the region statistics' per-study facts: the column, in its primary key
--   and in its foreign key to the study. 022's functions read and write it by the study's UID now
--   (`statistics_study_rows` returns the table's row type, so it is made again with the column; the
--   triggers name the changed row's study by its UID, which every source table carries since 035/039).
-- - `report_qc_grades` (021), a workflow table: the column and a composite foreign key, as 039 did for
--   the other per-study tables.
-- - `studies`: `PRIMARY KEY (study_instance_uid)` in place of `(id)` and of the unique key on the UID
--   it duplicated; `studies_by_id (id)` serves the joins by `study_pk` alone, as 042's `series_by_id`.
--   The id stays an identity column, unique in practice; `UNIQUE (study_instance_uid, id)` (032) stays
--   for the composite foreign keys.

-- The facts are rewritten once with the column (its rollup trigger off: the counts do not change).
ALTER TABLE statistics_studies DISABLE TRIGGER statistics_studies_rollup;
ALTER TABLE statistics_studies ADD COLUMN study_instance_uid text;
UPDATE statistics_studies f SET study_instance_uid = st.study_instance_uid FROM studies st WHERE st.id = f.study_pk;
ALTER TABLE statistics_studies ALTER COLUMN study_instance_uid SET NOT NULL;
ALTER TABLE statistics_studies ENABLE TRIGGER statistics_studies_rollup;
ALTER TABLE statistics_studies DROP CONSTRAINT statistics_studies_study_pk_fkey, DROP CONSTRAINT statistics_studies_pkey,
  ADD PRIMARY KEY (study_pk, study_instance_uid),
  ADD CONSTRAINT statistics_studies_study_fkey FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies (study_instance_uid, id) ON DELETE CASCADE;

-- The grades are not regraded by this: their statistics trigger stays off while the column is filled in.
ALTER TABLE report_qc_grades DISABLE TRIGGER statistics_report_qc_changed;
ALTER TABLE report_qc_grades ADD COLUMN study_instance_uid text;
UPDATE report_qc_grades g SET study_instance_uid = st.study_instance_uid FROM studies st WHERE st.id = g.study_pk;
ALTER TABLE report_qc_grades ALTER COLUMN study_instance_uid SET NOT NULL;
ALTER TABLE report_qc_grades ENABLE TRIGGER statistics_report_qc_changed;
ALTER TABLE report_qc_grades DROP CONSTRAINT report_qc_grades_study_pk_fkey,
  ADD CONSTRAINT report_qc_grades_study_fkey FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies (study_instance_uid, id);
-- A study's grades are asked for by its UID (the QC screen, the statistics' current report grade).
DROP INDEX report_qc_grades_by_study;
CREATE INDEX report_qc_grades_by_study ON report_qc_grades (study_instance_uid, graded_at);

-- A name search joins its keys to their studies by the UID as well (co-located shards on Citus): the
-- keys' index carries it, so that the page is still read from the index alone.
DROP INDEX study_name_keys_by_name;
CREATE INDEX study_name_keys_by_name ON study_name_keys (institution_id, key, study_date DESC NULLS LAST, study_pk DESC) INCLUDE (study_instance_uid);

ALTER TABLE studies DROP CONSTRAINT studies_pkey, DROP CONSTRAINT studies_study_instance_uid_key,
  ADD CONSTRAINT studies_pkey PRIMARY KEY (study_instance_uid);
CREATE INDEX studies_by_id ON studies (id);

-- 022's functions again, by the study's UID. The row's columns in the table's order, the UID last.
DROP FUNCTION statistics_refresh_study(bigint);
DROP FUNCTION statistics_study_rows(bigint[]);
CREATE FUNCTION statistics_study_rows(study_uids text[]) RETURNS SETOF statistics_studies
LANGUAGE sql STABLE AS $$
  SELECT st.id, st.institution_id,
         coalesce(date_trunc('month', st.study_date)::date, statistics_month_of(st.created_at)),
         coalesce(main.modality, ''), coalesce(operator.name, ''),
         grade.scale_id, grade.grade_code, grade.reject,
         signed.final_at IS NOT NULL,
         CASE WHEN signed.final_at IS NOT NULL THEN greatest(floor(extract(epoch FROM signed.final_at - st.created_at) / 60), 0)::integer END,
         report_qc.grade_code,
         st.study_instance_uid
  FROM studies st
  LEFT JOIN LATERAL (
    SELECT se.modality FROM series se
    WHERE se.study_instance_uid = st.study_instance_uid AND se.study_pk = st.id
      AND se.modality IS NOT NULL AND se.modality NOT IN ('SR', 'KO', 'PR', 'DOC', 'REG', 'SEG', 'RWV', 'OT')
    GROUP BY se.modality ORDER BY count(*) DESC, se.modality LIMIT 1
  ) main ON TRUE
  LEFT JOIN LATERAL (
    SELECT coalesce(nullif(se.attributes #>> '{00081070,Value,0,Ideographic}', ''), nullif(se.attributes #>> '{00081070,Value,0,Alphabetic}', ''), se.attributes #>> '{00081070,Value,0}') AS name
    FROM series se
    WHERE se.study_instance_uid = st.study_instance_uid AND se.study_pk = st.id
      AND se.attributes ? '00081070' AND se.modality NOT IN ('SR', 'KO', 'PR', 'DOC')
    ORDER BY se.series_number NULLS LAST, se.id LIMIT 1
  ) operator ON TRUE
  LEFT JOIN LATERAL (
    SELECT g.scale_id, g.grade_code, g.reject FROM qc_grades g
    LEFT JOIN statistics_grade_order o ON o.scale_id = g.scale_id AND o.grade_code = g.grade_code
    WHERE g.study_instance_uid = st.study_instance_uid AND g.study_pk = st.id AND g.superseded_by IS NULL
    ORDER BY g.reject DESC, coalesce(o.rank, 99) DESC, g.graded_at DESC LIMIT 1
  ) grade ON TRUE
  LEFT JOIN LATERAL (
    SELECT min(s.signed_at) AS final_at FROM reports r JOIN report_signatures s ON s.report_id = r.id AND s.role = 'final'
    WHERE r.study_instance_uid = st.study_instance_uid
  ) signed ON TRUE
  LEFT JOIN LATERAL (
    SELECT q.grade_code FROM report_qc_grades q
    WHERE q.study_instance_uid = st.study_instance_uid AND q.superseded_by IS NULL ORDER BY q.graded_at DESC LIMIT 1
  ) report_qc ON TRUE
  WHERE st.study_instance_uid = ANY (study_uids) AND st.institution_id IS NOT NULL
$$;

CREATE FUNCTION statistics_refresh_study(refreshed text) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO statistics_studies SELECT * FROM statistics_study_rows(ARRAY[refreshed])
  ON CONFLICT (study_pk, study_instance_uid) DO UPDATE SET
    institution_id = EXCLUDED.institution_id, month = EXCLUDED.month, modality = EXCLUDED.modality,
    technologist = EXCLUDED.technologist, qc_scale = EXCLUDED.qc_scale, qc_grade = EXCLUDED.qc_grade,
    qc_reject = EXCLUDED.qc_reject, report_final = EXCLUDED.report_final,
    turnaround_minutes = EXCLUDED.turnaround_minutes, report_qc_grade = EXCLUDED.report_qc_grade
  -- Unchanged facts move nothing in the rollups (the index job rewrites a study at every instance).
  WHERE (statistics_studies.*) IS DISTINCT FROM (EXCLUDED.*);
  IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM studies WHERE study_instance_uid = refreshed AND institution_id IS NOT NULL) THEN
    DELETE FROM statistics_studies WHERE study_instance_uid = refreshed;
  END IF;
END
$$;

-- The triggers' arguments stay as 022 created them: 'signature' for report_signatures, which names its
-- report; every other source table (studies, series, qc_grades, report_qc_grades) carries its study's UID.
CREATE OR REPLACE FUNCTION statistics_source_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed text;
BEGIN
  IF TG_ARGV[0] = 'signature' THEN
    SELECT r.study_instance_uid INTO changed FROM reports r WHERE r.id = NEW.report_id;
  ELSE
    changed := NEW.study_instance_uid;
  END IF;
  IF changed IS NOT NULL THEN PERFORM statistics_refresh_study(changed); END IF;
  RETURN NULL;
END
$$;

CREATE OR REPLACE FUNCTION statistics_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  ALTER TABLE statistics_studies DISABLE TRIGGER statistics_studies_rollup;
  TRUNCATE statistics_studies;
  INSERT INTO statistics_studies SELECT * FROM statistics_study_rows(ARRAY(SELECT study_instance_uid FROM studies));
  ALTER TABLE statistics_studies ENABLE TRIGGER statistics_studies_rollup;
  PERFORM statistics_rebuild_rollups();
END
$$;
