-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"), after 032's
-- instances: `receipts`, one row per version received and so the largest table of a region, becomes
-- PARTITION BY HASH (study_instance_uid) with 16 partitions, the receipt's own Study Instance UID (the
-- only study key known when it is written); every table that refers to a receipt names it by
-- (study_instance_uid, id), so a receipt and what refers to it are in one study's partition (one
-- shard on Citus). `series` gets its study's UID, its uniqueness per study and a foreign key that
-- keeps the two study keys equal, as instances have since 032.
--
-- Keys include the partition key: PRIMARY KEY (study_instance_uid, id), which also finds a study's
-- receipts in arrival order (the receipt insert's "who sent this study first", formerly
-- receipts_by_study of 004), and UNIQUE (sop_instance_uid, dataset_sha256, study_instance_uid), the
-- same constraint as before: the Study Instance UID is inside the hashed dataset. A receipt looked up
-- by id alone (a confirmation, a job queued before 035) probes receipts_by_id in each partition.
--
-- An instance's receipt is in the instance's study (the composite key from instances below). Before
-- 035 an instance went to the study its series was first indexed in, even when its receipt named
-- another: such an instance cannot keep its receipt under the new key, and the ingest path now
-- refuses a receipt whose series is filed under another study. This migration stops without changing
-- anything when it finds one (docs/operations.md, "Upgrading to migration 035", says how to list and
-- settle them); thumbnails drawn from a receipt of another study (an instance moved before 032) are
-- cleared and drawn again by the reconciler.
--
-- The upgrade copies, as 032 does: every receipt into the partitioned table with its id, the count
-- checked, the identity continued after the old sequence, keys, indexes and foreign keys built after
-- the copy. The tables it rewrites or validates are locked for the whole migration, so ingest,
-- indexing, QIDO and retrieve wait (docs/operations.md has the time measured per 100,000 receipts).

LOCK TABLE receipts, instances, instance_events, series, forward_items, edge_forwards IN ACCESS EXCLUSIVE MODE;

DO $$
DECLARE
  misfiled bigint;
BEGIN
  SELECT count(*) INTO misfiled FROM instances i JOIN receipts r ON r.id = i.receipt_id WHERE r.study_instance_uid <> i.study_instance_uid;
  IF misfiled > 0 THEN
    RAISE EXCEPTION '035: % instances are filed under another study than their current receipt names (their series was first indexed there); see docs/operations.md, "Upgrading to migration 035"', misfiled;
  END IF;
END $$;

-- The receipt's study on every table that refers to a receipt, taken from the receipt.
ALTER TABLE instance_events ADD COLUMN study_instance_uid text;
UPDATE instance_events e SET study_instance_uid = r.study_instance_uid FROM receipts r WHERE r.id = e.receipt_id;
ALTER TABLE instance_events ALTER COLUMN study_instance_uid SET NOT NULL;
-- A new-version event names its previous version in the same study from now on
-- (ReceiptsRepository.insertUnconfirmed); one recorded before, of an instance whose earlier version
-- named another study, keeps that version in its detail.
UPDATE instance_events e
SET detail = coalesce(e.detail, '{}') || jsonb_build_object('previousReceiptId', e.previous_receipt_id::text, 'previousStudyInstanceUid', p.study_instance_uid),
    previous_receipt_id = NULL
FROM receipts p WHERE p.id = e.previous_receipt_id AND p.study_instance_uid <> e.study_instance_uid;

ALTER TABLE forward_items ADD COLUMN study_instance_uid text;
UPDATE forward_items f SET study_instance_uid = r.study_instance_uid FROM receipts r WHERE r.id = f.receipt_id;
ALTER TABLE forward_items ALTER COLUMN study_instance_uid SET NOT NULL;

ALTER TABLE edge_forwards ADD COLUMN study_instance_uid text;
UPDATE edge_forwards f SET study_instance_uid = r.study_instance_uid FROM receipts r WHERE r.id = f.receipt_id;
ALTER TABLE edge_forwards ALTER COLUMN study_instance_uid SET NOT NULL;

