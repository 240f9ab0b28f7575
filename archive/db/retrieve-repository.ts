import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import type { BulkDataLocation, DicomJsonElement, PixelDescription } from '../dicom/types.ts';
import { patientRecordJoin, visibilityCondition } from './visibility-sql.ts';

/** A study, a series of it, or an instance of that series: the target of a WADO request. */
export interface RetrieveScope {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

/**
 * What a DIMSE retrieve (C-MOVE, C-GET) names by its unique keys (PS3.4 C.4.2.2.1): a patient, or
 * lists of UIDs at the retrieve level below single UIDs of the levels above. Every list given must
 * match; an absent one does not restrict.
 */
export interface RetrieveSelection {
  patientId?: string;
  studyInstanceUids?: string[];
  seriesInstanceUids?: string[];
  sopInstanceUids?: string[];
}

/** The current version of an instance, as a multi-instance retrieve needs it. */
export interface StoredObject {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  /** As received: a C-MOVE proposes its presentation contexts from these before reading any object. */
  sopClassUid: string;
  objectKey: string;
  transferSyntaxUid: string;
  sizeBytes: number;
}

/** The current version of one instance with everything frames, bulk data and rendering need. */
export interface StoredInstance extends StoredObject {
  bulkData: BulkDataLocation[];
  pixel: PixelDescription | null;
  datasetOffset: number;
  deflated: boolean;
  /** Extended Offset Table (7FE0,0001) and its lengths (7FE0,0002) as DICOM JSON, when present. */
  extendedOffsetTable: DicomJsonElement | null;
  extendedOffsetTableLengths: DicomJsonElement | null;
  /** Only when it was drawn from this (current) version. */
  thumbnailKey: string | null;
}

const OBJECT_COLUMNS = `st.study_instance_uid AS "studyInstanceUid", se.series_instance_uid AS "seriesInstanceUid",
  i.sop_instance_uid AS "sopInstanceUid", r.sop_class_uid AS "sopClassUid", r.object_key AS "objectKey", r.transfer_syntax_uid AS "transferSyntaxUid",
  r.size_bytes::float8 AS "sizeBytes"`;

const INSTANCE_COLUMNS = `${OBJECT_COLUMNS}, r.bulk_data AS "bulkData", r.pixel, r.dataset_offset AS "datasetOffset", r.deflated,
  r.metadata -> '7FE00001' AS "extendedOffsetTable", r.metadata -> '7FE00002' AS "extendedOffsetTableLengths",
  CASE WHEN i.thumbnail_receipt_id = i.receipt_id THEN i.thumbnail_key END AS "thumbnailKey"`;

const FROM_CURRENT_VERSIONS = `FROM studies st
  JOIN instances i ON i.study_pk = st.id AND i.study_instance_uid = st.study_instance_uid
  JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk
  JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id`;

/** Series by Series Number, instances by Instance Number: the order a viewer shows them in. */
const DISPLAY_ORDER = 'ORDER BY se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id';

/** One WHERE per level, so each query plans on its own unique index rather than on `$n IS NULL OR …`. */
function whereScope(scope: RetrieveScope): { where: string; parameters: string[] } {
  if (scope.sopInstanceUid !== undefined && scope.seriesInstanceUid !== undefined) {
    return {
      where: 'WHERE st.study_instance_uid = $1 AND se.series_instance_uid = $2 AND i.sop_instance_uid = $3',
      parameters: [scope.studyInstanceUid, scope.seriesInstanceUid, scope.sopInstanceUid],
    };
  }
  if (scope.seriesInstanceUid !== undefined) {
    return { where: 'WHERE st.study_instance_uid = $1 AND se.series_instance_uid = $2', parameters: [scope.studyInstanceUid, scope.seriesInstanceUid] };
  }
  return { where: 'WHERE st.study_instance_uid = $1', parameters: [scope.studyInstanceUid] };
}

/** The metadata of a scope's current versions, in display order (see RetrieveRepository.metadataTexts). */
export function metadataSql(scope: RetrieveScope, instanceUrlPrefix: string): { text: string; values: unknown[] } {
  const { where, parameters } = whereScope(scope);
  return {
    text: `SELECT replace(r.metadata::text, '"BulkDataURI": "bulkdata/',
                  '"BulkDataURI": "' || $${parameters.length + 1}::text || '/studies/' || st.study_instance_uid || '/series/'
                  || se.series_instance_uid || '/instances/' || i.sop_instance_uid || '/bulkdata/') AS metadata
           ${FROM_CURRENT_VERSIONS} ${where} ${DISPLAY_ORDER}`,
    values: [...parameters, instanceUrlPrefix],
  };
}

/** Rows fetched per round trip when streaming metadata: small enough to start answering at once. */
const METADATA_BATCH = 100;

/** The only SQL behind WADO-RS and WADO-URI. Every query reads current versions only. */
export class RetrieveRepository {
  constructor(private readonly pool: pg.Pool) {}

  async objects(scope: RetrieveScope): Promise<StoredObject[]> {
    const { where, parameters } = whereScope(scope);
    const result = await this.pool.query<StoredObject>(`SELECT ${OBJECT_COLUMNS} ${FROM_CURRENT_VERSIONS} ${where} ${DISPLAY_ORDER}`, parameters);
    return result.rows;
  }

