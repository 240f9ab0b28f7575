-- Failed sign-ins are counted per (submitted username, source address), not per account: a stranger
-- who types someone's username five times slows only their own address, never the real user's, and
-- an unknown username is counted exactly as a known one, so the answers reveal nothing.
CREATE TABLE login_throttle (
  username       text NOT NULL,
  source_address text NOT NULL,
  failures       integer NOT NULL DEFAULT 0,
  blocked_until  timestamptz,
  updated_at     timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (username, source_address)
);
ALTER TABLE users DROP COLUMN failed_logins, DROP COLUMN locked_until;
