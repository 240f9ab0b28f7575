import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import { personNameSearchKeys } from '../archive/dicom/normalize.ts';

/**
 * A synthetic regional index written straight into the real schema with COPY (not the ingest path),
 * so queries meet the table sizes and the data shapes they would in production. 50 hospitals, each
 * its own institution with one import source ('SYNH0'…'SYNH49'); `patients` patient records
 * ('P' + 8 digits, issuer 'SYN' + hospital) with Chinese names and their pinyin (and a few Latin-only
 * names), whose search keys are made by the indexer's own function (personNameSearchKeys) and whose
 * patient_name_keys the database derives as it does for every patient (and study_name_keys, by
 * study_name_keys_fill() after the studies' COPY); pairs of records at two hospitals share a
 * national resident ID (one person, for the priors). `studies` studies over ten
 * years ('2.25.' + (900000000000 + n), accession 'SYN' + 9 digits), two per patient record when
 * there are twice as many studies as patients.
 *
 * With `instances`, every study gets 3 to 5 series of 5 instances (20 on average, each with its
 * receipt and a realistic metadata document), and every 5,000th study (the first included) a CT
 * series of 500 slices, the one WADO-RS metadata is measured on. Without, studies carry only their
 * counts, as bench:retrieve needs. Shared by bench:queries, bench:index and bench:retrieve.
 */
export interface SyntheticSize {
  patients: number;
  studies: number;
  instances?: boolean;
}

export const SYNTHETIC_INSTITUTIONS = 50;
/** Every study this far apart (the first included) has a series of LARGE_SERIES_SLICES slices. */
export const LARGE_SERIES_EVERY = 5000;
export const LARGE_SERIES_SLICES = 500;
export const INSTANCES_PER_SERIES = 5;

/** Surnames weighted roughly as they occur (王, 李 and 张 are each about one Chinese in fourteen). */
const FAMILY: [han: string, pinyin: string, weight: number][] = [
  ['王', 'WANG', 7], ['李', 'LI', 7], ['张', 'ZHANG', 6], ['刘', 'LIU', 5], ['陈', 'CHEN', 4], ['杨', 'YANG', 3], ['黄', 'HUANG', 2],
  ['赵', 'ZHAO', 2], ['吴', 'WU', 2], ['周', 'ZHOU', 2], ['徐', 'XU', 1], ['孙', 'SUN', 1], ['马', 'MA', 1], ['朱', 'ZHU', 1],
  ['胡', 'HU', 1], ['郭', 'GUO', 1], ['何', 'HE', 1], ['高', 'GAO', 1], ['林', 'LIN', 1], ['罗', 'LUO', 1], ['欧阳', 'OUYANG', 1],
];
const GIVEN: [han: string, pinyin: string][] = [
  ['伟', 'WEI'], ['芳', 'FANG'], ['娜', 'NA'], ['敏', 'MIN'], ['静', 'JING'], ['丽', 'LI'], ['强', 'QIANG'], ['磊', 'LEI'], ['军', 'JUN'],
  ['洋', 'YANG'], ['勇', 'YONG'], ['艳', 'YAN'], ['杰', 'JIE'], ['娟', 'JUAN'], ['涛', 'TAO'], ['明', 'MING'], ['超', 'CHAO'],
  ['秀英', 'XIUYING'], ['小东', 'XIAODONG'], ['建华', 'JIANHUA'], ['志强', 'ZHIQIANG'], ['桂英', 'GUIYING'], ['海燕', 'HAIYAN'],
  ['晓明', 'XIAOMING'], ['玉兰', 'YULAN'], ['国强', 'GUOQIANG'], ['婷婷', 'TINGTING'], ['子涵', 'ZIHAN'], ['浩然', 'HAORAN'], ['雨桐', 'YUTONG'],
];
/** Residents without a Chinese name: recorded in Latin letters only. */
const LATIN_ONLY = ['SMITH^JOHN', 'NGUYEN^VAN AN', 'KIM^MINJUN', 'PETROV^IVAN', 'MULLER^ANNA', 'TANAKA^YUKI'];
const FAMILY_DRAW = FAMILY.flatMap(([han, pinyin, weight]) => Array.from({ length: weight }, () => [han, pinyin] as const));
const MODALITIES = ['CT', 'MR', 'DX', 'CR', 'US', 'MG'];

