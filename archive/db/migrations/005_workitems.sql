-- UPS-RS worklist (issue 15): one row per Unified Procedure Step. The workitem itself is kept as
-- DICOM JSON; the columns beside it are derived from it (archive/reading/workitem.ts) for searching.
CREATE TABLE workitems (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sop_instance_uid      text NOT NULL UNIQUE,
  -- Whose worklist it is on: visible to the users whose scope covers this institution, as studies are.
  institution_id        bigint NOT NULL REFERENCES institutions (id),
  state                 text NOT NULL CHECK (state IN ('SCHEDULED', 'IN PROGRESS', 'CANCELED', 'COMPLETED')),
  -- The performer's lock (PS3.4 CC.1.1): never served back in a Retrieve or Search.
  transaction_uid       text,
  priority              text NOT NULL CHECK (priority IN ('HIGH', 'MEDIUM', 'LOW')),
  scheduled_start       timestamp NOT NULL,
  patient_id            text,
  issuer                text,
  patient_name_search   text NOT NULL DEFAULT '',
  station_keys          text[] NOT NULL DEFAULT '{}',
  performer_keys        text[] NOT NULL DEFAULT '{}',
  requested_study_uids  text[] NOT NULL DEFAULT '{}',
  input_study_uids      text[] NOT NULL DEFAULT '{}',
  procedure_step_label  text,
  worklist_label        text,
  dataset               jsonb NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((state = 'SCHEDULED') = (transaction_uid IS NULL))
);

-- A reading centre's worklist: its institutions' open items, by scheduled start.
CREATE INDEX workitems_by_institution_state_start ON workitems (institution_id, state, scheduled_start);
CREATE INDEX workitems_by_patient ON workitems (patient_id);
CREATE INDEX workitems_by_studies ON workitems USING gin (requested_study_uids);
CREATE INDEX workitems_by_input_studies ON workitems USING gin (input_study_uids);
CREATE INDEX workitems_by_performer ON workitems USING gin (performer_keys);
CREATE INDEX workitems_by_station ON workitems USING gin (station_keys);
