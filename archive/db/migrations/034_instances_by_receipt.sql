-- The thumbnail job finds its instance by receipt (IndexRepository: the instance to draw, then
-- `UPDATE instances SET thumbnail_key … WHERE receipt_id = $1`), and so do the edge's forwarding
-- checks; no index served receipt_id, so each of those read the whole table. A 30-minute soak at 40
-- instances/s showed it (2026-12-06): after 20 minutes (48,000 instances) these statements were most
-- of PostgreSQL's work and indexing fell behind the senders; at 10^7 instances each would read ten
-- million rows. With the index, a look-up by receipt probes each partition's index once (16 probes;
-- the receipt does not name its study's partition to the planner).
CREATE INDEX instances_by_receipt ON instances (receipt_id);
