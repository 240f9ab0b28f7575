-- QC work lists (质控工作列表, issue 16): the automatic technical checks' results, a QC centre's
-- sampling rules and check thresholds, clinicians' flags, and report QC grades (报告质控).

-- The technical checks of a study (archive/quality/technical-checks.ts), written by the
-- check-study-quality job. Derived data: a rerun replaces the row. `outcome` is the worst check's,
-- so the work list finds the failed studies by index; `results` holds every check with its code,
-- outcome, series, message key and parameters, so each one explains itself.
CREATE TABLE study_quality_checks (
  study_pk         bigint PRIMARY KEY REFERENCES studies (id),
  outcome          text NOT NULL CHECK (outcome IN ('pass', 'warn', 'fail')),
  results          jsonb NOT NULL,
  -- How many instances the study had when checked: a later arrival enqueues the job again.
  instance_count   integer NOT NULL,
  checked_at       timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX study_quality_checks_failed ON study_quality_checks (study_pk) WHERE outcome = 'fail';

-- A QC centre's work-list settings (validated by qcWorklistSettingsSchema where they enter): its
-- sampling rules and its technical check thresholds. No row: the shipped defaults. `sampling_key`
-- keys the hash that draws the sample, so a hospital cannot tell in advance which studies are drawn;
-- it is made once and kept, so the same study is drawn (or not) every time the list is built.
CREATE TABLE qc_worklist_settings (
  institution_id   bigint PRIMARY KEY REFERENCES institutions (id),
  settings         jsonb NOT NULL,
  sampling_key     text NOT NULL,
  updated_by       bigint REFERENCES users (id),
  updated_at       timestamptz NOT NULL DEFAULT now()
);

-- A clinician's request that QC look at a study (临床反馈), with the reason.
CREATE TABLE qc_flags (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_pk               bigint NOT NULL REFERENCES studies (id),
  reason                 text NOT NULL CHECK (length(reason) BETWEEN 1 AND 500),
  flagged_by_user_id     bigint NOT NULL REFERENCES users (id),
  flagged_by_name        text NOT NULL,
  flagger_institution_id bigint REFERENCES institutions (id),
  flagged_at             timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX qc_flags_by_study ON qc_flags (study_pk, flagged_at);

-- Report QC grades (报告质控: 符合 / 基本符合 / 不符合) of a signed report version. The statistics count
-- these columns as they are. A regrade inserts a new row and points the old one at it.
CREATE TABLE report_qc_grades (
  id                     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_pk               bigint NOT NULL REFERENCES studies (id),
  report_id              bigint NOT NULL REFERENCES reports (id),
  report_version         integer NOT NULL,
  grade_code             text NOT NULL CHECK (grade_code IN ('conforming', 'basically-conforming', 'non-conforming')),
  errors                 text[] NOT NULL DEFAULT '{}',
  comment                text NOT NULL DEFAULT '',
  graded_by_user_id      bigint NOT NULL REFERENCES users (id),
  graded_by_name         text NOT NULL,
  grader_institution_id  bigint,
  graded_at              timestamptz NOT NULL DEFAULT now(),
  superseded_by          bigint REFERENCES report_qc_grades (id) DEFERRABLE INITIALLY DEFERRED,
  -- The version graded is a signed one.
  FOREIGN KEY (report_id, report_version) REFERENCES report_versions (report_id, version),
  CHECK (errors <@ ARRAY['missed-finding', 'wrong-laterality', 'inconsistent-findings-impression', 'non-standard-terms', 'late']::text[]),
  CHECK (length(comment) <= 2000)
);
-- One current grade per report, whichever version it graded.
CREATE UNIQUE INDEX report_qc_grades_current ON report_qc_grades (report_id) WHERE superseded_by IS NULL;
CREATE INDEX report_qc_grades_by_study ON report_qc_grades (study_pk, graded_at);
