-- Reading intake (issue 15): which studies go to which reading centre, the centre's readers, and the
-- conversation between a centre and a hospital about a task. The tasks themselves are UPS workitems
-- (migration 005); a rule's workitem has a UID derived from the rule and the study, so the
-- workitems' own unique SOP Instance UID makes "once per study and rule" hold under any race.

-- 路由规则: studies from one sending institution, or from every institution of a region (and the
-- regions below it), of the listed modalities (none listed: any), go to a reading centre.
CREATE TABLE reading_rules (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  reading_centre_id       bigint NOT NULL REFERENCES institutions (id),
  sending_institution_id  bigint REFERENCES institutions (id),
  region_id               bigint REFERENCES regions (id),
  modalities              text[] NOT NULL DEFAULT '{}',
  priority                text NOT NULL DEFAULT 'MEDIUM' CHECK (priority IN ('HIGH', 'MEDIUM', 'LOW')),
  patient_class           text NOT NULL DEFAULT 'outpatient' CHECK (patient_class IN ('emergency', 'outpatient', 'inpatient', 'physical-exam')),
  enabled                 boolean NOT NULL DEFAULT true,
  created_at              timestamptz NOT NULL DEFAULT now(),
  CHECK ((sending_institution_id IS NULL) <> (region_id IS NULL))
);
CREATE INDEX reading_rules_by_sender ON reading_rules (sending_institution_id) WHERE enabled;
CREATE INDEX reading_rules_by_region ON reading_rules (region_id) WHERE enabled;

-- A reader's availability for round-robin assignment (no row: available), and when they were last
-- given a task, so the next one goes to whoever waited longest.
CREATE TABLE reader_availability (
  user_id           bigint PRIMARY KEY REFERENCES users (id),
  available         boolean NOT NULL DEFAULT true,
  last_assigned_at  timestamptz
);

-- What a centre and a hospital said about a task: a return with its reason, the hospital's answer,
-- a re-send that reopened it. Kept beside the workitem, which holds only the latest state.
CREATE TABLE reading_task_notes (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  workitem_uid      text NOT NULL REFERENCES workitems (sop_instance_uid),
  kind              text NOT NULL CHECK (kind IN ('returned', 'note', 'reopened')),
  reason            text CHECK (reason IN ('images-insufficient', 'wrong-patient', 'needs-more-series', 'other')),
  text              text NOT NULL DEFAULT '',
  author_username   text NOT NULL,
  author_institution_id bigint REFERENCES institutions (id),
  created_at        timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reading_task_notes_by_workitem ON reading_task_notes (workitem_uid, created_at);

-- 报告时限 overrides: a limit per examination group and patient class; absent rows take the
-- defaults of archive/reading/turnaround.ts.
CREATE TABLE turnaround_limits (
  modality_group  text NOT NULL CHECK (modality_group IN ('radiograph', 'ct-mr', 'ultrasound', 'other')),
  patient_class   text NOT NULL CHECK (patient_class IN ('emergency', 'outpatient', 'inpatient', 'physical-exam')),
  limit_minutes   integer NOT NULL CHECK (limit_minutes > 0),
  working_time    boolean NOT NULL,
  amber_fraction  numeric NOT NULL CHECK (amber_fraction > 0 AND amber_fraction < 1),
  PRIMARY KEY (modality_group, patient_class)
);

