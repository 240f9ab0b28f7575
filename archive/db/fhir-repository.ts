import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { QidoQuery } from '../query/qido-query.ts';
import { studySearchSql } from './query-repository.ts';

/** A signed report found by a FHIR search, with the study fields its resource repeats. */
export interface ReportedStudyRow {
  reportId: string;
  studyInstanceUid: string;
  patientAttributes: DicomJsonDataset;
  studyAttributes: DicomJsonDataset;
}

/** Studies reachable by one search at most: far above what one patient or one day holds. */
const STUDIES_SCANNED = 100_000;

/**
 * The SQL behind FHIR DiagnosticReport searches: the same study search as QIDO-RS (its matching and
 * its visibility, written once in query-repository.ts), restricted to studies with a signed report.
 */
export class FhirRepository {
  constructor(private readonly pool: pg.Pool) {}

  async signedReports(studies: QidoQuery, statuses: readonly string[] | undefined, visibility: Visibility, limit: number): Promise<ReportedStudyRow[]> {
    const inner = studySearchSql({ ...studies, limit: STUDIES_SCANNED, offset: 0 }, visibility);
    const values = [...inner.values];
    const parameter = (value: unknown) => `$${values.push(value)}`;
    const statusCondition = statuses?.length ? `AND r.status = ANY (${parameter(statuses)}::text[])` : '';
    const { rows } = await this.pool.query<ReportedStudyRow>(
      `SELECT r.id::text AS "reportId", s."studyInstanceUid", s."patientAttributes", s."studyAttributes"
       FROM (${inner.text}) s JOIN reports r ON r.study_instance_uid = s."studyInstanceUid"
       WHERE r.status <> 'draft' ${statusCondition}
       ORDER BY (SELECT max(created_at) FROM report_versions v WHERE v.report_id = r.id) DESC, r.id DESC
       LIMIT ${parameter(limit)}`,
      values,
    );
    return rows;
  }
}
