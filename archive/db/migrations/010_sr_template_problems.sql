-- SRs received claiming TID 2000 whose content departs from it (archive/reading/tid2000.ts): stored
-- all the same, and flagged here for whoever looks after the archive's data quality.
CREATE TABLE sr_template_problems (
  sop_instance_uid    text PRIMARY KEY,
  study_instance_uid  text NOT NULL,
  template            text NOT NULL,
  problems            jsonb NOT NULL,
  checked_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX sr_template_problems_by_study ON sr_template_problems (study_instance_uid);
