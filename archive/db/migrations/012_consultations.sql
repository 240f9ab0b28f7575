-- Study access grants and live consultations (issue 15, 远程会诊).

-- One user may read one study of another institution while the grant is live: a consultation's
-- invitee for the session, or a doctor's share link (source 'share'). Never deleted: revoking sets
-- revoked_at, so the trail of who could see what, and why, stays.
CREATE TABLE study_access_grants (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  grantee_user_id     bigint NOT NULL REFERENCES users (id),
  study_instance_uid  text NOT NULL,
  granted_by_user_id  bigint NOT NULL REFERENCES users (id),
  reason              text NOT NULL,
  source              text NOT NULL CHECK (source IN ('consultation', 'share')),
  created_at          timestamptz NOT NULL DEFAULT now(),
  expires_at          timestamptz NOT NULL,
  revoked_at          timestamptz
);
-- Asked on every image request of a user: their grants still open.
CREATE INDEX study_access_grants_live ON study_access_grants (grantee_user_id, expires_at) WHERE revoked_at IS NULL;

CREATE TABLE consultations (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid  text NOT NULL,
  inviter_user_id     bigint NOT NULL REFERENCES users (id),
  invitee_user_id     bigint NOT NULL REFERENCES users (id),
  reason              text NOT NULL,
  state               text NOT NULL CHECK (state IN ('invited', 'active', 'declined', 'ended')),
  -- Who leads the shared view, and who asked to take it over (archive/consultation/consultation-state.ts).
  floor_user_id       bigint NOT NULL REFERENCES users (id),
  floor_requested_by  bigint REFERENCES users (id),
  -- The invitee's access to the study for the session: made when they accept, revoked when it ends.
  grant_id            bigint REFERENCES study_access_grants (id),
  opinion             text,
  opinion_by_user_id  bigint REFERENCES users (id),
  opinion_at          timestamptz,
  created_at          timestamptz NOT NULL DEFAULT now(),
  ended_at            timestamptz,
  CHECK (inviter_user_id <> invitee_user_id)
);
CREATE INDEX consultations_by_inviter ON consultations (inviter_user_id, created_at DESC);
CREATE INDEX consultations_by_invitee ON consultations (invitee_user_id, created_at DESC);

-- The chat beside the images, kept with the consultation as part of its record.
CREATE TABLE consultation_messages (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  consultation_id  bigint NOT NULL REFERENCES consultations (id),
  author_user_id   bigint NOT NULL REFERENCES users (id),
  text             text NOT NULL,
  sent_at          timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX consultation_messages_by_consultation ON consultation_messages (consultation_id, id);
