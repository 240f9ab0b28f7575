import type { PriorFetch } from '../api/person-client.ts';

/** Still queued, asking the PACS, or retrieving: its progress is worth asking for again. */
export function fetchRunning(fetch: Pick<PriorFetch, 'state'>): boolean {
  return fetch.state === 'queued' || fetch.state === 'querying' || fetch.state === 'retrieving';
}

/**
 * A fetch's progress bar: instances done (completed or failed) of those the PACS announced. Before
 * the PACS has counted anything the bar is indeterminate (no max); a finished fetch is full.
 */
export function fetchProgress(fetch: Pick<PriorFetch, 'state' | 'instancesCompleted' | 'instancesFailed' | 'instancesRemaining'>): { value: number; max: number } | undefined {
  const done = fetch.instancesCompleted + fetch.instancesFailed;
  if (!fetchRunning(fetch)) return { value: 1, max: 1 };
  const total = done + fetch.instancesRemaining;
  return total > 0 ? { value: done, max: total } : undefined;
}
