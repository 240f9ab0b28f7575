import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { DicomPeer } from '../archive/db/institutions-repository.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import { addressAllowed } from '../gateway/dimse/peer-gate.ts';
import type { FixtureInstance, Study } from '../fixtures/model.ts';
import { makeSecondaryCaptures } from '../fixtures/modalities.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { makeCertificates, type Certificates } from './support/certificates.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

const available = commandExists('echoscu') && commandExists('storescu') && commandExists('openssl');
const WHAT = 'DCMTK (echoscu, storescu) and openssl';

let studyCounter = 0;
/** Small secondary captures of one new study; `characterSet` is what the text bytes are, `declared` what the file says. */
function makeStudy(options: { count: number; patientName?: string; characterSet?: 'GB18030' | 'ISO_IR 192'; declared?: string }): FixtureInstance[] {
  studyCounter++;
  const study: Study = {
    institution: { name: 'Access Test Hospital', code: 'ACCESS', address: 'Nowhere 1', patientIdIssuer: 'ACCESS', characterSet: options.characterSet ?? 'ISO_IR 192' },
    patient: { name: options.patientName ?? `Test^Patient${studyCounter}`, id: `AT${String(studyCounter).padStart(4, '0')}`, birthDate: '19800101', sex: 'O' },
    accessionNumber: `ACC${studyCounter}`,
    date: '20241105',
    time: '101500',
    description: 'Access test',
    referringPhysicianName: '',
  };
  return [...makeSecondaryCaptures({ study, count: options.count, rows: 16, columns: 16, seed: `dimse-access-${process.pid}`, ...(options.declared ? { overrides: { SpecificCharacterSet: options.declared } } : {}) })];
}

