import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { studySearchSql } from '../archive/db/query-repository.ts';
import { conditionFor } from '../archive/query/qido-query.ts';
import { makeSecondaryCaptures, STUDIES } from '../fixtures/generate.ts';
import type { FixtureInstance } from '../fixtures/model.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { orthancAvailable, startOrthancPeer } from './support/orthanc.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The C-FIND SCP (gateway/dimse/find-scp.ts) as DCMTK's findscu meets it: both information
 * models at every level, the matching types, the keys returned, Chinese names asked for in
 * GB18030, UTF-8 and ISO 2022 IR 58, the institution's scope, statuses and C-CANCEL (findscu
 * --cancel). pydicom writes the identifiers and reads the responses findscu extracts (-X): an
 * oracle that is not our own codec.
 */

/** Debian's python3, where python3-pydicom lives (a pyenv shim earlier on PATH may lack it). */
const PYTHON = fs.existsSync('/usr/bin/python3') ? '/usr/bin/python3' : 'python3';
const havePydicom = (() => {
  try {
    execFileSync(PYTHON, ['-c', 'import pydicom'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
})();
const available = commandExists('findscu') && commandExists('storescu') && havePydicom;
const need = (t: TestContext) => requirePeer(t, available, 'DCMTK (findscu, storescu) and python3-pydicom');

/** Writes an identifier with pydicom: keyword → value, or [VR, raw bytes as latin1] for bytes pydicom must not re-encode. */
const WRITE_IDENTIFIER = `
import json, sys
from pydicom.dataset import Dataset
spec = json.loads(sys.argv[1])
ds = Dataset()
for keyword, value in spec.items():
    if isinstance(value, dict):
        ds.add_new(int(value['tag'], 16), value['vr'], value['raw'].encode('latin1'))
    else:
        setattr(ds, keyword, value)
ds.is_little_endian = True
ds.is_implicit_VR = False
ds.save_as(sys.argv[2], write_like_original=True)
`;

/** Reads findscu's response files: each one's keywords, values as text (decoded by pydicom per its Specific Character Set), and raw PN bytes. */
const READ_RESPONSES = `
import json, sys, glob, pydicom
out = []
for name in sorted(glob.glob(sys.argv[1] + '/rsp*.dcm')):
    ds = pydicom.dcmread(name, force=True)
    ds.decode()
    values = {}
    for element in ds:
        if element.VR == 'SQ':
            values[element.keyword] = [{inner.keyword: str(inner.value) for inner in item} for item in element.value]
        else:
            values[element.keyword or str(element.tag)] = '\\\\'.join(str(v) for v in element.value) if element.VM > 1 else str(element.value)
    raw = pydicom.dcmread(name, force=True).get_item(0x00100010)
    out.append({'values': values, 'patientNameBytes': raw.value.hex() if raw is not None and raw.value is not None else None})
print(json.dumps(out))
`;

interface Response {
  values: Record<string, unknown>;
  patientNameBytes: string | null;
}

describe('C-FIND SCP with DCMTK findscu', () => {
  let system: TestSystem;
  let work: string;
  const studies: Record<'wang' | 'zhang' | 'tao' | 'chen' | 'many', { study: string; series: string; instances: string[] }> = {} as never;

  const store = async (instances: FixtureInstance[], folder: string) => {
    const directory = path.join(work, folder);
    fs.mkdirSync(directory);
    const files = instances.map((instance, index) => {
      const file = path.join(directory, `${index}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      return file;
    });
    const result = await runDcmtk('storescu', ['-aec', 'YINGYUN', '-aet', 'STORESCU', '127.0.0.1', String(system.dicomPort), ...files], 120_000);
    assert.equal(result.code, 0, result.output);
  };
  const describeStudy = (instances: FixtureInstance[]) => ({
    study: instances[0]!.description.studyInstanceUid,
    series: instances[0]!.description.seriesInstanceUid,
    instances: instances.map((instance) => instance.description.sopInstanceUid),
  });

  let queries = 0;
  /** Runs findscu and returns its responses as pydicom reads them, and its log. */
  const find = async (options: { model?: '-S' | '-P'; keys?: string[]; identifier?: Record<string, unknown>; aeTitle?: string; extra?: string[] }) => {
    const directory = path.join(work, `find-${++queries}`);
    fs.mkdirSync(directory);
    const args = ['-v', options.model ?? '-S', '-aec', 'YINGYUN', '-aet', options.aeTitle ?? 'FINDSCU', '-X', '-od', directory, ...(options.extra ?? [])];
    for (const key of options.keys ?? []) args.push('-k', key);
    args.push('127.0.0.1', String(system.dicomPort));
    if (options.identifier) {
      const file = path.join(directory, 'query.dcm');
      execFileSync(PYTHON, ['-c', WRITE_IDENTIFIER, JSON.stringify(options.identifier), file]);
      args.push(file);
    }
    const result = await runDcmtk('findscu', args);
    const responses = JSON.parse(execFileSync(PYTHON, ['-c', READ_RESPONSES, directory]).toString()) as Response[];
    return { ...result, responses, directory };
  };
  const keysOf = (response: Response) => Object.keys(response.values).sort();

  before(async () => {
    if (!available) return;
    system = await startTestSystem({ YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine' });
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-find-'));
    // Three studies through C-STORE, each in its hospital's character set (GB18030, ISO 2022 IR 58, GBK).
    const wang = [...makeSecondaryCaptures({ study: STUDIES.wangPriorCt, seriesNumber: 1, count: 2 })];
    const zhang = [...makeSecondaryCaptures({ study: STUDIES.zhangMr, seriesNumber: 1, count: 1 })];
    const tao = [...makeSecondaryCaptures({ study: STUDIES.taoDx, seriesNumber: 1, count: 1 })];
    await store([...wang, ...zhang, ...tao], 'stored');
    Object.assign(studies, { wang: describeStudy(wang), zhang: describeStudy(zhang), tao: describeStudy(tao) });
    // Another institution's study, which TEST_HOSPITAL's peers must not find, and a long series to cancel.
    const administration = system.administration;
    const other = await administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'OTHER_HOSPITAL', name: '南岭县中医院', kind: 'hospital' });
    await administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'OTHER_HOSPITAL', aeTitle: 'OTHER_PACS' });
    const chen = [...makeSecondaryCaptures({ study: STUDIES.chenUs, seriesNumber: 1, count: 1 })];
    for (const instance of chen) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'find-test', institutionId: other.id });
    // More matches than the C-FIND's first page (500), so the cancel is heard before the second one.
    const many = [...makeSecondaryCaptures({ study: STUDIES.liJiCr, seriesNumber: 2, count: 700, rows: 8, columns: 8 })];
    for (const instance of many) await system.runtime.ingest.ingest({ part10: instance.bytes }, { via: 'import', name: 'find-test', institutionId: system.institutionId });
    Object.assign(studies, { chen: describeStudy(chen), many: describeStudy(many) });
    await system.runtime.queue.whenIdle();
  });
  after(async () => {
    await system?.shutdown();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('finds 王* asked in GB18030 and answers in GB18030, with exactly the keys asked for and the required ones', async (t) => {
    if (!need(t)) return;
    const { code, output, responses } = await find({
      identifier: { SpecificCharacterSet: 'GB18030', QueryRetrieveLevel: 'STUDY', PatientName: '王*', StudyInstanceUID: '', StudyDate: '', NumberOfStudyRelatedInstances: '' },
    });
    assert.equal(code, 0, output);
    assert.equal(responses.length, 1, output);
    const [response] = responses;
    assert.deepEqual(keysOf(response!), [
      'InstanceAvailability',
      'NumberOfStudyRelatedInstances',
      'PatientName',
      'QueryRetrieveLevel',
      'RetrieveAETitle',
      'SpecificCharacterSet',
      'StudyDate',
      'StudyInstanceUID',
    ]);
    assert.deepEqual(response!.values, {
      SpecificCharacterSet: 'GB18030',
      StudyDate: '20230314',
      QueryRetrieveLevel: 'STUDY',
      RetrieveAETitle: 'YINGYUN',
      InstanceAvailability: 'ONLINE',
      PatientName: 'Wang^XiaoDong=王^小东',
      StudyInstanceUID: studies.wang.study,
      NumberOfStudyRelatedInstances: '2',
    });
    // 王 in GB18030 is CD F5.
    assert.match(response!.patientNameBytes!, /cdf5/);
  });

  it('finds 王* asked in ISO_IR 192 and answers in UTF-8', async (t) => {
    if (!need(t)) return;
    const { responses, output } = await find({ identifier: { SpecificCharacterSet: 'ISO_IR 192', QueryRetrieveLevel: 'STUDY', PatientName: '王*', StudyInstanceUID: '' } });
    assert.equal(responses.length, 1, output);
    assert.equal(responses[0]!.values.SpecificCharacterSet, 'ISO_IR 192');
    assert.equal(responses[0]!.values.PatientName, 'Wang^XiaoDong=王^小东');
    assert.match(responses[0]!.patientNameBytes!, /e78e8b/, 'UTF-8 bytes of 王');
    // As docs/query-retrieve.md shows it: -k values go as the (UTF-8) command line's bytes.
    const typed = await find({ keys: ['QueryRetrieveLevel=STUDY', 'SpecificCharacterSet=ISO_IR 192', 'PatientName=王*', 'StudyInstanceUID'] });
    assert.deepEqual(typed.responses.map((response) => response.values.StudyInstanceUID), [studies.wang.study], typed.output);
  });

  it('finds 王* asked in ISO 2022 IR 58 (GB 2312 designated by ESC $ ) A) and answers with the escape sequences', async (t) => {
    if (!need(t)) return;
    // pydicom 2.3 writes IR 58 without the escape sequence PS3.5 H.3.2 requires: the bytes are given as a Chinese PACS sends them.
    const { responses, output, directory } = await find({
      identifier: { SpecificCharacterSet: ['', 'ISO 2022 IR 58'], QueryRetrieveLevel: 'STUDY', PatientName: { tag: '00100010', vr: 'PN', raw: '\x1b$)A\xcd\xf5*' }, StudyInstanceUID: '' },
    });
    assert.equal(responses.length, 1, output);
    assert.equal(responses[0]!.values.SpecificCharacterSet, '\\ISO 2022 IR 58');
    // pydicom 2.3 leaves the escape sequences in the text it decodes; DCMTK converts the value to UTF-8 (+U8).
    const dumped = execFileSync('dcmdump', ['+U8', path.join(directory, 'rsp0001.dcm')]).toString();
    assert.match(dumped, /\(0010,0010\) PN \[Wang\^XiaoDong=王\^小东\]/, dumped);
    // '=' ESC $ ) A 王 '^' ESC $ ) A 小东: the designation again after each delimiter.
    assert.match(responses[0]!.patientNameBytes!, /3d1b242941cdf55e1b242941d0a1b6ab/);
  });

  it('answers in ISO_IR 192 when the query declared no character set and a name needs more than ASCII', async (t) => {
    if (!need(t)) return;
    const { responses, output } = await find({ keys: ['QueryRetrieveLevel=STUDY', 'PatientName=Zhang*', 'StudyInstanceUID'] });
    assert.equal(responses.length, 1, output);
    assert.equal(responses[0]!.values.SpecificCharacterSet, 'ISO_IR 192');
    assert.equal(responses[0]!.values.PatientName, 'Zhang^XiuYing=张^秀英');
    assert.equal(responses[0]!.values.StudyInstanceUID, studies.zhang.study);
  });

  it('matches a date range, a list of UIDs and universally, within the caller institution only', async (t) => {
    if (!need(t)) return;
    const studyUids = (responses: Response[]) => responses.map((response) => response.values.StudyInstanceUID as string).sort();
    const ranged = await find({ keys: ['QueryRetrieveLevel=STUDY', 'StudyDate=20240101-20241031', 'StudyInstanceUID'] });
    assert.deepEqual(studyUids(ranged.responses), [studies.zhang.study, studies.tao.study].sort(), ranged.output);
    const listed = await find({ keys: ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${studies.wang.study}\\${studies.tao.study}\\${studies.chen.study}`] });
    assert.deepEqual(studyUids(listed.responses), [studies.wang.study, studies.tao.study].sort(), 'the other institution’s study is not found by its UID');
    const universal = await find({ keys: ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'ModalitiesInStudy', 'NumberOfStudyRelatedSeries'] });
    assert.deepEqual(studyUids(universal.responses), [studies.wang.study, studies.zhang.study, studies.tao.study, studies.many.study].sort());
    for (const response of universal.responses) {
      assert.deepEqual(keysOf(response), ['InstanceAvailability', 'ModalitiesInStudy', 'NumberOfStudyRelatedSeries', 'QueryRetrieveLevel', 'RetrieveAETitle', 'StudyInstanceUID']);
      assert.equal(response.values.ModalitiesInStudy, 'OT', 'secondary captures are OT');
    }
    // The other institution's peer finds its own study, and only it.
    const theirs = await find({ aeTitle: 'OTHER_PACS', keys: ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID'] });
    assert.deepEqual(studyUids(theirs.responses), [studies.chen.study]);
    // An unregistered peer, accepted into quarantine, finds nothing.
    const stranger = await find({ aeTitle: 'STRANGER', keys: ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID'] });
    assert.equal(stranger.code, 0, stranger.output);
    assert.equal(stranger.responses.length, 0);
  });

  it('answers the Patient Root model at PATIENT, STUDY, SERIES and IMAGE level', async (t) => {
    if (!need(t)) return;
    const patients = await find({ model: '-P', keys: ['QueryRetrieveLevel=PATIENT', 'PatientID', 'PatientName=Wang*', 'NumberOfPatientRelatedStudies', 'NumberOfPatientRelatedInstances'] });
    assert.equal(patients.responses.length, 1, patients.output);
    assert.deepEqual(patients.responses[0]!.values, {
      SpecificCharacterSet: 'ISO_IR 192',
      QueryRetrieveLevel: 'PATIENT',
      RetrieveAETitle: 'YINGYUN',
      InstanceAvailability: 'ONLINE',
      PatientName: 'Wang^XiaoDong=王^小东',
      PatientID: 'QS0012345',
      NumberOfPatientRelatedStudies: '1',
      NumberOfPatientRelatedInstances: '2',
    });
    const patientStudies = await find({ model: '-P', keys: ['QueryRetrieveLevel=STUDY', 'PatientID=QS0012345', 'StudyInstanceUID', 'AccessionNumber'] });
    assert.equal(patientStudies.responses.length, 1, patientStudies.output);
    assert.equal(patientStudies.responses[0]!.values.AccessionNumber, 'QS23031400017');
    const series = await find({ model: '-P', keys: ['QueryRetrieveLevel=SERIES', 'PatientID=QS0012345', `StudyInstanceUID=${studies.wang.study}`, 'SeriesInstanceUID', 'Modality', 'NumberOfSeriesRelatedInstances'] });
    assert.equal(series.responses.length, 1, series.output);
    assert.deepEqual(keysOf(series.responses[0]!), ['InstanceAvailability', 'Modality', 'NumberOfSeriesRelatedInstances', 'PatientID', 'QueryRetrieveLevel', 'RetrieveAETitle', 'SeriesInstanceUID', 'StudyInstanceUID']);
    assert.equal(series.responses[0]!.values.SeriesInstanceUID, studies.wang.series);
    assert.equal(series.responses[0]!.values.NumberOfSeriesRelatedInstances, '2');
    const images = await find({
      model: '-P',
      keys: ['QueryRetrieveLevel=IMAGE', 'PatientID=QS0012345', `StudyInstanceUID=${studies.wang.study}`, `SeriesInstanceUID=${studies.wang.series}`, 'SOPInstanceUID', 'InstanceNumber', 'SOPClassUID'],
    });
    assert.deepEqual(images.responses.map((response) => response.values.SOPInstanceUID).sort(), [...studies.wang.instances].sort(), images.output);
    assert.deepEqual(images.responses.map((response) => response.values.InstanceNumber).sort(), ['1', '2']);
  });

  it('answers the Study Root model at SERIES and IMAGE level', async (t) => {
    if (!need(t)) return;
    const series = await find({ keys: ['QueryRetrieveLevel=SERIES', `StudyInstanceUID=${studies.tao.study}`, 'SeriesInstanceUID', 'SeriesNumber'] });
    assert.equal(series.responses.length, 1, series.output);
    assert.equal(series.responses[0]!.values.SeriesInstanceUID, studies.tao.series);
    const image = await find({ keys: ['QueryRetrieveLevel=IMAGE', `StudyInstanceUID=${studies.wang.study}`, `SeriesInstanceUID=${studies.wang.series}`, `SOPInstanceUID=${studies.wang.instances[1]}`] });
    assert.equal(image.responses.length, 1, image.output);
    assert.deepEqual(keysOf(image.responses[0]!), ['InstanceAvailability', 'QueryRetrieveLevel', 'RetrieveAETitle', 'SOPInstanceUID', 'SeriesInstanceUID', 'StudyInstanceUID']);
    // Implicit VR only (-xi); Rows is kept by the index per instance, Conversion Type only in the instance's metadata.
    const implicit = await find({
      keys: ['QueryRetrieveLevel=IMAGE', `StudyInstanceUID=${studies.wang.study}`, `SeriesInstanceUID=${studies.wang.series}`, 'InstanceNumber=2', 'SOPInstanceUID', 'Rows', 'ConversionType'],
      extra: ['-xi', '-d'],
    });
    assert.match(implicit.output, /Accepted Transfer Syntax: =LittleEndianImplicit/, 'the context accepted in Implicit VR');
    assert.equal(implicit.responses.length, 1, implicit.output);
    assert.deepEqual(
      { sop: implicit.responses[0]!.values.SOPInstanceUID, rows: implicit.responses[0]!.values.Rows, conversion: implicit.responses[0]!.values.ConversionType },
      { sop: studies.wang.instances[1], rows: '64', conversion: 'WSD' },
    );
  });

  it('says FF01 when an optional key with a value was not matched, and refuses a level the model lacks with A900', async (t) => {
    if (!need(t)) return;
    // -d prints each response's command set: its Status, Error Comment and Offending Element.
    const unmatched = await find({ keys: ['QueryRetrieveLevel=STUDY', 'StudyInstanceUID', 'PatientName=Wang*', 'OtherPatientNames=Someone'], extra: ['-d'] });
    assert.equal(unmatched.responses.length, 1, unmatched.output);
    assert.match(unmatched.output, /Status\s*: 0xff01/i);
    const wrongLevel = await find({ keys: ['QueryRetrieveLevel=PATIENT', 'PatientID'], extra: ['-d'] });
    assert.equal(wrongLevel.responses.length, 0);
    assert.match(wrongLevel.output, /Status\s*: 0xa900/i);
    assert.match(wrongLevel.output, /PATIENT is not one of STUDY, SERIES, IMAGE/);
    assert.match(wrongLevel.output, /\(0000,0901\) AT \(0008,0052\)/i, 'Offending Element names Query/Retrieve Level');
    const badDate = await find({ keys: ['QueryRetrieveLevel=STUDY', 'StudyDate=2024-13-45', 'StudyInstanceUID'], extra: ['-d'] });
    assert.match(badDate.output, /Status\s*: 0xc000/i, badDate.output);
    assert.match(badDate.output, /\(0000,0901\) AT \(0008,0020\)/i);
  });

  it('stops at a C-CANCEL (findscu --cancel) with status Cancel (FE00)', async (t) => {
    if (!need(t)) return;
    const { output, responses } = await find({ keys: ['QueryRetrieveLevel=IMAGE', `StudyInstanceUID=${studies.many.study}`, `SeriesInstanceUID=${studies.many.series}`, 'SOPInstanceUID'], extra: ['--cancel', '1'] });
    assert.match(output, /Sending Cancel Request/);
    assert.match(output, /Received Final Find Response \(Cancel: MatchingTerminatedDueToCancelRequest\)/, output);
    assert.ok(responses.length >= 1 && responses.length < 700, `${responses.length} responses before the cancel took effect`);
    t.diagnostic(`${responses.length} of 700 matches answered before the cancel took effect`);
  });

  it('answers Orthanc, a PACS querying it through its REST API (/modalities/{name}/query)', async (t) => {
    if (!requirePeer(t, available && orthancAvailable(), 'DCMTK, python3-pydicom and Orthanc')) return;
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'ORTHANC_FIND' });
    // Orthanc writes its queries in its DefaultEncoding: UTF-8 here, so a Chinese name can be asked for.
    const orthanc = await startOrthancPeer({
      aeTitle: 'ORTHANC_FIND',
      modalities: { yingyun: { aeTitle: 'YINGYUN', host: '127.0.0.1', port: system.dicomPort } },
      settings: { DefaultEncoding: 'Utf8' },
    });
    t.after(() => orthanc.stop());
    const query = await orthanc.rest<{ ID: string }>('POST', '/modalities/yingyun/query', { Level: 'Study', Query: { PatientName: '王*', StudyDate: '', AccessionNumber: '' } });
    const answers = await orthanc.rest<Array<Record<string, { Value: unknown }>>>('GET', `/queries/${query.ID}/answers?expand&simplify`);
    assert.equal(answers.length, 1, JSON.stringify(answers));
    const answer = answers[0] as unknown as Record<string, string>;
    assert.equal(answer.PatientName, 'Wang^XiaoDong=王^小东');
    assert.equal(answer.StudyInstanceUID, studies.wang.study);
    assert.equal(answer.AccessionNumber, 'QS23031400017');
    const series = await orthanc.rest<{ ID: string }>('POST', '/modalities/yingyun/query', { Level: 'Series', Query: { StudyInstanceUID: studies.wang.study, Modality: '', SeriesInstanceUID: '' } });
    const seriesAnswers = await orthanc.rest<Array<Record<string, string>>>('GET', `/queries/${series.ID}/answers?expand&simplify`);
    assert.deepEqual(seriesAnswers.map((found) => found.SeriesInstanceUID), [studies.wang.series]);
  });

  it('audits each query as a QIDO-RS search is audited', async (t) => {
    if (!need(t)) return;
    await find({ keys: ['QueryRetrieveLevel=STUDY', `StudyInstanceUID=${studies.tao.study}`, 'PatientName'] });
    await system.runtime.audit.drain();
    const { rows } = await system.runtime.db.pool.query<{ user_name: string; study_uids: string[]; detail: Record<string, unknown>; patient_id: string }>(
      `SELECT user_name, study_uids, detail, patient_id FROM audit_events WHERE event_type = 'query' AND detail->>'service' = 'C-FIND' ORDER BY id DESC LIMIT 1`,
    );
    assert.equal(rows[0]?.user_name, 'FINDSCU');
    assert.deepEqual(rows[0]!.study_uids, [studies.tao.study]);
    assert.equal(rows[0]!.patient_id, 'NLXZYY|NL000321');
    assert.deepEqual({ level: rows[0]!.detail.level, matches: rows[0]!.detail.matches }, { level: 'STUDY', matches: 1 });
  });

  it('runs a study-level C-FIND on the QIDO indexes, never reading series or instances', async (t) => {
    if (!need(t)) return;
    const conditions = [conditionFor('00100010', '王*', 'PatientName')!, conditionFor('00080020', '20240101-20241231', 'StudyDate')!];
    const sql = studySearchSql(
      { level: 'study', scope: {}, conditions, limit: 200, offset: 0, fuzzyMatching: false, include: new Set(), notMatched: [], orderBy: [] },
      { institutionIds: [system.institutionId], linkedPatientsPurpose: null, maskIdentity: false },
    );
    const { rows } = await system.runtime.db.pool.query(`EXPLAIN ${sql.text}`, sql.values);
    const plan = rows.map((row: Record<string, string>) => row['QUERY PLAN']).join('\n');
    assert.doesNotMatch(plan, /\b(instances|series)\b/, plan);
  });
});