-- series: its study's UID, kept equal to studies.study_instance_uid of study_pk by the foreign key
-- below. A series keeps the study it was first indexed in (IndexRepository: the indexer finds a
-- series by its UID under a lock on it before inserting), so the UID stays unique in practice; the
-- constraint is per study, as partitioning or distributing series by study requires.
ALTER TABLE series ADD COLUMN study_instance_uid text;
UPDATE series se SET study_instance_uid = st.study_instance_uid FROM studies st WHERE st.id = se.study_pk;
ALTER TABLE series ALTER COLUMN study_instance_uid SET NOT NULL;
ALTER TABLE series DROP CONSTRAINT series_series_instance_uid_key;
ALTER TABLE series ADD CONSTRAINT series_uid_key UNIQUE (series_instance_uid, study_instance_uid);
ALTER TABLE series DROP CONSTRAINT series_study_pk_fkey;
ALTER TABLE series ADD CONSTRAINT series_study_fkey FOREIGN KEY (study_instance_uid, study_pk) REFERENCES studies (study_instance_uid, id);

-- Thumbnails drawn from a receipt of another study: the reconciler draws them again.
UPDATE instances i SET thumbnail_key = NULL, thumbnail_receipt_id = NULL
FROM receipts r WHERE r.id = i.thumbnail_receipt_id AND r.study_instance_uid <> i.study_instance_uid;
UPDATE series se SET thumbnail_key = NULL, thumbnail_receipt_id = NULL
FROM receipts r WHERE r.id = se.thumbnail_receipt_id AND r.study_instance_uid <> se.study_instance_uid;

CREATE TABLE receipts_partitioned (
  id                  bigint GENERATED ALWAYS AS IDENTITY,
  sop_instance_uid    text NOT NULL,
  sop_class_uid       text NOT NULL,
  study_instance_uid  text NOT NULL,
  series_instance_uid text NOT NULL,
  transfer_syntax_uid text NOT NULL,
  object_key          text NOT NULL,
  object_sha256       text NOT NULL,
  dataset_sha256      text NOT NULL,
  size_bytes          bigint NOT NULL,
  source_id           bigint NOT NULL,
  remote_address      text,
  called_ae_title     text,
  received_at         timestamptz NOT NULL DEFAULT now(),
  metadata            jsonb NOT NULL,
  bulk_data           jsonb NOT NULL,
  pixel               jsonb,
  dataset_offset      integer NOT NULL,
  deflated            boolean NOT NULL,
  character_set       jsonb NOT NULL,
  indexed_at          timestamptz,
  object_confirmed    boolean NOT NULL DEFAULT true
) PARTITION BY HASH (study_instance_uid);

