import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { Condition, MatchableTag, QidoQuery, QueryScope, SortableTag } from '../query/qido-query.ts';
import { patientRecordJoin, visibilityCondition } from './visibility-sql.ts';

export interface StudyRow {
  studyInstanceUid: string;
  patientAttributes: DicomJsonDataset;
  studyAttributes: DicomJsonDataset;
  modalities: string[];
  /** From the study's first series that named one (Institution Name is a series attribute). */
  institutionName: string | null;
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
  /** Attributes read from the receipt's full metadata, when asked for (see `SearchOptions`). */
  metadataAttributes: DicomJsonDataset | null;
}

/** A patient record (one institution's), with the counts of its studies the caller may see. */
export interface PatientRow {
  patientAttributes: DicomJsonDataset;
  numberOfStudies: number;
  numberOfSeries: number;
  numberOfInstances: number;
}

/** One page of matches for C-FIND, which streams them and needs no count of the rest. */
export interface MatchPage<Row> {
  rows: Row[];
  /** Whether another page follows. */
  more: boolean;
}

/** The part of a query a patient-level search reads: its conditions (on patient attributes) and the page. */
export type PatientQuery = Pick<QidoQuery, 'conditions' | 'limit' | 'offset'>;

/** A prior, with the institution it belongs to as registered here (not only as its headers name it). */
export interface PriorRow extends StudyRow {
  institutionId: string;
  registeredInstitutionName: string;
}

/** Whose a study is, and whether a caller may see it. */
export interface StudyOwnership {
  studyInstanceUid: string;
  institutionId: string;
  issuer: string;
  patientId: string;
  patientName: string | null;
  visible: boolean;
}

export interface SearchOptions {
  /**
   * Instance level only: attributes beyond those the index keeps per level, read from the current
   * receipt's metadata ('all' for all of it).
   */
  metadataTags?: readonly string[] | 'all';
}

export interface SearchResult<Row> {
  rows: Row[];
  /** Matches after these rows (0: none); `atLeast` when counting stopped REMAINING_COUNT_CAP past the page. */
  remaining: { count: number; atLeast: boolean };
}

/** A person with more studies than this is shown their newest; the list is for comparison, not an archive. */
const PRIORS_LIMIT = 200;

/**
 * Counting the matches after a full page stops this many past it. The count is for the Warning of a
 * truncated QIDO-RS response and the study list's "1–25 of 125+", which need to know that more
 * follow and roughly how many, not an exact total: counting every match of 王* in a hospital read
 * all of them (1.7 s at 10^7 instances), where this reads about five pages' worth.
 */
export const REMAINING_COUNT_CAP = 100;

/**
 * A name with at least this many study keys in the caller's institutions is common there: a study
 * search walks the caller's studies newest first and probes each one's keys (study_name_keys_pkey),
 * stopping at the page's end, since every few studies match. A rarer one sorts its keys' range
 * (keyedStudies), which costs about one index entry per key: 王* in one hospital of 10,000 studies
 * is about 1,300, in a reading centre's fifty hospitals 60,000, where walking reads a few hundred.
 */
const COMMON_NAME_KEYS = 2000;

/** Where each matchable attribute lives. Columns come only from here, never from a request. */
const COLUMN: Record<MatchableTag, string> = {
  '00100010': 'st.patient_name_search',
  '00100020': 'st.patient_id',
  '00100021': 'st.patient_issuer',
  '00100030': 'st.patient_birth_date',
  '00100040': 'st.patient_sex',
  '0020000D': 'st.study_instance_uid',
  '00080020': 'st.study_date',
  '00080030': 'st.study_time',
  '00080050': 'st.accession_number',
  '00200010': 'st.study_id',
  '00081030': 'st.description',
  '00080090': 'st.referring_name_search',
  '00080061': 'st.modalities',
  '00080080': 'st.institution_name',
  '0020000E': 'se.series_instance_uid',
  '00080060': 'se.modality',
  '00200011': 'se.series_number',
  '0008103E': 'se.description',
  '00180015': 'se.body_part',
  '00400244': 'se.performed_start_date',
  '00080016': 'i.sop_class_uid',
  '00080018': 'i.sop_instance_uid',
  '00200013': 'i.instance_number',
};

