-- Issue 18, region scale (docs/architecture.md, "Region scale: partitioning and Citus"): `instances`,
-- one row per SOP instance and the only index table that reaches 10^9 rows in a region, becomes
-- PARTITION BY HASH (study_instance_uid). The Study Instance UID is the distribution key Citus will
-- use, so the single node and a cluster share one schema; every hot query is about one study, and
-- naming the study's UID lets the planner read one partition.
--
-- 16 partitions: at 10^7 instances each holds ~600,000 rows, and a look-up that cannot name the study (by SOP Instance UID alone, the
-- indexer's check for an instance moved to another study) probes every partition's index, so more
-- partitions make those dearer and planning slower without making the pruned ones faster. To raise
-- it: split one partition at a time (detach `instances_pNN` of MODULUS 16, attach MODULUS 32
-- remainders NN and NN+16, move its rows back in; hash partitions of moduli 16 and 32 may coexist),
-- or copy into a wider table as this migration does. On Citus, shards replace the partitions.
--
-- The upgrade copies: a new partitioned table, every row with its study's UID, the old table
-- dropped, the new one renamed into its place. Keys and constraints are made after the copy (one
-- sort per index, one validating join per foreign key instead of a check per row). It holds an
-- exclusive lock on instances throughout, so ingest and retrieve wait (1.7 s for 100,505 instances,
-- so minutes at 10^7).

CREATE TABLE instances_partitioned (
  id                   bigint GENERATED ALWAYS AS IDENTITY,
  sop_instance_uid     text NOT NULL,
  series_pk            bigint NOT NULL,
  study_pk             bigint NOT NULL,
  receipt_id           bigint NOT NULL,
  sop_class_uid        text NOT NULL,
  instance_number      integer,
  number_of_frames     integer,
  attributes           jsonb NOT NULL,
  thumbnail_key        text,
  thumbnail_receipt_id bigint,
  thumbnail_error      text,
  institution_id       bigint NOT NULL,
  -- the study's, kept equal to studies.study_instance_uid of study_pk by the foreign key below
  study_instance_uid   text NOT NULL
) PARTITION BY HASH (study_instance_uid);

DO $$
BEGIN
  FOR remainder IN 0..15 LOOP
    EXECUTE format('CREATE TABLE instances_p%s PARTITION OF instances_partitioned FOR VALUES WITH (MODULUS 16, REMAINDER %s)',
                   lpad(remainder::text, 2, '0'), remainder);
  END LOOP;
END $$;

DO $$
DECLARE
  copied bigint;
  last_id bigint;
BEGIN
  INSERT INTO instances_partitioned (id, sop_instance_uid, series_pk, study_pk, receipt_id, sop_class_uid, instance_number,
    number_of_frames, attributes, thumbnail_key, thumbnail_receipt_id, thumbnail_error, institution_id, study_instance_uid)
  OVERRIDING SYSTEM VALUE
  SELECT i.id, i.sop_instance_uid, i.series_pk, i.study_pk, i.receipt_id, i.sop_class_uid, i.instance_number,
    i.number_of_frames, i.attributes, i.thumbnail_key, i.thumbnail_receipt_id, i.thumbnail_error, i.institution_id, st.study_instance_uid
  FROM instances i JOIN studies st ON st.id = i.study_pk;
  GET DIAGNOSTICS copied = ROW_COUNT;
  IF copied <> (SELECT count(*) FROM instances) THEN
    RAISE EXCEPTION 'partitioning instances: % rows copied of %', copied, (SELECT count(*) FROM instances);
  END IF;
  -- New rows continue after every id the old sequence handed out (not only after the ids still present).
  SELECT GREATEST((SELECT max(id) FROM instances), (SELECT CASE WHEN is_called THEN last_value END FROM instances_id_seq))
    INTO last_id;
  IF last_id IS NOT NULL THEN
    PERFORM setval(pg_get_serial_sequence('instances_partitioned', 'id'), last_id);
  END IF;
END $$;

DROP TABLE instances;
ALTER TABLE instances_partitioned RENAME TO instances;
ALTER SEQUENCE instances_partitioned_id_seq RENAME TO instances_id_seq;

-- Keys include the partition key, as partitioned tables (and Citus) require. The primary key leads
-- with the study: it is the index that finds a study's instances (instance QIDO and WADO-RS of a
-- study name the study's UID; with (id, study_instance_uid) the planner scanned the whole key).
-- The unique key on the SOP Instance UID leads with it, as it is also looked up without the study
-- (the indexer finds a moved instance's previous row by it, one index probe per partition).
ALTER TABLE instances ADD CONSTRAINT instances_pkey PRIMARY KEY (study_instance_uid, id);
ALTER TABLE instances ADD CONSTRAINT instances_sop_instance_uid_key UNIQUE (sop_instance_uid, study_instance_uid);
-- A series' instances in display order: WADO-RS series metadata and retrieve, the thumbnail's pick.
CREATE INDEX instances_by_series ON instances (series_pk, instance_number, id);
-- Look-ups by study_pk alone (statements that do not name the study's UID).
CREATE INDEX instances_by_study ON instances (study_pk);
CREATE INDEX instances_awaiting_thumbnail ON instances (id)
  WHERE thumbnail_receipt_id IS DISTINCT FROM receipt_id AND thumbnail_error IS NULL;

-- studies (study_instance_uid, id) is what instances' composite foreign key refers to: an instance's
-- partition key cannot disagree with its study_pk. studies is small (one row per study).
ALTER TABLE studies ADD CONSTRAINT studies_uid_and_id UNIQUE (study_instance_uid, id);
ALTER TABLE instances ADD CONSTRAINT instances_study_fkey FOREIGN KEY (study_instance_uid, study_pk)
  REFERENCES studies (study_instance_uid, id);
ALTER TABLE instances ADD CONSTRAINT instances_series_pk_fkey FOREIGN KEY (series_pk) REFERENCES series (id);
ALTER TABLE instances ADD CONSTRAINT instances_receipt_id_fkey FOREIGN KEY (receipt_id) REFERENCES receipts (id);
ALTER TABLE instances ADD CONSTRAINT instances_thumbnail_receipt_id_fkey FOREIGN KEY (thumbnail_receipt_id) REFERENCES receipts (id);
ALTER TABLE instances ADD CONSTRAINT instances_institution_id_fkey FOREIGN KEY (institution_id) REFERENCES institutions (id);

-- Autovacuum analyzes the partitions but never a partitioned table itself, whose statistics the
-- planner uses for queries that read several partitions: gathered once here.
ANALYZE instances;
