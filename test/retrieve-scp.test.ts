import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import dicomParser, { type DataSet } from 'dicom-parser';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { DICOM_PARSER_OPTIONS, parseInstance } from '../archive/dicom/parse.ts';
import { freePort, stopChild, waitForPort } from '../bench/peers.ts';
import dimse from '../gateway/dimse/library.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { waitFor } from './support/edge.ts';
import { orthancAvailable, startOrthancPeer, type OrthancPeer } from './support/orthanc.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const available = ['storescu', 'storescp', 'movescu', 'getscu', 'dcmodify'].every(commandExists) && fs.existsSync(PYDICOM_TEST_FILES);
const EXPLICIT = '1.2.840.10008.1.2.1';
const IMPLICIT = '1.2.840.10008.1.2';
const JPEG_LS_LOSSLESS = '1.2.840.10008.1.2.4.80';
const uid = () => `2.25.${BigInt(`0x${randomUUID().replace(/-/g, '')}`)}`;
const parse = (part10: Buffer): DataSet => dicomParser.parseDicom(part10, DICOM_PARSER_OPTIONS);
const datasetOf = (part10: Buffer) => part10.subarray(parseInstance(part10).datasetOffset);
const pixelsOf = (dataSet: DataSet) => {
  const element = dataSet.elements.x7fe00010!;
  return Buffer.from(dataSet.byteArray.buffer, dataSet.byteArray.byteOffset + element.dataOffset, element.length);
};

/** The test study: one patient, two series, five instances in five transfer syntaxes, all derived from pydicom samples. */
interface TestInstance {
  source: string;
  /** storescu's option to propose (and send in) the file's own transfer syntax. */
  storescuOption: string[];
  transferSyntaxUid: string;
  series: 'first' | 'second';
  sopInstanceUid: string;
  /** The uncompressed pixels it holds (MR_small.dcm's for the MR derivatives), for transcoded copies; null for lossy. */
  pixelOracle: string | null;
}

/** A storescp the test starts: its AE title, port, folder, and what it received by SOP Instance UID. */
interface Receiver {
  aeTitle: string;
  port: number;
  directory: string;
  child: ChildProcess;
  /** What storescp printed (with -d, each C-STORE-RQ's command set). */
  log(): string;
  received(): Map<string, Buffer>;
  clear(): void;
}

