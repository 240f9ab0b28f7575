import type pg from 'pg';

/**
 * A synthetic regional index written straight into the real schema with SQL (not the ingest path):
 * 40 hospitals, each its own institution with one import source ('SYNH0'…'SYNH39'), `patients`
 * patients ('P' + 8 digits, issuer 'SYN' + hospital) and `studies` studies over ten years
 * ('2.25.' + (900000000000 + n), accession 'SYN' + 9 digits), so queries meet the table sizes
 * they would in production. Shared by bench:queries and bench:retrieve.
 */
export async function addSyntheticIndex(pool: pg.Pool, size: { patients: number; studies: number }): Promise<void> {
  // 40 hospitals, each its own institution with one import source: as a city's regional index would be.
  await pool.query(`INSERT INTO institutions (code, name, kind) SELECT 'SYNH' || i, 'synthetic hospital ' || i, 'hospital' FROM generate_series(0, 39) AS i`);
  await pool.query(`INSERT INTO sources (via, name, institution_id) SELECT 'import', 'synthetic', id FROM institutions WHERE code LIKE 'SYNH%'`);
  // Names drawn from common surnames and given names, in the folded search-key form the index stores.
  await pool.query(
    `WITH names AS (
       SELECT n, (ARRAY['王','李','张','刘','陈','杨','黄','赵','吴','周','徐','孙','马','朱','胡'])[1 + n % 15] AS family,
              (ARRAY['伟','芳','娜','敏','静','丽','强','磊','军','洋','勇','艳','杰','娟','涛','明','超','秀英','小东','建华'])[1 + (n / 15) % 20] AS given,
              (ARRAY['wang','li','zhang','liu','chen','yang','huang','zhao','wu','zhou','xu','sun','ma','zhu','hu'])[1 + n % 15] AS family_latin
       FROM generate_series(1, $1::int) AS n)
     INSERT INTO patients (issuer, patient_id, source_id, institution_id, name_search, birth_date, sex, other_patient_ids, attributes)
     SELECT 'SYN' || (n % 40), 'P' || lpad(n::text, 8, '0'), s.id, s.institution_id,
            '| ' || family_latin || ' | ' || family || ' ' || given || ' |', date '1940-01-01' + (n % 25000),
            CASE WHEN n % 2 = 0 THEN 'F' ELSE 'M' END,
            CASE WHEN n % 3 = 0 THEN ARRAY['GB11643|500199' || lpad(n::text, 12, '0')] ELSE '{}' END, '{}'::jsonb
     FROM names JOIN institutions i ON i.code = 'SYNH' || (n % 40) JOIN sources s ON s.institution_id = i.id`,
    [size.patients],
  );
  await pool.query(
    `INSERT INTO studies (study_instance_uid, patient_pk, source_id, institution_id, study_date, accession_number, description,
                          institution_name, modalities, number_of_series, number_of_instances, attributes)
     SELECT '2.25.' || (900000000000 + n), p.id, p.source_id, p.institution_id, date '2015-01-01' + (n * 37 % 3650),
            'SYN' || lpad(n::text, 9, '0'), 'synthetic study',
            'hospital ' || (n % 40), ARRAY[(ARRAY['CT','MR','DX','CR','US','MG'])[1 + n % 6]], 1, 1 + n % 300, '{}'::jsonb
     FROM generate_series(1, $1::int) AS n, LATERAL (SELECT 1 + n % $2::int AS m) AS owner
     JOIN patients p ON p.issuer = 'SYN' || (owner.m % 40) AND p.patient_id = 'P' || lpad(owner.m::text, 8, '0')`,
    [size.studies, size.patients],
  );
}