/** What `orderby` sorts by: the matchable columns, and the counts kept on study and series rows. */
const SORT_COLUMN: Record<SortableTag, string> = {
  ...COLUMN,
  '00201206': 'st.number_of_series',
  '00201208': 'st.number_of_instances',
  '00201209': 'se.number_of_instances',
};

type Alias = 'st' | 'se' | 'i';

const STUDY_COLUMNS = `st.study_instance_uid AS "studyInstanceUid", st.patient_attributes AS "patientAttributes",
       st.attributes AS "studyAttributes", st.modalities, st.institution_name AS "institutionName", st.number_of_series AS "numberOfSeries",
       st.number_of_instances AS "numberOfInstances"`;
const SERIES_COLUMNS = `${STUDY_COLUMNS}, se.series_instance_uid AS "seriesInstanceUid",
       se.attributes AS "seriesAttributes", se.number_of_instances AS "numberOfSeriesInstances"`;
const INSTANCE_COLUMNS = `${SERIES_COLUMNS}, i.sop_instance_uid AS "sopInstanceUid", i.attributes AS "instanceAttributes"`;

// Newest studies first; the ids break ties so paging is stable (PS3.18 8.3.4.4.1), and the
// study order matches the index studies_by_date_recent (migration 002).
const STUDY_ORDER = 'st.study_date DESC NULLS LAST, st.id DESC';
// The same order, from a patient-name key's copy of the study's date and id (keyedStudies).
const KEYED_STUDY_ORDER = 'named.study_date DESC NULLS LAST, named.study_pk DESC';
const SERIES_ORDER = `${STUDY_ORDER}, se.series_number, se.id`;
const INSTANCE_ORDER = `${SERIES_ORDER}, i.instance_number, i.id`;

export interface SqlQuery {
  text: string;
  values: unknown[];
}

/**
 * The only SQL behind QIDO-RS, parameterised. Study-level queries read studies alone: counts,
 * modalities and the patient's attributes (migration 036) are kept on the study row, so they never
 * touch patients, series, instances or receipts.
 */
export class QueryRepository {
  constructor(private readonly pool: pg.Pool) {}

  async searchStudies(query: QidoQuery, visibility: Visibility): Promise<SearchResult<StudyRow>> {
    const planned = await this.lookUpNames(query, visibility);
    return this.search<StudyRow>(planned, visibility, studySearchSql(planned, visibility));
  }

  async searchSeries(query: QidoQuery, visibility: Visibility): Promise<SearchResult<SeriesRow>> {
    return this.search<SeriesRow>(query, visibility, seriesSearchSql(query, visibility));
  }

  async searchInstances(query: QidoQuery, visibility: Visibility, options: SearchOptions = {}): Promise<SearchResult<InstanceRow>> {
    return this.search<InstanceRow>(query, visibility, instanceSearchSql(query, visibility, options));
  }

  /** Patient records with at least one study the caller may see (C-FIND at the PATIENT level). */
  async patientPage(query: PatientQuery, visibility: Visibility): Promise<MatchPage<PatientRow>> {
    return this.matchPage(query, patientSearchSql(query, visibility));
  }

  /** The same SQL as searchStudies, searchSeries and searchInstances, page by page (C-FIND). */
  async studyPage(query: QidoQuery, visibility: Visibility): Promise<MatchPage<StudyRow>> {
    const planned = await this.lookUpNames(query, visibility);
    return this.matchPage(planned, studySearchSql(planned, visibility));
  }

  async seriesPage(query: QidoQuery, visibility: Visibility): Promise<MatchPage<SeriesRow>> {
    return this.matchPage(query, seriesSearchSql(query, visibility));
  }