describe('Query/Retrieve SCP: C-MOVE and C-GET (DCMTK movescu/getscu, storescp, dcmjs-dimse, Orthanc)', () => {
  let system: TestSystem;
  let work: string;
  const study = { studyInstanceUid: uid(), patientId: `PID-${randomUUID().slice(0, 8)}`, firstSeries: uid(), secondSeries: uid() };
  const instances: TestInstance[] = [
    { source: 'MR_small.dcm', storescuOption: [], transferSyntaxUid: EXPLICIT, series: 'first', sopInstanceUid: uid(), pixelOracle: 'MR_small.dcm' },
    { source: 'MR_small_jpeg_ls_lossless.dcm', storescuOption: ['-xt'], transferSyntaxUid: JPEG_LS_LOSSLESS, series: 'first', sopInstanceUid: uid(), pixelOracle: 'MR_small.dcm' },
    { source: 'MR_small_RLE.dcm', storescuOption: ['-xr'], transferSyntaxUid: '1.2.840.10008.1.2.5', series: 'first', sopInstanceUid: uid(), pixelOracle: 'MR_small.dcm' },
    { source: 'MR_small_jp2klossless.dcm', storescuOption: ['-xv'], transferSyntaxUid: '1.2.840.10008.1.2.4.90', series: 'second', sopInstanceUid: uid(), pixelOracle: 'MR_small.dcm' },
    { source: 'SC_rgb_jpeg_dcmtk.dcm', storescuOption: ['-xy'], transferSyntaxUid: '1.2.840.10008.1.2.4.50', series: 'second', sopInstanceUid: uid(), pixelOracle: null },
  ];
  const receivers: Receiver[] = [];
  let asStored: Receiver;
  let uncompressedOnly: Receiver;
  let implicitOnly: Receiver;
  let slow: Receiver;
  let otherInstitutionReceiver: Receiver;

  async function startReceiver(aeTitle: string, options: string[], institutionCode = 'TEST_HOSPITAL'): Promise<Receiver> {
    const port = await freePort();
    const directory = fs.mkdtempSync(path.join(work, `${aeTitle}-`));
    // +B: the dataset written exactly as it arrived, so its bytes can be compared with what Yingyun stored.
    const child = spawn('storescp', ['+B', '-aet', aeTitle, '-od', directory, ...options, String(port)], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, TCP_NODELAY: '1' } });
    let log = '';
    child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
    await waitForPort(port);
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode, aeTitle, host: '127.0.0.1', port });
    const receiver: Receiver = {
      aeTitle,
      port,
      directory,
      child,
      log: () => log,
      received: () => new Map(fs.readdirSync(directory).map((name) => {
        const part10 = fs.readFileSync(path.join(directory, name));
        return [parse(part10).string('x00080018')!, part10] as const;
      })),
      clear: () => {
        for (const name of fs.readdirSync(directory)) fs.rmSync(path.join(directory, name));
      },
    };
    receivers.push(receiver);
    return receiver;
  }

  const storedObject = async (sopInstanceUid: string): Promise<Buffer> => {
    const { rows } = await system.runtime.db.pool.query<{ object_key: string }>('SELECT r.object_key FROM instances i JOIN receipts r ON r.id = i.receipt_id WHERE i.sop_instance_uid = $1', [sopInstanceUid]);
    return system.runtime.store.get(rows[0]!.object_key);
  };
  const movescu = (args: string[], callingAeTitle = 'MOVESCU') => runDcmtk('movescu', ['-v', '-aet', callingAeTitle, '-aec', 'YINGYUN', ...args, '127.0.0.1', String(system.dicomPort)], 120_000);
  const seriesUid = (instance: TestInstance) => (instance.series === 'first' ? study.firstSeries : study.secondSeries);

  /** Every instance arrived as stored: the dataset bytes after File Meta are those Yingyun holds. */
  async function assertAsStored(received: Map<string, Buffer>, expected: TestInstance[]): Promise<void> {
    assert.deepEqual([...received.keys()].sort(), expected.map((instance) => instance.sopInstanceUid).sort());
    for (const instance of expected) {
      const part10 = received.get(instance.sopInstanceUid)!;
      assert.equal(parse(part10).string('x00020010'), instance.transferSyntaxUid, instance.source);
      assert.ok(datasetOf(part10).equals(datasetOf(await storedObject(instance.sopInstanceUid))), `${instance.source}: dataset bytes identical`);
    }
  }

  /** Every instance arrived, the compressed ones transcoded into `transferSyntaxUid`, pixels as the uncompressed original. */
  async function assertTranscoded(received: Map<string, Buffer>, transferSyntaxUid: string): Promise<void> {
    assert.equal(received.size, instances.length);
    for (const instance of instances) {
      const dataSet = parse(received.get(instance.sopInstanceUid)!);
      if (instance.transferSyntaxUid === transferSyntaxUid) {
        assert.ok(datasetOf(received.get(instance.sopInstanceUid)!).equals(datasetOf(await storedObject(instance.sopInstanceUid))), `${instance.source}: as stored`);
        continue;
      }
      assert.equal(dataSet.string('x00020010'), transferSyntaxUid, instance.source);
      if (instance.pixelOracle) {
        const oracle = parse(fs.readFileSync(path.join(PYDICOM_TEST_FILES, instance.pixelOracle)));
        assert.ok(pixelsOf(dataSet).equals(pixelsOf(oracle)), `${instance.source}: pixels identical to ${instance.pixelOracle}`);
      } else {
        assert.equal(dataSet.string('x00280004'), 'RGB', `${instance.source}: decoded colour`);
        assert.equal(dataSet.string('x00282110'), '01', `${instance.source}: still lossy`);
      }
    }
  }

  before(async () => {
    if (!available) return;
    system = await startTestSystem();
    work = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-retrieve-scp-'));
    for (const instance of instances) {
      const file = path.join(work, `${instance.sopInstanceUid}.dcm`);
      fs.copyFileSync(path.join(PYDICOM_TEST_FILES, instance.source), file);
      const modified = await runDcmtk('dcmodify', [
        '-nb',
        '-m', `(0010,0020)=${study.patientId}`,
        '-m', `(0020,000D)=${study.studyInstanceUid}`,
        '-m', `(0020,000E)=${seriesUid(instance)}`,
        '-m', `(0008,0018)=${instance.sopInstanceUid}`,
        file,
      ]);
      assert.equal(modified.code, 0, modified.output);
      const stored = await runDcmtk('storescu', ['-aet', 'COUNTY_PACS', '-aec', 'YINGYUN', ...instance.storescuOption, '127.0.0.1', String(system.dicomPort), file]);
      assert.equal(stored.code, 0, `${instance.source}: ${stored.output}`);
    }
    // The index job files each receipt under its study and series: a retrieve finds instances once it has.
    const indexed = async () => (await system.runtime.db.pool.query('SELECT 1 FROM instances WHERE sop_instance_uid = ANY ($1::text[])', [instances.map((instance) => instance.sopInstanceUid)])).rowCount === instances.length;
    await waitFor('the test study to be indexed', indexed, 60_000);
    for (const instance of instances) assert.equal(parseInstance(await storedObject(instance.sopInstanceUid)).transferSyntaxUid, instance.transferSyntaxUid, `${instance.source} stored as sent`);
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'OTHER_HOSPITAL', name: '另一家医院 Other Hospital', kind: 'hospital' });
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'OTHER_HOSPITAL', aeTitle: 'OTHER_MOVESCU' });
    asStored = await startReceiver('DEST_ALL', ['+xa', '-d']);
    uncompressedOnly = await startReceiver('DEST_LE', []);
    implicitOnly = await startReceiver('DEST_IMPLICIT', ['+xi']);
    // Holds each C-STORE response back (the command runs before the response), so a C-CANCEL arrives mid-move.
    slow = await startReceiver('DEST_SLOW', ['+xa', '--exec-on-reception', 'sleep 0.5', '--exec-sync']);
    otherInstitutionReceiver = await startReceiver('OTHER_DEST', ['+xa'], 'OTHER_HOSPITAL');
  });
  after(async () => {
    for (const receiver of receivers) await stopChild(receiver.child);
    await system?.shutdown();
    if (work) fs.rmSync(work, { recursive: true, force: true });
  });

  it('C-MOVE, Study Root, STUDY level: every instance to the registered destination, each dataset byte for byte as stored', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    asStored.clear();
    const moved = await movescu(['-S', '-aem', asStored.aeTitle, '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
    assert.equal(moved.code, 0, moved.output);
    assert.match(moved.output, /Received Final Move Response \(Success\)/);
    assert.match(moved.output, /Received Move Response 4 \(Pending\)/, 'a pending response per sub-operation');
    await assertAsStored(asStored.received(), instances);
    // movescu's C-MOVE is its message 1: each C-STORE-RQ names it and its AE title (PS3.7 9.3.1.1).
    assert.equal(asStored.log().match(/Move Originator AE Title *: MOVESCU\n/g)?.length, instances.length, 'Move Originator AE Title on every C-STORE-RQ');
    assert.equal(asStored.log().match(/Move Originator ID *: 1\n/g)?.length, instances.length, 'Move Originator Message ID on every C-STORE-RQ');
    const { rows } = await system.runtime.db.pool.query(`SELECT detail FROM audit_events WHERE event_type = 'export' AND $1 = ANY (study_uids)`, [study.studyInstanceUid]);
    assert.ok(rows.some((row) => row.detail.destination === asStored.aeTitle && row.detail.service === 'C-MOVE' && row.detail.instances === instances.length), JSON.stringify(rows));
  });

  it('C-MOVE at PATIENT (Patient Root), SERIES (Patient Root) and IMAGE level with a list of SOP Instance UIDs (Study Root)', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const cases: Array<{ keys: string[]; expected: TestInstance[] }> = [
      { keys: ['-P', '-k', 'QueryRetrieveLevel=PATIENT', '-k', `PatientID=${study.patientId}`], expected: instances },
      {
        keys: ['-P', '-k', 'QueryRetrieveLevel=SERIES', '-k', `PatientID=${study.patientId}`, '-k', `StudyInstanceUID=${study.studyInstanceUid}`, '-k', `SeriesInstanceUID=${study.secondSeries}`],
        expected: instances.filter((instance) => instance.series === 'second'),
      },
      {
        keys: ['-S', '-k', 'QueryRetrieveLevel=IMAGE', '-k', `StudyInstanceUID=${study.studyInstanceUid}`, '-k', `SeriesInstanceUID=${study.firstSeries}`, '-k', `SOPInstanceUID=${instances[0]!.sopInstanceUid}\\${instances[1]!.sopInstanceUid}`],
        expected: instances.slice(0, 2),
      },
    ];
    for (const { keys, expected } of cases) {
      asStored.clear();
      const moved = await movescu([...keys, '-aem', asStored.aeTitle]);
      assert.equal(moved.code, 0, moved.output);
      assert.match(moved.output, /Final Move Response \(Success\)/, keys.join(' '));
      await assertAsStored(asStored.received(), expected);
    }
  });

  it('transcodes for a destination that takes only uncompressed (Explicit, or Implicit VR Little Endian only): lossless pixels identical, lossy marked lossy', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    for (const [receiver, transferSyntaxUid] of [[uncompressedOnly, EXPLICIT], [implicitOnly, IMPLICIT]] as const) {
      receiver.clear();
      const moved = await movescu(['-S', '-aem', receiver.aeTitle, '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
      assert.equal(moved.code, 0, moved.output);
      assert.match(moved.output, /Final Move Response \(Success\)/, receiver.aeTitle);
      await assertTranscoded(receiver.received(), transferSyntaxUid);
    }
  });

  it('refuses an unknown Move Destination and one of another institution with A801, and answers a caller of another institution with no match', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const keys = ['-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`];
    for (const destination of ['NOBODY', otherInstitutionReceiver.aeTitle]) {
      const moved = await movescu([...keys, '-aem', destination]);
      assert.match(moved.output, /Final Move Response \(Refused: MoveDestinationUnknown\)/, `${destination}: ${moved.output}`);
    }
    const foreign = await movescu([...keys, '-aem', otherInstitutionReceiver.aeTitle], 'OTHER_MOVESCU');
    assert.equal(foreign.code, 0, foreign.output);
    assert.match(foreign.output, /Final Move Response \(Success\)/);
    assert.doesNotMatch(foreign.output, /Pending/);
    assert.equal(otherInstitutionReceiver.received().size, 0, 'nothing reached the other institution');
  });

  it('C-GET (getscu, role selection): on the same association, as stored where the context allows, transcoded where not', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const getscu = async (args: string[]) => {
      const directory = fs.mkdtempSync(path.join(work, 'getscu-'));
      const result = await runDcmtk('getscu', ['-v', '-aet', 'GETSCU', '-aec', 'YINGYUN', '-od', directory, ...args, '127.0.0.1', String(system.dicomPort)], 120_000);
      assert.equal(result.code, 0, result.output);
      return { output: result.output, received: new Map(fs.readdirSync(directory).map((name) => [parse(fs.readFileSync(path.join(directory, name))).string('x00080018')!, fs.readFileSync(path.join(directory, name))] as const)) };
    };
    // getscu's default contexts are uncompressed only: the compressed instances come transcoded.
    const whole = await getscu(['-S', '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
    assert.match(whole.output, /Received C-GET Response \(Success\)/);
    assert.match(whole.output, /Number of Completed Suboperations : 5/);
    await assertTranscoded(whole.received, EXPLICIT);
    // +xt proposes JPEG-LS Lossless: that instance comes as stored (Patient Root, IMAGE level).
    const jpegLs = instances[1]!;
    const one = await getscu(['+xt', '-P', '-k', 'QueryRetrieveLevel=IMAGE', '-k', `PatientID=${study.patientId}`, '-k', `StudyInstanceUID=${study.studyInstanceUid}`, '-k', `SeriesInstanceUID=${study.firstSeries}`, '-k', `SOPInstanceUID=${jpegLs.sopInstanceUid}`]);
    assert.deepEqual([...one.received.keys()], [jpegLs.sopInstanceUid]);
    assert.equal(parse(one.received.get(jpegLs.sopInstanceUid)!).string('x00020010'), JPEG_LS_LOSSLESS);
  });

  it('C-GET without a storage context in the SCP role: every sub-operation fails, A702 with the Failed SOP Instance UID List', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const request = dimse.requests.CGetRequest.createSeriesGetRequest(study.studyInstanceUid, study.secondSeries);
    // Only the C-GET context is proposed: no storage SOP class with the requestor as SCP.
    request.setAddStorageSopClassesToAssociation(false);
    const finals = await dcmjsRetrieve(request, 'GETSCU');
    const final = finals.at(-1)!;
    assert.equal(final.getStatus(), 0xa702);
    assert.equal(final.getFailures(), 2);
    assert.equal(final.getCompleted(), 0);
    const failed = final.getDataset()?.getElements().FailedSOPInstanceUIDList as string | string[];
    assert.deepEqual([failed].flat().sort(), instances.filter((instance) => instance.series === 'second').map((instance) => instance.sopInstanceUid).sort());
  });

  it('a C-CANCEL during a C-MOVE stops the sub-operations: Cancel (FE00) with the counts, the rest never sent', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    slow.clear();
    const responses = await dcmjsRetrieve(dimse.requests.CMoveRequest.createStudyMoveRequest(slow.aeTitle, study.studyInstanceUid), 'MOVESCU', { cancelAfterFirstPending: true });
    const final = responses.at(-1)!;
    assert.equal(final.getStatus(), 0xfe00, `statuses ${responses.map((response) => response.getStatus().toString(16)).join(' ')}`);
    assert.ok(final.getRemaining() > 0, 'some sub-operations were never started');
    assert.equal(final.getCompleted() + final.getFailures() + final.getWarnings() + final.getRemaining(), instances.length);
    assert.equal(slow.received().size, final.getCompleted(), 'exactly the completed ones arrived');
  });

  it('a C-CANCEL during a C-GET stops its sub-operations on the association: Cancel (FE00) with the counts', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const stored: string[] = [];
    // Each C-STORE is answered after 300 ms, so the C-CANCEL sent at the first pending response arrives mid-retrieve.
    const responses = await dcmjsRetrieve(dimse.requests.CGetRequest.createStudyGetRequest(study.studyInstanceUid), 'GETSCU', { cancelAfterFirstPending: true, storeDelayMs: 300, stored });
    const final = responses.at(-1)!;
    assert.equal(final.getStatus(), 0xfe00, `statuses ${responses.map((response) => response.getStatus().toString(16)).join(' ')}`);
    assert.ok(final.getRemaining() > 0);
    assert.equal(final.getCompleted() + final.getFailures() + final.getWarnings() + final.getRemaining(), instances.length);
    assert.equal(stored.length, final.getCompleted(), 'no C-STORE after the cancel but the one under way');
  });

  it('Orthanc: Yingyun C-MOVEs a study into Orthanc, and Orthanc C-MOVEs it from Yingyun to itself', async (t) => {
    if (!requirePeer(t, available && orthancAvailable(), 'DCMTK, pydicom test files and Orthanc')) return;
    const orthanc: OrthancPeer = await startOrthancPeer({ modalities: { yingyun: { aeTitle: 'YINGYUN', host: '127.0.0.1', port: system.dicomPort } } });
    t.after(() => orthanc.stop());
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: orthanc.aeTitle, host: '127.0.0.1', port: orthanc.port });
    const orthancInstances = async () => (await orthanc.rest<string[]>('GET', '/instances?expand')).map((instance) => (instance as unknown as { MainDicomTags: { SOPInstanceUID: string } }).MainDicomTags.SOPInstanceUID).sort();

    const moved = await movescu(['-S', '-aem', orthanc.aeTitle, '-k', 'QueryRetrieveLevel=STUDY', '-k', `StudyInstanceUID=${study.studyInstanceUid}`]);
    assert.match(moved.output, /Final Move Response \(Success\)/, moved.output);
    assert.deepEqual(await orthancInstances(), instances.map((instance) => instance.sopInstanceUid).sort());

    for (const studyId of await orthanc.rest<string[]>('GET', '/studies')) await orthanc.rest('DELETE', `/studies/${studyId}`);
    assert.deepEqual(await orthancInstances(), []);
    await orthanc.rest('POST', '/modalities/yingyun/move', { Level: 'Study', Resources: [{ StudyInstanceUID: study.studyInstanceUid }], TargetAet: orthanc.aeTitle, Synchronous: true });
    assert.deepEqual(await orthancInstances(), instances.map((instance) => instance.sopInstanceUid).sort());
  });

  // Last: it deletes a stored object.
  it('an instance whose stored object is gone fails alone: Warning (B000), the others delivered, its UID in the Failed SOP Instance UID List', async (t) => {
    if (!requirePeer(t, available, 'DCMTK and pydicom test files')) return;
    const [kept, alsoKept, lost] = instances.filter((instance) => instance.series === 'first');
    const { rows } = await system.runtime.db.pool.query<{ object_key: string }>('SELECT r.object_key FROM instances i JOIN receipts r ON r.id = i.receipt_id WHERE i.sop_instance_uid = $1', [lost!.sopInstanceUid]);
    await system.runtime.store.delete(rows[0]!.object_key);
    asStored.clear();
    const responses = await dcmjsRetrieve(dimse.requests.CMoveRequest.createSeriesMoveRequest(asStored.aeTitle, study.studyInstanceUid, study.firstSeries), 'MOVESCU');
    const final = responses.at(-1)!;
    assert.equal(final.getStatus(), 0xb000);
    assert.deepEqual([final.getCompleted(), final.getFailures(), final.getWarnings()], [2, 1, 0]);
    assert.equal(final.getDataset()?.getElements().FailedSOPInstanceUIDList, lost!.sopInstanceUid);
    await assertAsStored(asStored.received(), [kept!, alsoKept!]);
  });

  /**
   * A C-MOVE or C-GET from dcmjs-dimse's Client, with every response; `cancelAfterFirstPending` sends
   * C-CANCEL at the first pending response. A C-GET's C-STORE sub-operations are answered Success after
   * `storeDelayMs` and their SOP Instance UIDs collected in `stored`.
   */
  function dcmjsRetrieve(
    request: InstanceType<typeof dimse.requests.CMoveRequest> | InstanceType<typeof dimse.requests.CGetRequest>,
    callingAeTitle: string,
    options: { cancelAfterFirstPending?: boolean; storeDelayMs?: number; stored?: string[] } = {},
  ) {
    type RetrieveResponse = InstanceType<typeof dimse.responses.CMoveResponse>;
    return new Promise<RetrieveResponse[]>((resolve, reject) => {
      const client = new dimse.Client();
      const responses: RetrieveResponse[] = [];
      request.on('response', (response: RetrieveResponse) => {
        responses.push(response);
        if (options.cancelAfterFirstPending && response.getStatus() === 0xff00 && responses.length === 1) client.cancel(request);
      });
      client.on('cStoreRequest', (store: InstanceType<typeof dimse.requests.CStoreRequest>, callback: (response: InstanceType<typeof dimse.responses.CStoreResponse>) => void) => {
        options.stored?.push(store.getDataset()?.getElement('SOPInstanceUID') ?? '');
        const response = dimse.responses.CStoreResponse.fromRequest(store);
        response.setStatus(0x0000);
        setTimeout(() => callback(response), options.storeDelayMs ?? 0);
      });
      client.addRequest(request);
      client.on('networkError', reject);
      client.on('closed', () => resolve(responses));
      client.send('127.0.0.1', system.dicomPort, callingAeTitle, 'YINGYUN');
    });
  }
});
