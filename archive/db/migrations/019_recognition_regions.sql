-- The mutual-recognition mark's configuration (互认, issue 16): a region's recognised examination
-- items, abbreviation and minimum QC grades, its list of non-recognition reasons, and which
-- institutions are accredited for which items. The mark itself is computed (archive/recognition),
-- never stored.

-- One row per region that configures recognition. Either column may be NULL: that part comes from
-- the nearest ancestor region that sets it, else from the shipped defaults.
-- configuration: recognitionRegionSchema; reasons: recognitionReasonsSchema (validated where they enter).
CREATE TABLE recognition_configurations (
  region_id          bigint PRIMARY KEY REFERENCES regions (id),
  configuration      jsonb,
  reasons            jsonb,
  updated_by_name    text NOT NULL,
  updated_at         timestamptz NOT NULL DEFAULT now()
);

-- 互认资质: an institution accredited for one examination item from valid_from to valid_until
-- (NULL: until withdrawn). Withdrawing sets valid_until and records who and why; rows are never
-- deleted, so the history of who was accredited when stays.
CREATE TABLE accreditations (
  id                 bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  institution_id     bigint NOT NULL REFERENCES institutions (id),
  item_code          text NOT NULL,
  valid_from         date NOT NULL,
  valid_until        date CHECK (valid_until IS NULL OR valid_until >= valid_from),
  granted_by_name    text NOT NULL,
  granted_at         timestamptz NOT NULL DEFAULT now(),
  withdrawn_by_name  text,
  withdrawn_at       timestamptz,
  withdrawal_reason  text CHECK (length(withdrawal_reason) <= 500)
);
CREATE INDEX accreditations_by_institution ON accreditations (institution_id, item_code);
