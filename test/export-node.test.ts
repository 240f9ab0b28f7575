import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { COMMAND_LINE_ACTOR } from '../archive/access/administration.ts';
import { parseInstance } from '../archive/dicom/parse.ts';
import type { DicomJsonPersonName } from '../archive/dicom/types.ts';
import { freePort, stopChild, waitForPort } from '../bench/peers.ts';
import { makeCtSeries, makeSecondaryCaptures, STUDIES, TRANSFER_SYNTAX } from '../fixtures/generate.ts';
import { runDcmtk } from './support/dcmtk.ts';
import { commandExists, requirePeer } from './support/peers.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';
import { unzip } from './support/zip.ts';

const available = commandExists('storescp') && commandExists('dcmcrle');
const RLE_LOSSLESS = '1.2.840.10008.1.2.5';

/** DCMTK's storescp writing what it receives exactly as received (+B), with its log kept. */
interface Storescp {
  port: number;
  /** What storescp has logged so far (-v: one "Association Received" per association). */
  log(): string;
  /** The files written, by SOP Instance UID. */
  received(): Map<string, Buffer>;
  stop(): Promise<void>;
}

async function startStorescp(aeTitle: string, transferSyntaxOption: '+xa' | '+xi'): Promise<Storescp> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-export-node-'));
  const port = await freePort();
  const child: ChildProcess = spawn('storescp', ['-v', '+B', transferSyntaxOption, '-aet', aeTitle, '-od', directory, String(port)], { env: { ...process.env, TCP_NODELAY: '1' } });
  let log = '';
  child.stdout!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  child.stderr!.on('data', (chunk: Buffer) => (log += chunk.toString()));
  await waitForPort(port);
  return {
    port,
    log: () => log,
    received: () => new Map(fs.readdirSync(directory).map((name) => fs.readFileSync(path.join(directory, name))).map((part10) => [parseInstance(part10).sopInstanceUid, part10])),
    async stop() {
      await stopChild(child);
      fs.rmSync(directory, { recursive: true, force: true });
    },
  };
}

/** The dataset of a Part 10 file (everything after File Meta), as the project's parser finds it. */
function datasetOf(part10: Buffer): Buffer {
  return part10.subarray(parseInstance(part10).datasetOffset);
}

function patientNameOf(part10: Buffer): string | undefined {
  return (parseInstance(part10).metadata['00100010']?.Value?.[0] as DicomJsonPersonName | undefined)?.Alphabetic;
}

/** One instance re-encoded by DCMTK in RLE Lossless (same SOP Instance UID): a compressed one for the study. */
async function inRleLossless(part10: Buffer): Promise<Buffer> {
  const directory = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-rle-'));
  try {
    fs.writeFileSync(path.join(directory, 'in.dcm'), part10);
    const result = await runDcmtk('dcmcrle', [path.join(directory, 'in.dcm'), path.join(directory, 'out.dcm')]);
    assert.equal(result.code, 0, result.output);
    return fs.readFileSync(path.join(directory, 'out.dcm'));
  } finally {
    fs.rmSync(directory, { recursive: true, force: true });
  }
}

interface ExportAnswer {
  destination: string;
  sent: number;
  failed: { sopInstanceUid: string; status: number | null; reason: string }[];
  burnedInAnnotationRisk: number;
  detail?: string;
}

/**
 * The fixture file without the NUL that pads its (odd-length) deflated stream to even length: the
 * fixture is deterministic, and this one's stream is odd, so the pad is there to take off.
 */
function withoutDeflatePad(part10: Buffer): Buffer {
  assert.equal(part10.at(-1), 0, 'the fixture padded its deflated stream');
  return part10.subarray(0, part10.length - 1);
}

