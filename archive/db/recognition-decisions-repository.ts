import type pg from 'pg';
import type { OrderKind, RecognitionDecisionEntry } from '../recognition/recognition-wire.ts';

/** What a decision or a view copies from its study, as it is at that moment. */
export interface RecognitionStudyFacts {
  studyPk: string;
  studyInstanceUid: string;
  institutionId: string;
  institutionName: string;
  personId: string | null;
  /** The study's first imaging modality (documents, key objects and presentation states skipped). */
  modality: string | null;
}

export interface NewRecognitionDecision {
  study: RecognitionStudyFacts;
  decidingInstitutionId: string;
  decidedByUserId: string;
  decidedByName: string;
  decision: 'recognised' | 'not-recognised';
  reasonCode: string | null;
  reasonText: string | null;
  patientInformed: boolean;
  orderKind: OrderKind;
  orderValue: string;
  hrMark: string | null;
}

/** A stored decision, as the feedback lists it (no patient data: the study names it). */
export type StoredRecognitionDecision = RecognitionDecisionEntry;

export interface NewPriorView {
  study: RecognitionStudyFacts;
  viewingInstitutionId: string;
  viewedByUserId: string;
  purpose: string;
  hrMark: string | null;
  viewedOn: string;
}

// Not images: what DICOM stores beside them in a study.
const DOCUMENT_MODALITIES = ['SR', 'KO', 'PR', 'DOC'];

/** The only SQL of recognition decisions and prior views (migration 020). */
export class RecognitionDecisionsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async studyFacts(studyInstanceUid: string): Promise<RecognitionStudyFacts | null> {
    const { rows } = await this.pool.query<RecognitionStudyFacts>(
      `SELECT st.id::text AS "studyPk", st.study_instance_uid AS "studyInstanceUid", st.institution_id::text AS "institutionId",
              ins.name AS "institutionName", pl.person_id::text AS "personId",
              (SELECT m FROM unnest(st.modalities) AS m WHERE m <> ALL ($2::text[]) LIMIT 1) AS modality
       FROM studies st JOIN institutions ins ON ins.id = st.institution_id LEFT JOIN person_links pl ON pl.patient_pk = st.patient_pk
       WHERE st.study_instance_uid = $1`,
      [studyInstanceUid, DOCUMENT_MODALITIES],
    );
    return rows[0] ?? null;
  }

  async insertDecision(decision: NewRecognitionDecision): Promise<StoredRecognitionDecision> {
    const { rows } = await this.pool.query<{ id: string }>(
      `INSERT INTO recognition_decisions (study_pk, person_id, study_institution_id, deciding_institution_id, decided_by_user_id, decided_by_name,
                                          decision, reason_code, reason_text, patient_informed, order_kind, order_value, hr_mark, modality, study_instance_uid)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING id::text AS id`,
      [
        decision.study.studyPk,
        decision.study.personId,
        decision.study.institutionId,
        decision.decidingInstitutionId,
        decision.decidedByUserId,
        decision.decidedByName,
        decision.decision,
        decision.reasonCode,
        decision.reasonText,
        decision.patientInformed,
        decision.orderKind,
        decision.orderValue,
        decision.hrMark,
        decision.study.modality,
        decision.study.studyInstanceUid,
      ],
    );
    const [stored] = await this.decisions({ id: rows[0]!.id });
    return stored!;
  }

  /**
   * A study's decisions, oldest first: all of them, or (`decidingInstitutionId`) only those one
   * institution made.
   */
  decisionsOn(studyPk: string, decidingInstitutionId: string | null): Promise<StoredRecognitionDecision[]> {
    return this.decisions({ studyPk, decidingInstitutionId });
  }

  /** Records a view once per study, user and day; true when this was the day's first. */
  async recordView(view: NewPriorView): Promise<boolean> {
    const result = await this.pool.query(
      `INSERT INTO prior_views (study_pk, person_id, study_institution_id, viewing_institution_id, viewed_by_user_id, purpose, hr_mark, modality, viewed_on, study_instance_uid)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
       ON CONFLICT (study_pk, viewed_by_user_id, viewed_on, study_instance_uid) DO NOTHING`,
      [view.study.studyPk, view.study.personId, view.study.institutionId, view.viewingInstitutionId, view.viewedByUserId, view.purpose, view.hrMark, view.study.modality, view.viewedOn, view.study.studyInstanceUid],
    );
    return result.rowCount === 1;
  }

  private async decisions(filter: { id: string } | { studyPk: string; decidingInstitutionId: string | null }): Promise<StoredRecognitionDecision[]> {
    const [condition, values] =
      'id' in filter ? ['d.id = $1', [filter.id]] : ['d.study_pk = $1 AND ($2::bigint IS NULL OR d.deciding_institution_id = $2)', [filter.studyPk, filter.decidingInstitutionId]];
    const { rows } = await this.pool.query<StoredRecognitionDecision>(
      `SELECT d.id::text AS id, st.study_instance_uid AS "studyInstanceUid", d.deciding_institution_id::text AS "decidingInstitutionId",
              ins.name AS "decidingInstitutionName", d.decided_by_name AS "decidedByName", d.decision, d.reason_code AS "reasonCode",
              d.reason_text AS "reasonText", d.patient_informed AS "patientInformed",
              json_build_object('kind', d.order_kind, 'value', d.order_value) AS "order", d.hr_mark AS "hrMark", d.modality,
              to_char(d.decided_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS "decidedAt"
       FROM recognition_decisions d JOIN studies st ON st.study_instance_uid = d.study_instance_uid AND st.id = d.study_pk JOIN institutions ins ON ins.id = d.deciding_institution_id
       WHERE ${condition}
       ORDER BY d.decided_at, d.id`,
      values,
    );
    return rows;
  }
}
