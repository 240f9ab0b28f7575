import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { EdgeForwardingRepository } from '../archive/db/edge-forwarding-repository.ts';
import { urgencyRank } from '../archive/edge/urgency.ts';
import { generateCorpus } from '../fixtures/generate.ts';
import { regionAccountForEdge } from './support/edge.ts';
import { startTestSystem, type TestSystem } from './support/system.ts';

/**
 * The edge's forward queue in PostgreSQL (migration 024, EdgeForwardingRepository) — urgency then age,
 * the byte budget, instances on the wire elsewhere, retry times — and the region's answer an edge
 * verifies against (POST /api/instance-digests), limited to what the caller's institution stored.
 */
describe('edge forward queue and the region\'s instance digests', () => {
  let system: TestSystem;
  let queue: EdgeForwardingRepository;
  const stored: Array<{ receiptId: string; sopInstanceUid: string; objectSha256: string }> = [];

  before(async () => {
    system = await startTestSystem();
    queue = new EdgeForwardingRepository(system.runtime.db.pool);
    // Received before this database served an edge: queued by enable().
    const [first, ...rest] = [...generateCorpus({ preset: 'small', seed: 'edge-queue' })].slice(0, 5);
    const ingest = async (bytes: Uint8Array) => {
      const outcome = await system.runtime.ingest.ingest({ part10: Buffer.from(bytes) }, { via: 'import', name: 'edge-queue', institutionId: system.institutionId });
      const { rows } = await system.runtime.db.pool.query<{ sha: string }>('SELECT object_sha256 AS sha FROM receipts WHERE id = $1', [outcome.receiptId]);
      stored.push({ receiptId: outcome.receiptId, sopInstanceUid: outcome.parsed.sopInstanceUid, objectSha256: rows[0]!.sha });
    };
    await ingest(first!.bytes);
    assert.equal(await queue.enable(), 1);
    // Received by the edge: queued by the receipts trigger in the receipt's own transaction.
    for (const instance of rest) await ingest(instance.bytes);
  });

  after(() => system.shutdown());

  it('sends the most urgent first, then the oldest, within the byte budget, never twice at once', async () => {
    assert.equal((await queue.backlog()).count, 5);
    const [a, b, c, d, e] = stored.map((item) => item.receiptId) as [string, string, string, string, string];
    assert.deepEqual(await queue.takeBatch(10, 1e12), [], 'unclassified instances wait for their urgency');
    assert.deepEqual((await queue.unclassified(10)).map((item) => item.receiptId), [a, b, c, d, e]);
    await queue.setUrgencies([
      { receiptId: a, urgency: urgencyRank('ROUTINE') },
      { receiptId: b, urgency: urgencyRank('STAT') },
      { receiptId: c, urgency: urgencyRank('ROUTINE') },
      { receiptId: d, urgency: urgencyRank('HIGH') },
      { receiptId: e, urgency: urgencyRank('LOW') },
    ]);
    const batch = await queue.takeBatch(10, 1e12);
    assert.deepEqual(batch.map((item) => item.receiptId), [b, d, a, c, e]);
    assert.ok(batch.every((item) => item.attempts === 1), 'each counted as an attempt before it goes on the wire');
    // At least one, however small the budget; then as many as fit.
    assert.deepEqual((await queue.takeBatch(10, 1)).map((item) => item.receiptId), [b]);
    const twoBytes = batch[0]!.sizeBytes + batch[1]!.sizeBytes;
    assert.deepEqual((await queue.takeBatch(10, twoBytes)).map((item) => item.receiptId), [b, d]);
    assert.deepEqual((await queue.takeBatch(2, 1e12, [b])).map((item) => item.receiptId), [d, a], 'not what another request carries');
    await queue.retryLater([{ receiptId: b, delaySeconds: 3600, error: 'refused' }]);
    assert.deepEqual((await queue.takeBatch(1, 1e12)).map((item) => item.receiptId), [d], 'not before its retry time');
  });

  it('moves an instance from sent to verified to deleted, and counts the backlog by state', async () => {
    const [a, b] = stored.map((item) => item.receiptId) as [string, string];
    await queue.markSent([a, b]);
    assert.deepEqual((await queue.awaitingVerification(10)).map((item) => item.receiptId).sort(), [a, b].sort());
    await queue.markVerified([a]);
    await queue.retryLater([{ receiptId: b, delaySeconds: 0, error: 'no copy with this SHA-256 at the region' }]);
    assert.deepEqual(await queue.awaitingVerification(10), []);
    await queue.markDeleted([a]);
    const backlog = await queue.backlog();
    assert.deepEqual([backlog.count, backlog.verifiedKept, backlog.deleted], [4, 0, 1]);
    assert.ok(backlog.oldestReceivedAt);
  });

  it('tells a caller the SHA-256 of what its own institution stored, and nothing of others\'', async () => {
    const uids = stored.map((item) => item.sopInstanceUid);
    const ask = (token: string | undefined, body: unknown) =>
      system.fetch(`${system.httpUrl}/api/instance-digests`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: `Bearer ${token}` } : {}) }, body: JSON.stringify(body) });
    const own = await ask(undefined, { sopInstanceUids: [...uids, '1.2.3.4'] });
    assert.equal(own.status, 200);
    const answer = (await own.json()) as { instances: Array<{ sopInstanceUid: string; objectSha256: string[] }> };
    assert.deepEqual(
      answer.instances.map((instance) => [instance.sopInstanceUid, instance.objectSha256]).sort(),
      stored.map((item) => [item.sopInstanceUid, [item.objectSha256]]).sort(),
    );
    const otherInstitution = await regionAccountForEdge(system);
    const other = await ask(otherInstitution, { sopInstanceUids: uids });
    assert.equal(other.status, 200);
    assert.deepEqual(await other.json(), { instances: [] });
    assert.equal((await ask(undefined, { sopInstanceUids: ['not a uid'] })).status, 400);
    assert.equal((await ask(undefined, { sopInstanceUids: [] })).status, 400);
  });
});
