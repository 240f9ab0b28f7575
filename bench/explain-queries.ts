/**
 * `npm run bench:queries`: the index's hot queries with their PostgreSQL plans, written to
 * bench/queries/*.sql so a reviewer reads the real SQL and how it runs (Immich keeps its generated
 * queries the same way). The index holds the ingest benchmark's corpus plus a synthetic regional
 * index (100,000 patients, 200,000 studies over ten years) so the planner sees the table sizes it
 * would in production, not a handful of rows it would rather scan.
 */
import type { Visibility } from '../archive/access/policy.ts';
import fs from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { instanceSearchSql, priorStudiesSql, samePersonSql, seriesSearchSql, studySearchSql, type SqlQuery } from '../archive/db/query-repository.ts';
import { metadataSql } from '../archive/db/retrieve-repository.ts';
import { parseQidoQuery } from '../archive/query/qido-query.ts';
import { generateCorpus } from '../fixtures/generate.ts';
import { startTestSystem } from '../test/support/system.ts';
import { addSyntheticIndex } from './synthetic-index.ts';

const outputDirectory = path.join(path.dirname(fileURLToPath(import.meta.url)), 'queries');
const SYNTHETIC_PATIENTS = 100_000;
const SYNTHETIC_STUDIES = 200_000;

const system = await startTestSystem();
try {
  console.log('ingesting the benchmark corpus (2,500 instances) …');
  let ct = { study: '', series: '' };
  for (const instance of generateCorpus({ preset: 'bench' })) {
    await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'bench-queries', institutionId: system.institutionId });
    if (instance.description.modality === 'CT') ct = { study: instance.description.studyInstanceUid, series: instance.description.seriesInstanceUid };
  }
  await system.runtime.queue.whenIdle();

  console.log(`adding a synthetic regional index: ${SYNTHETIC_PATIENTS} patients, ${SYNTHETIC_STUDIES} studies …`);
  const pool = system.runtime.db.pool;
  await addSyntheticIndex(pool, { patients: SYNTHETIC_PATIENTS, studies: SYNTHETIC_STUDIES });
  // VACUUM too: it moves the new rows' trigram and identifier entries out of the GIN pending lists,
  // as autovacuum would long before a real index grew this large.
  await pool.query('VACUUM ANALYZE');

  // What a radiologist of one hospital sees (the usual case; a system administrator's searches are unscoped).
  const { rows: [hospital] } = await pool.query<{ id: string }>(`SELECT id FROM institutions WHERE code = 'SYNH7'`);
  const radiologist: Visibility = { institutionIds: [hospital!.id], linkedPatientsPurpose: null, maskIdentity: false };
  const ownHospital: Visibility = { institutionIds: [system.institutionId], linkedPatientsPurpose: null, maskIdentity: false };
  const qido = (level: 'study' | 'series' | 'instance', parameters: Record<string, string>, scope = {}) => parseQidoQuery(level, parameters, scope);
  const queries: { name: string; purpose: string; sql: SqlQuery }[] = [
    { name: 'studies-newest-first', purpose: 'the study list as a viewer first opens it: newest 25 studies', sql: studySearchSql(qido('study', { limit: '25' }), radiologist) },
    { name: 'studies-by-name', purpose: 'QIDO-RS PatientName=王*, newest first', sql: studySearchSql(qido('study', { PatientName: '王*', limit: '25' }), radiologist) },
    { name: 'studies-by-name-fuzzy', purpose: 'QIDO-RS PatientName=小东&fuzzymatching=true', sql: studySearchSql(qido('study', { PatientName: '小东', fuzzymatching: 'true', limit: '25' }), radiologist) },
    { name: 'studies-by-patient-id', purpose: 'QIDO-RS PatientID=P00012345', sql: studySearchSql(qido('study', { PatientID: 'P00012345' }), radiologist) },
    { name: 'studies-by-date-and-modality', purpose: 'QIDO-RS StudyDate=20240101-20240131&ModalitiesInStudy=CT', sql: studySearchSql(qido('study', { StudyDate: '20240101-20240131', ModalitiesInStudy: 'CT', limit: '25' }), radiologist) },
    { name: 'series-of-study', purpose: 'QIDO-RS /studies/{CT}/series', sql: seriesSearchSql(qido('series', {}, { studyInstanceUid: ct.study }), ownHospital) },
    { name: 'instances-of-series', purpose: 'QIDO-RS /studies/{CT}/series/{500 slices}/instances', sql: instanceSearchSql(qido('instance', { limit: '1000' }, { studyInstanceUid: ct.study, seriesInstanceUid: ct.series }), ownHospital) },
    { name: 'series-metadata', purpose: 'WADO-RS /studies/{CT}/series/{500 slices}/metadata', sql: metadataSql({ studyInstanceUid: ct.study, seriesInstanceUid: ct.series }, 'http://127.0.0.1:8080/dicom-web') },
  ];
  // The priors of a synthetic patient with a national ID: who the person is, then their studies.
  const person = samePersonSql('2.25.900000000003');
  const { rows: [found] } = await pool.query<{ studyPk: string; patientPks: string[] }>(person.text, person.values);
  queries.push(
    { name: 'priors-same-person', purpose: 'GET /api/studies/{study}/priors, step 1: the patient records of the same person', sql: person },
    { name: 'priors-studies', purpose: 'GET /api/studies/{study}/priors, step 2: their other studies', sql: priorStudiesSql(found!.patientPks, found!.studyPk, 200, { ...radiologist, linkedPatientsPurpose: 'comparison with prior studies' }) },
  );

  await fs.mkdir(outputDirectory, { recursive: true });
  for (const { name, purpose, sql } of queries) {
    const explained = await pool.query<{ 'QUERY PLAN': string }>(`EXPLAIN (ANALYZE, BUFFERS, SUMMARY) ${sql.text}`, sql.values);
    const plan = explained.rows.map((row) => row['QUERY PLAN']);
    const execution = plan.find((line) => line.startsWith('Execution Time')) ?? '';
    const text = [
      `-- ${purpose}`,
      `-- Generated by \`npm run bench:queries\`; parameters: ${JSON.stringify(sql.values)}`,
      '',
      `${sql.text.replace(/\n\s+/g, '\n  ').trim()};`,
      '',
      ...plan.map((line) => `-- ${line}`),
      '',
    ].join('\n');
    await fs.writeFile(path.join(outputDirectory, `${name}.sql`), text);
    console.log(`${name.padEnd(30)} ${execution}`);
  }
  console.log(`plans written to ${path.relative(process.cwd(), outputDirectory)}/`);
} finally {
  await system.shutdown();
}