describe('export to another DICOM node (C-STORE SCU)', () => {
  let system: TestSystem;
  let destination: Storescp;
  let implicitOnly: Storescp;
  /** Four instances in four transfer syntaxes, two SOP classes. */
  let study: string;
  /** One Explicit VR CT slice, nothing an Implicit-only peer could take. */
  let explicitOnlyStudy: string;
  /** The deflated instance is stored without PS3.5 A.5's pad, as some senders write it. */
  let storedDeflatedLength: number;

  const exportStudy = (studyInstanceUid: string, body: Record<string, unknown>, token?: string) =>
    system.fetch(`${system.httpUrl}/api/studies/${studyInstanceUid}/export`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) },
      body: JSON.stringify(body),
    });
  /**
   * The instances `destination` holds of the zip export with these options: each dataset as in the
   * zip, byte for byte, except that an odd-length deflated one gains the trailing NUL of PS3.5 A.5.
   */
  const assertReceivedAsZipped = async (studyInstanceUid: string, options: Record<string, unknown>): Promise<Buffer[]> => {
    const zip = await exportStudy(studyInstanceUid, options);
    assert.equal(zip.status, 200);
    const zipped = [...(await unzip(Buffer.from(await zip.arrayBuffer())))].filter(([name]) => name.endsWith('.dcm')).map(([, part10]) => part10);
    const received = destination.received();
    return zipped.map((part10) => {
      const { sopInstanceUid, transferSyntaxUid } = parseInstance(part10);
      const arrived = received.get(sopInstanceUid);
      assert.ok(arrived, `${sopInstanceUid} arrived`);
      const dataset = datasetOf(part10);
      const padded = transferSyntaxUid === TRANSFER_SYNTAX.deflatedExplicitLittleEndian && dataset.length % 2 === 1;
      assert.ok(datasetOf(arrived).equals(padded ? Buffer.concat([dataset, Buffer.alloc(1)]) : dataset), `${sopInstanceUid}: the dataset on the wire is the zip's, byte for byte${padded ? ' and a NUL' : ''}`);
      assert.equal(patientNameOf(arrived), patientNameOf(part10));
      return arrived;
    });
  };
  const ingest = async (part10: Buffer) => (await system.runtime.ingest.ingest({ part10 }, { via: 'import', name: 'export-node-test', institutionId: system.institutionId })).parsed;

  before(async () => {
    if (!available) return;
    system = await startTestSystem();
    destination = await startStorescp('DEST', '+xa');
    implicitOnly = await startStorescp('IMPLICIT_ONLY', '+xi');
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'DEST', host: '127.0.0.1', port: destination.port });
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'IMPLICIT_ONLY', host: '127.0.0.1', port: implicitOnly.port });

    const slices = [...makeCtSeries({ study: STUDIES.wangPriorCt, slices: 3, rows: 64, columns: 64 })].map((instance) => instance.bytes);
    const [deflated] = [...makeCtSeries({ study: STUDIES.wangPriorCt, seriesNumber: 2, slices: 1, rows: 64, columns: 64, transferSyntaxUid: TRANSFER_SYNTAX.deflatedExplicitLittleEndian })];
    const [capture] = [...makeSecondaryCaptures({ study: STUDIES.wangPriorCt, seriesNumber: 3, count: 1, transferSyntaxUid: TRANSFER_SYNTAX.implicitLittleEndian })];
    // As some senders write it: the fixture pads an odd-length deflated stream (PS3.5 A.5), they do not.
    const unpadded = withoutDeflatePad(deflated!.bytes);
    storedDeflatedLength = datasetOf(unpadded).length;
    for (const part10 of [slices[0]!, slices[1]!, await inRleLossless(slices[2]!), unpadded, capture!.bytes]) study = (await ingest(part10)).studyInstanceUid;
    const [current] = [...makeCtSeries({ study: STUDIES.wangCurrentCt, slices: 1, rows: 64, columns: 64 })];
    explicitOnlyStudy = (await ingest(current!.bytes)).studyInstanceUid;
    await system.runtime.queue.whenIdle();
  });
  after(async () => {
    await destination?.stop();
    await implicitOnly?.stop();
    await system?.shutdown();
  });

  it('sends the de-identified study over one association, each dataset byte for byte as in the zip export', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp, dcmcrle)')) return;
    const logBefore = destination.log().length;
    const response = await exportStudy(study, { destination: 'DEST' });
    const answer = (await response.json()) as ExportAnswer;
    assert.equal(response.status, 200, JSON.stringify(answer));
    assert.deepEqual(answer, { destination: 'DEST', sent: 5, failed: [], burnedInAnnotationRisk: 1 });
    assert.equal((destination.log().slice(logBefore).match(/Association Received/g) ?? []).length, 1, 'one association');

    const received = await assertReceivedAsZipped(study, { deidentify: true });
    for (const part10 of received) assert.match(patientNameOf(part10) ?? '', /^ANON\^[0-9A-F]{10}$/, 'the pseudonym, not the patient');
    assert.deepEqual(
      received.map((part10) => parseInstance(part10).transferSyntaxUid).sort(),
      [TRANSFER_SYNTAX.implicitLittleEndian, TRANSFER_SYNTAX.explicitLittleEndian, TRANSFER_SYNTAX.explicitLittleEndian, TRANSFER_SYNTAX.deflatedExplicitLittleEndian, RLE_LOSSLESS].sort(),
      'each in the transfer syntax it is stored in',
    );

    // The access is recorded when the response has closed, a moment after the client read it.
    let detail: Record<string, unknown> | undefined;
    for (let waited = 0; waited < 3000 && !detail; waited += 50) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      await system.runtime.audit.drain();
      const { rows } = await system.runtime.db.pool.query<{ detail: Record<string, unknown>; study_uids: string[]; outcome: number }>(
        "SELECT detail, study_uids, outcome FROM audit_events WHERE event_type = 'export' AND detail->>'target' = 'dicom-node' AND detail->>'destination' = 'DEST' ORDER BY id",
      );
      if (rows[0]) {
        assert.deepEqual(rows[0].study_uids, [study]);
        assert.equal(rows[0].outcome, 0);
        detail = rows[0].detail;
      }
    }
    assert.ok(detail, 'an export event names the destination');
    assert.equal(detail.sent, 5);
    assert.equal(detail.failed, 0);
    assert.equal(detail.deidentified, true);
  });

  it('sends stored objects unchanged when not de-identifying, the deflated one with the even-length pad PS3.5 A.5 asks for', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp, dcmcrle)')) return;
    assert.equal(storedDeflatedLength % 2, 1, 'an odd-length deflated dataset is stored');
    const response = await exportStudy(study, { destination: 'DEST', deidentify: false });
    assert.equal(response.status, 200, await response.clone().text());
    assert.equal(((await response.json()) as ExportAnswer).sent, 5);
    const received = await assertReceivedAsZipped(study, { deidentify: false });
    assert.match(patientNameOf(received[0]!) ?? '', /^Wang\^XiaoDong/, 'the patient, as stored');
  });

  it('reports what the peer will not take in the stored transfer syntax as failed, without transcoding it', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp, dcmcrle)')) return;
    const response = await exportStudy(study, { destination: 'IMPLICIT_ONLY' });
    const answer = (await response.json()) as ExportAnswer;
    assert.equal(response.status, 200, 'some were stored');
    assert.equal(answer.sent, 1, 'the Implicit VR secondary capture');
    assert.equal(answer.failed.length, 4);
    for (const failure of answer.failed) {
      assert.equal(failure.status, null, 'never offered to the peer');
      assert.match(failure.reason, /IMPLICIT_ONLY accepts SOP class [0-9.]+ only in Implicit VR Little Endian/);
      assert.match(failure.reason, /stored in (Explicit VR Little Endian|Deflated Explicit VR Little Endian|RLE Lossless)/);
      assert.match(failure.reason, /without transcoding/);
    }
    const received = [...implicitOnly.received().values()];
    assert.equal(received.length, 1);
    assert.equal(parseInstance(received[0]!).transferSyntaxUid, TRANSFER_SYNTAX.implicitLittleEndian);

    const none = await exportStudy(explicitOnlyStudy, { destination: 'IMPLICIT_ONLY' });
    assert.equal(none.status, 502, 'none stored');
    assert.equal(none.headers.get('content-type'), 'application/problem+json; charset=utf-8');
    const problem = (await none.json()) as ExportAnswer;
    assert.match(problem.detail ?? '', /IMPLICIT_ONLY stored none of the 1 instances/);
    assert.equal(problem.sent, 0);
    assert.match(problem.failed[0]!.reason, /only in Implicit VR Little Endian.*stored in Explicit VR Little Endian/);
    assert.equal(implicitOnly.received().size, 1, 'nothing more arrived');
  });

  it('answers 404 for an AE title that is not a peer of the caller, 400 for a peer without an address, 501 for a TLS peer', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp, dcmcrle)')) return;
    const unknown = await exportStudy(study, { destination: 'NO_SUCH_AE' });
    assert.equal(unknown.status, 404);
    assert.match(((await unknown.json()) as { detail: string }).detail, /no DICOM peer NO_SUCH_AE/);

    await system.administration.createInstitution(COMMAND_LINE_ACTOR, { code: 'OTHER_HOSPITAL', name: '别的医院', kind: 'hospital' });
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'OTHER_HOSPITAL', aeTitle: 'OTHER_PACS' });
    await system.administration.createUser(COMMAND_LINE_ACTOR, { username: 'export-radiologist', displayName: '放射科医师', role: 'radiologist', institutionCode: 'TEST_HOSPITAL' });
    const { token } = await system.administration.createToken(COMMAND_LINE_ACTOR, { username: 'export-radiologist', label: 'export test' });
    assert.equal((await exportStudy(study, { destination: 'OTHER_PACS' }, token)).status, 404, "another institution's peer is unknown to a radiologist");

    const noAddress = await exportStudy(study, { destination: 'OTHER_PACS' });
    assert.equal(noAddress.status, 400, 'a system administrator reaches every peer; this one has no host and port');
    assert.match(((await noAddress.json()) as { detail: string }).detail, /OTHER_PACS has no host and port/);

    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'TLS_PACS', host: '127.0.0.1', port: destination.port, tlsRequired: true });
    const tls = await exportStudy(study, { destination: 'TLS_PACS' });
    assert.equal(tls.status, 501);
    assert.match(((await tls.json()) as { detail: string }).detail, /TLS_PACS requires TLS/);
  });

  it('answers 502 saying why when no association can be made', async (t) => {
    if (!requirePeer(t, available, 'DCMTK (storescp, dcmcrle)')) return;
    const closedPort = await freePort();
    await system.administration.createPeer(COMMAND_LINE_ACTOR, { institutionCode: 'TEST_HOSPITAL', aeTitle: 'SWITCHED_OFF', host: '127.0.0.1', port: closedPort });
    const response = await exportStudy(study, { destination: 'SWITCHED_OFF' });
    assert.equal(response.status, 502);
    const problem = (await response.json()) as { detail: string; destination: string };
    assert.equal(problem.destination, 'SWITCHED_OFF');
    assert.match(problem.detail, new RegExp(`no association with SWITCHED_OFF at 127\\.0\\.0\\.1:${closedPort}: .*ECONNREFUSED`));
  });
});
