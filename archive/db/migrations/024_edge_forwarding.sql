-- Issue 17, county edge (npm run edge): every receipt the edge commits is forwarded to the region over
-- STOW-RS, verified there by its SHA-256, and its local copy deleted after the retention period.
-- PostgreSQL, not memory, holds the queue: an outage of hours and restarts of either side lose nothing.

-- One row once this database serves an edge (written at each `npm run edge` start). The trigger
-- below asks it, so a region's database, where the edge never ran, queues nothing.
CREATE TABLE edge_forwarding_enabled (
  singleton  boolean PRIMARY KEY DEFAULT true CHECK (singleton),
  enabled_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE edge_forwards (
  receipt_id        bigint PRIMARY KEY REFERENCES receipts (id),
  sop_instance_uid  text NOT NULL,
  object_key        text NOT NULL,
  object_sha256     text NOT NULL,
  size_bytes        bigint NOT NULL,
  received_at       timestamptz NOT NULL,
  -- 0 most urgent (STAT) … 4 least; NULL until the forwarder has classified the receipt's metadata
  -- (archive/edge/urgency.ts: the rule lives in TypeScript, where it is configured and tested).
  urgency           smallint,
  -- pending: to send; sent: the region answered Success, its SHA-256 not yet compared;
  -- verified: the region holds these exact bytes; deleted: the local object is gone (after retention).
  state             text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'sent', 'verified', 'deleted')),
  attempts          integer NOT NULL DEFAULT 0,
  next_attempt_at   timestamptz NOT NULL DEFAULT now(),
  last_error        text,
  sent_at           timestamptz,
  verified_at       timestamptz,
  deleted_at        timestamptz
);

-- The forwarder's next batch: most urgent first, then oldest.
CREATE INDEX edge_forwards_pending ON edge_forwards (urgency, received_at, receipt_id) WHERE state = 'pending';
CREATE INDEX edge_forwards_unclassified ON edge_forwards (receipt_id) WHERE urgency IS NULL;
CREATE INDEX edge_forwards_sent ON edge_forwards (receipt_id) WHERE state = 'sent';
CREATE INDEX edge_forwards_verified ON edge_forwards (verified_at) WHERE state = 'verified';

-- In the receipt's own transaction: a receipt committed is a receipt queued, with no window in which a
-- crash could leave it behind.
CREATE FUNCTION edge_forward_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM edge_forwarding_enabled) THEN
    INSERT INTO edge_forwards (receipt_id, sop_instance_uid, object_key, object_sha256, size_bytes, received_at)
    VALUES (NEW.id, NEW.sop_instance_uid, NEW.object_key, NEW.object_sha256, NEW.size_bytes, NEW.received_at)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER receipts_edge_forward AFTER INSERT ON receipts FOR EACH ROW EXECUTE FUNCTION edge_forward_receipt();
