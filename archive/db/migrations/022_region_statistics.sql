-- The region's statistics (issue 16): pre-aggregated, kept current by triggers as data arrives.
--
-- Two layers. statistics_studies holds one row per study with what the figures count (its month,
-- modality, technologist, current QC grade, final report, turnaround, report QC grade); it is
-- recomputed from the source tables whenever one of them changes for that study, at commit
-- (deferred constraint triggers: a regrade's insert-and-supersede is seen once, settled). Its own
-- trigger moves the study's contribution in the monthly rollups: the old row's counts out, the new
-- row's in, so a superseded grade or a re-dated study is never counted twice. Recognition decisions
-- and prior views are events, not study states: their triggers count them straight into
-- statistics_recognition_monthly. Triggers rather than a job: every write path (ingest, grading,
-- signing, deciding, a correction in psql) is covered by the database itself, the rollup commits with
-- the change that caused it, and there is no queue to fall behind. statistics_rebuild() recomputes
-- everything set-wise (after a bulk load, or a change of the grade order).

-- The place of each grade in its scale (1 = best), so SQL can take a study's worst series' grade as
-- QualityService does. Seeded with the shipped scales (archive/quality/qc-scales.ts); a centre's own
-- scale adds its rows. Unknown grades rank after every known non-reject grade; rejects are worst.
CREATE TABLE statistics_grade_order (
  scale_id   text NOT NULL,
  grade_code text NOT NULL,
  rank       smallint NOT NULL,
  PRIMARY KEY (scale_id, grade_code)
);
INSERT INTO statistics_grade_order (scale_id, grade_code, rank) VALUES
  ('radiography', 'A', 1), ('radiography', 'B', 2), ('radiography', 'C', 3), ('radiography', 'reject', 4),
  ('ct', 'excellent', 1), ('ct', 'good', 2), ('ct', 'acceptable', 3), ('ct', 'unacceptable', 4),
  ('mr', 'excellent', 1), ('mr', 'good', 2), ('mr', 'acceptable', 3), ('mr', 'unacceptable', 4);

CREATE TABLE statistics_studies (
  study_pk           bigint PRIMARY KEY REFERENCES studies (id) ON DELETE CASCADE,
  institution_id     bigint NOT NULL,
  -- The examination's month: Study Date, else the day the archive received it (Beijing time).
  month              date NOT NULL,
  -- The study's main modality (most image series; SR, KO, PR and the like do not count); '' unknown.
  modality           text NOT NULL,
  -- Operators' Name (0008,1070) of its first image series; '' when no series names one.
  technologist       text NOT NULL,
  qc_scale           text,
  qc_grade           text,
  qc_reject          boolean,
  report_final       boolean NOT NULL,
  -- From the study's arrival (studies.created_at) to the report's first final signature.
  turnaround_minutes integer,
  report_qc_grade    text
);
-- The drill-down's cells.
CREATE INDEX statistics_studies_by_cell ON statistics_studies (institution_id, month, modality, technologist);

-- Per institution, month and main modality: at most institutions × months × modalities rows (7,200 for
-- 50 hospitals, 24 months and 6 modalities however many studies), so a region's dashboard sums a few
-- thousand rows. The technologist is a dimension of its own table, asked for one hospital at a time.
-- Turnaround is a histogram (percentiles cannot be summed) of 100 buckets, see statistics_turnaround_bucket.
CREATE TABLE statistics_monthly (
  institution_id        bigint NOT NULL,
  month                 date NOT NULL,
  modality              text NOT NULL,
  studies               integer NOT NULL DEFAULT 0,
  reports_final         integer NOT NULL DEFAULT 0,
  report_qc_graded      integer NOT NULL DEFAULT 0,
  report_qc_conforming  integer NOT NULL DEFAULT 0,
  report_qc_basically   integer NOT NULL DEFAULT 0,
  turnaround            integer[] NOT NULL DEFAULT array_fill(0, ARRAY[100]),
  PRIMARY KEY (institution_id, month, modality)
);
CREATE INDEX statistics_monthly_by_month ON statistics_monthly (month, institution_id);

CREATE TABLE statistics_monthly_grades (
  institution_id bigint NOT NULL,
  month          date NOT NULL,
  modality       text NOT NULL,
  scale_id       text NOT NULL,
  grade_code     text NOT NULL,
  reject         boolean NOT NULL,
  studies        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (institution_id, month, modality, scale_id, grade_code, reject)
);
CREATE INDEX statistics_monthly_grades_by_month ON statistics_monthly_grades (month, institution_id);

-- Studies and their grades per technologist (scale_id and grade_code '' for ungraded studies).
CREATE TABLE statistics_technologists (
  institution_id bigint NOT NULL,
  month          date NOT NULL,
  modality       text NOT NULL,
  technologist   text NOT NULL,
  scale_id       text NOT NULL,
  grade_code     text NOT NULL,
  reject         boolean NOT NULL,
  studies        integer NOT NULL DEFAULT 0,
  PRIMARY KEY (institution_id, month, modality, technologist, scale_id, grade_code, reject)
);

-- The turnaround bucket (1-based) of a number of minutes: 5 minutes under an hour, 15 under 6 hours,
-- an hour under a day, 6 hours under a week, then days up to 32 days (the last bucket holds the rest).
-- archive/statistics/statistics-config.ts turns a bucket back into its lower bound.
CREATE FUNCTION statistics_turnaround_bucket(minutes integer) RETURNS integer
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT 1 + CASE
    WHEN minutes < 60 THEN greatest(minutes, 0) / 5
    WHEN minutes < 360 THEN 12 + (minutes - 60) / 15
    WHEN minutes < 1440 THEN 32 + (minutes - 360) / 60
    WHEN minutes < 10080 THEN 50 + (minutes - 1440) / 360
    ELSE 74 + least((minutes - 10080) / 1440, 25)
  END
$$;

-- Counted at the institution that viewed or decided, in the month it did; reason_code '' for views and
-- recognitions; eligible = the prior carried the HR mark.
CREATE TABLE statistics_recognition_monthly (
  institution_id bigint NOT NULL,
  month          date NOT NULL,
  modality       text NOT NULL,
  kind           text NOT NULL CHECK (kind IN ('viewed', 'recognised', 'not-recognised')),
  reason_code    text NOT NULL,
  eligible       boolean NOT NULL,
  events         integer NOT NULL DEFAULT 0,
  PRIMARY KEY (institution_id, month, modality, kind, reason_code, eligible)
);
CREATE INDEX statistics_recognition_by_month ON statistics_recognition_monthly (month, institution_id);

CREATE FUNCTION statistics_month_of(at timestamptz) RETURNS date
LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$ SELECT date_trunc('month', at AT TIME ZONE 'Asia/Shanghai')::date $$;

-- What statistics_studies holds for some studies, computed from the source tables (one study in the
-- triggers, all of them in statistics_rebuild).
CREATE FUNCTION statistics_study_rows(study_pks bigint[]) RETURNS SETOF statistics_studies
LANGUAGE sql STABLE AS $$
  SELECT st.id, st.institution_id,
         coalesce(date_trunc('month', st.study_date)::date, statistics_month_of(st.created_at)),
         coalesce(main.modality, ''), coalesce(operator.name, ''),
         grade.scale_id, grade.grade_code, grade.reject,
         signed.final_at IS NOT NULL,
         CASE WHEN signed.final_at IS NOT NULL THEN greatest(floor(extract(epoch FROM signed.final_at - st.created_at) / 60), 0)::integer END,
         report_qc.grade_code
  FROM studies st
  LEFT JOIN LATERAL (
    SELECT se.modality FROM series se
    WHERE se.study_pk = st.id AND se.modality IS NOT NULL AND se.modality NOT IN ('SR', 'KO', 'PR', 'DOC', 'REG', 'SEG', 'RWV', 'OT')
    GROUP BY se.modality ORDER BY count(*) DESC, se.modality LIMIT 1
  ) main ON TRUE
  LEFT JOIN LATERAL (
    SELECT coalesce(nullif(se.attributes #>> '{00081070,Value,0,Ideographic}', ''), nullif(se.attributes #>> '{00081070,Value,0,Alphabetic}', ''), se.attributes #>> '{00081070,Value,0}') AS name
    FROM series se
    WHERE se.study_pk = st.id AND se.attributes ? '00081070' AND se.modality NOT IN ('SR', 'KO', 'PR', 'DOC')
    ORDER BY se.series_number NULLS LAST, se.id LIMIT 1
  ) operator ON TRUE
  LEFT JOIN LATERAL (
    SELECT g.scale_id, g.grade_code, g.reject FROM qc_grades g
    LEFT JOIN statistics_grade_order o ON o.scale_id = g.scale_id AND o.grade_code = g.grade_code
    WHERE g.study_pk = st.id AND g.superseded_by IS NULL
    ORDER BY g.reject DESC, coalesce(o.rank, 99) DESC, g.graded_at DESC LIMIT 1
  ) grade ON TRUE
  LEFT JOIN LATERAL (
    SELECT min(s.signed_at) AS final_at FROM reports r JOIN report_signatures s ON s.report_id = r.id AND s.role = 'final'
    WHERE r.study_instance_uid = st.study_instance_uid
  ) signed ON TRUE
  LEFT JOIN LATERAL (
    SELECT q.grade_code FROM report_qc_grades q WHERE q.study_pk = st.id AND q.superseded_by IS NULL ORDER BY q.graded_at DESC LIMIT 1
  ) report_qc ON TRUE
  WHERE st.id = ANY (study_pks) AND st.institution_id IS NOT NULL
$$;

CREATE FUNCTION statistics_refresh_study(refreshed bigint) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO statistics_studies SELECT * FROM statistics_study_rows(ARRAY[refreshed])
  ON CONFLICT (study_pk) DO UPDATE SET
    institution_id = EXCLUDED.institution_id, month = EXCLUDED.month, modality = EXCLUDED.modality,
    technologist = EXCLUDED.technologist, qc_scale = EXCLUDED.qc_scale, qc_grade = EXCLUDED.qc_grade,
    qc_reject = EXCLUDED.qc_reject, report_final = EXCLUDED.report_final,
    turnaround_minutes = EXCLUDED.turnaround_minutes, report_qc_grade = EXCLUDED.report_qc_grade
  -- Unchanged facts move nothing in the rollups (the index job rewrites a study at every instance).
  WHERE (statistics_studies.*) IS DISTINCT FROM (EXCLUDED.*);
  IF NOT FOUND AND NOT EXISTS (SELECT 1 FROM studies WHERE id = refreshed AND institution_id IS NOT NULL) THEN
    DELETE FROM statistics_studies WHERE study_pk = refreshed;
  END IF;
END
$$;

-- One study's contribution to the monthly rollups, added (sign 1) or taken out (sign -1).
CREATE FUNCTION statistics_apply(fact statistics_studies, sign integer) RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO statistics_monthly AS m (institution_id, month, modality, studies, reports_final, report_qc_graded, report_qc_conforming, report_qc_basically)
  VALUES (fact.institution_id, fact.month, fact.modality, sign,
          CASE WHEN fact.report_final THEN sign ELSE 0 END,
          CASE WHEN fact.report_qc_grade IS NOT NULL THEN sign ELSE 0 END,
          CASE WHEN fact.report_qc_grade = 'conforming' THEN sign ELSE 0 END,
          CASE WHEN fact.report_qc_grade = 'basically-conforming' THEN sign ELSE 0 END)
  ON CONFLICT (institution_id, month, modality) DO UPDATE SET
    studies = m.studies + EXCLUDED.studies, reports_final = m.reports_final + EXCLUDED.reports_final,
    report_qc_graded = m.report_qc_graded + EXCLUDED.report_qc_graded,
    report_qc_conforming = m.report_qc_conforming + EXCLUDED.report_qc_conforming,
    report_qc_basically = m.report_qc_basically + EXCLUDED.report_qc_basically;
  IF fact.turnaround_minutes IS NOT NULL THEN
    UPDATE statistics_monthly SET turnaround[statistics_turnaround_bucket(fact.turnaround_minutes)] = turnaround[statistics_turnaround_bucket(fact.turnaround_minutes)] + sign
    WHERE institution_id = fact.institution_id AND month = fact.month AND modality = fact.modality;
  END IF;
  IF fact.qc_grade IS NOT NULL THEN
    INSERT INTO statistics_monthly_grades AS g (institution_id, month, modality, scale_id, grade_code, reject, studies)
    VALUES (fact.institution_id, fact.month, fact.modality, fact.qc_scale, fact.qc_grade, fact.qc_reject, sign)
    ON CONFLICT (institution_id, month, modality, scale_id, grade_code, reject) DO UPDATE SET studies = g.studies + EXCLUDED.studies;
  END IF;
  INSERT INTO statistics_technologists AS t (institution_id, month, modality, technologist, scale_id, grade_code, reject, studies)
  VALUES (fact.institution_id, fact.month, fact.modality, fact.technologist, coalesce(fact.qc_scale, ''), coalesce(fact.qc_grade, ''), coalesce(fact.qc_reject, false), sign)
  ON CONFLICT (institution_id, month, modality, technologist, scale_id, grade_code, reject) DO UPDATE SET studies = t.studies + EXCLUDED.studies;
END
$$;

CREATE FUNCTION statistics_studies_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP IN ('UPDATE', 'DELETE') THEN PERFORM statistics_apply(OLD, -1); END IF;
  IF TG_OP IN ('INSERT', 'UPDATE') THEN PERFORM statistics_apply(NEW, 1); END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER statistics_studies_rollup AFTER INSERT OR UPDATE OR DELETE ON statistics_studies
  FOR EACH ROW EXECUTE FUNCTION statistics_studies_changed();

-- The source tables: each names the study whose facts to recompute, at commit.
CREATE FUNCTION statistics_source_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
DECLARE
  changed bigint;
BEGIN
  -- IF, not CASE: each branch names fields only its own table has.
  IF TG_ARGV[0] = 'study' THEN
    changed := NEW.id;
  ELSIF TG_ARGV[0] = 'study_pk' THEN
    changed := NEW.study_pk;
  ELSE
    SELECT st.id INTO changed FROM reports r JOIN studies st ON st.study_instance_uid = r.study_instance_uid WHERE r.id = NEW.report_id;
  END IF;
  IF changed IS NOT NULL THEN PERFORM statistics_refresh_study(changed); END IF;
  RETURN NULL;
END
$$;
CREATE CONSTRAINT TRIGGER statistics_study_inserted AFTER INSERT ON studies DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION statistics_source_changed('study');
CREATE CONSTRAINT TRIGGER statistics_study_updated AFTER UPDATE ON studies DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.study_date IS DISTINCT FROM NEW.study_date OR OLD.institution_id IS DISTINCT FROM NEW.institution_id OR OLD.modalities IS DISTINCT FROM NEW.modalities)
  EXECUTE FUNCTION statistics_source_changed('study');
CREATE CONSTRAINT TRIGGER statistics_series_inserted AFTER INSERT ON series DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION statistics_source_changed('study_pk');
CREATE CONSTRAINT TRIGGER statistics_series_updated AFTER UPDATE ON series DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW WHEN (OLD.modality IS DISTINCT FROM NEW.modality OR OLD.attributes -> '00081070' IS DISTINCT FROM NEW.attributes -> '00081070')
  EXECUTE FUNCTION statistics_source_changed('study_pk');
CREATE CONSTRAINT TRIGGER statistics_qc_grade_changed AFTER INSERT OR UPDATE ON qc_grades DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION statistics_source_changed('study_pk');
CREATE CONSTRAINT TRIGGER statistics_report_signed AFTER INSERT ON report_signatures DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION statistics_source_changed('signature');
CREATE CONSTRAINT TRIGGER statistics_report_qc_changed AFTER INSERT OR UPDATE ON report_qc_grades DEFERRABLE INITIALLY DEFERRED
  FOR EACH ROW EXECUTE FUNCTION statistics_source_changed('study_pk');

-- Recognition events, counted as they are written (and taken out if one is ever deleted or corrected).
CREATE FUNCTION statistics_count_recognition(institution_id bigint, month date, modality text, kind text, reason_code text, eligible boolean, sign integer) RETURNS void
LANGUAGE sql AS $$
  INSERT INTO statistics_recognition_monthly AS r (institution_id, month, modality, kind, reason_code, eligible, events)
  VALUES (institution_id, month, coalesce(modality, ''), kind, coalesce(reason_code, ''), eligible, sign)
  ON CONFLICT (institution_id, month, modality, kind, reason_code, eligible) DO UPDATE SET events = r.events + EXCLUDED.events
$$;

CREATE FUNCTION statistics_recognition_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
  IF TG_TABLE_NAME = 'prior_views' THEN
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      PERFORM statistics_count_recognition(OLD.viewing_institution_id, date_trunc('month', OLD.viewed_on)::date, OLD.modality, 'viewed', '', OLD.hr_mark IS NOT NULL, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      PERFORM statistics_count_recognition(NEW.viewing_institution_id, date_trunc('month', NEW.viewed_on)::date, NEW.modality, 'viewed', '', NEW.hr_mark IS NOT NULL, 1);
    END IF;
  ELSE
    IF TG_OP IN ('UPDATE', 'DELETE') THEN
      PERFORM statistics_count_recognition(OLD.deciding_institution_id, statistics_month_of(OLD.decided_at), OLD.modality, OLD.decision,
        CASE WHEN OLD.decision = 'not-recognised' THEN OLD.reason_code ELSE '' END, OLD.hr_mark IS NOT NULL, -1);
    END IF;
    IF TG_OP IN ('INSERT', 'UPDATE') THEN
      PERFORM statistics_count_recognition(NEW.deciding_institution_id, statistics_month_of(NEW.decided_at), NEW.modality, NEW.decision,
        CASE WHEN NEW.decision = 'not-recognised' THEN NEW.reason_code ELSE '' END, NEW.hr_mark IS NOT NULL, 1);
    END IF;
  END IF;
  RETURN NULL;
END
$$;
CREATE TRIGGER statistics_prior_viewed AFTER INSERT OR UPDATE OR DELETE ON prior_views
  FOR EACH ROW EXECUTE FUNCTION statistics_recognition_changed();
CREATE TRIGGER statistics_recognition_decided AFTER INSERT OR UPDATE OR DELETE ON recognition_decisions
  FOR EACH ROW EXECUTE FUNCTION statistics_recognition_changed();

-- The rollups again from statistics_studies and the recognition tables, set-wise (after a bulk load).
CREATE FUNCTION statistics_rebuild_rollups() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  TRUNCATE statistics_monthly, statistics_monthly_grades, statistics_technologists, statistics_recognition_monthly;
  INSERT INTO statistics_monthly (institution_id, month, modality, studies, reports_final, report_qc_graded, report_qc_conforming, report_qc_basically)
    SELECT institution_id, month, modality, count(*), count(*) FILTER (WHERE report_final),
           count(report_qc_grade), count(*) FILTER (WHERE report_qc_grade = 'conforming'), count(*) FILTER (WHERE report_qc_grade = 'basically-conforming')
    FROM statistics_studies GROUP BY 1, 2, 3;
  UPDATE statistics_monthly m SET turnaround = h.turnaround
  FROM (SELECT institution_id, month, modality, array_agg(coalesce(reports, 0) ORDER BY bucket) AS turnaround
        FROM (SELECT DISTINCT institution_id, month, modality FROM statistics_studies WHERE turnaround_minutes IS NOT NULL) cell
        CROSS JOIN generate_series(1, 100) bucket
        LEFT JOIN (SELECT institution_id, month, modality, statistics_turnaround_bucket(turnaround_minutes) AS bucket, count(*)::integer AS reports
                   FROM statistics_studies WHERE turnaround_minutes IS NOT NULL GROUP BY 1, 2, 3, 4) counted USING (institution_id, month, modality, bucket)
        GROUP BY 1, 2, 3) h
  WHERE m.institution_id = h.institution_id AND m.month = h.month AND m.modality = h.modality;
  INSERT INTO statistics_monthly_grades
    SELECT institution_id, month, modality, qc_scale, qc_grade, qc_reject, count(*)
    FROM statistics_studies WHERE qc_grade IS NOT NULL GROUP BY 1, 2, 3, 4, 5, 6;
  INSERT INTO statistics_technologists
    SELECT institution_id, month, modality, technologist, coalesce(qc_scale, ''), coalesce(qc_grade, ''), coalesce(qc_reject, false), count(*)
    FROM statistics_studies GROUP BY 1, 2, 3, 4, 5, 6, 7;
  INSERT INTO statistics_recognition_monthly
    SELECT viewing_institution_id, date_trunc('month', viewed_on)::date, coalesce(modality, ''), 'viewed', '', hr_mark IS NOT NULL, count(*)
    FROM prior_views GROUP BY 1, 2, 3, 6;
  INSERT INTO statistics_recognition_monthly
    SELECT deciding_institution_id, statistics_month_of(decided_at), coalesce(modality, ''), decision,
           CASE WHEN decision = 'not-recognised' THEN coalesce(reason_code, '') ELSE '' END, hr_mark IS NOT NULL, count(*)
    FROM recognition_decisions GROUP BY 1, 2, 3, 4, 5, 6;
END
$$;

-- Everything again: every study's facts from the source tables, then the rollups (after a bulk load
-- with the triggers off, or a change of the grade order).
CREATE FUNCTION statistics_rebuild() RETURNS void
LANGUAGE plpgsql AS $$
BEGIN
  ALTER TABLE statistics_studies DISABLE TRIGGER statistics_studies_rollup;
  TRUNCATE statistics_studies;
  INSERT INTO statistics_studies SELECT * FROM statistics_study_rows(ARRAY(SELECT id FROM studies));
  ALTER TABLE statistics_studies ENABLE TRIGGER statistics_studies_rollup;
  PERFORM statistics_rebuild_rollups();
END
$$;
