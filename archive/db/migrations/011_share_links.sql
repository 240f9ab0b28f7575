-- Cloud film (云胶片) and share links (issue 15): a link opens ONE study, to a patient without an
-- account (audience 'patient', behind a second factor) or to a named doctor of another institution
-- (audience 'doctor', through a study access grant). Never deleted: revoking sets revoked_at, so
-- the trail of who could open what stays.
CREATE TABLE share_links (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid  text NOT NULL,
  -- The study's institution when the link was made: its staff manage the link.
  institution_id      bigint NOT NULL REFERENCES institutions (id),
  audience            text NOT NULL CHECK (audience IN ('patient', 'doctor')),
  created_via         text NOT NULL CHECK (created_via IN ('report-signed', 'staff', 'doctor')),
  created_by_user_id  bigint REFERENCES users (id),
  created_at          timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL,
  revoked_at          timestamptz,
  revoked_by_user_id  bigint REFERENCES users (id),
  -- Patient links: the second factor. Kept as entered: four digits or a date cannot be protected by
  -- hashing (10,000 guesses undo any hash); what protects them is the lock after a few failures.
  factor_kind         text CHECK (factor_kind IN ('phone-last4', 'birth-date')),
  factor_value        text,
  failed_attempts     integer NOT NULL DEFAULT 0,
  locked_at           timestamptz,
  -- Doctor links: who may open it, and the grant that lets them (study_access_grants, migration
  -- 012, which runs after this one: hence no foreign key).
  grantee_user_id     bigint REFERENCES users (id),
  grant_id            bigint,
  CHECK ((audience = 'patient') = (factor_kind IS NOT NULL AND factor_value IS NOT NULL)),
  CHECK ((audience = 'doctor') = (grantee_user_id IS NOT NULL))
);
CREATE INDEX share_links_by_study ON share_links (study_instance_uid, created_at DESC);

-- The secrets a patient link is opened with: only their SHA-256 is kept. A link may have several
-- (staff showing it again mint a new one, earlier ones keep working: see share-links.ts).
CREATE TABLE share_link_tokens (
  token_sha256        bytea PRIMARY KEY,
  link_id             bigint NOT NULL REFERENCES share_links (id),
  created_at          timestamptz NOT NULL DEFAULT now(),
  created_by_user_id  bigint REFERENCES users (id)
);
CREATE INDEX share_link_tokens_by_link ON share_link_tokens (link_id);

-- Failed openings (unknown token, wrong second factor) per source address, in a sliding window:
-- one address guessing across many links is slowed however the links are spread.
CREATE TABLE share_link_throttle (
  source_address  text PRIMARY KEY,
  failures        integer NOT NULL DEFAULT 0,
  window_started  timestamptz NOT NULL DEFAULT now()
);
