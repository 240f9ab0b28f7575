import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it, type TestContext } from 'node:test';
import { z } from 'zod';
import { ForegroundActivity } from '../archive/foreground-activity.ts';
import { createLogger } from '../archive/log.ts';
import { BullMqQueue } from '../workers/bullmq-queue.ts';
import { InProcessQueue } from '../workers/in-process-queue.ts';
import type { JobDefinition, JobQueue } from '../workers/queue.ts';
import { redisAvailable, requirePeer, testRedisUrl } from './support/peers.ts';

const log = createLogger('silent');

/** The behaviours both queue implementations must share, run against each. */
function queueContract(name: string, open: (t: TestContext) => Promise<JobQueue | null>) {
  describe(name, () => {
    it('runs each job once per job id while it is pending', async (t) => {
      const queue = await open(t);
      if (!queue) return;
      const seen: string[] = [];
      const job: JobDefinition<{ value: string }> = {
        name: 'record',
        payload: z.object({ value: z.string() }),
        handle: async ({ value }) => {
          seen.push(value);
        },
      };
      await queue.enqueue('record', { value: 'a' }, { jobId: 'same' });
      await queue.enqueue('record', { value: 'b' }, { jobId: 'same' });
      await queue.enqueue('record', { value: 'c' });
      queue.startWorkers([job], 2);
      await queue.whenIdle();
      assert.deepEqual(seen.sort(), ['a', 'c']);
      await queue.close();
    });

    it('debounces a burst into one run with the last payload', async (t) => {
      const queue = await open(t);
      if (!queue) return;
      const seen: number[] = [];
      queue.startWorkers(
        [{ name: 'burst', payload: z.object({ n: z.number() }), handle: async ({ n }) => void seen.push(n) }],
        1,
      );
      for (let n = 1; n <= 5; n++) await queue.enqueue('burst', { n }, { debounceId: 'series-x', delayMs: 300 });
      await new Promise((resolve) => setTimeout(resolve, 150));
      await queue.whenIdle();
      assert.deepEqual(seen, [5]);
      await queue.close();
    });

    it('retries a failing job, then keeps it in the failed list with its reason', async (t) => {
      const queue = await open(t);
      if (!queue) return;
      let attempts = 0;
      queue.startWorkers(
        [
          {
            name: 'flaky',
            payload: z.object({}),
            handle: async () => {
              attempts++;
              if (attempts < 2) throw new Error('transient');
            },
          },
          {
            name: 'broken',
            payload: z.object({ id: z.number() }),
            handle: async () => {
              throw new Error('object store unreachable');
            },
          },
        ],
        2,
      );
      await queue.enqueue('flaky', {});
      await queue.enqueue('broken', { id: 7 }, { jobId: 'broken-7' });
      const deadline = Date.now() + 60_000;
      while ((await queue.listFailed(10)).length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      const failed = await queue.listFailed(10);
      assert.equal(failed.length, 1);
      assert.equal(failed[0]!.name, 'broken');
      assert.equal(failed[0]!.reason, 'object store unreachable');
      assert.deepEqual(failed[0]!.payload, { id: 7 });
      assert.equal(failed[0]!.attempts, 5);
      assert.equal(attempts, 2, 'the flaky job succeeded on its second attempt');
      assert.equal((await queue.counts()).failed, 1);
      await queue.close();
    });

    it('leaves a job that failed for good in the failed list: enqueuing its id again runs nothing, retryFailed does', async (t) => {
      const queue = await open(t);
      if (!queue) return;
      let attempts = 0;
      const doomed: JobDefinition<Record<string, never>> = {
        name: 'doomed',
        payload: z.object({}),
        handle: async () => {
          attempts++;
          throw new Error('always fails');
        },
      };
      queue.startWorkers([doomed], 1);
      await queue.enqueue('doomed', {}, { jobId: 'doomed-1' });
      await queue.whenIdle();
      assert.equal(attempts, 5, 'retried, then given up');
      assert.deepEqual((await queue.listFailed(10)).map((job) => job.id), ['doomed-1']);
      // What a sweep of unfinished work does every pass: nothing may start again.
      await queue.enqueue('doomed', {}, { jobId: 'doomed-1' });
      await queue.whenIdle();
      assert.equal(attempts, 5, 'not run again');
      assert.deepEqual(await queue.counts(), { waiting: 0, active: 0, delayed: 0, failed: 1 });
      assert.equal(await queue.retryFailed(), 1);
      await queue.whenIdle();
      assert.ok(attempts > 5, 'a person’s retry runs it again');
      await queue.close();
    });

    it('rejects a payload that does not match the job schema instead of running it', async (t) => {
      const queue = await open(t);
      if (!queue) return;
      let ran = false;
      queue.startWorkers([{ name: 'strict', payload: z.object({ receiptId: z.string().regex(/^\d+$/) }), handle: async () => void (ran = true) }], 1);
      await queue.enqueue('strict', { receiptId: 'DROP TABLE' }, { jobId: 'strict-1' });
      const deadline = Date.now() + 60_000;
      while ((await queue.listFailed(10)).length === 0 && Date.now() < deadline) {
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
      assert.equal(ran, false);
      const [failed] = await queue.listFailed(10);
      assert.match(failed!.reason, /receiptId/);
      assert.equal(failed!.attempts, 1, 'an invalid payload is not retried');
      await queue.close();
    });
  });
}

const retryBaseMs = 20;
queueContract('in-process queue', async () => new InProcessQueue(log, { retryBaseMs }));

queueContract('BullMQ queue on real Redis', async (t) => {
  if (!requirePeer(t, await redisAvailable(), `Redis at ${testRedisUrl}`)) return null;
  // A queue name of its own per test: runs never see each other's jobs.
  return new BullMqQueue(testRedisUrl, log, { queueName: `yingyun-test-${randomBytes(6).toString('hex')}`, retryBaseMs });
});

describe('in-process queue while instances are being received', () => {
  it('holds jobs back while instances arrive, runs one at a time once the oldest is overdue, and all workers once the receivers are quiet', async () => {
    const foreground = new ForegroundActivity();
    const queue = new InProcessQueue(log, { foreground, maxWaitWhileReceivingMs: 300 });
    let running = 0;
    let mostAtOnce = 0;
    const releases: Array<() => void> = [];
    const job: JobDefinition<{ n: number }> = {
      name: 'work',
      payload: z.object({ n: z.number() }),
      handle: async () => {
        running++;
        mostAtOnce = Math.max(mostAtOnce, running);
        await new Promise<void>((resolve) => releases.push(resolve));
        running--;
      },
    };
    const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
    const receiving = foreground.begin();
    for (let n = 0; n < 6; n++) await queue.enqueue('work', { n });
    queue.startWorkers([job], 4);
    await sleep(100);
    assert.equal(running, 0, 'nothing runs while an instance is in flight');
    await sleep(400);
    assert.equal(running, 1, 'the oldest job waited too long: one runs');
    releases.shift()!();
    await sleep(50);
    assert.equal(running, 1, 'the next overdue job took the freed place, no more');
    assert.equal(mostAtOnce, 1);
    receiving();
    assert.equal(foreground.busy, true, 'busy for a moment after the last instance, as the next one usually follows');
    await sleep(500);
    assert.equal(foreground.busy, false);
    assert.equal(running, 4, 'every worker busy once the receivers are quiet');
    while (releases.length > 0 || running > 0) {
      releases.splice(0).forEach((release) => release());
      await sleep(10);
    }
    await queue.whenIdle();
    await queue.close();
  });
});

describe('in-process queue stopping', () => {
  it('waits for a running job, and one cut short by the stop (its follow-up refused) is not listed as failed', async () => {
    const queue = new InProcessQueue(log, { retryBaseMs });
    let release!: () => void;
    let started!: () => void;
    const running = new Promise<void>((resolve) => (started = resolve));
    let followUpRefused: unknown;
    queue.startWorkers(
      [
        {
          name: 'index',
          payload: z.object({}),
          handle: async () => {
            started();
            await new Promise<void>((resolve) => (release = resolve));
            try {
              await queue.enqueue('thumbnail', {});
            } catch (error) {
              followUpRefused = error;
              throw error;
            }
          },
        },
      ],
      1,
    );
    await queue.enqueue('index', {});
    await running;
    let closed = false;
    const closing = queue.close().then(() => (closed = true));
    await new Promise((resolve) => setTimeout(resolve, 50));
    assert.equal(closed, false, 'close waits for the running job');
    release();
    await closing;
    assert.match(String(followUpRefused), /closed/);
    assert.deepEqual(await queue.listFailed(10), [], 'a job cut short by the stop is redone at the next start, not failed');
  });
});
