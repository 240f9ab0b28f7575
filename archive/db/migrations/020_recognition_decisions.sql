-- Recognition decisions (互认, issue 16; docs/recognition.md "Recognition decisions"): what a clinician
-- decided about another institution's study, and which such studies were opened at all, the
-- denominator of the region's recognition rate. Each row copies what the statistics count by
-- (institutions, person, HR mark, modality) as it was at that moment: a mark lapses and a record is
-- relinked later, and the figures of a past month must not move with them.

CREATE TABLE recognition_decisions (
  id                       bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_pk                 bigint NOT NULL REFERENCES studies (id),
  person_id                bigint REFERENCES persons (id),
  study_institution_id     bigint REFERENCES institutions (id),
  deciding_institution_id  bigint NOT NULL REFERENCES institutions (id),
  decided_by_user_id       bigint NOT NULL REFERENCES users (id),
  decided_by_name          text NOT NULL,
  decision                 text NOT NULL CHECK (decision IN ('recognised', 'not-recognised')),
  -- A code of the deciding institution's reason list (recognitionDecisionSchema), null when recognised.
  reason_code              text,
  reason_text              text,
  -- The national measures ask a doctor who repeats an examination to tell the patient why.
  patient_informed         boolean NOT NULL,
  order_kind               text NOT NULL CHECK (order_kind IN ('accession-number', 'order-number', 'text')),
  order_value              text NOT NULL,
  hr_mark                  text /* the mark the study carried when decided, null if none */,
  modality                 text,
  decided_at               timestamptz NOT NULL DEFAULT now(),
  CHECK (decision = 'recognised' OR (reason_code IS NOT NULL AND patient_informed))
);
-- Counted per institution and month, from either side: the decider's and the study's.
CREATE INDEX recognition_decisions_by_decider ON recognition_decisions (deciding_institution_id, decided_at);
CREATE INDEX recognition_decisions_by_study_institution ON recognition_decisions (study_institution_id, decided_at);
-- A study's decisions, the feedback its institution reads.
CREATE INDEX recognition_decisions_by_study ON recognition_decisions (study_pk, decided_at);

-- A prior of another institution opened by a clinician stating a purpose of use, once per user and
-- day: the priors a recognition could have been decided on (eligible: hr_mark IS NOT NULL).
CREATE TABLE prior_views (
  id                      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_pk                bigint NOT NULL REFERENCES studies (id),
  person_id               bigint REFERENCES persons (id),
  study_institution_id    bigint REFERENCES institutions (id),
  viewing_institution_id  bigint NOT NULL REFERENCES institutions (id),
  viewed_by_user_id       bigint NOT NULL REFERENCES users (id),
  purpose                 text,
  hr_mark                 text,
  modality                text,
  viewed_on               date NOT NULL,
  viewed_at               timestamptz NOT NULL DEFAULT now(),
  UNIQUE (study_pk, viewed_by_user_id, viewed_on)
);
CREATE INDEX prior_views_by_viewer ON prior_views (viewing_institution_id, viewed_on);
CREATE INDEX prior_views_by_study_institution ON prior_views (study_institution_id, viewed_on);