/** The patient record n's name as a sender writes it (alphabetic and ideographic groups). */
export function syntheticPatientName(n: number): { Alphabetic: string; Ideographic?: string } {
  if (n % 50 === 7) return { Alphabetic: LATIN_ONLY[(n / 50) % LATIN_ONLY.length | 0]! };
  const [familyHan, familyPinyin] = FAMILY_DRAW[(n * 7919) % FAMILY_DRAW.length]!;
  const [givenHan, givenPinyin] = GIVEN[(n * 104729 + (n >> 3)) % GIVEN.length]!;
  return { Alphabetic: `${familyPinyin}^${givenPinyin}`, Ideographic: `${familyHan}^${givenHan}` };
}

export const syntheticPatientId = (n: number) => `P${String(n).padStart(8, '0')}`;
export const syntheticStudyUid = (n: number) => `2.25.${900000000000 + n}`;
export const syntheticAccession = (n: number) => `SYN${String(n).padStart(9, '0')}`;
/** Studies are spread over ten years from 2015-01-01, in an order unrelated to their numbers. */
export const syntheticStudyDate = (n: number) => new Date(Date.UTC(2015, 0, 1) + ((n * 37) % 3650) * 86_400_000).toISOString().slice(0, 10);
export const syntheticModality = (n: number) => MODALITIES[n % MODALITIES.length]!;
/** Which patient record (1-based) a study belongs to. */
export const syntheticStudyOwner = (n: number, patients: number) => 1 + (n % patients);
export const hasLargeSeries = (n: number) => n % LARGE_SERIES_EVERY === 1;
export const seriesPerStudy = (n: number) => 3 + (n % 3);

