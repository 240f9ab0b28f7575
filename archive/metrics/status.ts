import { SNAPSHOT_BUCKET_BOUNDS, type HistogramFigures, type MetricsSnapshot } from './snapshot.ts';
import type { ProcessRole } from './metrics.ts';

/** How often each process writes its heartbeat; the status page's charts have one point per interval. */
export const HEARTBEAT_INTERVAL_SECONDS = 10;
/** A process not heard from for this many intervals is shown as silent (crashed, hung or cut off). */
const SILENT_AFTER_INTERVALS = 3;

/** A process as its heartbeat row tells it, with its latest snapshot. */
export interface ProcessRecord {
  processId: string;
  role: ProcessRole;
  host: string;
  pid: number;
  startedAt: string;
  seenAt: string;
  stoppedAt: string | null;
  snapshot: MetricsSnapshot;
}

export interface SampleRecord {
  processId: string;
  sampledAt: string;
  snapshot: MetricsSnapshot;
}

export interface Percentiles {
  p50: number;
  p95: number;
  p99: number;
}

/** One row of the status page's process table. */
export interface ProcessStatus extends Omit<ProcessRecord, 'stoppedAt' | 'snapshot'> {
  state: 'live' | 'silent' | 'stopped';
  associations: number;
  instancesStored: number;
  instancesFailed: number;
  jobsRun: number;
  residentBytes: number;
  reconcilerBacklog: number | null;
}

/** One point of the charts: the figures of every process over one heartbeat interval, added up. */
export interface StatusPoint {
  at: string;
  instancesPerSecond: number;
  failedPerSecond: number;
  bytesPerSecond: number;
  jobsPerSecond: number;
  /** Milliseconds from the end of receiving to Success, of the instances stored in the interval (null: none). */
  ingestMs: Percentiles | null;
  databaseMs: Percentiles | null;
  objectStoreMs: Percentiles | null;
  associations: number;
  /** Jobs waiting, delayed or running per job type (the shared queue, as the processes last counted it). */
  queueDepth: Record<string, number>;
  reconcilerBacklog: number | null;
}

/** GET /api/admin/status: the processes (gateways, workers) and the recent figures of all of them. */
export interface SystemStatus {
  generatedAt: string;
  intervalSeconds: number;
  processes: ProcessStatus[];
  series: StatusPoint[];
  /** Every job type seen in the series, for the queue chart's legend. */
  jobTypes: string[];
}

/**
 * Turns heartbeat rows into the status page's answer: consecutive snapshots of each process give its
 * counters' increase over each interval (a process's id is new at every start, so counters never
 * restart within one), added up across processes per interval; latency percentiles come from the
 * added-up histogram buckets; the queue and the reconciler's backlog are shared, so the processes'
 * figures are not added but the largest taken (they all count the same queue).
 */
