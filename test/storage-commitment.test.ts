import assert from 'node:assert/strict';
import fs from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { checkActionInformation, FAILURE_REASON, failureReasonOf, retryDelayMs, STORAGE_COMMITMENT_SOP_CLASS } from '../archive/storage-commitment/commitment.ts';
import { isStorageSopClass } from '../gateway/dimse/negotiation.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { orthancAvailable, startOrthancPeer, type OrthancPeer } from './support/orthanc.ts';
import { commandExists, PYDICOM_TEST_FILES, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const CT = path.join(PYDICOM_TEST_FILES, 'CT_small.dcm');
const MR = path.join(PYDICOM_TEST_FILES, 'MR_small.dcm');
const RT_PLAN = path.join(PYDICOM_TEST_FILES, 'rtplan.dcm');

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
});

interface OrthancCommitmentReport {
  Status: 'Pending' | 'Success' | 'Failure';
  Success: Array<{ SOPClassUID: string; SOPInstanceUID: string }>;
  Failures: Array<{ SOPClassUID: string; SOPInstanceUID: string; FailureReason: number }>;
}

/** Orthanc's record of a transaction it asked for: Pending until the N-EVENT-REPORT arrives. */
async function pollCommitment(orthanc: OrthancPeer, transactionUid: string): Promise<OrthancCommitmentReport> {
  for (;;) {
    const report = await orthanc.rest<OrthancCommitmentReport>('GET', `/storage-commitment/${transactionUid}`);
    if (report.Status !== 'Pending') return report;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