export async function addSyntheticIndex(pool: pg.Pool, size: SyntheticSize): Promise<void> {
  await pool.query(
    `INSERT INTO institutions (code, name, kind) SELECT 'SYNH' || i, 'synthetic hospital ' || i, 'hospital' FROM generate_series(0, $1::int - 1) AS i`,
    [SYNTHETIC_INSTITUTIONS],
  );
  await pool.query(`INSERT INTO sources (via, name, institution_id) SELECT 'import', 'synthetic', id FROM institutions WHERE code LIKE 'SYNH%'`);
  const { rows } = await pool.query<{ hospital: number; institutionId: string; sourceId: string }>(
    `SELECT substr(i.code, 5)::int AS hospital, i.id::text AS "institutionId", s.id::text AS "sourceId"
     FROM institutions i JOIN sources s ON s.institution_id = i.id AND s.name = 'synthetic' WHERE i.code LIKE 'SYNH%'`,
  );
  const hospitals = new Map(rows.map((row) => [row.hospital, row]));
  const hospitalOf = (patient: number) => hospitals.get(patient % SYNTHETIC_INSTITUTIONS)!;
  const base = await nextIds(pool, ['patients', 'studies', 'series', 'instances', 'receipts']);

  // A patient record's columns: written to `patients`, and copied onto each of its studies as
  // migration 036's trigger would (the studies' triggers are off during their COPY).
  const patientOf = (m: number) => {
    const name = syntheticPatientName(m);
    const birthDate = new Date(Date.UTC(1940, 0, 1) + (m % 25000) * 86_400_000).toISOString().slice(0, 10);
    const sex = m % 2 === 0 ? 'F' : 'M';
    const attributes = {
      '00100010': { vr: 'PN', Value: [name] },
      '00100020': { vr: 'LO', Value: [syntheticPatientId(m)] },
      '00100021': { vr: 'LO', Value: [`SYN${m % SYNTHETIC_INSTITUTIONS}`] },
      '00100030': { vr: 'DA', Value: [birthDate.replace(/-/g, '')] },
      '00100040': { vr: 'CS', Value: [sex] },
    };
    // issuer, patient_id, patient_name, name_search, birth_date, sex, attributes
    return [`SYN${m % SYNTHETIC_INSTITUTIONS}`, syntheticPatientId(m), JSON.stringify(name), personNameSearchKeys([name]), birthDate, sex, JSON.stringify(attributes)];
  };

  await copy(pool, 'patients (id, source_id, institution_id, other_patient_ids, issuer, patient_id, patient_name, name_search, birth_date, sex, attributes)', function* () {
    for (let m = 1; m <= size.patients; m++) {
      const hospital = hospitalOf(m);
      // Records m and m+1 (m odd) are one person registered at two hospitals under one resident ID.
      const person = m % 2 === 1 ? m : m - 1;
      const residentId = person % 3 !== 0 ? `{GB11643|500199${String(person).padStart(12, '0')}}` : '{}';
      yield row([base.patients + m, hospital.sourceId, hospital.institutionId, residentId, ...patientOf(m)]);
    }
  });

  const seriesPk = (n: number, s: number) => base.series + (n - 1) * 6 + s;
  await copy(pool, 'studies (id, study_instance_uid, patient_pk, source_id, institution_id, study_date, study_time, accession_number, description, institution_name, modalities, number_of_series, number_of_instances, attributes, patient_issuer, patient_id, patient_name, patient_name_search, patient_birth_date, patient_sex, patient_attributes)', function* () {
    for (let n = 1; n <= size.studies; n++) {
      const owner = syntheticStudyOwner(n, size.patients);
      const hospital = hospitalOf(owner);
      const modality = syntheticModality(n);
      const series = size.instances ? seriesPerStudy(n) + (hasLargeSeries(n) ? 1 : 0) : 1;
      const instances = size.instances ? seriesPerStudy(n) * INSTANCES_PER_SERIES + (hasLargeSeries(n) ? LARGE_SERIES_SLICES : 0) : 1 + (n % 300);
      const modalities = hasLargeSeries(n) && modality !== 'CT' ? `{${modality},CT}` : `{${modality}}`;
      const attributes = {
        '00080020': { vr: 'DA', Value: [syntheticStudyDate(n).replace(/-/g, '')] },
        '00080030': { vr: 'TM', Value: ['093000'] },
        '00080050': { vr: 'SH', Value: [syntheticAccession(n)] },
        '00081030': { vr: 'LO', Value: [`${modality} 检查`] },
        '0020000D': { vr: 'UI', Value: [syntheticStudyUid(n)] },
        '00200010': { vr: 'SH', Value: [String(n)] },
      };
      yield row([
        base.studies + n, syntheticStudyUid(n), base.patients + owner, hospital.sourceId, hospital.institutionId, syntheticStudyDate(n), '093000',
        syntheticAccession(n), `${modality} 检查`, `synthetic hospital ${owner % SYNTHETIC_INSTITUTIONS}`, modalities, series, instances, JSON.stringify(attributes),
        ...patientOf(owner),
      ]);
    }
  }, { withoutTriggers: true });
  // Their name keys (migration 031) in one statement, as a bulk load does: the studies' triggers were off.
  await pool.query('SELECT study_name_keys_fill()');
  if (!size.instances) return setIdentities(pool);

  // The secondary indexes of the big tables are built once after the load, as a bulk load does:
  // sorting once is many times faster than ten million inserts into each b-tree. The same
  // definitions (the migrations') are recreated, so the schema measured is the real one.
  const { rows: deferred } = await pool.query<{ name: string; table: string; definition: string }>(
    `SELECT indexname AS name, tablename AS table, indexdef AS definition FROM pg_indexes i
     WHERE schemaname = current_schema() AND tablename IN ('series', 'instances', 'receipts')
       AND NOT EXISTS (SELECT 1 FROM pg_constraint c WHERE c.conname = i.indexname)`,
  );
  for (const { name } of deferred) await pool.query(`DROP INDEX ${name}`);

  const seriesUid = (n: number, s: number) => `${syntheticStudyUid(n)}.${s}`;
  const seriesOf = function* (n: number) {
    for (let s = 1; s <= seriesPerStudy(n); s++) yield { s, modality: syntheticModality(n), slices: INSTANCES_PER_SERIES };
    if (hasLargeSeries(n)) yield { s: 6, modality: 'CT', slices: LARGE_SERIES_SLICES };
  };
  await copy(pool, 'series (id, series_instance_uid, study_pk, study_instance_uid, institution_id, modality, series_number, description, body_part, performed_start_date, number_of_instances, attributes)', function* () {
    for (let n = 1; n <= size.studies; n++) {
      const hospital = hospitalOf(syntheticStudyOwner(n, size.patients));
      for (const { s, modality, slices } of seriesOf(n)) {
        const attributes = {
          '00080060': { vr: 'CS', Value: [modality] },
          '0008103E': { vr: 'LO', Value: [slices === LARGE_SERIES_SLICES ? 'CHEST 1.0 mm' : `series ${s}`] },
          '0020000E': { vr: 'UI', Value: [seriesUid(n, s)] },
          '00200011': { vr: 'IS', Value: [s] },
        };
        yield row([
          seriesPk(n, s), seriesUid(n, s), base.studies + n, syntheticStudyUid(n), hospital.institutionId, modality, s, attributes['0008103E'].Value[0]!, 'CHEST',
          syntheticStudyDate(n), slices, JSON.stringify(attributes),
        ]);
      }
    }
  }, { withoutTriggers: true });

  // Instances and their receipts, numbered alike: instance k's current version is receipt k.
  const eachInstance = function* () {
    let k = 0;
    for (let n = 1; n <= size.studies; n++) {
      for (const series of seriesOf(n)) {
        for (let number = 1; number <= series.slices; number++) yield { k: ++k, n, ...series, number, uid: `${seriesUid(n, series.s)}.${number}` };
      }
    }
  };
  const CT_IMAGE = '1.2.840.10008.5.1.4.1.1.2';
  // Receipts and instances side by side: two connections, two cores.
  const receipts = copy(pool, 'receipts (id, sop_instance_uid, sop_class_uid, study_instance_uid, series_instance_uid, transfer_syntax_uid, object_key, object_sha256, dataset_sha256, size_bytes, source_id, metadata, bulk_data, dataset_offset, deflated, character_set, indexed_at)', function* () {
    for (const instance of eachInstance()) {
      const hospital = hospitalOf(syntheticStudyOwner(instance.n, size.patients));
      const sha = instance.k.toString(16).padStart(64, '0');
      const z = (instance.number * 1.25).toFixed(2);
      // The attributes a CT slice carries that the viewer reads from WADO-RS metadata (about 1.5 KB as
      // JSON) for the series WADO-RS metadata is measured on; the identifying ones alone for the rest,
      // which no hot query reads, so that 10^7 receipts load in minutes, not an hour.
      const identifying =
        `"00080016":{"vr":"UI","Value":["${CT_IMAGE}"]},"00080018":{"vr":"UI","Value":["${instance.uid}"]},` +
        `"0020000D":{"vr":"UI","Value":["${syntheticStudyUid(instance.n)}"]},"0020000E":{"vr":"UI","Value":["${seriesUid(instance.n, instance.s)}"]},` +
        `"00200013":{"vr":"IS","Value":[${instance.number}]}`;
      const metadata = instance.slices !== LARGE_SERIES_SLICES ? `{${identifying}}` :
        `{"00080005":{"vr":"CS","Value":["ISO_IR 192"]},"00080016":{"vr":"UI","Value":["${CT_IMAGE}"]},"00080018":{"vr":"UI","Value":["${instance.uid}"]},` +
        `"00080020":{"vr":"DA","Value":["${syntheticStudyDate(instance.n).replace(/-/g, '')}"]},"00080050":{"vr":"SH","Value":["${syntheticAccession(instance.n)}"]},` +
        `"00080060":{"vr":"CS","Value":["${instance.modality}"]},"00080070":{"vr":"LO","Value":["SYNTHETIC"]},"00100020":{"vr":"LO","Value":["${syntheticPatientId(syntheticStudyOwner(instance.n, size.patients))}"]},` +
        `"0020000D":{"vr":"UI","Value":["${syntheticStudyUid(instance.n)}"]},"0020000E":{"vr":"UI","Value":["${seriesUid(instance.n, instance.s)}"]},` +
        `"00200011":{"vr":"IS","Value":[${instance.s}]},"00200013":{"vr":"IS","Value":[${instance.number}]},"00200032":{"vr":"DS","Value":[-175.0,-175.0,${z}]},` +
        `"00200037":{"vr":"DS","Value":[1,0,0,0,1,0]},"00201041":{"vr":"DS","Value":[${z}]},"00180050":{"vr":"DS","Value":[1.25]},` +
        `"00280002":{"vr":"US","Value":[1]},"00280004":{"vr":"CS","Value":["MONOCHROME2"]},"00280010":{"vr":"US","Value":[512]},"00280011":{"vr":"US","Value":[512]},` +
        `"00280030":{"vr":"DS","Value":[0.683594,0.683594]},"00280100":{"vr":"US","Value":[16]},"00280101":{"vr":"US","Value":[12]},"00280102":{"vr":"US","Value":[11]},` +
        `"00280103":{"vr":"US","Value":[0]},"00281050":{"vr":"DS","Value":[40]},"00281051":{"vr":"DS","Value":[400]},"00281052":{"vr":"DS","Value":[-1024]},"00281053":{"vr":"DS","Value":[1]},` +
        `"7FE00010":{"vr":"OW","BulkDataURI":"bulkdata/7FE00010"}}`;
      yield row([
        base.receipts + instance.k, instance.uid, CT_IMAGE, syntheticStudyUid(instance.n), seriesUid(instance.n, instance.s), '1.2.840.10008.1.2.1',
        `synthetic/${instance.uid}`, sha, sha, 525_000, hospital.sourceId, metadata, '{"7FE00010":{"offset":1708,"length":524288}}', 132, 'f',
        '{"terms":["ISO_IR 192"]}', '2026-01-01T00:00:00Z',
      ]);
    }
  }, { withoutTriggers: true });
  const instances = copy(pool, 'instances (id, sop_instance_uid, series_pk, study_pk, study_instance_uid, institution_id, receipt_id, sop_class_uid, instance_number, number_of_frames, attributes, thumbnail_receipt_id)', function* () {
    for (const instance of eachInstance()) {
      const hospital = hospitalOf(syntheticStudyOwner(instance.n, size.patients));
      const attributes = `{"00080016":{"vr":"UI","Value":["${CT_IMAGE}"]},"00080018":{"vr":"UI","Value":["${instance.uid}"]},"00200013":{"vr":"IS","Value":[${instance.number}]}}`;
      yield row([
        base.instances + instance.k, instance.uid, seriesPk(instance.n, instance.s), base.studies + instance.n, syntheticStudyUid(instance.n), hospital.institutionId,
        base.receipts + instance.k, CT_IMAGE, instance.number, null, attributes, base.receipts + instance.k,
      ]);
    }
  }, { withoutTriggers: true });
  await Promise.all([receipts, instances]);
  await Promise.all(
    [0, 1].map(async (worker) => {
      const client = await pool.connect();
      try {
        await client.query(`SET maintenance_work_mem = '512MB'`);
        // pg_indexes gives a partitioned table's index as `ON ONLY` (the parent alone, invalid until
        // each partition's is attached): made without it, every partition gets its own again. One
        // table's indexes on one connection: the partitions' index names are chosen from the columns,
        // and two indexes on the same column (receipts' two on received_at) built at once by two
        // transactions would both choose the same name for a partition's.
        const tables = [...new Set(deferred.map((index) => index.table))].sort();
        for (const { definition } of deferred.filter((index) => tables.indexOf(index.table) % 2 === worker)) await client.query(definition.replace(' ON ONLY ', ' ON '));
      } finally {
        client.release();
      }
    }),
  );
  await setIdentities(pool);
}