  async instancePage(query: QidoQuery, visibility: Visibility, options: SearchOptions = {}): Promise<MatchPage<InstanceRow>> {
    return this.matchPage(query, instanceSearchSql(query, visibility, options));
  }

  /**
   * How a study search finds a patient name's studies (`keyLookup`): by how many keys in the
   * caller's institutions have the first prefix, counted by index up to COMMON_NAME_KEYS. The
   * planner cannot be left to choose: it prices the name test as if it removed most studies, so it
   * would sort the key's whole range for 王* in a reading centre's region too.
   */
  async lookUpNames(query: QidoQuery, visibility: Visibility): Promise<QidoQuery> {
    const conditions: Condition[] = [];
    for (const condition of query.conditions) {
      const { tag, match } = condition;
      if (tag !== '00100010' || match.kind !== 'person-name' || match.keyPrefixes.length === 0) {
        conditions.push(condition);
        continue;
      }
      const values: unknown[] = [`${likePattern(match.keyPrefixes[0]!)}%`, COMMON_NAME_KEYS];
      const { rows } = await this.pool.query<{ common: boolean }>(
        `SELECT count(*) >= $2 AS common FROM (SELECT 1 FROM study_name_keys
         WHERE institution_id = ANY (${keyInstitutions(visibility, (value) => `$${values.push(value)}`)}) AND key LIKE $1 LIMIT $2) AS keyed`,
        values,
      );
      conditions.push({ tag, match: { ...match, keyLookup: rows[0]!.common ? 'walk' : 'range' } });
    }
    return { ...query, conditions };
  }

  private async matchPage<Row>(query: PatientQuery, sql: SqlQuery): Promise<MatchPage<Row>> {
    // The SQL fetches one row more than the page: its presence is all C-FIND needs to know.
    const { rows } = await this.pool.query(sql.text, sql.values);
    return { rows: rows.slice(0, query.limit) as Row[], more: rows.length > query.limit };
  }

  /** The study's institution and patient, and whether `visibility` reaches it; null when not stored. */
  async studyOwnership(studyInstanceUid: string, visibility: Visibility): Promise<StudyOwnership | null> {
    const values: unknown[] = [studyInstanceUid];
    const visible = visibilityCondition(visibility, (value) => `$${values.push(value)}`) ?? 'true';
    const { rows } = await this.pool.query<StudyOwnership>(
      `SELECT st.study_instance_uid AS "studyInstanceUid", st.institution_id AS "institutionId", st.patient_issuer AS issuer, st.patient_id AS "patientId",
              -- as personNameText writes it (archive/dicom/normalize.ts): groups by '=', trailing empties dropped
              NULLIF(rtrim(concat_ws('=', coalesce(st.patient_name->>'Alphabetic', ''), coalesce(st.patient_name->>'Ideographic', ''),
                                      coalesce(st.patient_name->>'Phonetic', '')), '='), '') AS "patientName", ${visible} AS visible
       FROM studies st${patientRecordJoin(visibility)} WHERE st.study_instance_uid = $1`,
      values,
    );
    return rows[0] ?? null;
  }

  /** Which UID of a search's path names nothing stored, for a 404 that says so; null when both exist. */
  async missingScope(scope: QueryScope): Promise<'study' | 'series' | null> {
    const { rows } = await this.pool.query<{ study: boolean; series: boolean }>(
      `SELECT EXISTS (SELECT 1 FROM studies WHERE study_instance_uid = $1) AS study,
              $2::text IS NULL OR EXISTS (SELECT 1 FROM series se JOIN studies st ON st.id = se.study_pk AND st.study_instance_uid = se.study_instance_uid
                                          WHERE se.series_instance_uid = $2 AND st.study_instance_uid = $1) AS series`,
      [scope.studyInstanceUid, scope.seriesInstanceUid ?? null],
    );
    if (!rows[0]!.study) return 'study';
    return rows[0]!.series ? null : 'series';
  }

