import type pg from 'pg';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { Condition, QidoQuery } from '../query/qido-query.ts';

export interface StudyRow {
  studyInstanceUid: string;
  patientAttributes: DicomJsonDataset;
  studyAttributes: DicomJsonDataset;
  modalities: string[];
  numberOfSeries: number;
  numberOfInstances: number;
}

export interface SeriesRow extends StudyRow {
  seriesInstanceUid: string;
  seriesAttributes: DicomJsonDataset;
  numberOfSeriesInstances: number;
}

export interface InstanceRow extends SeriesRow {
  sopInstanceUid: string;
  instanceAttributes: DicomJsonDataset;
}

const STUDY_COLUMNS = `st.study_instance_uid AS "studyInstanceUid", p.attributes AS "patientAttributes",
  st.attributes AS "studyAttributes", st.modalities, st.number_of_series AS "numberOfSeries",
  st.number_of_instances AS "numberOfInstances"`;
const SERIES_COLUMNS = `${STUDY_COLUMNS}, se.series_instance_uid AS "seriesInstanceUid", se.attributes AS "seriesAttributes",
  se.number_of_instances AS "numberOfSeriesInstances"`;

/**
 * The only SQL behind QIDO-RS. Study-level queries read studies and patients only (counts and
 * modalities are kept on the study row), so they never scan instances. EXPLAIN output of the hot
 * queries is in docs/qido-explain.md.
 */
export class QueryRepository {
  constructor(private readonly pool: pg.Pool) {}

  async searchStudies(query: QidoQuery): Promise<StudyRow[]> {
    const { where, parameters } = whereClause(query.conditions);
    const sql = `SELECT ${STUDY_COLUMNS}
      FROM studies st JOIN patients p ON p.id = st.patient_pk
      ${where}
      ORDER BY st.study_date DESC NULLS LAST, st.id DESC
      LIMIT ${query.limit + 1} OFFSET ${query.offset}`;
    return (await this.pool.query<StudyRow>(sql, parameters)).rows;
  }

  async searchSeries(query: QidoQuery): Promise<SeriesRow[]> {
    const { where, parameters } = whereClause(query.conditions);
    const sql = `SELECT ${SERIES_COLUMNS}
      FROM series se JOIN studies st ON st.id = se.study_pk JOIN patients p ON p.id = st.patient_pk
      ${where}
      ORDER BY st.study_date DESC NULLS LAST, st.id DESC, se.series_number NULLS LAST, se.id
      LIMIT ${query.limit + 1} OFFSET ${query.offset}`;
    return (await this.pool.query<SeriesRow>(sql, parameters)).rows;
  }

  async searchInstances(query: QidoQuery): Promise<InstanceRow[]> {
    const { where, parameters } = whereClause(query.conditions);
    const sql = `SELECT ${SERIES_COLUMNS}, i.sop_instance_uid AS "sopInstanceUid", i.attributes AS "instanceAttributes"
      FROM instances i JOIN series se ON se.id = i.series_pk JOIN studies st ON st.id = i.study_pk
      JOIN patients p ON p.id = st.patient_pk
      ${where}
      ORDER BY st.id DESC, se.series_number NULLS LAST, se.id, i.instance_number NULLS LAST, i.id
      LIMIT ${query.limit + 1} OFFSET ${query.offset}`;
    return (await this.pool.query<InstanceRow>(sql, parameters)).rows;
  }
}

/** Columns come from the fixed MATCHABLE table, never from the request; values are parameters. */
function whereClause(conditions: Condition[]): { where: string; parameters: unknown[] } {
  const parameters: unknown[] = [];
  const parameter = (value: unknown) => {
    parameters.push(value);
    return `$${parameters.length}`;
  };
  const clauses = conditions.map((condition) => {
    switch (condition.kind) {
      case 'equals':
        return `${condition.column} = ${parameter(condition.value)}`;
      case 'like':
        return `${condition.column} LIKE ${parameter(condition.pattern)}`;
      case 'any':
        return `${condition.column} = ANY (${parameter(condition.values)}::text[])`;
      case 'overlaps':
        return `${condition.column} && ${parameter(condition.values)}::text[]`;
      case 'range': {
        const bounds = [];
        if (condition.from) bounds.push(`${condition.column} >= ${parameter(condition.from)}`);
        if (condition.to) bounds.push(`${condition.column} <= ${parameter(condition.to)}`);
        return bounds.join(' AND ');
      }
    }
  });
  return { where: clauses.length ? `WHERE ${clauses.join(' AND ')}` : '', parameters };
}
