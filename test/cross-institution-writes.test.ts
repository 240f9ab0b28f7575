import assert from 'node:assert/strict';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { makeSecondaryCaptures, residentIdNumber, type Study } from '../fixtures/generate.ts';
import type { Institution } from '../fixtures/model.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import type { DicomJson } from '../viewer/src/dicom/dataset.ts';
import { keyObjectSelection } from '../viewer/src/measurements/structured-report.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * Issue 13, findings 4 to 6: one institution's uploads never change, nor open up, another
 * institution's records. Alpha and Beta are hospitals of different counties; the reading centre
 * covers Beta's. Every edge goes through the one ingest path, so DIMSE, STOW-RS and import refuse alike.
 */
const alpha: Institution = { name: 'Alpha Hospital', code: 'ALPHA', address: 'Alpha Road 1', patientIdIssuer: 'ALPHAHOSP', characterSet: 'ISO_IR 192' };
const beta: Institution = { name: 'Beta Hospital', code: 'BETA', address: 'Beta Road 2', patientIdIssuer: 'BETAHOSP', characterSet: 'ISO_IR 192' };
const study = (institution: Institution, patient: Study['patient'], accessionNumber: string): Study => ({
  institution,
  patient,
  accessionNumber,
  date: '20241201',
  time: '093000',
  description: 'Cross-institution test',
  referringPhysicianName: '',
});
const sharedResidentId = residentIdNumber('19720505', '311');
/** Beta's patient, whose study Alpha goes after. */
const betaStudy = study(beta, { name: 'Beta^Patient', id: 'B0001', birthDate: '19600101', sex: 'F' }, 'BETA0001');
/** Alpha's made-up patient, naming Beta's patient (issuer and Patient ID) among its Other Patient IDs. */
const alphaFake = study(alpha, { name: 'Alpha^Fake', id: 'A9999', birthDate: '19600101', sex: 'F' }, 'ALPHA9999');
const claimsBetaPatient = { OtherPatientIDsSequence: [{ PatientID: 'B0001', IssuerOfPatientID: 'BETAHOSP' }] };
/** One person at both hospitals, each vouching for the same resident ID. */
const betaZhao = study(beta, { name: 'Zhao^Min', id: 'B0777', birthDate: '19720505', sex: 'M', nationalId: sharedResidentId }, 'BETA0777');
const alphaZhao = study(alpha, { name: 'Zhao^Min', id: 'A0777', birthDate: '19720505', sex: 'M', nationalId: sharedResidentId }, 'ALPHA0777');

const one = (options: Omit<Parameters<typeof makeSecondaryCaptures>[0], 'count'>) => [...makeSecondaryCaptures({ count: 1, rows: 16, columns: 16, ...options })][0]!;
const PURPOSE = '对比既往检查 comparison with priors';
const dcmtkAvailable = commandExists('storescu');

