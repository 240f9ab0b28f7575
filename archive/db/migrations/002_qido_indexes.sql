-- Indexes for the hot QIDO-RS searches (archive/db/query-repository.ts).

-- Every study search is ordered newest first with undated studies last. An index in exactly that
-- order lets the first page of an unfiltered or date-range search read only the entries it returns.
DROP INDEX studies_by_date;
CREATE INDEX studies_by_date_recent ON studies (study_date DESC NULLS LAST, id DESC);

-- Patient ID and Accession Number are matched exactly or by prefix ('QS001*'). text_pattern_ops
-- serves both, whatever the database collation (a default b-tree serves LIKE only under "C").
DROP INDEX patients_by_patient_id;
CREATE INDEX patients_by_patient_id ON patients (patient_id text_pattern_ops);
DROP INDEX studies_by_accession;
CREATE INDEX studies_by_accession ON studies (accession_number text_pattern_ops);

-- A name matches one component group anywhere in name_search ('| wang xiaodong | 王 小东 |'),
-- which a b-tree cannot serve, so the b-tree goes. A trigram index can, for Latin and Han text
-- alike. pg_trgm ships with PostgreSQL and is a trusted extension, but a server may lack it or
-- refuse it; names are then matched by reading the patients table, which is correct, only slower.
DROP INDEX patients_by_name;
DO $$
BEGIN
  CREATE EXTENSION IF NOT EXISTS pg_trgm;
  CREATE INDEX patients_by_name_trigrams ON patients USING gin (name_search gin_trgm_ops);
EXCEPTION WHEN OTHERS THEN
  RAISE NOTICE 'pg_trgm is not available (%); person names are matched without an index', SQLERRM;
END $$;
