import type { Histogram, MetricValue } from 'prom-client';
import { LATENCY_BUCKETS, type Metrics } from './metrics.ts';

/** A histogram summed over its labels: counts per bucket (not cumulative; the last is above the top bound), count and sum. */
export interface HistogramFigures {
  buckets: number[];
  count: number;
  sum: number;
}

/** Cumulative figures of a job type run by this process. */
export interface JobFigures {
  completed: number;
  failed: number;
  seconds: number;
}

export interface QueueDepth {
  waiting: number;
  active: number;
  delayed: number;
  failed: number;
}

/**
 * What one process reports of itself every few seconds (the process heartbeat, migration 030): its
 * counters since it started and its gauges now. The status page turns consecutive snapshots into
 * rates and percentiles; one row of JSON, so a new figure needs no migration.
 */
export interface MetricsSnapshot {
  instances: { received: number; stored: number; failed: number; bytes: number };
  associations: number;
  ingestLatency: HistogramFigures;
  database: HistogramFigures;
  objectStore: HistogramFigures;
  jobs: Record<string, JobFigures>;
  /** The shared queue's depth per job type, as this process last counted it. */
  queue: Record<string, QueueDepth>;
  /** Null in a process that runs no reconciler (a gateway). */
  reconcilerBacklog: number | null;
  residentBytes: number;
}

/** The bucket bounds of every latency histogram in a snapshot, in seconds (the last bucket: above 10 s). */
export const SNAPSHOT_BUCKET_BOUNDS = LATENCY_BUCKETS;

export async function takeSnapshot(metrics: Metrics, options: { runsReconciler: boolean }): Promise<MetricsSnapshot> {
  await metrics.refresh();
  const sumOf = async (metric: { get(): Promise<{ values: MetricValue<string>[] }> | { values: MetricValue<string>[] } }) =>
    (await metric.get()).values.reduce((total, value) => total + value.value, 0);
  const jobs: Record<string, JobFigures> = {};
  for (const value of (await metrics.jobs.duration.get()).values) {
    const jobType = String(value.labels.job_type);
    const figures = (jobs[jobType] ??= { completed: 0, failed: 0, seconds: 0 });
    if (value.metricName?.endsWith('_count')) figures[value.labels.outcome === 'failed' ? 'failed' : 'completed'] += value.value;
    else if (value.metricName?.endsWith('_sum')) figures.seconds += value.value;
  }
  const queue: Record<string, QueueDepth> = {};
  for (const value of (await metrics.jobs.depth.get()).values) {
    const depth = (queue[String(value.labels.job_type)] ??= { waiting: 0, active: 0, delayed: 0, failed: 0 });
    const state = String(value.labels.state) as keyof QueueDepth;
    if (state in depth) depth[state] = value.value;
  }
  return {
    instances: {
      received: await sumOf(metrics.ingest.received),
      stored: await sumOf(metrics.ingest.stored),
      failed: await sumOf(metrics.ingest.failed),
      bytes: await sumOf(metrics.ingest.bytes),
    },
    associations: await sumOf(metrics.associations),
    ingestLatency: await histogramFigures(metrics.ingest.latency),
    database: await histogramFigures(metrics.database),
    objectStore: await histogramFigures(metrics.objectStore),
    jobs,
    queue,
    reconcilerBacklog: options.runsReconciler ? await sumOf(metrics.reconcilerBacklog) : null,
    residentBytes: process.memoryUsage().rss,
  };
}

async function histogramFigures(histogram: Histogram<string>): Promise<HistogramFigures> {
  const bounds = SNAPSHOT_BUCKET_BOUNDS;
  const cumulative = new Array<number>(bounds.length + 1).fill(0);
  let count = 0;
  let sum = 0;
  for (const value of (await histogram.get()).values) {
    if (value.metricName?.endsWith('_bucket')) {
      const le = value.labels.le;
      const index = le === '+Inf' ? bounds.length : bounds.indexOf(Number(le));
      if (index >= 0) cumulative[index]! += value.value;
    } else if (value.metricName?.endsWith('_count')) count += value.value;
    else if (value.metricName?.endsWith('_sum')) sum += value.value;
  }
  // prom-client's buckets are cumulative; per-bucket counts subtract and add across processes simply.
  const buckets = cumulative.map((total, index) => total - (index > 0 ? cumulative[index - 1]! : 0));
  return { buckets, count, sum };
}
