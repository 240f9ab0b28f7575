import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { checkActionInformation, FAILURE_REASON, failureReasonOf, retryDelayMs, STORAGE_COMMITMENT_SOP_CLASS, STORAGE_COMMITMENT_SOP_INSTANCE } from '../archive/storage-commitment/commitment.ts';
import dimse from '../gateway/dimse/library.ts';
import { isStorageSopClass } from '../gateway/dimse/negotiation.ts';
import { freePort } from '../bench/peers.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { orthancAvailable, startOrthancPeer, type OrthancPeer } from './support/orthanc.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { alterStoredObject } from './support/stored-objects.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const CT = path.join(PYDICOM_TEST_FILES, 'CT_small.dcm');
const MR = path.join(PYDICOM_TEST_FILES, 'MR_small.dcm');
const RT_PLAN = path.join(PYDICOM_TEST_FILES, 'rtplan.dcm');
const IMPLICIT_LITTLE_ENDIAN = '1.2.840.10008.1.2';
const { Client, Dataset, Server, Scp, requests, responses, constants } = dimse;

describe('storage commitment rules (PS3.4 Annex J)', () => {
  test('the Action Information: missing attributes 0120, empty ones 0121, no UID 0115', () => {
    assert.deepEqual(checkActionInformation(undefined), { ok: false, status: 0x0120, errorComment: 'no Action Information' });
    assert.equal((checkActionInformation({ ReferencedSOPSequence: [{ ReferencedSOPClassUID: '1.2', ReferencedSOPInstanceUID: '1.3' }] }) as { status: number }).status, 0x0120);
    assert.equal((checkActionInformation({ TransactionUID: '1.2.3' }) as { status: number }).status, 0x0120);
    assert.equal((checkActionInformation({ TransactionUID: '1.2.3', ReferencedSOPSequence: [] }) as { status: number }).status, 0x0121);
    assert.equal((checkActionInformation({ TransactionUID: 'abc', ReferencedSOPSequence: [{ ReferencedSOPClassUID: '1.2', ReferencedSOPInstanceUID: '1.3' }] }) as { status: number }).status, 0x0115);
    assert.equal((checkActionInformation({ TransactionUID: '1.2.3', ReferencedSOPSequence: [{ ReferencedSOPClassUID: '1.2' }] }) as { status: number }).status, 0x0120);
    assert.equal((checkActionInformation({ TransactionUID: '1.2.3', ReferencedSOPSequence: [{ ReferencedSOPClassUID: '1.02', ReferencedSOPInstanceUID: '1.3' }] }) as { status: number }).status, 0x0115);
    assert.deepEqual(checkActionInformation({ TransactionUID: '2.25.7', ReferencedSOPSequence: [{ ReferencedSOPClassUID: '1.2.840.10008.5.1.4.1.1.2', ReferencedSOPInstanceUID: '1.3' }] }), {
      ok: true,
      transactionUid: '2.25.7',
      references: [{ sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.3' }],
    });
  });

  test('each reference: 0122 for a class that is not storage, 0112 unknown, 0119 other class, 0110 when the object no longer verifies', async () => {
    const ct = { sopClassUid: '1.2.840.10008.5.1.4.1.1.2', sopInstanceUid: '1.2.3' };
    const held = (verified: boolean) => ({ sopClassUid: ct.sopClassUid, verifies: async () => verified });
    assert.equal(await failureReasonOf({ ...ct, sopClassUid: STORAGE_COMMITMENT_SOP_CLASS }, held(true), isStorageSopClass), FAILURE_REASON.referencedSopClassNotSupported);
    assert.equal(await failureReasonOf(ct, undefined, isStorageSopClass), FAILURE_REASON.noSuchObjectInstance);
    assert.equal(await failureReasonOf({ ...ct, sopClassUid: '1.2.840.10008.5.1.4.1.1.4' }, held(true), isStorageSopClass), FAILURE_REASON.classInstanceConflict);
    assert.equal(await failureReasonOf(ct, held(false), isStorageSopClass), FAILURE_REASON.processingFailure);
    assert.equal(await failureReasonOf(ct, held(true), isStorageSopClass), null);
  });

  test('back-off doubles from the base up to the cap', () => {
    const policy = { retryBaseMs: 100, retryMaxMs: 500 };
    assert.deepEqual([1, 2, 3, 4, 5].map((attempt) => retryDelayMs(attempt, policy)), [100, 200, 400, 500, 500]);
  });
});

describe('storage commitment with Orthanc as the PACS', () => {
  let system: TestSystem;
  let orthanc: OrthancPeer;

  before(async () => {
    if (!orthancAvailable()) return;
    system = await startTestSystem({ YINGYUN_FORWARD_RETRY_BASE_MS: '200', YINGYUN_FORWARD_RETRY_MAX_MS: '1000' });
    orthanc = await startOrthancPeer({ aeTitle: 'ORTHANC_PACS', modalities: { yingyun: { aeTitle: system.aeTitle, host: '127.0.0.1', port: system.dicomPort } } });
    // Yingyun sends reports to Orthanc on a new association: its registry says where Orthanc listens.
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'ORTHANC_PACS', host: '127.0.0.1', port: orthanc.port });
  });

  after(async () => {
    await orthanc?.stop();
    await system?.shutdown();
  });

  test('Orthanc C-STOREs with storage commitment and gets every instance committed', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc (/usr/sbin/Orthanc)')) return;
    const ids = [await orthanc.upload(await fs.readFile(CT)), await orthanc.upload(await fs.readFile(MR))];
    const job = await orthanc.rest<{ StorageCommitmentTransactionUID?: string }>('POST', '/modalities/yingyun/store', { Resources: ids, StorageCommitment: true, Synchronous: true });
    const transactionUid = job.StorageCommitmentTransactionUID;
    assert.ok(transactionUid, `Orthanc's answer names the transaction: ${JSON.stringify(job)}`);
    const report = await pollCommitment(orthanc, transactionUid);
    assert.equal(report.Status, 'Success', JSON.stringify(report));
    const committed = new Set(report.Success.map((instance) => instance.SOPInstanceUID));
    for (const file of [CT, MR]) assert.ok(committed.has(parseInstance(await fs.readFile(file)).sopInstanceUid));
    assert.deepEqual(report.Failures, []);
  });

  test('Orthanc C-FINDs Yingyun and finds the studies it committed', async (t) => {
    if (!requirePeer(t, orthancAvailable(), 'Orthanc (/usr/sbin/Orthanc)')) return;
    // C-FIND reads the index, which the index job fills after each receipt.
    await system.runtime.queue.whenIdle();
    const query = await orthanc.rest<{ ID: string }>('POST', '/modalities/yingyun/query', { Level: 'Study', Query: { PatientID: '', StudyInstanceUID: '' } });
    const answers = await orthanc.rest<Array<Record<string, string>>>('GET', `/queries/${query.ID}/answers?expand&simplify`);
    const studies = new Set(answers.map((answer) => answer.StudyInstanceUID));
    for (const file of [CT, MR]) assert.ok(studies.has(parseInstance(await fs.readFile(file)).studyInstanceUid), `found ${[...studies].join(', ')}`);
  });
});