describe('DIMSE access control and DICOM TLS with DCMTK peers', () => {
  let system: TestSystem;
  let certificates: Certificates;
  let workDir: string;

  before(async () => {
    if (!available) return;
    certificates = makeCertificates();
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-dimse-access-'));
    system = await startTestSystem({
      YINGYUN_DICOM_TLS_PORT: '0',
      YINGYUN_DICOM_TLS_CERT: certificates.serverCert,
      YINGYUN_DICOM_TLS_KEY: certificates.serverKey,
      YINGYUN_DICOM_TLS_CA: certificates.caCert,
      YINGYUN_DICOM_TLS_VERIFY_CLIENT: 'true',
    });
  });
  after(async () => {
    await system?.shutdown();
    if (certificates) fs.rmSync(certificates.dir, { recursive: true, force: true });
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  let institutionCounter = 0;
  /** A new institution with one peer. */
  async function registerPeer(aeTitle: string, settings: Partial<Pick<DicomPeer, 'allowedNetworks' | 'tlsRequired' | 'characterSet'>> = {}): Promise<DicomPeer> {
    institutionCounter++;
    const institution = await system.runtime.institutions.createInstitution({ code: `ACCESS_${institutionCounter}`, name: `Access test ${institutionCounter}`, kind: 'hospital', regionId: null });
    return system.runtime.institutions.createPeer({
      institutionId: institution.id,
      aeTitle,
      allowedNetworks: settings.allowedNetworks ?? [],
      host: null,
      port: null,
      tlsRequired: settings.tlsRequired ?? false,
      characterSet: settings.characterSet ?? null,
    });
  }

  const echo = (callingAeTitle: string, port = system.dicomPort, tlsOptions: string[] = []) =>
    runDcmtk('echoscu', ['-v', ...tlsOptions, '-aet', callingAeTitle, '-aec', 'YINGYUN', '127.0.0.1', String(port)]);
  const store = (callingAeTitle: string, instances: FixtureInstance[], port = system.dicomPort) => {
    const files = instances.map((instance) => {
      const file = path.join(workDir, `${instance.description.sopInstanceUid}.dcm`);
      fs.writeFileSync(file, instance.bytes);
      return file;
    });
    return runDcmtk('storescu', ['-v', '-aet', callingAeTitle, '-aec', 'YINGYUN', '127.0.0.1', String(port), ...files], 120_000);
  };
  const withClientCertificate = (key: string, cert: string) => ['+tls', key, cert, '+cf', certificates.caCert];

  /** Audit events are written in the background: wait until the expected ones are there. */
  async function auditEvents(eventType: string, userName: string | null, expected = 1, timeoutMs = 10_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await system.runtime.db.pool.query(
        `SELECT event_type, action, outcome, user_name, institution_id::text AS institution_id, source_address, patient_id, patient_name, study_uids, detail
         FROM audit_events WHERE event_type = $1 AND user_name IS NOT DISTINCT FROM $2 ORDER BY id`,
        [eventType, userName],
      );
      if (rows.length >= expected || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  /** Indexing runs as a job after the receipt: wait for the study row. */
  async function indexedStudy(studyInstanceUid: string, timeoutMs = 15_000) {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const { rows } = await system.runtime.db.pool.query(
        `SELECT studies.institution_id::text AS institution_id, patients.patient_name
         FROM studies JOIN patients ON patients.id = studies.patient_pk WHERE studies.study_instance_uid = $1`,
        [studyInstanceUid],
      );
      if (rows[0]) return rows[0] as { institution_id: string; patient_name: { Alphabetic?: string; Ideographic?: string } | null };
      if (Date.now() > deadline) throw new Error(`study ${studyInstanceUid} was not indexed within ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('listens for DICOM TLS on the configured port (0: a free one)', (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    assert.equal(typeof system.dicomTlsPort, 'number');
    assert.notEqual(system.dicomTlsPort, 0);
    assert.notEqual(system.dicomTlsPort, system.dicomPort);
  });

  it('rejects an unregistered calling AE title: calling-AE-title-not-recognized, audited', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const result = await echo('NOBODY_KNOWN');
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /Association Rejected/i, result.output);
    assert.match(result.output, /Calling AE Title Not Recognized/i, result.output);
    const [event] = await auditEvents('association-rejected', 'NOBODY_KNOWN');
    assert.ok(event, 'association-rejected recorded');
    assert.equal(event.source_address, '127.0.0.1');
    assert.equal(event.detail.calledAeTitle, 'YINGYUN');
    assert.equal(event.detail.tls, false);
    assert.match(event.detail.rejection, /calling-AE-title-not-recognized/);
  });

  it('rejects a registered AE title calling from outside its allowed networks, with the same reason', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    await registerPeer('FAR_PACS', { allowedNetworks: ['10.0.0.0/8'] });
    const result = await echo('FAR_PACS');
    assert.notEqual(result.code, 0, result.output);
    assert.match(result.output, /Calling AE Title Not Recognized/i, result.output);
    const [event] = await auditEvents('association-rejected', 'FAR_PACS');
    assert.ok(event, 'association-rejected recorded');
    assert.match(event.detail.reason, /not for 127\.0\.0\.1.*10\.0\.0\.0\/8/);
    // The same AE title from an allowed network is accepted.
    await system.runtime.institutions.updatePeer((await system.runtime.institutions.findPeerByAeTitle('FAR_PACS'))!.id, { allowedNetworks: ['10.0.0.0/8', '127.0.0.0/8'] });
    const allowed = await echo('FAR_PACS');
    assert.equal(allowed.code, 0, allowed.output);
  });

  it('accepts a registered peer, files what it stores under its institution, and audits one instances-stored event per study', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const peer = await registerPeer('WARD_PACS');
    const first = makeStudy({ count: 2 });
    const second = makeStudy({ count: 1 });
    const result = await store('WARD_PACS', [...first, ...second]);
    assert.equal(result.code, 0, result.output);
    assert.equal((result.output.match(/Received Store Response \(Success\)/g) ?? []).length, 3, result.output);
    for (const study of [first, second]) {
      const indexed = await indexedStudy(study[0]!.description.studyInstanceUid);
      assert.equal(indexed.institution_id, peer.institutionId);
    }
    const [accepted] = await auditEvents('association-accepted', 'WARD_PACS');
    assert.ok(accepted);
    assert.equal(accepted.institution_id, peer.institutionId);
    assert.equal(accepted.detail.tls, false);
    const stored = await auditEvents('instances-stored', 'WARD_PACS', 2);
    assert.equal(stored.length, 2, JSON.stringify(stored));
    const byStudy = new Map(stored.map((event) => [event.study_uids[0], event]));
    for (const study of [first, second]) {
      const event = byStudy.get(study[0]!.description.studyInstanceUid);
      assert.ok(event, 'an event for each study');
      assert.equal(event.action, 'C');
      assert.equal(event.outcome, 0);
      assert.equal(event.institution_id, peer.institutionId);
      assert.equal(event.source_address, '127.0.0.1');
      assert.deepEqual(event.study_uids, [study[0]!.description.studyInstanceUid]);
      assert.equal(event.patient_id, `ACCESS|${study[0]!.description.patientId}`);
      assert.equal(event.patient_name, study[0]!.description.patientName);
      assert.deepEqual(event.detail, { count: study.length, sopClassUids: ['1.2.840.10008.5.1.4.1.1.7'], via: 'dimse', callingAeTitle: 'WARD_PACS' });
    }
  });

  it('rejects a peer that must use TLS on the plain port, and accepts it over TLS with a client certificate from the trusted CA', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const peer = await registerPeer('SECURE_PACS', { tlsRequired: true });
    const plain = await echo('SECURE_PACS');
    assert.notEqual(plain.code, 0, plain.output);
    assert.match(plain.output, /Association Rejected/i, plain.output);
    assert.match(plain.output, /Reason: No Reason/i, plain.output);
    const [rejected] = await auditEvents('association-rejected', 'SECURE_PACS');
    assert.ok(rejected);
    assert.equal(rejected.institution_id, peer.institutionId);
    assert.match(rejected.detail.reason, /TLS/);

    const secure = await echo('SECURE_PACS', system.dicomTlsPort, withClientCertificate(certificates.clientKey, certificates.clientCert));
    assert.equal(secure.code, 0, secure.output);
    const [accepted] = await auditEvents('association-accepted', 'SECURE_PACS');
    assert.ok(accepted, 'association-accepted recorded');
    assert.equal(accepted.detail.tls, true);
    assert.match(accepted.detail.clientCertificate, /CN=SECURE_PACS/);
    assert.match(accepted.detail.clientCertificate, /O=County Hospital/);

    // C-STORE over TLS lands in the peer's institution too.
    const study = makeStudy({ count: 1 });
    const file = path.join(workDir, 'tls.dcm');
    fs.writeFileSync(file, study[0]!.bytes);
    const stored = await runDcmtk('storescu', [...withClientCertificate(certificates.clientKey, certificates.clientCert), '-aet', 'SECURE_PACS', '-aec', 'YINGYUN', '127.0.0.1', String(system.dicomTlsPort), file]);
    assert.equal(stored.code, 0, stored.output);
    assert.equal((await indexedStudy(study[0]!.description.studyInstanceUid)).institution_id, peer.institutionId);
  });

  it('refuses a TLS client without a certificate, or with one from a CA it does not trust', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const before = (await auditEvents('association-rejected', null, 0)).length;
    const anonymous = await echo('SECURE_PACS', system.dicomTlsPort, ['+tla', '+cf', certificates.caCert]);
    assert.notEqual(anonymous.code, 0, anonymous.output);
    assert.doesNotMatch(anonymous.output, /Association Accepted/i, anonymous.output);
    const stranger = await echo('SECURE_PACS', system.dicomTlsPort, withClientCertificate(certificates.strangerKey, certificates.strangerCert));
    assert.notEqual(stranger.code, 0, stranger.output);
    assert.doesNotMatch(stranger.output, /Association Accepted/i, stranger.output);
    const failures = (await auditEvents('association-rejected', null, before + 2)).slice(before);
    assert.equal(failures.length, 2, JSON.stringify(failures));
    for (const failure of failures) {
      assert.equal(failure.detail.tls, true);
      assert.match(failure.detail.reason, /^TLS handshake failed: .*certificate/);
    }
  });

  it('negotiates TLS 1.2 only with the BCP 195 ECDHE AES-GCM suites, and never TLS 1.1', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const client = (...args: string[]) =>
      new Promise<string>((resolve) => {
        // s_client's exit status is not reliable across versions; what it negotiated is in its output.
        const child = execFile('openssl', ['s_client', '-connect', `127.0.0.1:${system.dicomTlsPort}`, '-CAfile', certificates.caCert, '-cert', certificates.clientCert, '-key', certificates.clientKey, ...args], { timeout: 10_000 }, (_error, stdout, stderr) => resolve(`${stdout}\n${stderr}`));
        child.stdin?.end();
      });
    const tls12 = await client('-tls1_2');
    assert.match(tls12, /Protocol\s*:\s*TLSv1\.2/, tls12);
    assert.match(tls12, /Cipher\s*:\s*ECDHE-RSA-AES(128|256)-GCM-SHA(256|384)/, tls12);
    const cbc = await client('-tls1_2', '-cipher', 'ECDHE-RSA-AES128-SHA256');
    assert.match(cbc, /Cipher is \(NONE\)/, cbc);
    const tls11 = await client('-tls1_1', '-cipher', 'DEFAULT@SECLEVEL=0');
    assert.match(tls11, /Cipher is \(NONE\)/, tls11);
    assert.match(tls11, /alert protocol version/, tls11);
    const tls13 = await client();
    assert.match(tls13, /New, TLSv1\.3/, tls13);
  });

  it("decodes text with a peer's configured character set whatever the dataset declares", async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    // 黃 and 華 are FC 53 and C8 41 in GB18030: an ASCII trail byte, which Latin-1 text has too, so
    // detection (which only takes unambiguous GB18030) leaves them alone; only the override helps.
    const declaredLatin1ButGb18030 = (name: string) => makeStudy({ count: 1, patientName: name, characterSet: 'GB18030', declared: 'ISO_IR 100' });
    const overridden = declaredLatin1ButGb18030('Huang^LiHua=黃^麗華');
    const control = declaredLatin1ButGb18030('Huang^LiHua=黃^麗華');
    await registerPeer('GB_PACS', { characterSet: 'GB18030' });
    await registerPeer('PLAIN_PACS');
    assert.equal((await store('GB_PACS', overridden)).code, 0);
    assert.equal((await store('PLAIN_PACS', control)).code, 0);

    const indexed = await indexedStudy(overridden[0]!.description.studyInstanceUid);
    assert.deepEqual(indexed.patient_name, { Alphabetic: 'Huang^LiHua', Ideographic: '黃^麗華' }, 'the ingest path hands the source\'s characterSetOverride to parseInstance');
    const { rows } = await system.runtime.db.pool.query('SELECT character_set FROM receipts WHERE sop_instance_uid = $1', [overridden[0]!.description.sopInstanceUid]);
    assert.deepEqual(rows[0].character_set.declared, ['ISO_IR 100']);
    assert.match(rows[0].character_set.note, /GB18030.*override/);

    const notOverridden = await indexedStudy(control[0]!.description.studyInstanceUid);
    assert.notEqual(notOverridden.patient_name?.Ideographic, '黃^麗華', 'without the override the declared Latin-1 is used');
  });
});

describe('DIMSE with unknown peers quarantined', () => {
  let system: TestSystem;
  let workDir: string;
  before(async () => {
    if (!available) return;
    workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-dimse-quarantine-'));
    system = await startTestSystem({ YINGYUN_DICOM_UNKNOWN_PEERS: 'quarantine' });
  });
  after(async () => {
    await system?.shutdown();
    if (workDir) fs.rmSync(workDir, { recursive: true, force: true });
  });

  const storeOne = async (callingAeTitle: string) => {
    const [instance] = makeStudy({ count: 1 });
    const file = path.join(workDir, `${callingAeTitle}.dcm`);
    fs.writeFileSync(file, instance!.bytes);
    const result = await runDcmtk('storescu', ['-aet', callingAeTitle, '-aec', 'YINGYUN', '127.0.0.1', String(system.dicomPort), file]);
    return { result, studyInstanceUid: instance!.description.studyInstanceUid };
  };
  async function institutionOfStudy(studyInstanceUid: string): Promise<string | undefined> {
    const deadline = Date.now() + 15_000;
    for (;;) {
      const { rows } = await system.runtime.db.pool.query('SELECT institution_id::text AS institution_id FROM studies WHERE study_instance_uid = $1', [studyInstanceUid]);
      if (rows[0] || Date.now() > deadline) return rows[0]?.institution_id;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  async function acceptedEvents(userName: string) {
    const deadline = Date.now() + 10_000;
    for (;;) {
      const { rows } = await system.runtime.db.pool.query("SELECT institution_id::text AS institution_id, detail FROM audit_events WHERE event_type = 'association-accepted' AND user_name = $1", [userName]);
      if (rows.length > 0 || Date.now() > deadline) return rows;
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }

  it('accepts an unregistered AE title and files what it sends under QUARANTINE', async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const { result, studyInstanceUid } = await storeOne('STRANGER');
    assert.equal(result.code, 0, result.output);
    const quarantine = await system.runtime.institutions.quarantineInstitutionId();
    assert.equal(await institutionOfStudy(studyInstanceUid), quarantine);
    const events = await acceptedEvents('STRANGER');
    assert.equal(events.length, 1);
    assert.equal(events[0].institution_id, quarantine);
    assert.equal(events[0].detail.quarantined, true);
  });

  it("quarantines a registered AE title calling from outside its networks (never its institution), and still refuses a TLS-only peer on the plain port", async (t) => {
    if (!requirePeer(t, available, WHAT)) return;
    const institutions = system.runtime.institutions;
    const institution = await institutions.createInstitution({ code: 'FAR_HOSPITAL', name: 'Far hospital', kind: 'hospital', regionId: null });
    const peer = { institutionId: institution.id, host: null, port: null, characterSet: null };
    await institutions.createPeer({ ...peer, aeTitle: 'FAR_PACS', allowedNetworks: ['10.0.0.0/8'], tlsRequired: false });
    await institutions.createPeer({ ...peer, aeTitle: 'TLS_ONLY', allowedNetworks: [], tlsRequired: true });
    const { result, studyInstanceUid } = await storeOne('FAR_PACS');
    assert.equal(result.code, 0, result.output);
    assert.equal(await institutionOfStudy(studyInstanceUid), await institutions.quarantineInstitutionId());
    const tlsOnly = await storeOne('TLS_ONLY');
    assert.notEqual(tlsOnly.result.code, 0, tlsOnly.result.output);
    assert.match(tlsOnly.result.output, /Association Rejected/, tlsOnly.result.output);
  });
});

describe('peer address matching', () => {
  it('matches IPv4, IPv4-mapped IPv6 and IPv6 callers against CIDR blocks; no blocks means any address', () => {
    assert.equal(addressAllowed('10.1.2.3', []), true);
    assert.equal(addressAllowed('10.1.2.3', ['10.0.0.0/8']), true);
    assert.equal(addressAllowed('::ffff:10.1.2.3', ['10.0.0.0/8']), true);
    assert.equal(addressAllowed('::ffff:192.168.1.3', ['10.0.0.0/8']), false);
    assert.equal(addressAllowed('192.168.1.3', ['10.0.0.0/8', '192.168.1.0/24']), true);
    assert.equal(addressAllowed('10.1.2.3', ['::ffff:10.0.0.0/104']), true);
    assert.equal(addressAllowed('2001:db8::1', ['2001:db8::/32']), true);
    assert.equal(addressAllowed('2001:db9::1', ['2001:db8::/32']), false);
    assert.equal(addressAllowed('2001:db8::1', ['10.0.0.0/8']), false);
    assert.equal(addressAllowed('not an address', ['10.0.0.0/8']), false);
  });
});

describe('character set override in the parser', () => {
  it('decodes with the override, records it, and leaves detection to files without one', () => {
    const [instance] = makeStudy({ count: 1, patientName: 'Huang^LiHua=黃^麗華', characterSet: 'GB18030', declared: 'ISO_IR 100' });
    const plain = parseInstance(instance!.bytes);
    assert.notEqual((plain.metadata['00100010']?.Value?.[0] as { Ideographic?: string }).Ideographic, '黃^麗華');
    assert.equal(plain.characterSet.note, undefined);
    const overridden = parseInstance(instance!.bytes, { characterSetOverride: 'GB18030' });
    assert.deepEqual(overridden.metadata['00100010']?.Value?.[0], { Alphabetic: 'Huang^LiHua', Ideographic: '黃^麗華' });
    assert.deepEqual(overridden.characterSet.declared, ['ISO_IR 100']);
    assert.match(overridden.characterSet.note ?? '', /GB18030.*override/);
    // An override that agrees with the declaration repairs nothing and notes nothing.
    const [declared] = makeStudy({ count: 1, patientName: 'Huang^LiHua=黃^麗華', characterSet: 'GB18030' });
    assert.equal(parseInstance(declared!.bytes, { characterSetOverride: 'GB18030' }).characterSet.note, undefined);
  });
});
