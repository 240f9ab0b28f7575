-- Issue 18, ingest at the durable limit: an unconfirmed receipt (029) is a row of its own here,
-- instead of a flag on the receipt. Confirming the flag rewrote the whole receipt (its 2-10 KB DICOM
-- JSON header) and, since the flag was in receipts_object_unconfirmed's predicate, inserted a new
-- entry into every index of its partition (no HOT update): one receipt written twice, on the path to
-- the next Success, because confirmations ride on the next receipt's commit. Measured (a throwaway
-- loop of ReceiptsRepository.insertUnconfirmed, 150 small receipts per variant, three rounds,
-- PostgreSQL 15, 2026-12-06): 1.19-1.50 ms per receipt carrying the previous one's confirmation,
-- 0.85-0.97 ms without. Confirming is now deleting a row of this small table (no index entry to
-- write), and the reconciler reads this table instead of a partial index over every receipt.
--
-- Keyed by the receipt's study like receipts (the Citus plan: distributed and co-located with them);
-- the key leads with the receipt id, which is what a confirmation names.
CREATE TABLE receipt_object_pending (
  receipt_id         bigint NOT NULL,
  study_instance_uid text NOT NULL,
  -- the reconciler's grace is counted from these (archive/db/receipt-committer.ts, graceSecondsFor)
  received_at        timestamptz NOT NULL,
  size_bytes         bigint NOT NULL,
  PRIMARY KEY (receipt_id, study_instance_uid),
  -- a receipt removed (the reconciler's removeUnconfirmed, a deletion) takes its row with it
  FOREIGN KEY (study_instance_uid, receipt_id) REFERENCES receipts (study_instance_uid, id) ON DELETE CASCADE
);

INSERT INTO receipt_object_pending (receipt_id, study_instance_uid, received_at, size_bytes)
SELECT id, study_instance_uid, received_at, size_bytes FROM receipts WHERE NOT object_confirmed;

DROP INDEX receipts_object_unconfirmed;
ALTER TABLE receipts DROP COLUMN object_confirmed;