  /** The current versions a DIMSE retrieve names, of the studies `visibility` lets its caller see. */
  async selected(selection: RetrieveSelection, visibility: Visibility): Promise<StoredObject[]> {
    const values: unknown[] = [];
    const parameter = (value: unknown) => `$${values.push(value)}`;
    const conditions = [visibilityCondition(visibility, parameter) ?? 'true'];
    if (selection.patientId !== undefined) conditions.push(`st.patient_id = ${parameter(selection.patientId)}`);
    if (selection.studyInstanceUids) conditions.push(`st.study_instance_uid = ANY (${parameter(selection.studyInstanceUids)}::text[])`);
    if (selection.seriesInstanceUids) conditions.push(`se.series_instance_uid = ANY (${parameter(selection.seriesInstanceUids)}::text[])`);
    if (selection.sopInstanceUids) conditions.push(`i.sop_instance_uid = ANY (${parameter(selection.sopInstanceUids)}::text[])`);
    const result = await this.pool.query<StoredObject>(
      `SELECT ${OBJECT_COLUMNS} ${FROM_CURRENT_VERSIONS}${patientRecordJoin(visibility)}
       WHERE ${conditions.join(' AND ')} ORDER BY st.id, se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id`,
      values,
    );
    return result.rows;
  }

  async instances(scope: RetrieveScope): Promise<StoredInstance[]> {
    const { where, parameters } = whereScope(scope);
    const result = await this.pool.query<StoredInstance>(`SELECT ${INSTANCE_COLUMNS} ${FROM_CURRENT_VERSIONS} ${where} ${DISPLAY_ORDER}`, parameters);
    return result.rows;
  }

  /**
   * Each current version's metadata as JSON text, in display order, fetched through a cursor so a
   * study of thousands of instances is never held in memory. The relative BulkDataURIs are made
   * absolute by one replace() in SQL: no JSON is parsed or re-serialised, which is what makes this fast.
   * jsonb's text form always writes `"key": "value"`, and a quote inside a string value is escaped, so
   * the pattern can only match a BulkDataURI member. `instanceUrlPrefix` must already be JSON-escaped.
   */
  async *metadataTexts(scope: RetrieveScope, instanceUrlPrefix: string): AsyncGenerator<string> {
    const select = metadataSql(scope, instanceUrlPrefix);
    const client = await this.pool.connect();
    let finished = false;
    try {
      await client.query('BEGIN READ ONLY');
      await client.query(`DECLARE wado_metadata NO SCROLL CURSOR FOR ${select.text}`, select.values);
      for (;;) {
        const batch = await client.query<{ metadata: string }>(`FETCH ${METADATA_BATCH} FROM wado_metadata`);
        for (const row of batch.rows) yield row.metadata;
        if (batch.rows.length < METADATA_BATCH) break;
      }
      await client.query('COMMIT');
      finished = true;
    } finally {
      // The consumer may stop early (client went away): end the transaction before the pool reuses it.
      if (!finished) await client.query('ROLLBACK').catch(() => undefined);
      client.release();
    }
  }

  /**
   * The stored thumbnail of a series, or for a study that of its first series (by Series Number) that
   * has one: series without images (reports, key objects) have none and are passed over.
   */
  async seriesThumbnailKey(scope: RetrieveScope): Promise<string | null> {
    const { where, parameters } = whereScope({ studyInstanceUid: scope.studyInstanceUid, seriesInstanceUid: scope.seriesInstanceUid });
    const result = await this.pool.query<{ key: string }>(
      `SELECT se.thumbnail_key AS key FROM studies st JOIN series se ON se.study_pk = st.id AND se.study_instance_uid = st.study_instance_uid
       ${where} AND se.thumbnail_key IS NOT NULL
       ORDER BY se.series_number NULLS LAST, se.id LIMIT 1`,
      parameters,
    );
    return result.rows[0]?.key ?? null;
  }

  /**
   * The instance that represents a series (or a study's first series with an image) when no thumbnail
   * is stored yet: the middle one by Instance Number, as the thumbnail job picks it, skipping
   * instances already known to have no image.
   */
  async representativeInstance(scope: RetrieveScope): Promise<StoredInstance | null> {
    const { where, parameters } = whereScope({ studyInstanceUid: scope.studyInstanceUid, seriesInstanceUid: scope.seriesInstanceUid });
    const result = await this.pool.query<StoredInstance>(
      `WITH chosen_series AS (
         SELECT se.id FROM studies st JOIN series se ON se.study_pk = st.id AND se.study_instance_uid = st.study_instance_uid
         ${where} AND EXISTS (SELECT 1 FROM instances i WHERE i.series_pk = se.id AND i.study_instance_uid = $1 AND i.thumbnail_error IS NULL)
         ORDER BY se.series_number NULLS LAST, se.id LIMIT 1
       ), candidates AS (
         SELECT i.id FROM instances i
         WHERE i.series_pk = (SELECT id FROM chosen_series) AND i.study_instance_uid = $1 AND i.thumbnail_error IS NULL
       )
       SELECT ${INSTANCE_COLUMNS} ${FROM_CURRENT_VERSIONS}
       WHERE st.study_instance_uid = $1 AND i.id IN (SELECT id FROM candidates)
       ORDER BY i.instance_number NULLS LAST, i.id
       OFFSET (SELECT GREATEST(count(*) - 1, 0) / 2 FROM candidates) LIMIT 1`,
      parameters,
    );
    return result.rows[0] ?? null;
  }
}
