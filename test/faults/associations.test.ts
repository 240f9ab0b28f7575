import assert from 'node:assert/strict';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openLocalObjectStore } from '../../archive/storage/open.ts';
import { assertIndexConsistent, assertNothingLost, sendWithStorescu, withClient, writeInstances, type SentInstance } from '../support/faults.ts';
import { commandExists, requirePeer } from '../support/peers.ts';
import { startTestSystem, type TestSystem } from '../support/system.ts';

/**
 * Misbehaving and crowding senders: a client whose link stalls in the middle of a PDU (the server's
 * idle timer, YINGYUN_DICOM_IDLE_SECONDS, ends it while others are served), and 50 associations opened
 * at once (each served, or refused cleanly with an A-ASSOCIATE-RJ; nothing lost).
 */
const IDLE_SECONDS = 3;

let system: TestSystem;
let files: string;
const acknowledged: SentInstance[] = [];
before(async () => {
  files = fs.mkdtempSync(path.join(os.tmpdir(), 'yingyun-fault-associations-'));
  system = await startTestSystem({ YINGYUN_DICOM_IDLE_SECONDS: String(IDLE_SECONDS) });
});
after(async () => {
  await system?.shutdown();
  fs.rmSync(files, { recursive: true, force: true });
});

/**
 * A TCP relay to the gateway that passes the sender's A-ASSOCIATE-RQ and `passBytes` of what follows,
 * then holds everything else back: the sender stalls in the middle of its first P-DATA-TF PDU.
 */
async function startStallingRelay(targetPort: number, passBytes: number) {
  let upstreamClosedAt: number | undefined;
  let stalledAt: number | undefined;
  const sockets = new Set<net.Socket>();
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('error', () => undefined);
    }
    let received = Buffer.alloc(0);
    let forwarded = 0;
    client.on('data', (chunk: Buffer) => {
      received = Buffer.concat([received, chunk]);
      if (received.length < 6) return;
      const allowed = 6 + received.readUInt32BE(2) + passBytes;
      const next = received.subarray(forwarded, Math.min(received.length, allowed));
      if (next.length) upstream.write(next);
      forwarded += next.length;
      if (forwarded === allowed) stalledAt ??= Date.now();
    });
    upstream.pipe(client);
    upstream.on('close', () => {
      upstreamClosedAt = Date.now();
      client.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    stalledFor: () => (stalledAt !== undefined && upstreamClosedAt !== undefined ? upstreamClosedAt - stalledAt : undefined),
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

describe('association faults', () => {
  it(`ends an association stalled in the middle of a PDU after its idle time (${IDLE_SECONDS} s) and serves others meanwhile`, async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const relay = await startStallingRelay(system.dicomPort, 100);
    try {
      const [stalled] = writeInstances(path.join(files, 'stalled'), 'fault-stall', 1);
      const stalledSend = sendWithStorescu(relay.port, [stalled!], { timeoutMs: (IDLE_SECONDS + 20) * 1000 });
      // While that one hangs, another sender is served.
      await new Promise((resolve) => setTimeout(resolve, 500));
      const others = writeInstances(path.join(files, 'others'), 'fault-stall-others', 10);
      const served = await sendWithStorescu(system.dicomPort, others);
      assert.equal(served.acknowledged.length, others.length, `others served during the stall:\n${served.output.slice(-2000)}`);
      acknowledged.push(...served.acknowledged);
      const outcome = await stalledSend;
      assert.equal(outcome.acknowledged.length, 0, 'the stalled instance is not acknowledged');
      const stalledFor = relay.stalledFor();
      assert.ok(stalledFor !== undefined, `the gateway closed the stalled association:\n${outcome.output}`);
      assert.ok(stalledFor >= (IDLE_SECONDS - 0.5) * 1000 && stalledFor < (IDLE_SECONDS + 5) * 1000, `closed after ${stalledFor} ms, idle time ${IDLE_SECONDS} s`);
      const kept = await withClient(system.databaseUrl, (client) => client.query('SELECT 1 FROM receipts WHERE sop_instance_uid = $1', [stalled!.sopInstanceUid]));
      assert.equal(kept.rowCount, 0, 'nothing of the stalled instance recorded');
      t.diagnostic(`the stalled association was closed ${(stalledFor / 1000).toFixed(1)} s after it stalled`);
    } finally {
      await relay.close();
    }
  });

  it('serves 50 associations opened at once, or refuses some cleanly (A-ASSOCIATE-RJ), losing nothing', async (t) => {
    if (!requirePeer(t, commandExists('storescu'), 'DCMTK (storescu)')) return;
    const instances = writeInstances(path.join(files, 'crowd'), 'fault-crowd', 50);
    const sent = await sendWithStorescu(system.dicomPort, instances, { associations: 50, timeoutMs: 180_000 });
    const rejected = (sent.output.match(/Association Rejected/g) ?? []).length;
    assert.equal(sent.refused.length, 0, `no failure status:\n${sent.output.slice(-3000)}`);
    assert.equal(sent.acknowledged.length + rejected, instances.length, `each association served or cleanly rejected:\n${sent.output.slice(-3000)}`);
    assert.doesNotMatch(sent.output, /Association Aborted|Peer Aborted|Network Error/i);
    acknowledged.push(...sent.acknowledged);
    const store = await openLocalObjectStore(path.join(system.dataDir, 'objects'));
    await assertNothingLost(system.databaseUrl, store, acknowledged);
    await assertIndexConsistent(system.databaseUrl, store);
    t.diagnostic(`50 associations at once: ${sent.acknowledged.length} served, ${rejected} rejected`);
  });
});