  /**
   * The same person's other studies, newest first, or null when the study is not stored. One
   * person is: the same patient record (one institution's Patient ID + issuer), or a record whose
   * Other Patient IDs share an identifier that names its issuer (the national resident ID, for one)
   * with this record's: both institutions vouch for it. A record naming the other's own Patient ID +
   * issuer does not link them (an uploader's claim about another institution's namespace), and
   * identifiers without an issuer never do: two hospitals' bare numbers colliding is exactly the
   * wrong merge the index exists to avoid. And every record the person index links to this one's
   * person (docs/recognition.md, "Priors by person"), a manual link included.
   */
  async priorStudies(studyInstanceUid: string, visibility: Visibility, limit = PRIORS_LIMIT): Promise<PriorRow[] | null> {
    // Two statements, because the planner cannot estimate how many records one person has until it
    // has found them: given the ids, the studies come by the studies_by_patient index.
    const person = samePersonSql(studyInstanceUid);
    const { rows: found } = await this.pool.query<{ studyPk: string; patientPks: string[] }>(person.text, person.values);
    if (found.length === 0) return null;
    const studies = priorStudiesSql(found[0]!.patientPks, found[0]!.studyPk, limit, visibility);
    return (await this.pool.query<PriorRow>(studies.text, studies.values)).rows;
  }

  private async search<Row>(query: QidoQuery, visibility: Visibility, sql: SqlQuery): Promise<SearchResult<Row>> {
    const { rows } = await this.pool.query(sql.text, sql.values);
    if (rows.length <= query.limit) return { rows: rows as Row[], remaining: { count: 0, atLeast: false } };
    // One row more than asked for was fetched: only then is counting the rest worth a query.
    const count = matchCountSql(query, visibility);
    const { rows: counted } = await this.pool.query<{ matches: number }>(count.text, count.values);
    const matches = counted[0]!.matches;
    const shown = query.offset + query.limit;
    return {
      rows: rows.slice(0, query.limit) as Row[],
      // At least the row fetched past the page, whatever a concurrent change did to the count since.
      remaining: { count: Math.max(1, matches - shown), atLeast: matches >= shown + REMAINING_COUNT_CAP },
    };
  }
}

/**
 * A study's key and its patient's records: the patient's own, those linked by identifier, and every
 * record the person index links to the same person (automatically or by hand). Which of their
 * studies a caller sees is still the visibility condition's alone: the person widens what matches,
 * never what may be seen.
 */
export function samePersonSql(studyInstanceUid: string): SqlQuery {
  return {
    // The study first, then its patient record by id: two look-ups, not a join, because studies and
    // patient records are keyed (and, on Citus, distributed) differently.
    text: `WITH study AS MATERIALIZED (
       SELECT id, patient_pk FROM studies WHERE study_instance_uid = $1
     ), current AS (
       SELECT p.id AS patient_pk, array_remove_bare(p.other_patient_ids) AS identifiers, pl.person_id
       FROM patients p LEFT JOIN person_links pl ON pl.patient_pk = p.id
       WHERE p.id = (SELECT patient_pk FROM study)
     )
     SELECT (SELECT id FROM study) AS "studyPk", ARRAY(
              SELECT c.patient_pk
              UNION
              SELECT p.id FROM patients p WHERE p.other_patient_ids && c.identifiers
              UNION
              SELECT pl.patient_pk FROM person_links pl WHERE pl.person_id = c.person_id
            ) AS "patientPks"
     FROM current c`,
    values: [studyInstanceUid],
  };
}

/** The studies of those patient records but one that the caller may see, newest first. */
export function priorStudiesSql(patientPks: string[], excludedStudyPk: string, limit: number, visibility: Visibility): SqlQuery {
  const values: unknown[] = [patientPks, excludedStudyPk, limit];
  const visible = visibilityCondition(visibility, (value) => `$${values.push(value)}`);
  return {
    text: `SELECT ${STUDY_COLUMNS}, st.institution_id::text AS "institutionId", ins.name AS "registeredInstitutionName"
     FROM studies st${patientRecordJoin(visibility)} JOIN institutions ins ON ins.id = st.institution_id
     WHERE st.patient_pk = ANY ($1::bigint[]) AND st.id <> $2 AND st.number_of_instances > 0${visible ? ` AND ${visible}` : ''}
     ORDER BY ${STUDY_ORDER}
     LIMIT $3`,
    values,
  };
}