interface OrthancCommitmentReport {
  Status: 'Pending' | 'Success' | 'Failure';
  Success: Array<{ SOPClassUID: string; SOPInstanceUID: string }>;
  Failures: Array<{ SOPClassUID: string; SOPInstanceUID: string; FailureReason: number }>;
}

/** Orthanc's record of a transaction it asked for: Pending until the N-EVENT-REPORT arrives. */
function pollCommitment(orthanc: OrthancPeer, transactionUid: string): Promise<OrthancCommitmentReport> {
  return eventually(`Orthanc's storage commitment report ${transactionUid}`, async () => {
    const report = await orthanc.rest<OrthancCommitmentReport>('GET', `/storage-commitment/${transactionUid}`);
    return report.Status === 'Pending' ? undefined : report;
  });
}

/** Waits for what the system does in the background: `probe` until it answers, for 30 s at most (then fails, saying what). */
async function eventually<T>(what: string, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const answer = await probe();
    if (answer !== undefined) return answer;
    if (Date.now() > deadline) throw new Error(`still waiting after 30 s for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface RequestRow {
  state: string;
  attempts: number;
  deliveredOn: string | null;
  lastError: string | null;
}

async function requestRow(system: TestSystem, transactionUid: string): Promise<RequestRow | undefined> {
  const { rows } = await system.runtime.db.pool.query<RequestRow>(
    'SELECT state, attempts, delivered_on AS "deliveredOn", last_error AS "lastError" FROM storage_commitment_requests WHERE transaction_uid = $1 ORDER BY id DESC LIMIT 1',
    [transactionUid],
  );
  return rows[0];
}

describe('storage commitment from a raw N-ACTION', () => {
  let system: TestSystem;
  const instance = async (file: string) => {
    const parsed = parseInstance(await fs.readFile(file));
    return { sopClassUid: parsed.sopClassUid, sopInstanceUid: parsed.sopInstanceUid };
  };

  before(async () => {
    if (!commandExists('storescu')) return;
    system = await startTestSystem({ YINGYUN_FORWARD_RETRY_BASE_MS: '200', YINGYUN_FORWARD_RETRY_MAX_MS: '1000' });
    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'OTHER_HOSPITAL', name: '另一医院 Other Hospital', kind: 'hospital' });
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'OTHER_HOSPITAL', aeTitle: 'OTHER_PACS' });
    for (const [aeTitle, file] of [['STORESCU', CT], ['STORESCU', MR], ['OTHER_PACS', RT_PLAN]] as const) {
      const sent = await runDcmtk('storescu', ['-aec', system.aeTitle, '-aet', aeTitle, '127.0.0.1', String(system.dicomPort), file]);
      assert.equal(sent.code, 0, sent.output);
    }
  });

  after(async () => {
    await system?.shutdown();
  });

  test('the report on the same association: committed, unknown (0112), altered on disk (0110), another institution\'s (0112)', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    const mr = await instance(MR);
    const rtPlan = await instance(RT_PLAN);
    const unknown = { sopClassUid: ct.sopClassUid, sopInstanceUid: '1.2.826.0.1.3680043.9.7433.99.1' };
    // The MR's object changes on disk after it was received: its SHA-256 no longer verifies.
    const { rows } = await system.runtime.db.pool.query<{ objectKey: string }>('SELECT object_key AS "objectKey" FROM receipts WHERE sop_instance_uid = $1', [mr.sopInstanceUid]);
    await alterStoredObject(path.join(system.dataDir, 'objects'), rows[0]!.objectKey);

    const transactionUid = '2.25.31337000000000000000000000000000001';
    const outcome = await requestCommitment(system, 'COUNTY_PACS', transactionUid, [ct, unknown, mr, rtPlan], { waitForReport: true });
    assert.equal(outcome.actionStatus, 0x0000);
    assert.ok(outcome.report, 'the N-EVENT-REPORT came on the N-ACTION\'s association');
    assert.equal(outcome.report.eventTypeId, 2);
    assert.equal(outcome.report.elements.TransactionUID, transactionUid);
    assert.deepEqual(referenced(outcome.report.elements.ReferencedSOPSequence), [ct]);
    assert.deepEqual(failures(outcome.report.elements.FailedSOPSequence), [
      { ...unknown, failureReason: FAILURE_REASON.noSuchObjectInstance },
      { ...mr, failureReason: FAILURE_REASON.processingFailure },
      { ...rtPlan, failureReason: FAILURE_REASON.noSuchObjectInstance },
    ]);
    const stored = await system.runtime.db.pool.query('SELECT state, delivered_on AS "deliveredOn" FROM storage_commitment_requests WHERE transaction_uid = $1', [transactionUid]);
    assert.deepEqual(stored.rows, [{ state: 'delivered', deliveredOn: 'same-association' }]);
  });

  test('N-ACTION refusals: another action type 0123, another SOP instance 0112, no Referenced SOP Sequence 0120', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    assert.equal((await requestCommitment(system, 'COUNTY_PACS', '2.25.2', [ct], { actionTypeId: 2 })).actionStatus, 0x0123);
    assert.equal((await requestCommitment(system, 'COUNTY_PACS', '2.25.3', [ct], { sopInstanceUid: '1.2.3.4' })).actionStatus, 0x0112);
    assert.equal((await requestCommitment(system, 'COUNTY_PACS', '2.25.4', [])).actionStatus, 0x0120);
  });

  test('after the requestor released, the report comes on a new association Yingyun opens, retried until the requestor listens', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    const port = await freePort();
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'SC_REQUESTOR', host: '127.0.0.1', port });
    const transactionUid = '2.25.31337000000000000000000000000000002';
    const outcome = await requestCommitment(system, 'SC_REQUESTOR', transactionUid, [ct], { waitForReport: false });
    assert.equal(outcome.actionStatus, 0x0000);
    // Nothing listens yet: the first delivery fails and is scheduled again.
    await eventually('a failed first delivery', async () => ((await requestRow(system, transactionUid))?.attempts ?? 0) > 0 || undefined);
    const listener = await startReportListener(port);
    try {
      const received = await eventually('the report at the listener', async () => listener.received());
      assert.equal(received.callingAeTitle, system.aeTitle);
      assert.deepEqual(received.role, { scu: false, scp: true }, 'proposed with SCU-role 0, SCP-role 1');
      assert.equal(received.eventTypeId, 1);
      assert.equal(received.elements.TransactionUID, transactionUid);
      assert.deepEqual(referenced(received.elements.ReferencedSOPSequence), [ct]);
      assert.equal(received.elements.FailedSOPSequence, undefined);
      const row = await eventually('the delivery recorded', async () => {
        const current = await requestRow(system, transactionUid);
        return current?.state === 'owed' ? undefined : current;
      });
      assert.deepEqual([row.state, row.deliveredOn], ['delivered', 'new-association']);
    } finally {
      await listener.close();
    }
  });

  test('a requestor that will not have Yingyun as SCP (role selection answered SCP-role 0) is not sent the report', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    const port = await freePort();
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'SC_NO_ROLE', host: '127.0.0.1', port });
    const listener = await startReportListener(port, { refuseScpRole: true });
    try {
      const transactionUid = '2.25.31337000000000000000000000000000005';
      assert.equal((await requestCommitment(system, 'SC_NO_ROLE', transactionUid, [ct])).actionStatus, 0x0000);
      const row = await eventually('a failed delivery', async () => {
        const current = await requestRow(system, transactionUid);
        return current?.lastError ? current : undefined;
      });
      assert.equal(row.state, 'owed', 'kept, to be tried again');
      assert.match(row.lastError!, /did not accept us in the SCP role/);
    } finally {
      await listener.close();
    }
  });

  test('a Transaction UID the same peer still has owed: every instance of the repeat fails 0131', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    const transactionUid = '2.25.31337000000000000000000000000000003';
    // COUNTY_PACS has no host and port in the registry: released, its first report stays owed.
    assert.equal((await requestCommitment(system, 'COUNTY_PACS', transactionUid, [ct], { waitForReport: false })).actionStatus, 0x0000);
    const repeat = await requestCommitment(system, 'COUNTY_PACS', transactionUid, [ct], { waitForReport: true });
    assert.equal(repeat.actionStatus, 0x0000);
    assert.equal(repeat.report?.eventTypeId, 2);
    assert.deepEqual(failures(repeat.report?.elements.FailedSOPSequence), [{ ...ct, failureReason: FAILURE_REASON.duplicateTransactionUid }]);
  });

  test('a report whose delivering process stopped (its claim lapsed) is delivered by the reconciler', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK storescu')) return;
    const ct = await instance(CT);
    const port = await freePort();
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'SC_RESTARTED', host: '127.0.0.1', port });
    const listener = await startReportListener(port);
    try {
      // Accepted as the N-ACTION handler does, by a process that then stopped before reporting.
      const request = await system.runtime.storageCommitment.accept(
        { callingAeTitle: 'SC_RESTARTED', institutionId: system.institutionId },
        { transactionUid: '2.25.31337000000000000000000000000000004', references: [ct] },
      );
      await system.runtime.db.pool.query("UPDATE storage_commitment_requests SET claimed_until = now() - interval '1 second', next_attempt_at = now() - interval '1 minute' WHERE id = $1", [request.id]);
      const received = await eventually('the report at the listener', async () => listener.received());
      assert.equal(received.elements.TransactionUID, '2.25.31337000000000000000000000000000004');
      assert.deepEqual(referenced(received.elements.ReferencedSOPSequence), [ct]);
    } finally {
      await listener.close();
    }
  });
});

interface ReceivedReport {
  eventTypeId: number;
  elements: Record<string, unknown>;
}

type Reference = { sopClassUid: string; sopInstanceUid: string };

function referenced(sequence: unknown): Reference[] {
  return ((sequence ?? []) as Array<Record<string, string>>).map((item) => ({ sopClassUid: item.ReferencedSOPClassUID!, sopInstanceUid: item.ReferencedSOPInstanceUID! }));
}

function failures(sequence: unknown): Array<Reference & { failureReason: number }> {
  return ((sequence ?? []) as Array<Record<string, unknown>>).map((item) => ({
    sopClassUid: item.ReferencedSOPClassUID as string,
    sopInstanceUid: item.ReferencedSOPInstanceUID as string,
    failureReason: item.FailureReason as number,
  }));
}

/**
 * A storage commitment SCU (dcmjs-dimse's Client): one N-ACTION-RQ. With `waitForReport` it holds
 * the association open after the N-ACTION-RSP (for up to 10 s) and answers an N-EVENT-REPORT on it;
 * otherwise it releases at once.
 */
function requestCommitment(
  system: TestSystem,
  callingAeTitle: string,
  transactionUid: string,
  references: Reference[],
  options: { waitForReport?: boolean; actionTypeId?: number; sopInstanceUid?: string } = {},
): Promise<{ actionStatus?: number; report?: ReceivedReport }> {
  return new Promise((resolve, reject) => {
    const client = new Client();
    const request = new requests.NActionRequest(STORAGE_COMMITMENT_SOP_CLASS, options.sopInstanceUid ?? STORAGE_COMMITMENT_SOP_INSTANCE, options.actionTypeId ?? 1);
    const information: Record<string, unknown> = { TransactionUID: transactionUid };
    if (references.length > 0) information.ReferencedSOPSequence = references.map((reference) => ({ ReferencedSOPClassUID: reference.sopClassUid, ReferencedSOPInstanceUID: reference.sopInstanceUid }));
    request.setDataset(new Dataset(information, IMPLICIT_LITTLE_ENDIAN));
    const outcome: { actionStatus?: number; report?: ReceivedReport } = {};
    request.on('response', (response: dimse.responses.NActionResponse) => (outcome.actionStatus = response.getStatus()));
    client.addRequest(request);
    // A requestor that releases at once takes no report here: dcmjs-dimse sends its A-RELEASE-RQ a
    // timer tick after the N-ACTION-RSP, so a report verified faster can still come first, and is refused.
    client.on('nEventReportRequest', (report: dimse.requests.NEventReportRequest, callback: (response: dimse.responses.NEventReportResponse) => void) => {
      const response = responses.NEventReportResponse.fromRequest(report);
      if (options.waitForReport) outcome.report = { eventTypeId: report.getEventTypeId(), elements: report.getDataset()!.getElements() };
      response.setStatus(options.waitForReport ? constants.Status.Success : constants.Status.ProcessingFailure);
      callback(response);
    });
    client.on('networkError', reject);
    client.on('closed', () => resolve(outcome));
    client.send('127.0.0.1', system.dicomPort, callingAeTitle, system.aeTitle, { associationLingerTimeout: options.waitForReport ? 10_000 : 0 });
  });
}

/** A requestor's own SCP (dcmjs-dimse's Server): takes one storage commitment report on an association Yingyun opens. */
type ListenedReport = ReceivedReport & { callingAeTitle: string; role: { scu: boolean; scp: boolean } };

async function startReportListener(port: number, options: { refuseScpRole?: boolean } = {}): Promise<{ received(): ListenedReport | undefined; close(): Promise<void> }> {
  let report: ListenedReport | undefined;
  const deliver = (received: ListenedReport) => {
    report = received;
  };
  class ReportScp extends Scp {
    private callingAeTitle = '';
    private role = { scu: true, scp: false };
    override associationRequested(association: dimse.association.Association): void {
      this.callingAeTitle = association.getCallingAeTitle();
      for (const { context } of association.getPresentationContexts()) {
        if (context.getAbstractSyntaxUid() !== STORAGE_COMMITMENT_SOP_CLASS) {
          context.setResult(constants.PresentationContextResult.RejectAbstractSyntaxNotSupported);
          continue;
        }
        this.role = { scu: context.getUserRole() === true, scp: context.getProviderRole() === true };
        if (options.refuseScpRole) context.setProviderRole(false);
        context.setResult(constants.PresentationContextResult.Accept, IMPLICIT_LITTLE_ENDIAN);
      }
      this.sendAssociationAccept();
    }
    override nEventReportRequest(request: dimse.requests.NEventReportRequest, callback: (response: dimse.responses.NEventReportResponse) => void): void {
      const response = responses.NEventReportResponse.fromRequest(request);
      response.setStatus(constants.Status.Success);
      callback(response);
      deliver({ eventTypeId: request.getEventTypeId(), elements: request.getDataset()!.getElements(), callingAeTitle: this.callingAeTitle, role: this.role });
    }
    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
    }
  }
  const server = new Server(ReportScp);
  server.listen(port);
  return { received: () => report, close: async () => server.close() };
}