describe('writes across institutions (issue 13, findings 4 to 6)', () => {
  let system: TestSystem;
  let workDir: string;
  const institutionIds: Record<string, string> = {};
  const tokens: Record<string, string> = {};
  const betaOriginal = one({ study: betaStudy, seriesNumber: 1 });
  const betaUids = betaOriginal.description;

  before(async () => {
    system = await startTestSystem();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-cross-writes-'));
    const { administration } = system;
    const actor = COMMAND_LINE_ACTOR;
    await administration.createRegion(actor, { code: 'ALPHA_COUNTY', name: 'Alpha county', level: 'county' });
    await administration.createRegion(actor, { code: 'BETA_COUNTY', name: 'Beta county', level: 'county' });
    for (const [code, kind, regionCode] of [['ALPHA', 'hospital', 'ALPHA_COUNTY'], ['BETA', 'hospital', 'BETA_COUNTY'], ['BETA_READING', 'reading_centre', 'BETA_COUNTY']] as const) {
      institutionIds[code] = (await administration.createInstitution(actor, { code, name: code, kind, regionCode })).id;
    }
    await administration.createPeer(actor, { institutionCode: 'ALPHA', aeTitle: 'ALPHA_PACS' });
    for (const [username, institutionCode] of [['alpha-radiologist', 'ALPHA'], ['reading-radiologist', 'BETA_READING']] as const) {
      await administration.createUser(actor, { username, displayName: username, role: 'radiologist', institutionCode });
      tokens[username] = (await administration.createToken(actor, { username, label: 'cross-institution' })).token;
    }
    await importAs('BETA', betaOriginal.bytes);
    await importAs('BETA', one({ study: betaZhao, seriesNumber: 1 }).bytes);
    await importAs('ALPHA', one({ study: alphaZhao, seriesNumber: 1 }).bytes);
    await system.runtime.queue.whenIdle();
  });
  after(async () => {
    await system?.shutdown();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const importAs = (institution: string, bytes: Buffer) =>
    system.runtime.ingest.ingest({ part10: bytes }, { via: 'import', name: 'cross-institution', institutionId: institutionIds[institution]! });

  const stow = async (username: string, bytes: Buffer) => {
    const boundary = 'cross-institution-boundary';
    const body = Buffer.concat([Buffer.from(`--${boundary}\r\nContent-Type: application/dicom\r\n\r\n`), bytes, Buffer.from(`\r\n--${boundary}--\r\n`)]);
    const response = await system.fetch(`${system.dicomWebUrl}/studies`, {
      method: 'POST',
      body,
      headers: { authorization: `Bearer ${tokens[username]}`, 'content-type': `multipart/related; type="application/dicom"; boundary=${boundary}`, accept: 'application/dicom+json' },
    });
    const result = (await response.json()) as Record<string, { Value: Record<string, { Value: number[] }>[] }>;
    return { status: response.status, failureReasons: (result['00081198']?.Value ?? []).map((item) => item['00081197']!.Value[0]) };
  };

  /** What Beta's users see of Beta's study: the object behind its instance, its series, its patient record. */
  const betaStudyState = async () => {
    await system.runtime.queue.whenIdle();
    const wado = await system.fetch(
      `${system.httpUrl}/wado?requestType=WADO&studyUID=${betaUids.studyInstanceUid}&seriesUID=${betaUids.seriesInstanceUid}&objectUID=${betaUids.sopInstanceUid}&contentType=application%2Fdicom`,
    );
    assert.equal(wado.status, 200);
    const { rows } = await system.runtime.db.pool.query(
      `SELECT st.number_of_series, st.number_of_instances, p.institution_id::text AS patient_institution, p.patient_id, p.patient_name, p.other_patient_ids,
              (SELECT count(*)::int FROM series se WHERE se.study_pk = st.id) AS series_rows,
              (SELECT count(*)::int FROM receipts r WHERE r.study_instance_uid = st.study_instance_uid OR r.sop_instance_uid = $2) AS receipts
       FROM studies st JOIN patients p ON p.id = st.patient_pk WHERE st.study_instance_uid = $1`,
      [betaUids.studyInstanceUid, betaUids.sopInstanceUid],
    );
    return { object: Buffer.from(await wado.arrayBuffer()), ...rows[0] };
  };
  const betaUnchanged = {
    number_of_series: 1,
    number_of_instances: 1,
    patient_id: 'B0001',
    patient_name: { Alphabetic: 'Beta^Patient' },
    other_patient_ids: [],
    series_rows: 1,
    receipts: 1,
  };
  const assertBetaUnchanged = async (what: string) => {
    const { object, patient_institution, ...state } = await betaStudyState();
    assert.ok(object.equals(betaOriginal.bytes), `${what}: Beta's instance is still Beta's object`);
    assert.equal(patient_institution, institutionIds.BETA, `${what}: the study still points to Beta's patient record`);
    assert.deepEqual(state, betaUnchanged, `${what}: Beta's study, series and patient unchanged`);
  };

  it("refuses a C-STORE from Alpha's PACS into Beta's study (0124H): a changed instance, a new series, even an identical copy", async (t) => {
    if (!requirePeer(t, dcmtkAvailable, 'DCMTK (storescu)')) return;
    const attempts = {
      // Beta's SOP Instance UID, other content, and Alpha's patient: this re-pointed Beta's study to Alpha's record (finding 5).
      'changed instance': one({ study: alphaFake, seriesNumber: 1, overrides: { StudyInstanceUID: betaUids.studyInstanceUid, SeriesInstanceUID: betaUids.seriesInstanceUid, SOPInstanceUID: betaUids.sopInstanceUid } }),
      'new series': one({ study: alphaFake, seriesNumber: 2, overrides: { StudyInstanceUID: betaUids.studyInstanceUid } }),
      'identical copy': betaOriginal,
    };
    for (const [what, instance] of Object.entries(attempts)) {
      const file = path.join(workDir, `${what.replaceAll(' ', '-')}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      const result = await runDcmtk('storescu', ['-v', '-aet', 'ALPHA_PACS', '-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort), file]);
      // DCMTK 3.6.7 has no name for 0124H (Refused: Not Authorized, PS3.7 C.4.2.1.4).
      assert.match(result.output, /Received Store Response \(Unknown Status: 0x124\)/, `${what}: ${result.output}`);
      await assertBetaUnchanged(what);
    }
    // Alpha's PACS still stores into Alpha's own studies.
    const own = path.join(workDir, 'own.dcm');
    fs.writeFileSync(own, one({ study: alphaFake, seriesNumber: 3 }).bytes);
    const stored = await runDcmtk('storescu', ['-v', '-aet', 'ALPHA_PACS', '-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort), own]);
    assert.match(stored.output, /Received Store Response \(Success\)/, stored.output);
  });

  it("refuses STOW-RS from Alpha into Beta's study, and of Beta's instance or series UID in a study of Alpha's own (0124)", async () => {
    const attempts = {
      "into Beta's study": one({ study: alphaFake, seriesNumber: 4, overrides: { StudyInstanceUID: betaUids.studyInstanceUid } }),
      "Beta's SOP Instance UID in Alpha's new study": one({ study: alphaFake, seriesNumber: 5, overrides: { SOPInstanceUID: betaUids.sopInstanceUid } }),
      "Beta's Series Instance UID in Alpha's new study": one({ study: alphaFake, seriesNumber: 6, overrides: { SeriesInstanceUID: betaUids.seriesInstanceUid } }),
    };
    for (const [what, instance] of Object.entries(attempts)) {
      assert.deepEqual(await stow('alpha-radiologist', instance.bytes), { status: 409, failureReasons: [0x0124] }, what);
      await assertBetaUnchanged(what);
    }
    assert.deepEqual(await stow('alpha-radiologist', one({ study: alphaFake, seriesNumber: 7 }).bytes), { status: 200, failureReasons: [] }, "Alpha's own study");
  });

  it("lets a reading centre add a reader's document to a study of its region without moving the study to a patient record of its own", async () => {
    const renamed = one({ study: study(beta, { ...betaStudy.patient, name: 'Renamed^ByReader' }, 'BETA0001'), seriesNumber: 9 });
    assert.equal(renamed.description.studyInstanceUid, betaUids.studyInstanceUid);
    // Key images, the patient as the reader's copy names them; images from the centre are refused (test/measurements.test.ts).
    const keyImages = keyObjectSelection([betaUids], { seriesNumber: 9, seriesDescription: 'Key images', observer: { Alphabetic: 'Reader' }, studyHeader: parseInstance(renamed.bytes).metadata as DicomJson });
    assert.deepEqual(await stow('reading-radiologist', Buffer.from(keyImages.part10)), { status: 200, failureReasons: [] });
    await system.runtime.queue.whenIdle();
    const { rows } = await system.runtime.db.pool.query(
      `SELECT p.institution_id::text AS institution_id, p.patient_name, st.number_of_series,
              (SELECT count(*)::int FROM patients WHERE institution_id = $2) AS reading_centre_patients
       FROM studies st JOIN patients p ON p.id = st.patient_pk WHERE st.study_instance_uid = $1`,
      [betaUids.studyInstanceUid, institutionIds.BETA_READING],
    );
    assert.deepEqual(rows[0], { institution_id: institutionIds.BETA, patient_name: { Alphabetic: 'Beta^Patient' }, number_of_series: 2, reading_centre_patients: 0 });
  });

  it("does not link a patient of Alpha to Beta's patient because Alpha's upload names Beta's issuer and Patient ID; a resident ID both vouch for does", async () => {
    assert.equal((await stow('alpha-radiologist', one({ study: alphaFake, seriesNumber: 10, overrides: claimsBetaPatient }).bytes)).status, 200);
    await system.runtime.queue.whenIdle();
    const asAlpha = (url: string, purpose?: string) =>
      system.fetch(url, { headers: { authorization: `Bearer ${tokens['alpha-radiologist']}`, ...(purpose ? { 'x-purpose-of-use': encodeURIComponent(purpose) } : {}) } });
    const found = async (studyInstanceUid: string, purpose?: string) => {
      const response = await asAlpha(`${system.dicomWebUrl}/studies?StudyInstanceUID=${studyInstanceUid}`, purpose);
      assert.equal(response.status, 200);
      return ((await response.json()) as unknown[]).length;
    };
    assert.equal(await found(betaUids.studyInstanceUid, PURPOSE), 0, "QIDO with a purpose: Beta's study stays out of reach");
    assert.equal((await asAlpha(`${system.dicomWebUrl}/studies/${betaUids.studyInstanceUid}/metadata`, PURPOSE)).status, 404);

    const zhaoAtBeta = one({ study: betaZhao, seriesNumber: 1 }).description.studyInstanceUid;
    assert.equal(await found(zhaoAtBeta), 0, 'without a purpose, only Alpha');
    assert.equal(await found(zhaoAtBeta, PURPOSE), 1, 'with a purpose, the same person by the resident ID both hospitals vouch for');
    assert.equal((await asAlpha(`${system.dicomWebUrl}/studies/${zhaoAtBeta}/metadata`, PURPOSE)).status, 200);

    // A purpose opens the study for reading only: exporting it, sharing it or writing its report stays Beta's (and the region's).
    const asAlphaWriting = (path: string, body: unknown) =>
      system.fetch(`${system.httpUrl}${path}`, { method: 'POST', headers: { authorization: `Bearer ${tokens['alpha-radiologist']}`, 'content-type': 'application/json', 'x-purpose-of-use': encodeURIComponent(PURPOSE) }, body: JSON.stringify(body) });
    assert.equal((await asAlphaWriting(`/api/studies/${zhaoAtBeta}/export`, {})).status, 404, 'export with a purpose');
    assert.equal((await asAlphaWriting(`/api/studies/${zhaoAtBeta}/share-links/patient`, { factor: 'birth-date' })).status, 404, 'a patient link with a purpose');
    assert.equal((await asAlphaWriting(`/api/studies/${zhaoAtBeta}/report`, {})).status, 404, 'a report with a purpose');
  });

  it("indexes an instance of Alpha naming Beta's issuer and Patient ID as Alpha's own patient, leaving Beta's record alone", async () => {
    const impostor = one({ study: study(alpha, { name: 'Someone^Else', id: 'B0001', birthDate: '19990909', sex: 'M' }, 'ALPHA0042'), seriesNumber: 1, overrides: { IssuerOfPatientID: 'BETAHOSP' } });
    const outcome = await importAs('ALPHA', impostor.bytes);
    await system.runtime.queue.whenIdle();
    const { rows } = await system.runtime.db.pool.query(
      `SELECT p.institution_id::text AS institution_id, p.patient_name, p.birth_date::text AS birth_date,
              array(SELECT st.study_instance_uid FROM studies st WHERE st.patient_pk = p.id ORDER BY st.id) AS studies
       FROM patients p WHERE p.issuer = 'BETAHOSP' AND p.patient_id = 'B0001' ORDER BY p.id`,
    );
    assert.deepEqual(rows, [
      { institution_id: institutionIds.BETA, patient_name: { Alphabetic: 'Beta^Patient' }, birth_date: '1960-01-01', studies: [betaUids.studyInstanceUid] },
      { institution_id: institutionIds.ALPHA, patient_name: { Alphabetic: 'Someone^Else' }, birth_date: '1999-09-09', studies: [outcome.parsed.studyInstanceUid] },
    ]);
  });
});