/**
 * Patient records that match, each with the counts of its visible studies: a patient is visible
 * through its studies, so one with none the caller may see is not found.
 */
export function patientSearchSql(query: PatientQuery, visibility: Visibility): SqlQuery {
  const where = whereClause(query.conditions, ['st.number_of_instances > 0'], visibility);
  return page(
    query,
    where.values,
    `SELECT p.attributes AS "patientAttributes", count(*)::int AS "numberOfStudies",
            sum(st.number_of_series)::int AS "numberOfSeries", sum(st.number_of_instances)::int AS "numberOfInstances"
     FROM patients p JOIN studies st ON st.patient_pk = p.id
     ${where.text}
     GROUP BY p.id
     ORDER BY p.id`,
  );
}

export function studySearchSql(query: QidoQuery, visibility: Visibility): SqlQuery {
  const where = whereClause(query.conditions, ['st.number_of_instances > 0'], visibility, { keyed: true });
  return page(
    query,
    where.values,
    `SELECT ${STUDY_COLUMNS}
     FROM ${studiesFrom(where.keyed)}${patientRecordJoin(visibility)}
     ${where.text}
     ORDER BY ${orderBy(query, where.keyed ? KEYED_STUDY_ORDER : STUDY_ORDER)}`,
  );
}

/** The studies table, or, when a patient-name key drives the search, the keyed studies first (keyedStudies). */
function studiesFrom(keyed: string | null): string {
  return keyed ? `${keyed} JOIN studies st ON st.study_instance_uid = named.study_instance_uid AND st.id = named.study_pk` : 'studies st';
}

/**
 * The studies with a patient-name key in the institutions whose studies the caller may see, newest
 * first (the order of STUDY_ORDER, from the key's own copy of the study's date and id), once each:
 * `named (study_date, study_pk, study_instance_uid)`, joined to its study by both (on Citus, a join
 * of co-located shards). Read from study_name_keys_by_name, one key range per institution, index
 * entries only (the index includes the UID since migration 043), and sorted there, so that only the
 * page's studies are fetched: for 王* in a hospital of 10,000 studies that is a sort of about 1,300
 * entries, where starting from the patients read every one of their studies first. DISTINCT ON drops
 * a study's second key with the prefix ('|wang' in both the alphabetic and the phonetic group). The
 * keys only narrow: the caller's visibility and the PN pattern are still tested on the study.
 */
function keyedStudies(prefix: string, visibility: Visibility, parameter: (value: unknown) => string): string {
  return `(SELECT DISTINCT ON (study_date, study_pk) study_date, study_pk, study_instance_uid FROM study_name_keys
        WHERE institution_id = ANY (${keyInstitutions(visibility, parameter)}) AND key LIKE ${parameter(`${likePattern(prefix)}%`)}
        ORDER BY study_date DESC NULLS LAST, study_pk DESC) AS named`;
}

/**
 * Whose study keys a name search reads: the caller's institutions, or every institution when the
 * caller may see studies beyond them (a system administrator; a stated purpose, through the same
 * person's records elsewhere; a granted study). A list either way, since the index leads with the
 * institution: one key range per institution.
 */
function keyInstitutions(visibility: Visibility, parameter: (value: unknown) => string): string {
  if (visibility.institutionIds === 'all' || visibility.linkedPatientsPurpose || visibility.grantedStudies?.length) return 'ARRAY(SELECT id FROM institutions)';
  return `${parameter([...visibility.institutionIds])}::bigint[]`;
}

