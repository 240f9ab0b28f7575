import type pg from 'pg';
import type { Visibility } from '../access/policy.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';
import type { IdentifierKind } from '../person/identifiers.ts';
import type { IdentifierRule } from '../person/identifier-extraction.ts';
import { inTransaction } from './transaction.ts';
import { patientRecordJoin, visibilityCondition } from './visibility-sql.ts';

/** A patient record as linking reads it: who it names, and which institution's rules apply. */
export interface PatientRecordFacts {
  patientPk: string;
  institutionId: string;
  patientName: DicomJsonPersonName | null;
  /** YYYY-MM-DD */
  birthDate: string | null;
  sex: string | null;
  attributes: DicomJsonDataset;
}

/** A stored identifier: its namespace, keyed hash and sealed value (never the plain value). */
export interface StoredIdentifier {
  kind: IdentifierKind;
  issuer: string;
  matchHash: Buffer;
  sealedValue: Buffer;
}

export interface PersonLink {
  personId: string;
  method: 'automatic' | 'manual';
}

export interface LinkSuggestion {
  id: string;
  patientPk: string;
  otherPatientPk: string;
  reason: 'identifier-conflict' | 'same-name-birth-date-sex';
  conflicts: string[];
  institutionIds: [string, string];
  /** The two records as the reviewer compares them side by side, `patientPk`'s first. */
  records: [SuggestedRecord, SuggestedRecord];
  createdAt: Date;
}

/** A record of a suggestion, as the review queue shows it: who it names, where, and its person now. */
export interface SuggestedRecord {
  patientPk: string;
  personId: string | null;
  patientId: string;
  patientName: DicomJsonPersonName | null;
  /** YYYY-MM-DD */
  birthDate: string | null;
  sex: string | null;
  institutionId: string;
  institutionName: string;
  studyCount: number;
}

/** A study of a person, as the person page and the lookup answer it. */
export interface PersonStudy {
  personId: string;
  /** The institution's patient record the study belongs to. */
  patientPk: string;
  studyInstanceUid: string;
  /** YYYY-MM-DD */
  studyDate: string | null;
  accessionNumber: string | null;
  description: string | null;
  modalities: string[];
  /** Body Part Examined of its series, upper case, each once. */
  bodyParts: string[];
  institutionId: string;
  institutionName: string;
  /** Where its report stands (preliminary, final, amended); null while there is none signed. */
  reportStatus: string | null;
  /** Who its patient record names (each null for a caller who sees patients masked). */
  patientName: DicomJsonPersonName | null;
  /** YYYY-MM-DD */
  patientBirthDate: string | null;
  patientSex: string | null;
}

const PATIENT_FACTS = `p.id::text AS "patientPk", p.institution_id::text AS "institutionId", p.patient_name AS "patientName",
  to_char(p.birth_date, 'YYYY-MM-DD') AS "birthDate", p.sex, p.attributes`;

/** The advisory lock key of linking ('MPI' in ASCII), apart from any other lock of the archive. */
const LINKING_LOCK = 0x4d5049;

