-- Institutions, DICOM peers, people, sessions and the audit trail (issue 5).
-- Every indexed row belongs to the institution that sent it; access is scoped by institution and region.

CREATE TABLE regions (
  id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  parent_id bigint REFERENCES regions (id),
  code      text NOT NULL UNIQUE,
  name      text NOT NULL,
  level     text NOT NULL CHECK (level IN ('province', 'city', 'district', 'county'))
);

CREATE TABLE institutions (
  id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  code       text NOT NULL UNIQUE,
  name       text NOT NULL,
  kind       text NOT NULL CHECK (kind IN ('hospital', 'reading_centre', 'quarantine')),
  region_id  bigint REFERENCES regions (id),
  created_at timestamptz NOT NULL DEFAULT now()
);
-- Where data from unregistered senders goes when "accept unknown, quarantine" is on, and where data
-- received before institutions existed is kept: only system administrators see it.
INSERT INTO institutions (code, name, kind) VALUES ('QUARANTINE', 'Quarantine (unregistered senders)', 'quarantine');

CREATE TABLE dicom_peers (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  institution_id   bigint NOT NULL REFERENCES institutions (id),
  ae_title         text NOT NULL UNIQUE,
  -- source addresses the peer may call from; empty means any address
  allowed_networks cidr[] NOT NULL DEFAULT '{}',
  -- where the peer listens, for retrieval (C-MOVE destinations, exports)
  host             text,
  port             integer CHECK (port BETWEEN 1 AND 65535),
  tls_required     boolean NOT NULL DEFAULT false,
  -- for a PACS that declares one character set and sends another
  character_set    text,
  created_at       timestamptz NOT NULL DEFAULT now()
);

-- A source is a sender within an institution: the same AE title moved to another institution is another source.
ALTER TABLE sources ADD COLUMN institution_id bigint REFERENCES institutions (id);
UPDATE sources SET institution_id = (SELECT id FROM institutions WHERE code = 'QUARANTINE');
ALTER TABLE sources ALTER COLUMN institution_id SET NOT NULL;
ALTER TABLE sources DROP CONSTRAINT sources_via_name_key;
ALTER TABLE sources ADD CONSTRAINT sources_identity UNIQUE (via, name, institution_id);