export function seriesSearchSql(query: QidoQuery, visibility: Visibility): SqlQuery {
  const where = whereClause(query.conditions, ['se.number_of_instances > 0'], visibility);
  return page(
    query,
    where.values,
    `SELECT ${SERIES_COLUMNS}
     FROM series se JOIN studies st ON st.id = se.study_pk AND st.study_instance_uid = se.study_instance_uid${patientRecordJoin(visibility)}
     ${where.text}
     ORDER BY ${orderBy(query, SERIES_ORDER)}`,
  );
}

export function instanceSearchSql(query: QidoQuery, visibility: Visibility, options: SearchOptions = {}): SqlQuery {
  const where = whereClause(query.conditions, [], visibility);
  let metadataColumn = 'NULL::jsonb';
  let receiptJoin = '';
  if (options.metadataTags === 'all') {
    metadataColumn = 'r.metadata';
  } else if (options.metadataTags?.length) {
    where.values.push(options.metadataTags);
    metadataColumn = `(SELECT jsonb_object_agg(key, value) FROM jsonb_each(r.metadata) WHERE key = ANY ($${where.values.length}::text[]))`;
  }
  if (metadataColumn !== 'NULL::jsonb') receiptJoin = 'JOIN receipts r ON r.study_instance_uid = i.study_instance_uid AND r.id = i.receipt_id';
  return page(
    query,
    where.values,
    `SELECT ${INSTANCE_COLUMNS}, ${metadataColumn} AS "metadataAttributes"
     FROM instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk JOIN studies st ON st.id = i.study_pk AND st.study_instance_uid = i.study_instance_uid
     ${patientRecordJoin(visibility)} ${receiptJoin}
     ${where.text}
     ORDER BY ${orderBy(query, INSTANCE_ORDER)}`,
  );
}

/**
 * How many results match, up to REMAINING_COUNT_CAP past the page: joins only the tables the
 * conditions need, so counting studies by date or modality reads the studies table alone, and a
 * study search driven by a name key counts in the key's order, so a common name's walk stops there.
 */
export function matchCountSql(query: QidoQuery, visibility: Visibility): SqlQuery {
  const where = whereClause(query.conditions, query.level === 'study' ? ['st.number_of_instances > 0'] : query.level === 'series' ? ['se.number_of_instances > 0'] : [], visibility, { keyed: query.level === 'study' });
  const needed = new Set<Alias>(query.conditions.map((condition) => COLUMN[condition.tag].split('.')[0] as Alias));
  // Counts obey the same visibility as rows: a count must not reveal studies the caller cannot open.
  if (visibility.institutionIds !== 'all') needed.add('st');
  let from: string;
  if (query.level === 'study') {
    from = studiesFrom(where.keyed);
  } else if (query.level === 'series') {
    from = 'series se';
    if (needed.has('st')) from += ' JOIN studies st ON st.id = se.study_pk AND st.study_instance_uid = se.study_instance_uid';
  } else {
    from = 'instances i';
    if (needed.has('se')) from += ' JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk';
    if (needed.has('st')) from += ' JOIN studies st ON st.id = i.study_pk AND st.study_instance_uid = i.study_instance_uid';
  }
  from += patientRecordJoin(visibility);
  where.values.push(query.offset + query.limit + REMAINING_COUNT_CAP);
  const order = where.keyed ? ` ORDER BY ${KEYED_STUDY_ORDER}` : '';
  return {
    text: `SELECT count(*)::int AS matches FROM (SELECT 1 FROM ${from} ${where.text}${order} LIMIT $${where.values.length}) AS matched`,
    values: where.values,
  };
}

/** The client's `orderby` keys first (empty values last either way), then the level's own order, which keeps paging stable. */
function orderBy(query: QidoQuery, levelOrder: string): string {
  const keys = query.orderBy.map(({ tag, descending }) => `${SORT_COLUMN[tag]} ${descending ? 'DESC' : 'ASC'} NULLS LAST`);
  return [...keys, levelOrder].join(', ');
}