DO $$
BEGIN
  FOR remainder IN 0..15 LOOP
    EXECUTE format('CREATE TABLE receipts_p%s PARTITION OF receipts_partitioned FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                   lpad(remainder::text, 2, '0'), remainder);
  END LOOP;
END $$;

DO $$
DECLARE
  copied bigint;
  last_id bigint;
BEGIN
  INSERT INTO receipts_partitioned (id, sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
    object_key, object_sha256, dataset_sha256, size_bytes, source_id, remote_address, called_ae_title, received_at, metadata,
    bulk_data, pixel, dataset_offset, deflated, character_set, indexed_at, object_confirmed)
  OVERRIDING SYSTEM VALUE
  SELECT id, sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid,
    object_key, object_sha256, dataset_sha256, size_bytes, source_id, remote_address, called_ae_title, received_at, metadata,
    bulk_data, pixel, dataset_offset, deflated, character_set, indexed_at, object_confirmed
  FROM receipts;
  GET DIAGNOSTICS copied = ROW_COUNT;
  IF copied <> (SELECT count(*) FROM receipts) THEN
    RAISE EXCEPTION 'partitioning receipts: % rows copied of %', copied, (SELECT count(*) FROM receipts);
  END IF;
  -- New rows continue after every id the old sequence handed out (not only after the ids still present).
  SELECT GREATEST((SELECT max(id) FROM receipts), (SELECT CASE WHEN is_called THEN last_value END FROM receipts_id_seq))
    INTO last_id;
  IF last_id IS NOT NULL THEN
    PERFORM setval(pg_get_serial_sequence('receipts_partitioned', 'id'), last_id);
  END IF;
END $$;

-- What referred to the old table goes with it, named one by one so that anything not listed here
-- stops the migration instead of being dropped with it.
ALTER TABLE instances DROP CONSTRAINT instances_receipt_id_fkey;
ALTER TABLE instances DROP CONSTRAINT instances_thumbnail_receipt_id_fkey;
ALTER TABLE instance_events DROP CONSTRAINT instance_events_receipt_id_fkey;
ALTER TABLE instance_events DROP CONSTRAINT instance_events_previous_receipt_id_fkey;
ALTER TABLE series DROP CONSTRAINT series_thumbnail_receipt_id_fkey;
ALTER TABLE forward_items DROP CONSTRAINT forward_items_receipt_id_fkey;
ALTER TABLE edge_forwards DROP CONSTRAINT edge_forwards_receipt_id_fkey;
DROP TRIGGER receipts_edge_forward ON receipts;
DROP TABLE receipts;
ALTER TABLE receipts_partitioned RENAME TO receipts;
ALTER SEQUENCE receipts_partitioned_id_seq RENAME TO receipts_id_seq;

ALTER TABLE receipts ADD CONSTRAINT receipts_pkey PRIMARY KEY (study_instance_uid, id);
ALTER TABLE receipts ADD CONSTRAINT receipts_sop_instance_uid_dataset_sha256_key UNIQUE (sop_instance_uid, dataset_sha256, study_instance_uid);
-- A receipt by id alone: confirmations, the reconciler, jobs queued before 035 (later ones name the study).
CREATE INDEX receipts_by_id ON receipts (id);
-- An instance's receipts in arrival order (migration 033): the receipt insert's first and latest
-- version, in one study's partition, or in each when the study has none of the instance.
CREATE INDEX receipts_by_instance ON receipts (sop_instance_uid, id);
CREATE INDEX receipts_awaiting_index ON receipts (received_at) WHERE indexed_at IS NULL;
CREATE INDEX receipts_object_unconfirmed ON receipts (received_at) WHERE NOT object_confirmed;
ALTER TABLE receipts ADD CONSTRAINT receipts_source_id_fkey FOREIGN KEY (source_id) REFERENCES sources (id);

ALTER TABLE instances ADD CONSTRAINT instances_receipt_fkey FOREIGN KEY (study_instance_uid, receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE instances ADD CONSTRAINT instances_thumbnail_receipt_fkey FOREIGN KEY (study_instance_uid, thumbnail_receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE instance_events ADD CONSTRAINT instance_events_receipt_fkey FOREIGN KEY (study_instance_uid, receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE instance_events ADD CONSTRAINT instance_events_previous_receipt_fkey FOREIGN KEY (study_instance_uid, previous_receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE series ADD CONSTRAINT series_thumbnail_receipt_fkey FOREIGN KEY (study_instance_uid, thumbnail_receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE forward_items ADD CONSTRAINT forward_items_receipt_fkey FOREIGN KEY (study_instance_uid, receipt_id)
  REFERENCES receipts (study_instance_uid, id);
ALTER TABLE edge_forwards ADD CONSTRAINT edge_forwards_receipt_fkey FOREIGN KEY (study_instance_uid, receipt_id)
  REFERENCES receipts (study_instance_uid, id);

-- The edge's queue (migration 024), now with the receipt's study.
CREATE OR REPLACE FUNCTION edge_forward_receipt() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM edge_forwarding_enabled) THEN
    INSERT INTO edge_forwards (receipt_id, study_instance_uid, sop_instance_uid, object_key, object_sha256, size_bytes, received_at)
    VALUES (NEW.id, NEW.study_instance_uid, NEW.sop_instance_uid, NEW.object_key, NEW.object_sha256, NEW.size_bytes, NEW.received_at)
    ON CONFLICT DO NOTHING;
  END IF;
  RETURN NULL;
END $$;
CREATE TRIGGER receipts_edge_forward AFTER INSERT ON receipts FOR EACH ROW EXECUTE FUNCTION edge_forward_receipt();

-- Autovacuum never analyzes a partitioned table itself (see 032).
ANALYZE receipts;
ANALYZE series;
