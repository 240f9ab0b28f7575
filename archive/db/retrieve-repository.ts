import type pg from 'pg';
import type { BulkDataLocation, PixelDescription } from '../dicom/types.ts';

/** The current version of one instance, as retrieval needs it. */
export interface StoredInstance {
  studyInstanceUid: string;
  seriesInstanceUid: string;
  sopInstanceUid: string;
  sopClassUid: string;
  receiptId: string;
  objectKey: string;
  transferSyntaxUid: string;
  sizeBytes: number;
  bulkData: BulkDataLocation[];
  pixel: PixelDescription | null;
  datasetOffset: number;
  deflated: boolean;
  thumbnailKey: string | null;
}

export interface RetrieveScope {
  studyInstanceUid: string;
  seriesInstanceUid?: string;
  sopInstanceUid?: string;
}

const SCOPE_JOIN = `FROM instances i
  JOIN series se ON se.id = i.series_pk
  JOIN studies st ON st.id = i.study_pk
  JOIN receipts r ON r.id = i.receipt_id
  WHERE st.study_instance_uid = $1
    AND ($2::text IS NULL OR se.series_instance_uid = $2)
    AND ($3::text IS NULL OR i.sop_instance_uid = $3)`;
const ORDER = 'ORDER BY se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id';

/** The only SQL behind WADO-RS and WADO-URI. */
export class RetrieveRepository {
  constructor(private readonly pool: pg.Pool) {}

  async instances(scope: RetrieveScope): Promise<StoredInstance[]> {
    const result = await this.pool.query<StoredInstance>(
      `SELECT st.study_instance_uid AS "studyInstanceUid", se.series_instance_uid AS "seriesInstanceUid",
              i.sop_instance_uid AS "sopInstanceUid", i.sop_class_uid AS "sopClassUid", r.id AS "receiptId",
              r.object_key AS "objectKey", r.transfer_syntax_uid AS "transferSyntaxUid", r.size_bytes::float8 AS "sizeBytes",
              r.bulk_data AS "bulkData", r.pixel, r.dataset_offset AS "datasetOffset", r.deflated,
              CASE WHEN i.thumbnail_receipt_id = i.receipt_id THEN i.thumbnail_key END AS "thumbnailKey"
       ${SCOPE_JOIN} ${ORDER}`,
      [scope.studyInstanceUid, scope.seriesInstanceUid ?? null, scope.sopInstanceUid ?? null],
    );
    return result.rows;
  }

  /**
   * Metadata of the current versions as JSON text, with relative BulkDataURIs made absolute in SQL:
   * no parse and re-serialise of each instance's JSON in Node, which is what makes series metadata fast.
   */
  async metadataTexts(scope: RetrieveScope, dicomWebBase: string): Promise<string[]> {
    const result = await this.pool.query<{ metadata: string }>(
      `SELECT replace(r.metadata::text, '"BulkDataURI": "bulkdata/',
                '"BulkDataURI": "' || $4 || '/studies/' || st.study_instance_uid || '/series/' || se.series_instance_uid
                || '/instances/' || i.sop_instance_uid || '/bulkdata/') AS metadata
       ${SCOPE_JOIN} ${ORDER}`,
      [scope.studyInstanceUid, scope.seriesInstanceUid ?? null, scope.sopInstanceUid ?? null, dicomWebBase],
    );
    return result.rows.map((row) => row.metadata);
  }

  /** The stored thumbnail of a series, or of a study's first series that has one. */
  async seriesThumbnailKey(studyInstanceUid: string, seriesInstanceUid?: string): Promise<string | null> {
    const result = await this.pool.query<{ key: string }>(
      `SELECT se.thumbnail_key AS key FROM series se JOIN studies st ON st.id = se.study_pk
       WHERE st.study_instance_uid = $1 AND ($2::text IS NULL OR se.series_instance_uid = $2) AND se.thumbnail_key IS NOT NULL
       ORDER BY se.series_number NULLS LAST, se.id LIMIT 1`,
      [studyInstanceUid, seriesInstanceUid ?? null],
    );
    return result.rows[0]?.key ?? null;
  }
}