function page(query: PatientQuery, values: unknown[], select: string): SqlQuery {
  values.push(query.limit + 1, query.offset);
  return { text: `${select}\n     LIMIT $${values.length - 1} OFFSET $${values.length}`, values };
}

/**
 * The conditions as SQL, with their values. `keyed` (study-level searches): the first key prefix of a
 * patient name becomes `keyed`, the keyed studies the search starts from (keyedStudies), instead of
 * a condition.
 */
function whereClause(
  conditions: Condition[],
  always: string[],
  visibility: Visibility,
  options: { keyed?: boolean } = {},
): { text: string; values: unknown[]; keyed: string | null } {
  const values: unknown[] = [];
  let keyed: string | null = null;
  const parameter = (value: unknown) => {
    values.push(value);
    return `$${values.length}`;
  };
  const clauses = [...always];
  const visible = visibilityCondition(visibility, parameter);
  if (visible) clauses.push(visible);
  for (const { tag, match } of conditions) {
    const column = COLUMN[tag];
    switch (match.kind) {
      case 'equals':
        clauses.push(`${column} = ${parameter(match.value)}`);
        break;
      case 'any-of':
        clauses.push(`${column} = ANY (${parameter(match.values)}::text[])`);
        break;
      case 'wildcard':
        clauses.push(`${column} LIKE ${parameter(likePattern(match.pattern))}`);
        break;
      case 'date-range':
        if (match.from) clauses.push(`${column} >= ${parameter(match.from)}::date`);
        if (match.to) clauses.push(`${column} <= ${parameter(match.to)}::date`);
        break;
      case 'time-range':
        if (match.from) clauses.push(`${column} >= ${parameter(match.from)}`);
        if (match.to) {
          const to = parameter(match.to);
          clauses.push(`(${column} <= ${to} OR starts_with(${column}, ${to}))`);
        }
        break;
      case 'person-name':
        // The keys find the few studies worth testing by index; the patterns decide (migrations 027, 031).
        if (tag === '00100010') {
          for (const [index, prefix] of match.keyPrefixes.entries()) {
            if (index === 0 && options.keyed && match.keyLookup !== 'walk') {
              keyed = keyedStudies(prefix, visibility, parameter);
              continue;
            }
            const key = parameter(`${likePattern(prefix)}%`);
            if (index > 0 || options.keyed) {
              // Probed on each study walked (study_name_keys_pkey): a common name's walk, or the
              // further prefixes of a value with several groups once the first found the studies. A
              // scalar subquery, which PostgreSQL does not turn into a join.
              clauses.push(`(SELECT true FROM study_name_keys k WHERE k.study_pk = st.id AND k.study_instance_uid = st.study_instance_uid AND k.key LIKE ${key} LIMIT 1)`);
              continue;
            }
            clauses.push(`(st.study_instance_uid, st.id) IN (SELECT study_instance_uid, study_pk FROM study_name_keys WHERE institution_id = ANY (${keyInstitutions(visibility, parameter)}) AND key LIKE ${key})`);
          }
        }
        for (const pattern of match.patterns) clauses.push(`person_name_matches(${column}, ${parameter(pattern)})`);
        break;
      case 'contains-any':
        if (match.patterns.some((pattern) => /[*?]/.test(pattern))) {
          clauses.push(`EXISTS (SELECT 1 FROM unnest(${column}) AS value WHERE value LIKE ANY (${parameter(match.patterns.map(likePattern))}::text[]))`);
        } else {
          clauses.push(`${column} && ${parameter(match.patterns)}::text[]`);
        }
        break;
    }
  }
  return { text: clauses.length ? `WHERE ${clauses.join('\n       AND ')}` : '', values, keyed };
}

/** DICOM wildcards to LIKE: '*' any run, '?' one character; LIKE's own metacharacters made literal. */
function likePattern(pattern: string): string {
  return pattern.replace(/[\\%_]/g, (character) => `\\${character}`).replace(/\*/g, '%').replace(/\?/g, '_');
}