/** One more than each table's highest id: COPY writes the ids itself, so rows can name each other. */
async function nextIds<Table extends string>(pool: pg.Pool, tables: Table[]): Promise<Record<Table, number>> {
  const ids = {} as Record<Table, number>;
  for (const table of tables) {
    const { rows } = await pool.query<{ max: string }>(`SELECT coalesce(max(id), 0)::text AS max FROM ${table}`);
    // Leave a gap, so ids that COPY writes never meet those the sequence handed out meanwhile.
    ids[table] = Number(rows[0]!.max) + 1000;
  }
  return ids;
}

/** The identity sequences past the ids COPY wrote, so the ingest path can go on adding rows. */
async function setIdentities(pool: pg.Pool): Promise<void> {
  for (const table of ['patients', 'studies', 'series', 'instances', 'receipts']) {
    await pool.query(`SELECT setval(pg_get_serial_sequence('${table}', 'id'), (SELECT coalesce(max(id), 1) FROM ${table}))`);
  }
}

/** One row of COPY's text format. None of the values written here holds a tab, newline or backslash. */
function row(values: (string | number | null)[]): string {
  return `${values.map((value) => (value === null ? '\\N' : String(value))).join('\t')}\n`;
}

/**
 * Streams rows into a table with COPY, in chunks of about 256 KB. `withoutTriggers` (replication
 * role 'replica') skips the foreign-key checks, which the rows satisfy by construction and which
 * would cost four look-ups per instance, and receipts' trigger, which only queues edge forwarding
 * that no synthetic receipt is for. Patients keep their triggers: they make patient_name_keys.
 */
async function copy(pool: pg.Pool, target: string, rows: () => Generator<string>, options: { withoutTriggers?: boolean } = {}): Promise<void> {
  const client = await pool.connect();
  try {
    if (options.withoutTriggers) await client.query(`SET session_replication_role = replica`);
    const chunks = function* () {
      let chunk = '';
      for (const line of rows()) {
        chunk += line;
        if (chunk.length > 262_144) {
          yield chunk;
          chunk = '';
        }
      }
      if (chunk) yield chunk;
    };
    await pipeline(Readable.from(chunks()), client.query(copyFrom(`COPY ${target} FROM STDIN`)));
  } finally {
    if (options.withoutTriggers) await client.query(`RESET session_replication_role`).catch(() => undefined);
    client.release();
  }
}
