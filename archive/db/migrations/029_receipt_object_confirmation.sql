-- Issue 18, ingest at the durable limit: a receipt is committed while its object is still being
-- flushed (archive/db/receipt-committer.ts), so the two waits overlap instead of adding up. Until the
-- flush is confirmed the receipt is not to be indexed; if the process dies before that, the reconciler
-- decides from the object store: the object is there (it is renamed into place only after its data was
-- flushed, so whatever is there is whole) and the receipt is confirmed, or it is not and the receipt is
-- removed — its sender never had a Success, which waits for the flush. Older receipts are confirmed.
ALTER TABLE receipts ADD COLUMN object_confirmed boolean NOT NULL DEFAULT true;

-- The reconciler's scan: only the few receipts whose flush is in flight or was cut off.
CREATE INDEX receipts_object_unconfirmed ON receipts (received_at) WHERE NOT object_confirmed;
