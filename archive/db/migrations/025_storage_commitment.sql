-- Storage Commitment Push Model (PS3.4 Annex J). Each accepted N-ACTION is kept until its
-- N-EVENT-REPORT has been delivered: a report owed on a new association (the requestor released
-- first, or was unreachable) is retried with back-off and survives a restart.
CREATE TABLE storage_commitment_requests (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  transaction_uid  text NOT NULL,
  calling_ae_title text NOT NULL,
  -- whose instances the request may commit: the calling peer's institution
  institution_id   bigint NOT NULL REFERENCES institutions (id),
  -- [{sopClassUid, sopInstanceUid}] as the Referenced SOP Sequence listed them
  instance_refs    jsonb NOT NULL,
  -- the same caller had a request of this Transaction UID still owed: every instance fails 0131
  duplicate_transaction boolean NOT NULL DEFAULT false,
  state            text NOT NULL DEFAULT 'owed' CHECK (state IN ('owed', 'delivered', 'abandoned')),
  -- the last report built (committed and failed instances), for the administrator and the audit trail
  report           jsonb,
  attempts         integer NOT NULL DEFAULT 0,
  -- when a delivery on a new association is next due (the process that took the N-ACTION holds a
  -- claim while it tries the N-ACTION's own association first)
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  -- one process delivers at a time: a claim lapses by itself if that process stops
  claimed_until    timestamptz,
  last_error       text,
  received_at      timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz,
  delivered_on     text CHECK (delivered_on IN ('same-association', 'new-association'))
);

CREATE INDEX storage_commitment_requests_owed ON storage_commitment_requests (next_attempt_at) WHERE state = 'owed';
CREATE INDEX storage_commitment_requests_transaction ON storage_commitment_requests (calling_ae_title, transaction_uid);
