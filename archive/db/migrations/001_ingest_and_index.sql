-- The receipt is the durable record of what was acknowledged; everything else is derived from it.
-- Keys are bigint identities so the index can grow to billions of rows. `study_pk` is carried on
-- series and instances as the natural distribution key (a Citus deployment distributes by it).

CREATE TABLE sources (
  id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  via           text NOT NULL CHECK (via IN ('dimse', 'stow', 'import')),
  -- calling AE title for DIMSE, the HTTP user (or 'anonymous') for STOW-RS, the import label
  name          text NOT NULL,
  first_seen_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (via, name)
);

CREATE TABLE receipts (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sop_instance_uid    text NOT NULL,
  sop_class_uid       text NOT NULL,
  study_instance_uid  text NOT NULL,
  series_instance_uid text NOT NULL,
  transfer_syntax_uid text NOT NULL,
  object_key          text NOT NULL,
  object_sha256       text NOT NULL,
  -- identity of the content: the bytes after the File Meta group, so the same dataset sent over
  -- DIMSE (where we write the meta header) and over STOW-RS (where the sender did) is one version
  dataset_sha256      text NOT NULL,
  size_bytes          bigint NOT NULL,
  source_id           bigint NOT NULL REFERENCES sources (id),
  remote_address      text,
  called_ae_title     text,
  received_at         timestamptz NOT NULL DEFAULT now(),
  -- parsed once at receipt, so indexing and WADO-RS metadata never re-read the object
  metadata            jsonb NOT NULL,
  bulk_data           jsonb NOT NULL,
  pixel               jsonb,
  dataset_offset      integer NOT NULL,
  deflated            boolean NOT NULL,
  character_set       jsonb NOT NULL,
  indexed_at          timestamptz,
  UNIQUE (sop_instance_uid, dataset_sha256)
);
CREATE INDEX receipts_awaiting_index ON receipts (received_at) WHERE indexed_at IS NULL;

-- Things worth knowing about an instance that are not its current state: a new version arriving
-- under an existing SOP Instance UID, a character set that had to be detected.
CREATE TABLE instance_events (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sop_instance_uid    text NOT NULL,
  kind                text NOT NULL,
  receipt_id          bigint NOT NULL REFERENCES receipts (id),
  previous_receipt_id bigint REFERENCES receipts (id),
  detail              jsonb,
  occurred_at         timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX instance_events_by_instance ON instance_events (sop_instance_uid);

CREATE TABLE patients (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  -- Issuer of Patient ID, or the sending source when absent: the same Patient ID from two
  -- hospitals is two patients, never merged. A study sent with an empty Patient ID gets an issuer
  -- of its own ('study:<Study Instance UID>'), so anonymous studies are never merged either.
  issuer            text NOT NULL,
  patient_id        text NOT NULL,
  source_id         bigint NOT NULL REFERENCES sources (id),
  patient_name      jsonb,
  name_search       text,
  birth_date        date,
  sex               text,
  -- strong identifiers ('issuer|value') from Other Patient IDs, for priors across institutions
  other_patient_ids text[] NOT NULL DEFAULT '{}',
  attributes        jsonb NOT NULL,
  updated_at        timestamptz NOT NULL DEFAULT now(),
  UNIQUE (issuer, patient_id)
);
CREATE INDEX patients_by_patient_id ON patients (patient_id);
CREATE INDEX patients_by_name ON patients (name_search text_pattern_ops);
CREATE INDEX patients_by_other_ids ON patients USING gin (other_patient_ids);

CREATE TABLE studies (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid    text NOT NULL UNIQUE,
  patient_pk            bigint NOT NULL REFERENCES patients (id),
  source_id             bigint NOT NULL REFERENCES sources (id),
  study_date            date,
  study_time            text,
  accession_number      text,
  study_id              text,
  description           text,
  referring_name_search text,
  institution_name      text,
  modalities            text[] NOT NULL DEFAULT '{}',
  number_of_series      integer NOT NULL DEFAULT 0,
  number_of_instances   integer NOT NULL DEFAULT 0,
  attributes            jsonb NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  updated_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX studies_by_patient ON studies (patient_pk);
CREATE INDEX studies_by_date ON studies (study_date DESC, id DESC);
CREATE INDEX studies_by_accession ON studies (accession_number);
CREATE INDEX studies_by_modality ON studies USING gin (modalities);

CREATE TABLE series (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  series_instance_uid  text NOT NULL UNIQUE,
  study_pk             bigint NOT NULL REFERENCES studies (id),
  modality             text,
  series_number        integer,
  description          text,
  body_part            text,
  performed_start_date date,
  number_of_instances  integer NOT NULL DEFAULT 0,
  attributes           jsonb NOT NULL,
  thumbnail_key        text,
  thumbnail_receipt_id bigint REFERENCES receipts (id)
);
CREATE INDEX series_by_study ON series (study_pk, series_number);

CREATE TABLE instances (
  id                   bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sop_instance_uid     text NOT NULL UNIQUE,
  series_pk            bigint NOT NULL REFERENCES series (id),
  study_pk             bigint NOT NULL REFERENCES studies (id),
  -- the current version; older versions stay in receipts
  receipt_id           bigint NOT NULL REFERENCES receipts (id),
  sop_class_uid        text NOT NULL,
  instance_number      integer,
  number_of_frames     integer,
  attributes           jsonb NOT NULL,
  thumbnail_key        text,
  thumbnail_receipt_id bigint REFERENCES receipts (id),
  thumbnail_error      text
);
CREATE INDEX instances_by_series ON instances (series_pk, instance_number, id);
CREATE INDEX instances_by_study ON instances (study_pk);
CREATE INDEX instances_awaiting_thumbnail ON instances (id)
  WHERE thumbnail_receipt_id IS DISTINCT FROM receipt_id AND thumbnail_error IS NULL;
