-- The master patient index (issue 16, docs/recognition.md "Linking in the archive"): every patient
-- record (one institution's Patient ID) belongs to exactly one person; records of several
-- institutions are one person when they share a strong identifier (archive/person/).

CREATE TABLE persons (
  id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- Which person a patient record is, and how that was decided. A patient record without a row here
-- has not been linked yet (the reconciler re-enqueues it). 'automatic' links follow the identifiers
-- and are redone when they or the institution's rules change; 'manual' ones (a person's decision,
-- with who and why) are never undone by the linking job.
CREATE TABLE person_links (
  patient_pk   bigint PRIMARY KEY REFERENCES patients (id) ON DELETE CASCADE,
  person_id    bigint NOT NULL REFERENCES persons (id),
  method       text NOT NULL CHECK (method IN ('automatic', 'manual')),
  -- automatic: the identifier kinds shared with the person's other records (empty: a person of its own)
  shared_kinds text[] NOT NULL DEFAULT '{}',
  linked_by    text,
  reason       text,
  linked_at    timestamptz NOT NULL DEFAULT now(),
  CHECK (method = 'automatic' OR (linked_by IS NOT NULL AND reason IS NOT NULL))
);
CREATE INDEX person_links_by_person ON person_links (person_id);

-- A record's valid strong identifiers, never in plain text: the keyed hash (HMAC-SHA-256) to match
-- on and the value sealed with AES-256-GCM for those entitled to read it. The keys are not in the
-- database (archive/person/person-keys.ts). issuer is the identifier's namespace, not the number.
CREATE TABLE person_identifiers (
  patient_pk   bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  kind         text NOT NULL CHECK (kind IN ('resident-id', 'health-card', 'medical-insurance')),
  issuer       text NOT NULL,
  match_hash   bytea NOT NULL CHECK (length(match_hash) = 32),
  sealed_value bytea NOT NULL,
  PRIMARY KEY (patient_pk, match_hash)
);
CREATE INDEX person_identifiers_by_hash ON person_identifiers (match_hash);

-- Weak matches and contradicted strong ones, for a person to decide; never linked on their own.
-- One row per pair of records (lower id first), whatever its status, so a dismissed pair is not asked again.
CREATE TABLE person_link_suggestions (
  id                bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  patient_pk        bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  other_patient_pk  bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  reason            text NOT NULL CHECK (reason IN ('identifier-conflict', 'same-name-birth-date-sex')),
  conflicts         text[] NOT NULL DEFAULT '{}',
  status            text NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'accepted', 'dismissed')),
  decided_by        text,
  decision_reason   text,
  decided_at        timestamptz,
  created_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (patient_pk < other_patient_pk),
  UNIQUE (patient_pk, other_patient_pk)
);
CREATE INDEX person_link_suggestions_open ON person_link_suggestions (created_at) WHERE status = 'open';

-- Weak matches are looked for among records of the same birth date and sex.
CREATE INDEX patients_by_birth_date_sex ON patients (birth_date, sex) WHERE birth_date IS NOT NULL;

-- Where an institution's PACS writes identifiers without a recognisable issuer
-- (identifierRuleSchema in archive/person/identifier-extraction.ts, validated before it is stored).
CREATE TABLE institution_identifier_rules (
  institution_id bigint PRIMARY KEY REFERENCES institutions (id),
  rules          jsonb NOT NULL,
  updated_by     text NOT NULL,
  updated_at     timestamptz NOT NULL DEFAULT now()
);
