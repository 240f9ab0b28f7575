-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): the primary and
-- unique keys of three tables distributed by study on Citus include the distribution column, as Citus
-- requires of a distributed table's keys. Each already carries its receipt's `study_instance_uid`
-- (035); a receipt id determines its study, so no key becomes weaker. The keys lead with the column
-- their statements name (a receipt id, an item id), so the same look-ups use them.
--
-- instance_events: found by instance (instance_events_by_instance) or by receipt, never by id alone.
ALTER TABLE instance_events DROP CONSTRAINT instance_events_pkey;
ALTER TABLE instance_events ADD PRIMARY KEY (study_instance_uid, id);

-- edge_forwards: the forwarder names receipts by id (ReceiptsRepository, EdgeForwardingRepository).
ALTER TABLE edge_forwards DROP CONSTRAINT edge_forwards_pkey;
ALTER TABLE edge_forwards ADD PRIMARY KEY (receipt_id, study_instance_uid);

-- forward_items: claimed by id; an instance goes to a destination once by rule and once per manual send
-- (RoutingRepository's ON CONFLICT names the new columns).
ALTER TABLE forward_items DROP CONSTRAINT forward_items_pkey;
ALTER TABLE forward_items ADD PRIMARY KEY (id, study_instance_uid);
DROP INDEX forward_items_once_by_rule;
CREATE UNIQUE INDEX forward_items_once_by_rule ON forward_items (receipt_id, destination, study_instance_uid) WHERE send_id IS NULL;
DROP INDEX forward_items_once_per_send;
CREATE UNIQUE INDEX forward_items_once_per_send ON forward_items (send_id, receipt_id, study_instance_uid) WHERE send_id IS NOT NULL;
