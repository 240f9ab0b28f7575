import pg from 'pg';
import type { IndexRecord } from '../index/index-record.ts';

export interface IndexedInstance {
  instancePk: string;
  seriesPk: string;
  seriesInstanceUid: string;
  /** False when a newer version was already current (a late, older receipt changes nothing). */
  becameCurrent: boolean;
  /** The patient record to link to a person again (new, or its identifying attributes changed), else null. */
  patientToLink: string | null;
  /** The study the series is filed under when the receipt names another: the instance was not indexed. */
  seriesInAnotherStudy: string | null;
}

/**
 * The only place with SQL that writes patients, studies, series and instances. Each receipt is
 * indexed in one transaction; re-indexing the same receipt is harmless (idempotent jobs).
 */
export class IndexRepository {
  constructor(private readonly pool: pg.Pool) {}

  async indexReceipt(receiptId: string, sourceId: string, record: IndexRecord): Promise<IndexedInstance> {
    // Two statements, each a chain of data-modifying CTEs: round trips, not rows, are what an index
    // job costs (every one is a wake-up of the server), and a county PACS sends thousands a day.
    const client = await this.pool.connect();
    try {
      // One transaction at a time indexes a SOP Instance UID, and one a Series Instance UID, until it
      // commits: their uniqueness is per study (instances partitioned by study, series keyed by it), so
      // only statements that see what the other one committed keep an instance, and a series, in one
      // study. Taken with BEGIN (one round trip), so that both statements below see it.
      await client.query(
        `BEGIN; SELECT pg_advisory_xact_lock(hashtext('sop-instance'), hashtext(${pg.escapeLiteral(record.instance.sopInstanceUid)})),
           pg_advisory_xact_lock(hashtext('series-instance'), hashtext(${pg.escapeLiteral(record.series.seriesInstanceUid)}))`,
      );
      const series = await upsertPatientStudySeries(client, sourceId, record);
      // A series keeps the study it was first indexed in, and an instance's receipt is in the
      // instance's study (migration 035): a receipt naming its series under another study is not
      // indexed. The ingest path refuses those; this one arrived while the series was being indexed
      // under the other study, or before 035.
      const misfiled = series.studyInstanceUid !== record.study.studyInstanceUid;
      const instance = misfiled
        ? await recordMisfiled(client, receiptId, series.studyInstanceUid, record)
        : await upsertInstanceAndCount(client, receiptId, series, record);
      if (instance?.movedFromSeriesPk) await recountAfterMove(client, instance.movedFromSeriesPk, series.seriesPk);
      await client.query('COMMIT');
      return {
        instancePk: instance?.pk ?? '',
        seriesPk: series.seriesPk,
        seriesInstanceUid: record.series.seriesInstanceUid,
        becameCurrent: instance !== null,
        patientToLink: series.patientChanged ? series.patientPk : null,
        seriesInAnotherStudy: misfiled ? series.studyInstanceUid : null,
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    } finally {
      client.release();
    }
  }
}

interface UpsertedSeries {
  studyPk: string;
  seriesPk: string;
  seriesInserted: boolean;
  /** The study the series is filed under: the first it was indexed in. */
  studyInstanceUid: string;
  /** The sender's patient record; null for an instance added to another institution's study. */
  patientPk: string | null;
  /** The record is new or its patient-level attributes (name, identifiers, birth date, sex…) changed. */
  patientChanged: boolean;
}

/** Patient, then its study, then the series, each inserted or refreshed from the newest instance. */
async function upsertPatientStudySeries(client: pg.PoolClient, sourceId: string, record: IndexRecord): Promise<UpsertedSeries> {
  const { patient, study, series } = record;
  const result = await client.query<UpsertedSeries>(
    `WITH sender AS (
       SELECT institution_id FROM sources WHERE id = $3
     ), previous_patient AS (
       -- The record as it was (a CTE reads the snapshot before the upsert): is linking to a person needed?
       SELECT patients.id, patients.attributes FROM patients, sender
       WHERE patients.institution_id = sender.institution_id AND patients.issuer = $1 AND patients.patient_id = $2
     ), patient AS (
       -- The sender's institution's own record of the patient: another institution's upload naming the
       -- same issuer and Patient ID makes a record of its own and never rewrites this one. None at all
       -- for an instance added to another institution's study (by a reading centre): the study keeps its patient.
       INSERT INTO patients (issuer, patient_id, source_id, institution_id, patient_name, name_search, birth_date, sex, other_patient_ids, attributes)
       SELECT $1, $2, $3, sender.institution_id, $4, $5, $6, $7, $8, $9 FROM sender
       WHERE NOT EXISTS (SELECT 1 FROM studies WHERE study_instance_uid = $10 AND institution_id <> sender.institution_id)
       ON CONFLICT (institution_id, issuer, patient_id) DO UPDATE SET
         patient_name = EXCLUDED.patient_name, name_search = EXCLUDED.name_search,
         birth_date = EXCLUDED.birth_date, sex = EXCLUDED.sex,
         other_patient_ids = ARRAY(SELECT DISTINCT unnest(patients.other_patient_ids || EXCLUDED.other_patient_ids)),
         attributes = EXCLUDED.attributes, updated_at = now()
       RETURNING id
     ), upserted_study AS (
       -- A study belongs to the institution that first sent it. The ingest path refuses other
       -- institutions' instances into it, except a caller whose scope covers it (a reading centre):
       -- those add series and instances but never re-point the study to a patient record of their
       -- own nor rewrite its attributes (nor in a race with the check above: the WHERE below).
       INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, study_date, study_time, accession_number,
         study_id, description, referring_name_search, institution_name, attributes)
       SELECT $10, patient.id, $3, sender.institution_id, $11, $12, $13, $14, $15, $16, $17, $18 FROM patient, sender
       ON CONFLICT (study_instance_uid) DO UPDATE SET
         patient_pk = EXCLUDED.patient_pk, study_date = EXCLUDED.study_date, study_time = EXCLUDED.study_time,
         accession_number = EXCLUDED.accession_number, study_id = EXCLUDED.study_id,
         description = EXCLUDED.description, referring_name_search = EXCLUDED.referring_name_search,
         institution_name = COALESCE(EXCLUDED.institution_name, studies.institution_name),
         attributes = EXCLUDED.attributes, updated_at = now()
       WHERE studies.institution_id = EXCLUDED.institution_id
       RETURNING id, institution_id
     ), study AS (
       -- Not updated (another institution's study): the row as it is.
       SELECT id, institution_id FROM upserted_study
       UNION ALL
       SELECT id, institution_id FROM studies WHERE study_instance_uid = $10 AND NOT EXISTS (SELECT 1 FROM upserted_study)
     ), filed AS (
       -- The series as first indexed, in whichever study: it stays there (read under the lock on its UID).
       SELECT study_instance_uid, study_pk, institution_id FROM series WHERE series_instance_uid = $19 ORDER BY id LIMIT 1
     )
     -- xmax = 0 only on a freshly inserted row: tells insert from update in the same round trip.
     INSERT INTO series (series_instance_uid, study_instance_uid, study_pk, institution_id, modality, series_number, description, body_part,
       performed_start_date, attributes)
     SELECT $19, coalesce(filed.study_instance_uid, $10), coalesce(filed.study_pk, study.id), coalesce(filed.institution_id, study.institution_id),
       $20, $21, $22, $23, $24, $25
     FROM study LEFT JOIN filed ON true
     ON CONFLICT (series_instance_uid, study_instance_uid) DO UPDATE SET
       modality = EXCLUDED.modality, series_number = EXCLUDED.series_number, description = EXCLUDED.description,
       body_part = EXCLUDED.body_part, performed_start_date = EXCLUDED.performed_start_date,
       attributes = EXCLUDED.attributes
     RETURNING study_pk AS "studyPk", study_instance_uid AS "studyInstanceUid", id AS "seriesPk", (xmax = 0) AS "seriesInserted",
       (SELECT id FROM patient) AS "patientPk",
       EXISTS (SELECT 1 FROM patient WHERE NOT EXISTS (SELECT 1 FROM previous_patient WHERE attributes = $9::jsonb)) AS "patientChanged"`,
    [
      patient.issuer,
      patient.patientId,
      sourceId,
      patient.patientName ? JSON.stringify(patient.patientName) : null,
      patient.nameSearch,
      patient.birthDate,
      patient.sex,
      patient.otherPatientIds,
      JSON.stringify(patient.attributes),
      study.studyInstanceUid,
      study.studyDate,
      study.studyTime,
      study.accessionNumber,
      study.studyId,
      study.description,
      study.referringNameSearch,
      study.institutionName,
      JSON.stringify(study.attributes),
      series.seriesInstanceUid,
      series.modality,
      series.seriesNumber,
      series.description,
      series.bodyPart,
      series.performedStartDate,
      JSON.stringify(series.attributes),
    ],
  );
  return result.rows[0]!;
}

/**
 * The instance row (only a newer receipt replaces the current version, so indexing order does not
 * matter), the series and study counters when it is new, and the receipt marked indexed.
 * Returns null when a newer version was already current.
 */
async function upsertInstanceAndCount(
  client: pg.PoolClient,
  receiptId: string,
  series: UpsertedSeries,
  record: IndexRecord,
): Promise<{ pk: string; movedFromSeriesPk: string | null } | null> {
  const { instance } = record;
  const result = await client.query<{ id: string; inserted: boolean; previousSeriesPk: string | null }>(
    // The instance goes to its series' study, which is the one its receipt names (indexReceipt).
    `WITH study AS (SELECT study_instance_uid, institution_id FROM studies WHERE id = $3),
     -- The current version, in whichever study: by SOP Instance UID alone, one index probe per partition.
     previous AS (SELECT series_pk, study_instance_uid, receipt_id, institution_id FROM instances WHERE sop_instance_uid = $1),
     -- A newer version naming a series of another study (a correction at the PACS) moves the instance:
     -- the row in the old study is deleted and one is inserted in the new, never two at once.
     moved_away AS (
       DELETE FROM instances USING previous, study
       WHERE instances.sop_instance_uid = $1 AND instances.study_instance_uid = previous.study_instance_uid
         AND previous.study_instance_uid <> study.study_instance_uid
         AND previous.receipt_id < $4 AND previous.institution_id = study.institution_id
     ), upserted AS (
       INSERT INTO instances (sop_instance_uid, series_pk, study_pk, study_instance_uid, institution_id, receipt_id, sop_class_uid,
         instance_number, number_of_frames, attributes)
       SELECT $1, $2, $3, study.study_instance_uid, study.institution_id, $4, $5, $6, $7, $8 FROM study
       -- not when the version in another study is newer, or is another institution's
       WHERE NOT EXISTS (SELECT 1 FROM previous WHERE previous.study_instance_uid <> study.study_instance_uid
                           AND (previous.receipt_id >= $4 OR previous.institution_id <> study.institution_id))
       ON CONFLICT (sop_instance_uid, study_instance_uid) DO UPDATE SET
         series_pk = EXCLUDED.series_pk, receipt_id = EXCLUDED.receipt_id,
         sop_class_uid = EXCLUDED.sop_class_uid, instance_number = EXCLUDED.instance_number,
         number_of_frames = EXCLUDED.number_of_frames, attributes = EXCLUDED.attributes, thumbnail_error = NULL
       -- never moving an instance into another institution's study (the ingest path refuses that first)
       WHERE instances.receipt_id < EXCLUDED.receipt_id AND instances.institution_id = EXCLUDED.institution_id
       -- (xmax = 0 cannot tell an insert from an update: a partitioned table returns no system columns.
       -- previous, read under the SOP Instance UID's lock, can.)
       RETURNING id, NOT EXISTS (SELECT 1 FROM previous WHERE previous.study_instance_uid = instances.study_instance_uid) AS inserted
     ), series_count AS (
       UPDATE series SET number_of_instances = number_of_instances + 1
       WHERE id = $2 AND EXISTS (SELECT 1 FROM upserted WHERE inserted)
     ), study_count AS (
       UPDATE studies SET number_of_instances = number_of_instances + 1,
         number_of_series = number_of_series + $9::int,
         modalities = CASE WHEN $10::text IS NULL OR $10 = ANY (modalities) THEN modalities ELSE modalities || $10::text END
       WHERE id = $3 AND EXISTS (SELECT 1 FROM upserted WHERE inserted)
     ), indexed AS (
       UPDATE receipts SET indexed_at = now() WHERE study_instance_uid = $11 AND id = $4 AND indexed_at IS NULL
     )
     SELECT id, inserted, (SELECT series_pk FROM previous ORDER BY receipt_id DESC LIMIT 1) AS "previousSeriesPk" FROM upserted`,
    [
      instance.sopInstanceUid,
      series.seriesPk,
      series.studyPk,
      receiptId,
      instance.sopClassUid,
      instance.instanceNumber,
      instance.numberOfFrames,
      JSON.stringify(instance.attributes),
      series.seriesInserted ? 1 : 0,
      record.series.modality,
      record.study.studyInstanceUid,
    ],
  );
  const row = result.rows[0];
  if (!row) return null;
  // Updated in place with another series of its study, or inserted after its row in another study was deleted.
  const moved = row.previousSeriesPk !== null && row.previousSeriesPk !== series.seriesPk;
  return { pk: row.id, movedFromSeriesPk: moved ? row.previousSeriesPk : null };
}

/**
 * A receipt whose series is filed under another study than it names: marked indexed without an
 * instance, with an event saying where its series is (IndexRepository.indexReceipt).
 */
async function recordMisfiled(client: pg.PoolClient, receiptId: string, seriesStudyInstanceUid: string, record: IndexRecord): Promise<null> {
  await client.query(
    `WITH indexed AS (
       UPDATE receipts SET indexed_at = now() WHERE study_instance_uid = $2 AND id = $1 AND indexed_at IS NULL
     )
     INSERT INTO instance_events (sop_instance_uid, study_instance_uid, kind, receipt_id, detail)
     SELECT $3, $2, 'series-in-another-study', $1, jsonb_build_object('seriesInstanceUid', $4::text, 'seriesStudyInstanceUid', $5::text)
     -- once per receipt, however often its job runs (instance_events_by_instance finds its events)
     WHERE NOT EXISTS (SELECT 1 FROM instance_events WHERE sop_instance_uid = $3 AND receipt_id = $1 AND kind = 'series-in-another-study')`,
    [receiptId, record.study.studyInstanceUid, record.instance.sopInstanceUid, record.series.seriesInstanceUid, seriesStudyInstanceUid],
  );
  return null;
}

/** A new version that names another series (a correction at the PACS): recount both sides exactly. */
async function recountAfterMove(client: pg.PoolClient, fromSeriesPk: string, toSeriesPk: string): Promise<void> {
  await client.query(
    `UPDATE series SET number_of_instances = (SELECT count(*) FROM instances WHERE study_instance_uid = series.study_instance_uid AND series_pk = series.id)
     WHERE id = ANY ($1::bigint[])`,
    [[fromSeriesPk, toSeriesPk]],
  );
  await client.query(
    `UPDATE studies SET
       number_of_instances = (SELECT count(*) FROM instances WHERE study_pk = studies.id AND study_instance_uid = studies.study_instance_uid),
       number_of_series = (SELECT count(*) FROM series WHERE study_pk = studies.id AND study_instance_uid = studies.study_instance_uid AND number_of_instances > 0),
       modalities = ARRAY(SELECT DISTINCT modality FROM series WHERE study_pk = studies.id AND study_instance_uid = studies.study_instance_uid AND modality IS NOT NULL
                          AND number_of_instances > 0)
     WHERE (study_instance_uid, id) IN (SELECT study_instance_uid, study_pk FROM series WHERE id = ANY ($1::bigint[]))`,
    [[fromSeriesPk, toSeriesPk]],
  );
}

export interface ThumbnailTarget {
  sopInstanceUid: string;
  studyInstanceUid: string;
  receiptId: string;
  objectKey: string;
  thumbnailKey: string | null;
  thumbnailReceiptId: string | null;
}

const TARGET_COLUMNS = `i.sop_instance_uid AS "sopInstanceUid", i.study_instance_uid AS "studyInstanceUid", i.receipt_id AS "receiptId",
  r.object_key AS "objectKey", i.thumbnail_key AS "thumbnailKey", i.thumbnail_receipt_id AS "thumbnailReceiptId"`;

/** Reads and writes of the thumbnail columns of instances and series. */
export class ThumbnailsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * The instance whose current version is this receipt, or null when a newer version replaced it.
   * With the receipt's study one partition of instances and of receipts is read; without it (a job
   * queued before migration 035) each partition's index is probed.
   */
  async currentInstanceForReceipt(receiptId: string, studyInstanceUid?: string): Promise<ThumbnailTarget | null> {
    const result = await this.pool.query<ThumbnailTarget>(
      `SELECT ${TARGET_COLUMNS}
       FROM instances i JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE i.receipt_id = $1 ${studyInstanceUid === undefined ? '' : 'AND i.study_instance_uid = $2'}`,
      studyInstanceUid === undefined ? [receiptId] : [receiptId, studyInstanceUid],
    );
    return result.rows[0] ?? null;
  }

  /** The middle instance of a series by Instance Number: the image a person expects to represent it. */
  async middleInstanceOfSeries(seriesInstanceUid: string): Promise<ThumbnailTarget | null> {
    const result = await this.pool.query<ThumbnailTarget>(
      // The series' study as a value (not a join): the executor then reads one partition of each table.
      `WITH se AS (SELECT id, study_instance_uid FROM series WHERE series_instance_uid = $1 ORDER BY id LIMIT 1),
       i AS (
         SELECT i.sop_instance_uid, i.study_instance_uid, i.receipt_id, i.thumbnail_key, i.thumbnail_receipt_id, i.instance_number, i.id
         FROM instances i
         WHERE i.series_pk = (SELECT id FROM se) AND i.study_instance_uid = (SELECT study_instance_uid FROM se) AND i.thumbnail_error IS NULL
       )
       SELECT ${TARGET_COLUMNS}
       FROM i JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE r.study_instance_uid = (SELECT study_instance_uid FROM se)
       ORDER BY i.instance_number NULLS LAST, i.id
       OFFSET (SELECT GREATEST(count(*) - 1, 0) / 2 FROM i)
       LIMIT 1`,
      [seriesInstanceUid],
    );
    return result.rows[0] ?? null;
  }

  async recordInstanceThumbnail(target: Pick<ThumbnailTarget, 'receiptId' | 'studyInstanceUid'>, thumbnailKey: string): Promise<void> {
    await this.pool.query(
      `UPDATE instances SET thumbnail_key = $3, thumbnail_receipt_id = $1, thumbnail_error = NULL
       WHERE study_instance_uid = $2 AND receipt_id = $1`,
      [target.receiptId, target.studyInstanceUid, thumbnailKey],
    );
  }

  async recordInstanceThumbnailError(target: Pick<ThumbnailTarget, 'receiptId' | 'studyInstanceUid'>, reason: string): Promise<void> {
    await this.pool.query('UPDATE instances SET thumbnail_error = $3 WHERE study_instance_uid = $2 AND receipt_id = $1', [target.receiptId, target.studyInstanceUid, reason]);
  }

  async recordSeriesThumbnail(seriesInstanceUid: string, drawn: Pick<ThumbnailTarget, 'receiptId' | 'studyInstanceUid'>, thumbnailKey: string): Promise<void> {
    await this.pool.query(
      'UPDATE series SET thumbnail_key = $4, thumbnail_receipt_id = $3 WHERE series_instance_uid = $1 AND study_instance_uid = $2',
      [seriesInstanceUid, drawn.studyInstanceUid, drawn.receiptId, thumbnailKey],
    );
  }

  async counts(): Promise<{ instances: number; awaitingThumbnail: number; withoutImage: number }> {
    const result = await this.pool.query<{ instances: number; awaitingThumbnail: number; withoutImage: number }>(
      `SELECT count(*)::int AS instances,
              count(*) FILTER (WHERE thumbnail_receipt_id IS DISTINCT FROM receipt_id AND thumbnail_error IS NULL)::int
                AS "awaitingThumbnail",
              count(*) FILTER (WHERE thumbnail_error IS NOT NULL)::int AS "withoutImage"
       FROM instances`,
    );
    return result.rows[0]!;
  }

  /** Current versions still without a thumbnail, indexed more than `olderThanSeconds` ago. */
  async awaitingThumbnail(olderThanSeconds: number, limit: number): Promise<Array<{ receiptId: string; studyInstanceUid: string }>> {
    const result = await this.pool.query<{ receiptId: string; studyInstanceUid: string }>(
      `SELECT i.receipt_id AS "receiptId", i.study_instance_uid AS "studyInstanceUid"
       FROM instances i JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id
       WHERE i.thumbnail_receipt_id IS DISTINCT FROM i.receipt_id AND i.thumbnail_error IS NULL
         AND r.indexed_at < now() - make_interval(secs => $1)
       LIMIT $2`,
      [olderThanSeconds, limit],
    );
    return result.rows;
  }
}
