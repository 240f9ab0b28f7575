-- UPS-RS subscriptions (PS3.18 11, PS3.4 CC.2.3), issue 15. A subscriber is an AE Title of one user:
-- two users naming the same AE Title are two subscribers, each hearing only of what they may see.
CREATE TABLE ups_subscriptions (
  id              bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  user_id         bigint NOT NULL REFERENCES users (id) ON DELETE CASCADE,
  ae_title        text NOT NULL,
  -- A workitem's SOP Instance UID, or a well-known UID: 1.2.840.10008.5.1.4.34.5 (global),
  -- 1.2.840.10008.5.1.4.34.5.1 (filtered global).
  target          text NOT NULL,
  -- The matching keys of a filtered global subscription, as the query parameters that named them.
  filter          jsonb,
  deletion_lock   boolean NOT NULL DEFAULT false,
  -- A suspended global subscription keeps the workitems that existed when it was suspended, no new ones.
  suspended_at    timestamptz,
  -- "Not this workitem": what unsubscribing from one workitem leaves while a global subscription stands.
  excluded        boolean NOT NULL DEFAULT false,
  created_at      timestamptz NOT NULL DEFAULT now(),
  UNIQUE (user_id, ae_title, target)
);
CREATE INDEX ups_subscriptions_by_target ON ups_subscriptions (target);

-- Who claimed the workitem (Change State to IN PROGRESS): a cancellation request reaches them only
-- when they are subscribed to it, else it is refused (PS3.4 CC.2.2.3, C312).
ALTER TABLE workitems ADD COLUMN performer_user_id bigint REFERENCES users (id);