/** The only SQL of the person index: persons, their records' links and identifiers, suggestions, institutions' rules. */
export class PersonRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Runs `work` while no other process links: two records of one person indexed at the same moment
   * would otherwise each see the other not yet linked and become two persons. Linking runs once per
   * new or changed patient record, not per instance, so one lock costs little.
   */
  async whileLinking<T>(work: () => Promise<T>): Promise<T> {
    for (;;) {
      const client = await this.pool.connect();
      try {
        const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_lock($1) AS locked', [LINKING_LOCK]);
        if (rows[0]!.locked) {
          try {
            return await work();
          } finally {
            await client.query('SELECT pg_advisory_unlock($1)', [LINKING_LOCK]);
          }
        }
      } finally {
        client.release();
      }
      // Waiting without a connection: jobs queued behind the lock must not take the pool the holder's queries need.
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  }

  async patient(patientPk: string): Promise<PatientRecordFacts | null> {
    const { rows } = await this.pool.query<PatientRecordFacts>(`SELECT ${PATIENT_FACTS} FROM patients p WHERE p.id = $1`, [patientPk]);
    return rows[0] ?? null;
  }

  async identifierRules(institutionId: string): Promise<IdentifierRule[]> {
    const { rows } = await this.pool.query<{ rules: IdentifierRule[] }>('SELECT rules FROM institution_identifier_rules WHERE institution_id = $1', [institutionId]);
    return rows[0]?.rules ?? [];
  }

  /** Rules already validated by the caller (identifier-extraction.ts's schema). */
  async setIdentifierRules(institutionId: string, rules: readonly IdentifierRule[], updatedBy: string): Promise<void> {
    await this.pool.query(
      `INSERT INTO institution_identifier_rules (institution_id, rules, updated_by) VALUES ($1, $2, $3)
       ON CONFLICT (institution_id) DO UPDATE SET rules = EXCLUDED.rules, updated_by = EXCLUDED.updated_by, updated_at = now()`,
      [institutionId, JSON.stringify(rules), updatedBy],
    );
  }

  /** Replaces a record's identifiers with the ones extracted now. */
  async replaceIdentifiers(patientPk: string, identifiers: readonly StoredIdentifier[]): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('DELETE FROM person_identifiers WHERE patient_pk = $1', [patientPk]);
      if (identifiers.length === 0) return;
      await client.query(
        `INSERT INTO person_identifiers (patient_pk, kind, issuer, match_hash, sealed_value)
         SELECT $1, * FROM unnest($2::text[], $3::text[], $4::bytea[], $5::bytea[])`,
        [patientPk, identifiers.map((i) => i.kind), identifiers.map((i) => i.issuer), identifiers.map((i) => i.matchHash), identifiers.map((i) => i.sealedValue)],
      );
    });
  }

  async identifiersOf(patientPks: readonly string[]): Promise<Map<string, StoredIdentifier[]>> {
    const { rows } = await this.pool.query<StoredIdentifier & { patientPk: string }>(
      `SELECT patient_pk::text AS "patientPk", kind, issuer, match_hash AS "matchHash", sealed_value AS "sealedValue"
       FROM person_identifiers WHERE patient_pk = ANY($1::bigint[])`,
      [patientPks],
    );
    const byPatient = new Map<string, StoredIdentifier[]>();
    for (const { patientPk, ...identifier } of rows) byPatient.set(patientPk, [...(byPatient.get(patientPk) ?? []), identifier]);
    return byPatient;
  }

  /** Other records carrying any of these hashes. */
  async patientsWithHashes(patientPk: string, hashes: readonly Buffer[]): Promise<PatientRecordFacts[]> {
    if (hashes.length === 0) return [];
    const { rows } = await this.pool.query<PatientRecordFacts>(
      `SELECT ${PATIENT_FACTS} FROM patients p
       WHERE p.id <> $1 AND p.id IN (SELECT patient_pk FROM person_identifiers WHERE match_hash = ANY($2::bytea[]))`,
      [patientPk, hashes],
    );
    return rows;
  }

  /** Other records of the same birth date and sex: where weak matches are looked for (names are compared by the caller). */
  async patientsBornTheSameDay(patientPk: string, birthDate: string, sex: string): Promise<PatientRecordFacts[]> {
    const { rows } = await this.pool.query<PatientRecordFacts>(
      `SELECT ${PATIENT_FACTS} FROM patients p WHERE p.id <> $1 AND p.birth_date = $2::date AND p.sex = $3 LIMIT 500`,
      [patientPk, birthDate, sex],
    );
    return rows;
  }

  async linkOf(patientPk: string): Promise<PersonLink | null> {
    const { rows } = await this.pool.query<PersonLink>('SELECT person_id::text AS "personId", method FROM person_links WHERE patient_pk = $1', [patientPk]);
    return rows[0] ?? null;
  }

  async linksOf(patientPks: readonly string[]): Promise<Map<string, PersonLink>> {
    const { rows } = await this.pool.query<PersonLink & { patientPk: string }>(
      'SELECT patient_pk::text AS "patientPk", person_id::text AS "personId", method FROM person_links WHERE patient_pk = ANY($1::bigint[])',
      [patientPks],
    );
    return new Map(rows.map(({ patientPk, ...link }) => [patientPk, link]));
  }

  async membersOf(personId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ patientPk: string }>('SELECT patient_pk::text AS "patientPk" FROM person_links WHERE person_id = $1 ORDER BY patient_pk', [personId]);
    return rows.map((row) => row.patientPk);
  }

  /**
   * Points a record at a person (a new one when personId is null); returns the person. A manual
   * link names who and why; an automatic one never replaces a manual one (checked in the statement,
   * so a person's decision made while the job ran stands).
   */
  async link(patientPk: string, personId: string | null, how: { method: 'automatic'; sharedKinds: IdentifierKind[] } | { method: 'manual'; linkedBy: string; reason: string }): Promise<string | null> {
    const { rows } = await this.pool.query<{ personId: string }>(
      `WITH created AS (
         INSERT INTO persons (created_at) SELECT now() WHERE $2::bigint IS NULL RETURNING id
       ), person AS (
         SELECT $2::bigint AS id WHERE $2::bigint IS NOT NULL
         UNION ALL
         SELECT id FROM created
       )
       INSERT INTO person_links (patient_pk, person_id, method, shared_kinds, linked_by, reason)
       SELECT $1, person.id, $3, $4, $5, $6 FROM person
       ON CONFLICT (patient_pk) DO UPDATE SET person_id = EXCLUDED.person_id, method = EXCLUDED.method,
         shared_kinds = EXCLUDED.shared_kinds, linked_by = EXCLUDED.linked_by, reason = EXCLUDED.reason, linked_at = now()
       WHERE EXCLUDED.method = 'manual' OR person_links.method = 'automatic'
       RETURNING person_id::text AS "personId"`,
      [patientPk, personId, how.method, how.method === 'automatic' ? how.sharedKinds : [], how.method === 'manual' ? how.linkedBy : null, how.method === 'manual' ? how.reason : null],
    );
    return rows[0]?.personId ?? null;
  }

  /** Records a suggestion for a pair unless the pair already has one (open, accepted or dismissed). */
  async suggest(patientPk: string, otherPatientPk: string, reason: LinkSuggestion['reason'], conflicts: readonly string[]): Promise<void> {
    const [low, high] = BigInt(patientPk) < BigInt(otherPatientPk) ? [patientPk, otherPatientPk] : [otherPatientPk, patientPk];
    await this.pool.query(
      `INSERT INTO person_link_suggestions (patient_pk, other_patient_pk, reason, conflicts) VALUES ($1, $2, $3, $4)
       ON CONFLICT (patient_pk, other_patient_pk) DO NOTHING`,
      [low, high, reason, conflicts],
    );
  }

  /** Open suggestions, oldest first, each with its two records; with institutionIds, only those involving one of them. */
  async openSuggestions(institutionIds: readonly string[] | null, limit: number): Promise<LinkSuggestion[]> {
    const record = (alias: string) => `json_build_object('patientPk', ${alias}.id::text, 'personId', (SELECT person_id::text FROM person_links WHERE patient_pk = ${alias}.id),
      'patientId', ${alias}.patient_id, 'patientName', ${alias}.patient_name, 'birthDate', to_char(${alias}.birth_date, 'YYYY-MM-DD'), 'sex', ${alias}.sex,
      'institutionId', ${alias}.institution_id::text, 'institutionName', (SELECT name FROM institutions WHERE id = ${alias}.institution_id),
      'studyCount', (SELECT count(*) FROM studies WHERE patient_pk = ${alias}.id))`;
    const { rows } = await this.pool.query<LinkSuggestion>(
      `SELECT s.id::text, s.patient_pk::text AS "patientPk", s.other_patient_pk::text AS "otherPatientPk", s.reason, s.conflicts,
              ARRAY[a.institution_id::text, b.institution_id::text] AS "institutionIds", json_build_array(${record('a')}, ${record('b')}) AS records, s.created_at AS "createdAt"
       FROM person_link_suggestions s JOIN patients a ON a.id = s.patient_pk JOIN patients b ON b.id = s.other_patient_pk
       WHERE s.status = 'open' AND ($1::bigint[] IS NULL OR a.institution_id = ANY($1) OR b.institution_id = ANY($1))
       ORDER BY s.created_at, s.id LIMIT $2`,
      [institutionIds, limit],
    );
    return rows;
  }

  /** Closes the open suggestions between any two records of one person (they are one now). */
  async acceptSuggestionsWithin(personId: string, decidedBy: string, reason: string): Promise<void> {
    await this.pool.query(
      `UPDATE person_link_suggestions s SET status = 'accepted', decided_by = $2, decision_reason = $3, decided_at = now()
       FROM person_links a, person_links b
       WHERE s.status = 'open' AND a.patient_pk = s.patient_pk AND b.patient_pk = s.other_patient_pk AND a.person_id = $1 AND b.person_id = $1`,
      [personId, decidedBy, reason],
    );
  }

  /** Dismisses an open suggestion; with institutionIds, only one involving one of them. */
  async dismissSuggestion(id: string, institutionIds: readonly string[] | null, decidedBy: string, reason: string): Promise<boolean> {
    const { rowCount } = await this.pool.query(
      `UPDATE person_link_suggestions s SET status = 'dismissed', decided_by = $3, decision_reason = $4, decided_at = now()
       WHERE s.id = $1 AND s.status = 'open'
         AND ($2::bigint[] IS NULL OR EXISTS (SELECT 1 FROM patients p WHERE p.id IN (s.patient_pk, s.other_patient_pk) AND p.institution_id = ANY($2)))`,
      [id, institutionIds, decidedBy, reason],
    );
    return rowCount === 1;
  }

  /** Records never linked (new since the last pass, or their job lost), older than the grace period. */
  async awaitingLink(graceSeconds: number, limit: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT p.id::text FROM patients p
       WHERE NOT EXISTS (SELECT 1 FROM person_links l WHERE l.patient_pk = p.id) AND p.updated_at < now() - make_interval(secs => $1)
       ORDER BY p.id LIMIT $2`,
      [graceSeconds, limit],
    );
    return rows.map((row) => row.id);
  }

  /** Every record of an institution, for re-linking after its rules changed. */
  async patientsOfInstitution(institutionId: string): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>('SELECT id::text FROM patients WHERE institution_id = $1 ORDER BY id', [institutionId]);
    return rows.map((row) => row.id);
  }

  /**
   * The studies of these persons the caller may see, newest first: the same visibility condition as
   * QIDO and the priors list (visibility-sql.ts), so the person index widens no one's view.
   */
  async visibleStudies(personIds: readonly string[], visibility: Visibility): Promise<PersonStudy[]> {
    // The persons' records first, then their studies: two statements, not a join, because records
    // and studies are keyed (and, on Citus, distributed) differently; each study carries a copy of
    // its record's columns (migration 036).
    const { rows: links } = await this.pool.query<{ patientPk: string; personId: string }>(
      'SELECT patient_pk::text AS "patientPk", person_id::text AS "personId" FROM person_links WHERE person_id = ANY ($1::bigint[])',
      [personIds],
    );
    if (links.length === 0) return [];
    const personOf = new Map(links.map((link) => [link.patientPk, link.personId]));
    const values: unknown[] = [[...personOf.keys()]];
    const visible = visibilityCondition(visibility, (value) => `$${values.push(value)}`) ?? 'true';
    const { rows } = await this.pool.query<Omit<PersonStudy, 'personId'>>(
      `SELECT st.patient_pk::text AS "patientPk", st.study_instance_uid AS "studyInstanceUid", to_char(st.study_date, 'YYYY-MM-DD') AS "studyDate",
              st.accession_number AS "accessionNumber", st.description, st.modalities,
              ARRAY(SELECT DISTINCT upper(se.body_part) FROM series se WHERE se.study_pk = st.id AND se.study_instance_uid = st.study_instance_uid AND se.body_part <> '' ORDER BY 1) AS "bodyParts",
              st.institution_id::text AS "institutionId", i.name AS "institutionName",
              (SELECT r.status FROM reports r WHERE r.study_instance_uid = st.study_instance_uid AND r.status <> 'draft') AS "reportStatus",
              ${visibility.maskIdentity ? 'NULL' : 'st.patient_name'} AS "patientName", ${visibility.maskIdentity ? 'NULL' : "to_char(st.patient_birth_date, 'YYYY-MM-DD')"} AS "patientBirthDate",
              ${visibility.maskIdentity ? 'NULL' : 'st.patient_sex'} AS "patientSex"
       FROM studies st${patientRecordJoin(visibility)} JOIN institutions i ON i.id = st.institution_id
       WHERE st.patient_pk = ANY ($1::bigint[]) AND ${visible}
       ORDER BY st.study_date DESC NULLS LAST, st.id DESC LIMIT 1000`,
      values,
    );
    return rows.map((row) => ({ personId: personOf.get(row.patientPk)!, ...row }));
  }

  /** The person a study's patient record is linked to, or null while it is not linked. */
  async personOfStudy(studyInstanceUid: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ personId: string }>(
      'SELECT l.person_id::text AS "personId" FROM studies st JOIN person_links l ON l.patient_pk = st.patient_pk WHERE st.study_instance_uid = $1',
      [studyInstanceUid],
    );
    return rows[0]?.personId ?? null;
  }

  /** Persons whose records carry this hash. */
  async personsWithHash(matchHash: Buffer): Promise<string[]> {
    const { rows } = await this.pool.query<{ personId: string }>(
      `SELECT DISTINCT l.person_id::text AS "personId" FROM person_identifiers i JOIN person_links l ON l.patient_pk = i.patient_pk
       WHERE i.match_hash = $1 ORDER BY 1`,
      [matchHash],
    );
    return rows.map((row) => row.personId);
  }
}