export function summariseStatus(processes: readonly ProcessRecord[], samples: readonly SampleRecord[], now: Date, intervalSeconds = HEARTBEAT_INTERVAL_SECONDS): SystemStatus {
  const intervalMs = intervalSeconds * 1000;
  const slots = new Map<number, SlotTotals>();
  const byProcess = new Map<string, SampleRecord[]>();
  for (const sample of samples) {
    const list = byProcess.get(sample.processId) ?? [];
    list.push(sample);
    byProcess.set(sample.processId, list);
  }
  for (const list of byProcess.values()) {
    list.sort((a, b) => Date.parse(a.sampledAt) - Date.parse(b.sampledAt));
    list.forEach((sample, index) => {
      const slotKey = Math.floor(Date.parse(sample.sampledAt) / intervalMs);
      const slot = slots.get(slotKey) ?? emptySlot();
      slots.set(slotKey, slot);
      const current = sample.snapshot;
      slot.associations += current.associations;
      for (const [jobType, depth] of Object.entries(current.queue)) {
        slot.queueDepth[jobType] = Math.max(slot.queueDepth[jobType] ?? 0, depth.waiting + depth.active + depth.delayed);
      }
      if (current.reconcilerBacklog !== null) slot.reconcilerBacklog = Math.max(slot.reconcilerBacklog ?? 0, current.reconcilerBacklog);
      const previous = list[index - 1]?.snapshot;
      if (!previous) return;
      slot.seconds = Math.max(slot.seconds, (Date.parse(sample.sampledAt) - Date.parse(list[index - 1]!.sampledAt)) / 1000);
      slot.stored += increase(current.instances.stored, previous.instances.stored);
      slot.failed += increase(current.instances.failed, previous.instances.failed);
      slot.bytes += increase(current.instances.bytes, previous.instances.bytes);
      slot.jobs += jobsRun(current) - jobsRun(previous);
      addBuckets(slot.ingest, current.ingestLatency, previous.ingestLatency);
      addBuckets(slot.database, current.database, previous.database);
      addBuckets(slot.objectStore, current.objectStore, previous.objectStore);
    });
  }
  const series = [...slots.entries()]
    .sort(([a], [b]) => a - b)
    .map(([slotKey, slot]): StatusPoint => {
      const seconds = slot.seconds || intervalSeconds;
      return {
        at: new Date(slotKey * intervalMs).toISOString(),
        instancesPerSecond: slot.stored / seconds,
        failedPerSecond: slot.failed / seconds,
        bytesPerSecond: slot.bytes / seconds,
        jobsPerSecond: slot.jobs / seconds,
        ingestMs: percentiles(slot.ingest),
        databaseMs: percentiles(slot.database),
        objectStoreMs: percentiles(slot.objectStore),
        associations: slot.associations,
        queueDepth: slot.queueDepth,
        reconcilerBacklog: slot.reconcilerBacklog,
      };
    });
  const jobTypes = [...new Set(series.flatMap((point) => Object.keys(point.queueDepth)))].sort();
  const silentBefore = now.getTime() - SILENT_AFTER_INTERVALS * intervalMs;
  return {
    generatedAt: now.toISOString(),
    intervalSeconds,
    processes: [...processes]
      .sort((a, b) => a.role.localeCompare(b.role) || a.host.localeCompare(b.host) || a.pid - b.pid)
      .map((record) => ({
        processId: record.processId,
        role: record.role,
        host: record.host,
        pid: record.pid,
        startedAt: record.startedAt,
        seenAt: record.seenAt,
        state: record.stoppedAt ? 'stopped' : Date.parse(record.seenAt) < silentBefore ? 'silent' : 'live',
        associations: record.snapshot.associations,
        instancesStored: record.snapshot.instances.stored,
        instancesFailed: record.snapshot.instances.failed,
        jobsRun: jobsRun(record.snapshot),
        residentBytes: record.snapshot.residentBytes,
        reconcilerBacklog: record.snapshot.reconcilerBacklog,
      })),
    series,
    jobTypes,
  };
}

interface SlotTotals {
  seconds: number;
  stored: number;
  failed: number;
  bytes: number;
  jobs: number;
  ingest: number[];
  database: number[];
  objectStore: number[];
  associations: number;
  queueDepth: Record<string, number>;
  reconcilerBacklog: number | null;
}

function emptySlot(): SlotTotals {
  const buckets = () => new Array<number>(SNAPSHOT_BUCKET_BOUNDS.length + 1).fill(0);
  return { seconds: 0, stored: 0, failed: 0, bytes: 0, jobs: 0, ingest: buckets(), database: buckets(), objectStore: buckets(), associations: 0, queueDepth: {}, reconcilerBacklog: null };
}

function increase(current: number, previous: number): number {
  return Math.max(0, current - previous);
}

function jobsRun(snapshot: MetricsSnapshot): number {
  return Object.values(snapshot.jobs).reduce((total, figures) => total + figures.completed + figures.failed, 0);
}

function addBuckets(into: number[], current: HistogramFigures, previous: HistogramFigures): void {
  current.buckets.forEach((count, index) => (into[index]! += increase(count, previous.buckets[index] ?? 0)));
}

/**
 * Percentiles in milliseconds from per-bucket counts, interpolated linearly inside the bucket that
 * holds each rank (as Prometheus's histogram_quantile does); the open top bucket reports its lower
 * bound. Null when nothing was observed.
 */
export function percentiles(buckets: readonly number[]): Percentiles | null {
  const total = buckets.reduce((sum, count) => sum + count, 0);
  if (total === 0) return null;
  const at = (quantile: number) => {
    const rank = quantile * total;
    let below = 0;
    for (const [index, count] of buckets.entries()) {
      if (count > 0 && below + count >= rank) {
        const lower = index === 0 ? 0 : SNAPSHOT_BUCKET_BOUNDS[index - 1]!;
        const upper = SNAPSHOT_BUCKET_BOUNDS[index];
        if (upper === undefined) return lower * 1000;
        return (lower + ((upper - lower) * (rank - below)) / count) * 1000;
      }
      below += count;
    }
    return SNAPSHOT_BUCKET_BOUNDS.at(-1)! * 1000;
  };
  return { p50: at(0.5), p95: at(0.95), p99: at(0.99) };
}
