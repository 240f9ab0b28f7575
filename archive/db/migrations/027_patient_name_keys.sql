-- Index-backed person-name search (issue 18, "Index at scale"). QIDO-RS and C-FIND match a
-- patient's name with a regular expression over patients.name_search ('| wang xiaodong | 王 小东 |',
-- archive/query/person-name.ts); a regex has no b-tree, and the trigram index of migration 002
-- cannot help a one-character Han surname or a short Latin one, so a name query walked the
-- caller's studies and read every patient: 333 ms for a common full name, 121 ms for an absent
-- surname on 200,001 studies. Here every name gets the keys a prefix can be looked up by, in a
-- b-tree under COLLATE "C" (LIKE 'prefix%' is a range scan whatever the database's collation, on the
-- Debian server and the embedded one alike, with no extension). The regex stays the exact test;
-- the keys only narrow the patients it runs on, so a key may match more than the regex, never less.
--
-- Keys of one component group g (spaces removed, so 王^小东 and 王小东 are one key):
--   '|' || g                     the whole group: literal matching ('wang^xiao*', '王*');
--   g from each component start  fuzzy matching ('xiao' finds Wang^XiaoDong);
--   g from each Han character    fuzzy matching of a Chinese name written as one component ('小东').
-- Characters from U+2E80 on count as Han here: every Han character is among them, and a key too many
-- costs only space. Keys are cut at 64 characters (a PN component group holds at most 64); the
-- query side cuts its prefixes the same way (archive/query/person-name.ts, nameKeyPrefix).

CREATE FUNCTION person_name_keys(name_search text) RETURNS text[]
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE AS $$
DECLARE
  grp  text;
  keys text[] := '{}';
BEGIN
  FOREACH grp IN ARRAY string_to_array(name_search, '|') LOOP
    grp := btrim(grp, ' ');
    CONTINUE WHEN grp = '';
    keys := keys || ('|' || left(replace(grp, ' ', ''), 64));
    FOR i IN 1 .. length(grp) LOOP
      IF substr(grp, i, 1) <> ' ' AND (i = 1 OR substr(grp, i - 1, 1) = ' ' OR ascii(substr(grp, i, 1)) >= 11904) THEN
        keys := keys || left(replace(substr(grp, i), ' ', ''), 64);
      END IF;
    END LOOP;
  END LOOP;
  RETURN ARRAY(SELECT DISTINCT unnest(keys));
END $$;

-- The regex test itself, priced as what it is. PostgreSQL prices `~` like an equality, so with a
-- person-name condition it would rather run the regex over every patient (a sequential scan of the
-- table, 80 ms at 25,000 patients) than look the keys up first. Not a SQL function: one would be
-- inlined back into a bare `~`, and its cost lost. Dearer than a key probe (about 4.5), so that on a
-- patient row the probe runs first and the regex only on the patients that have the key.
CREATE FUNCTION person_name_matches(search_keys text, pattern text) RETURNS boolean
LANGUAGE plpgsql IMMUTABLE STRICT PARALLEL SAFE COST 10000 AS $$
BEGIN
  RETURN search_keys ~ pattern;
END $$;

CREATE TABLE patient_name_keys (
  key        text COLLATE "C" NOT NULL,
  patient_pk bigint NOT NULL REFERENCES patients (id) ON DELETE CASCADE,
  PRIMARY KEY (key, patient_pk)
);
-- The other way in: whether one patient (of a study the query walks newest first) has a key. The
-- planner takes this for a common prefix ('王*': stop after the first 25 studies that match) and the
-- primary key for a rare one (an absent surname: no patient to test at all).
CREATE INDEX patient_name_keys_by_patient ON patient_name_keys (patient_pk, key);

-- Kept by the database, so every writer of patients (the indexer, the person index's merges, a bulk
-- load with COPY) keeps the keys without knowing of them.
CREATE FUNCTION patient_name_keys_refresh() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF TG_OP = 'UPDATE' THEN
    DELETE FROM patient_name_keys WHERE patient_pk = NEW.id;
  END IF;
  INSERT INTO patient_name_keys (key, patient_pk)
  SELECT key, NEW.id FROM unnest(person_name_keys(NEW.name_search)) AS key;
  RETURN NULL;
END $$;

CREATE TRIGGER patients_name_keys_inserted AFTER INSERT ON patients
  FOR EACH ROW WHEN (NEW.name_search IS NOT NULL) EXECUTE FUNCTION patient_name_keys_refresh();
-- Only when the name changes: the indexer upserts the patient row with every instance it indexes.
CREATE TRIGGER patients_name_keys_updated AFTER UPDATE OF name_search ON patients
  FOR EACH ROW WHEN (OLD.name_search IS DISTINCT FROM NEW.name_search) EXECUTE FUNCTION patient_name_keys_refresh();

-- The names already indexed.
INSERT INTO patient_name_keys (key, patient_pk)
SELECT DISTINCT key, p.id FROM patients p, unnest(person_name_keys(p.name_search)) AS key WHERE p.name_search IS NOT NULL;
