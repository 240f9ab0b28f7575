-- Routing and sending on (issue 17): rules that forward what arrives, manual sends of a study or
-- series, and one queue of items to send per destination. PostgreSQL, not the job queue, is the
-- record of what is still to be sent: a forward job only claims due items here, and the reconciler
-- wakes a destination whose items wait past their time (a lost job message).

-- DICOMweb destinations (STOW-RS); DICOM destinations are the registered dicom_peers with host and port.
CREATE TABLE dicomweb_nodes (
  id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name           text NOT NULL UNIQUE,
  -- the DICOMweb base URL: STOW-RS posts to <url>/studies
  url            text NOT NULL,
  bearer_token   text,
  created_at     timestamptz NOT NULL DEFAULT now()
);

-- A rule forwards each instance that matches every criterion it sets (none set: every instance).
CREATE TABLE routing_rules (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  name                  text NOT NULL,
  enabled               boolean NOT NULL DEFAULT true,
  source_institution_id bigint REFERENCES institutions (id) ON DELETE CASCADE,
  -- wildcard patterns (* any run, ? one character), matched without regard to case
  calling_ae_title      text,
  modalities            text[] NOT NULL DEFAULT '{}',
  study_description     text,
  attribute_tag         text CHECK (attribute_tag ~ '^[0-9A-F]{8}$'),
  attribute_pattern     text,
  peer_id               bigint REFERENCES dicom_peers (id) ON DELETE CASCADE,
  dicomweb_node_id      bigint REFERENCES dicomweb_nodes (id) ON DELETE CASCADE,
  created_by            text NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  CHECK ((attribute_tag IS NULL) = (attribute_pattern IS NULL)),
  CHECK (num_nonnulls(peer_id, dicomweb_node_id) = 1)
);

-- A person's request to send a study (or one series) to a node: its items carry send_id, so its
-- progress is counted from them.
CREATE TABLE manual_sends (
  id                  bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid  text NOT NULL,
  series_instance_uid text,
  peer_id             bigint REFERENCES dicom_peers (id) ON DELETE CASCADE,
  dicomweb_node_id    bigint REFERENCES dicomweb_nodes (id) ON DELETE CASCADE,
  requested_by        text NOT NULL,
  requested_at        timestamptz NOT NULL DEFAULT now(),
  CHECK (num_nonnulls(peer_id, dicomweb_node_id) = 1)
);

-- One stored version (receipt) to send to one destination. pending → in-flight → sent, or back to
-- pending with a later next_attempt_at, or dead after the configured attempts (the dead letters).
CREATE TABLE forward_items (
  id               bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  receipt_id       bigint NOT NULL REFERENCES receipts (id),
  peer_id          bigint REFERENCES dicom_peers (id) ON DELETE CASCADE,
  dicomweb_node_id bigint REFERENCES dicomweb_nodes (id) ON DELETE CASCADE,
  -- the queue an item is in: 'dicom:<peer id>' or 'dicomweb:<node id>'
  destination      text NOT NULL GENERATED ALWAYS AS (CASE WHEN peer_id IS NOT NULL THEN 'dicom:' || peer_id::text ELSE 'dicomweb:' || dicomweb_node_id::text END) STORED,
  rule_id          bigint REFERENCES routing_rules (id) ON DELETE SET NULL,
  send_id          bigint REFERENCES manual_sends (id) ON DELETE CASCADE,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'in-flight', 'sent', 'dead')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  claimed_at       timestamptz,
  last_error       text,
  queued_at        timestamptz NOT NULL DEFAULT now(),
  sent_at          timestamptz,
  CHECK (num_nonnulls(peer_id, dicomweb_node_id) = 1)
);
-- Rules are evaluated when an instance is indexed, and an index job may run again: an instance goes
-- to a destination once by rule, however often it is indexed and however many rules name that destination.
CREATE UNIQUE INDEX forward_items_once_by_rule ON forward_items (receipt_id, destination) WHERE send_id IS NULL;
CREATE UNIQUE INDEX forward_items_once_per_send ON forward_items (send_id, receipt_id) WHERE send_id IS NOT NULL;
CREATE INDEX forward_items_due ON forward_items (destination, next_attempt_at) WHERE state = 'pending';
CREATE INDEX forward_items_in_flight ON forward_items (claimed_at) WHERE state = 'in-flight';
CREATE INDEX forward_items_dead ON forward_items (destination) WHERE state = 'dead';