-- The owning institution, carried on every level so that a scope check never needs another join.
ALTER TABLE patients ADD COLUMN institution_id bigint REFERENCES institutions (id);
ALTER TABLE studies ADD COLUMN institution_id bigint REFERENCES institutions (id);
ALTER TABLE series ADD COLUMN institution_id bigint REFERENCES institutions (id);
ALTER TABLE instances ADD COLUMN institution_id bigint REFERENCES institutions (id);
UPDATE patients SET institution_id = sources.institution_id FROM sources WHERE sources.id = patients.source_id;
UPDATE studies SET institution_id = sources.institution_id FROM sources WHERE sources.id = studies.source_id;
UPDATE series SET institution_id = studies.institution_id FROM studies WHERE studies.id = series.study_pk;
UPDATE instances SET institution_id = studies.institution_id FROM studies WHERE studies.id = instances.study_pk;
ALTER TABLE patients ALTER COLUMN institution_id SET NOT NULL;
ALTER TABLE studies ALTER COLUMN institution_id SET NOT NULL;
ALTER TABLE series ALTER COLUMN institution_id SET NOT NULL;
ALTER TABLE instances ALTER COLUMN institution_id SET NOT NULL;
-- A scoped study list: one institution (or a region's few), newest first.
CREATE INDEX studies_by_institution ON studies (institution_id, study_date DESC NULLS LAST, id DESC);

CREATE TABLE users (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  username         text NOT NULL UNIQUE,
  display_name     text NOT NULL,
  -- scrypt (N=2^15, r=8, p=1) in PHC-like form; NULL for accounts that only sign in through OIDC
  password_hash    text,
  oidc_issuer      text,
  oidc_subject     text,
  role             text NOT NULL CHECK (role IN ('system_admin', 'institution_admin', 'radiologist',
                     'referring_doctor', 'qc_staff', 'auditor')),
  institution_id   bigint REFERENCES institutions (id),
  disabled         boolean NOT NULL DEFAULT false,
  failed_logins    integer NOT NULL DEFAULT 0,
  locked_until     timestamptz,
  created_at       timestamptz NOT NULL DEFAULT now(),
  UNIQUE (oidc_issuer, oidc_subject),
  -- everyone but system administrators and auditors works for an institution
  CHECK (role IN ('system_admin', 'auditor') OR institution_id IS NOT NULL)
);

-- Browser sessions and machine API tokens. A session row exists for revocation: the signed token
-- says who, the row says whether it still holds.
CREATE TABLE auth_sessions (
  id            uuid PRIMARY KEY,
  user_id       bigint NOT NULL REFERENCES users (id),
  kind          text NOT NULL CHECK (kind IN ('session', 'api_token')),
  -- API tokens: SHA-256 of the secret (the secret itself is shown once, at creation)
  secret_sha256 text,
  label         text,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  revoked_at    timestamptz,
  source_address text
);
CREATE INDEX auth_sessions_by_user ON auth_sessions (user_id);

-- Secrets the gateways share (the session signing key), generated on first start.
CREATE TABLE secrets (
  name       text PRIMARY KEY,
  value      bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

-- The audit trail: append-only and hash-chained. Each row's hash covers its content and the previous
-- row's hash, so changing, inserting or deleting a row in the middle breaks `npm run admin -- audit verify`.
CREATE TABLE audit_events (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  occurred_at    timestamptz NOT NULL,
  event_type     text NOT NULL,
  action         text NOT NULL CHECK (action IN ('C', 'R', 'U', 'D', 'E')),
  outcome        integer NOT NULL CHECK (outcome IN (0, 4, 8, 12)),
  user_name      text,
  user_role      text,
  institution_id bigint,
  source_address text,
  patient_id     text,
  patient_name   text,
  study_uids     text[] NOT NULL DEFAULT '{}',
  purpose        text,
  detail         jsonb NOT NULL DEFAULT '{}',
  previous_hash  text NOT NULL,
  hash           text NOT NULL UNIQUE
);
CREATE INDEX audit_events_by_time ON audit_events (occurred_at);
CREATE INDEX audit_events_by_patient ON audit_events (patient_id);
CREATE INDEX audit_events_by_user ON audit_events (user_name);
CREATE INDEX audit_events_by_study ON audit_events USING gin (study_uids);

-- Append-only in the database itself, not just by convention: updates are refused, and deletes are
-- allowed only for retention, which removes the oldest rows through yingyun_audit_retain().
CREATE FUNCTION yingyun_audit_immutable() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'DELETE' AND current_setting('yingyun.audit_retention', true) = 'on' THEN
    RETURN OLD;
  END IF;
  RAISE EXCEPTION 'audit_events is append-only (% refused)', TG_OP;
END $$;
CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE ON audit_events
  FOR EACH ROW EXECUTE FUNCTION yingyun_audit_immutable();

-- Retention keeps the chain verifiable: rows go oldest first, and the hash of the last removed row
-- is kept as the anchor the oldest remaining row must point to.
CREATE TABLE audit_anchor (
  singleton     boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  last_removed_id bigint NOT NULL,
  hash          text NOT NULL
);

-- Identifiers in Other Patient IDs without an issuer ('|123') name nobody across hospitals: they are
-- left out whenever records are linked into one person.
CREATE FUNCTION array_remove_bare(identifiers text[]) RETURNS text[] LANGUAGE sql IMMUTABLE PARALLEL SAFE AS $$
  SELECT coalesce(array_agg(identifier), '{}') FROM unnest(identifiers) AS identifier WHERE identifier NOT LIKE '|%'
$$;
