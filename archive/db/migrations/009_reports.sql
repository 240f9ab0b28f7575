-- Reports (issue 15, 初诊 + 审核): one report per study, its server-side draft, and every signed version.

-- Who may report and how they sign (set by administrators): 职称, 执业证号 and whether they may verify (审核).
ALTER TABLE users ADD COLUMN professional_title text;
ALTER TABLE users ADD COLUMN licence_number text;
ALTER TABLE users ADD COLUMN may_verify_reports boolean NOT NULL DEFAULT false;

-- A centre reports in two levels (初诊 then 审核 by another user) or, when small, one (a verifier signs final at once).
ALTER TABLE institutions ADD COLUMN report_signing_levels smallint NOT NULL DEFAULT 2 CHECK (report_signing_levels IN (1, 2));

CREATE TABLE reports (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  study_instance_uid    text NOT NULL UNIQUE,
  -- The study's owner: the report is seen as the study is, and its SR is stored on this institution's behalf.
  study_institution_id  bigint NOT NULL REFERENCES institutions (id),
  workitem_uid          text,
  status                text NOT NULL DEFAULT 'draft' CHECK (status IN ('draft', 'preliminary', 'final', 'amended')),
  -- What the editor autosaves; draft_revision is the optimistic lock a save must name.
  draft                 jsonb NOT NULL,
  draft_revision        integer NOT NULL DEFAULT 0,
  draft_updated_at      timestamptz NOT NULL DEFAULT now(),
  draft_updated_by      bigint REFERENCES users (id),
  -- The newest signed findings and impression, for full-text search (Chinese included: ILIKE over a
  -- trigram index; pg_trgm keeps multibyte characters in a UTF8 database).
  search_text           text NOT NULL DEFAULT '',
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX reports_by_institution ON reports (study_institution_id);

-- A signed version never changes: a correction is a new row (an amendment) with its reason.
CREATE TABLE report_versions (
  report_id             bigint NOT NULL REFERENCES reports (id),
  version               integer NOT NULL CHECK (version >= 1),
  status                text NOT NULL CHECK (status IN ('preliminary', 'final', 'amended')),
  content               jsonb NOT NULL,
  amendment_reason      text,
  -- Assigned at signing so that the SR job, however often it runs, writes the same object.
  sr_sop_instance_uid   text NOT NULL UNIQUE,
  sr_series_instance_uid text NOT NULL,
  created_at            timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (report_id, version),
  CHECK ((status = 'amended') = (amendment_reason IS NOT NULL))
);

-- Each signature: who, when, in which role, with the title, licence and institution they had then.
CREATE TABLE report_signatures (
  report_id             bigint NOT NULL,
  version               integer NOT NULL,
  role                  text NOT NULL CHECK (role IN ('preliminary', 'final')),
  user_id               bigint NOT NULL REFERENCES users (id),
  name                  text NOT NULL,
  professional_title    text,
  licence_number        text,
  institution           text NOT NULL,
  signed_at             timestamptz NOT NULL,
  PRIMARY KEY (report_id, version, role),
  FOREIGN KEY (report_id, version) REFERENCES report_versions (report_id, version)
);

-- Templates and phrases a centre adds to the shipped set (archive/reading/report-templates.ts).
CREATE TABLE report_templates (
  id                    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  institution_id        bigint NOT NULL REFERENCES institutions (id),
  kind                  text NOT NULL CHECK (kind IN ('template', 'phrase')),
  modality              text,
  body_part             text,
  language              text NOT NULL CHECK (language IN ('zh-CN', 'en')),
  name                  text NOT NULL,
  findings              text NOT NULL DEFAULT '',
  impression            text NOT NULL DEFAULT '',
  created_by            bigint NOT NULL REFERENCES users (id),
  created_at            timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX report_templates_by_institution ON report_templates (institution_id, modality);

DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE INDEX reports_text_trigrams ON reports USING gin (search_text gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is not available (%); reports are searched without an index', SQLERRM;
END $$;
