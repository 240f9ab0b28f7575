-- Image QC grades (质控评级, issue 16): one row per grading of a series. A regrade inserts a new row
-- and points the old one at it (superseded_by), so the history of who graded what, when and why stays.

-- A QC centre's own scales and defect catalogue (validated by qcConfigurationSchema where it enters).
-- No row: the shipped defaults (archive/quality/qc-scales.ts, DEFAULT_QC_CONFIGURATION).
CREATE TABLE qc_configurations (
  institution_id  bigint PRIMARY KEY REFERENCES institutions (id),
  configuration   jsonb NOT NULL,
  updated_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE qc_grades (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_pk                bigint NOT NULL REFERENCES studies (id),
  series_pk               bigint NOT NULL REFERENCES series (id),
  scale_id                text NOT NULL,
  -- The grade after the veto factors; given_grade_code is what the grader chose.
  grade_code              text NOT NULL,
  given_grade_code        text NOT NULL,
  reject                  boolean NOT NULL,
  defects                 jsonb NOT NULL DEFAULT '[]',
  comment                 text NOT NULL DEFAULT '' CHECK (length(comment) <= 2000),
  graded_by_user_id       bigint NOT NULL REFERENCES users (id),
  graded_by_name          text NOT NULL,
  grader_institution_id   bigint REFERENCES institutions (id),
  graded_at               timestamptz NOT NULL DEFAULT now(),
  -- Deferred: a regrade points the old row at the new one in the transaction that inserts it.
  superseded_by           bigint REFERENCES qc_grades (id) DEFERRABLE INITIALLY DEFERRED,
  -- A reject's Key Object Selection (113001): UIDs fixed at grading so a rerun of the job stores the
  -- same object; stored_at set once ingest has it, so the reconciler finds the ones still missing.
  rejection_kos_series_uid text,
  rejection_kos_sop_uid    text,
  rejection_kos_stored_at  timestamptz,
  CHECK (reject = (rejection_kos_sop_uid IS NOT NULL))
);
-- One current grade per series.
CREATE UNIQUE INDEX qc_grades_current ON qc_grades (series_pk) WHERE superseded_by IS NULL;
CREATE INDEX qc_grades_by_study ON qc_grades (study_pk, graded_at);
CREATE INDEX qc_grades_kos_missing ON qc_grades (graded_at) WHERE reject AND rejection_kos_stored_at IS NULL;
