import type pg from 'pg';
import type { Histogram } from 'prom-client';
import type { IncomingObject, ObjectStore } from '../storage/object-store.ts';

/** The store's operations timed; anything else (description, checkAvailable) passes through untouched. */
const TIMED_STORE_OPERATIONS = new Set(['put', 'putDerived', 'get', 'getRange', 'stream', 'exists', 'delete']);

/**
 * The object store with each operation timed into `histogram` (label `operation`), and an upload's
 * `finish` (the flush or the S3 upload a C-STORE waits for) as `finish`. A Proxy rather than a class
 * that re-declares every method: whatever the interface gains later is passed through, not lost.
 */
export function timedObjectStore(store: ObjectStore, histogram: Histogram<'operation'>): ObjectStore {
  return new Proxy(store, {
    get(target, property, receiver) {
      const value: unknown = Reflect.get(target, property, receiver);
      if (typeof value !== 'function') return value;
      if (property === 'openUpload') return () => timedUpload(target.openUpload(), histogram);
      if (typeof property !== 'string' || !TIMED_STORE_OPERATIONS.has(property)) return value.bind(target);
      return (...args: unknown[]) => timed(histogram, { operation: property }, () => (value as (...a: unknown[]) => Promise<unknown>).apply(target, args));
    },
  });
}

function timedUpload(upload: IncomingObject, histogram: Histogram<'operation'>): IncomingObject {
  return {
    write: (...args) => upload.write(...args),
    finish: (...args) => timed(histogram, { operation: 'finish' }, () => upload.finish(...args)),
    discard: () => upload.discard(),
  };
}

async function timed<L extends string, T>(histogram: Histogram<L>, labels: Partial<Record<L, string>>, run: () => Promise<T>): Promise<T> {
  const end = histogram.startTimer(labels);
  try {
    return await run();
  } finally {
    end();
  }
}

const instrumented = new WeakSet<pg.PoolClient>();
type QueryFunction = (...args: unknown[]) => unknown;

/**
 * Times every query round trip of the pool's clients into `histogram` (label `pool`): pool.query
 * and transactions on checked-out clients alike. Each client is wrapped once, when it is first
 * checked out (clients made before this call included). Cursors and streams (a submittable passed
 * to query) are not timed: their time is the caller's reading, not the database's.
 */
export function timePoolQueries(pool: pg.Pool, histogram: Histogram<'pool'>, poolName: string): void {
  pool.on('acquire', (client) => {
    if (instrumented.has(client)) return;
    instrumented.add(client);
    const original = client.query as unknown as QueryFunction;
    const query: QueryFunction = function (this: unknown, ...args: unknown[]) {
      const first = args[0] as { submit?: unknown } | undefined;
      if (first && typeof first.submit === 'function') return original.apply(this, args);
      const end = histogram.startTimer({ pool: poolName });
      const callback = args.at(-1);
      if (typeof callback === 'function') {
        // pg-pool's own pool.query passes a callback.
        args[args.length - 1] = (error: unknown, result: unknown) => {
          end();
          (callback as (error: unknown, result: unknown) => void)(error, result);
        };
        return original.apply(this, args);
      }
      const result = original.apply(this, args) as Promise<unknown>;
      result.then(
        () => end(),
        () => end(),
      );
      return result;
    };
    (client as unknown as { query: QueryFunction }).query = query;
  });
}
