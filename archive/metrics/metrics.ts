import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { InstanceSource } from '../ingest.ts';

/** Which part of Yingyun a process runs: `npm start` ('all'), a gateway, a worker, or a county edge. */
export type ProcessRole = 'all' | 'gateway' | 'worker' | 'edge';

/**
 * Seconds, from a flushed write on a local SSD (about a millisecond) to a loaded PostgreSQL or a
 * distant S3 endpoint (seconds): wide enough for both, few enough to keep each series small.
 */
export const LATENCY_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * Distinct senders kept as their own label value. Senders are registered AE titles, STOW-RS users and
 * import labels, a bounded set in practice, but a quarantine that accepts unknown peers or a script
 * importing with a new label each time must not grow the series without end: past the bound they
 * count under `other`.
 */
const MAX_SOURCES = 200;

/** The figures one ingest call gives (IngestService.ingest calls `observe` once per instance, stored or refused). */
export interface IngestObservation {
  source: Pick<InstanceSource, 'via' | 'name'>;
  /** The object's size as received. */
  bytes: number;
  /** From the end of receiving (the instance handed to ingest) to its Success, or to its refusal. */
  seconds: number;
  outcome: 'stored' | 'duplicate' | 'new-version' | 'failed';
}

/** Instances received, stored and refused per source, their bytes, and the latency to Success. */
export class IngestMetrics {
  private readonly sources = new Set<string>();
  readonly received: Counter<'channel' | 'source'>;
  readonly stored: Counter<'channel' | 'source'>;
  readonly failed: Counter<'channel' | 'source'>;
  readonly bytes: Counter<'channel' | 'source'>;
  readonly latency: Histogram<'channel'>;

  constructor(registry: Registry) {
    const registers = [registry];
    this.received = new Counter({ name: 'yingyun_instances_received_total', help: 'Instances handed to ingest (C-STORE, STOW-RS, import), stored or not', labelNames: ['channel', 'source'], registers });
    this.stored = new Counter({ name: 'yingyun_instances_stored_total', help: 'Instances answered Success: durable object and committed receipt (duplicates included)', labelNames: ['channel', 'source'], registers });
    this.failed = new Counter({ name: 'yingyun_instances_failed_total', help: 'Instances refused or failed (the sender got a failure status)', labelNames: ['channel', 'source'], registers });
    this.bytes = new Counter({ name: 'yingyun_instances_received_bytes_total', help: 'Bytes of the instances handed to ingest', labelNames: ['channel', 'source'], registers });
    this.latency = new Histogram({ name: 'yingyun_ingest_latency_seconds', help: 'From the end of receiving an instance to its Success (or failure)', labelNames: ['channel'], buckets: LATENCY_BUCKETS, registers });
  }

  observe(observation: IngestObservation): void {
    const labels = { channel: observation.source.via, source: this.boundedSource(observation.source) };
    this.received.inc(labels);
    this.bytes.inc(labels, observation.bytes);
    (observation.outcome === 'failed' ? this.failed : this.stored).inc(labels);
    this.latency.observe({ channel: labels.channel }, observation.seconds);
  }

  private boundedSource(source: IngestObservation['source']): string {
    const key = `${source.via}\u0000${source.name}`;
    if (this.sources.has(key)) return source.name;
    if (this.sources.size >= MAX_SOURCES) return 'other';
    this.sources.add(key);
    return source.name;
  }
}

/** Jobs run by this process, per job type: how long each took and how it ended. */
export class JobMetrics {
  readonly duration: Histogram<'job_type' | 'outcome'>;
  /** Waiting, delayed, running and failed jobs per type in the shared queue: the same figures seen from every process. */
  readonly depth: Gauge<'job_type' | 'state'>;

  constructor(registry: Registry) {
    this.duration = new Histogram({ name: 'yingyun_job_duration_seconds', help: 'Time a job handler ran, per job type and outcome', labelNames: ['job_type', 'outcome'], buckets: LATENCY_BUCKETS, registers: [registry] });
    this.depth = new Gauge({ name: 'yingyun_queue_jobs', help: 'Jobs in the queue per job type and state (waiting, active, delayed, failed)', labelNames: ['job_type', 'state'], registers: [registry] });
  }

  /** Runs `run` and records its duration under the job's type, as completed or failed. */
  async time<T>(jobType: string, run: () => Promise<T>): Promise<T> {
    const end = this.duration.startTimer({ job_type: jobType });
    try {
      const result = await run();
      end({ outcome: 'completed' });
      return result;
    } catch (error) {
      end({ outcome: 'failed' });
      throw error;
    }
  }
}

/**
 * Every figure one process exposes for Prometheus (GET /metrics), in its own registry so nothing of
 * another library leaks in. One per process, made by the composition root and handed to what
 * counts: ingest, the DIMSE server, the jobs, the object store and database wrappers, the reconciler
 * and, on a county edge, its forwarder.
 */
export class Metrics {
  readonly registry = new Registry();
  readonly ingest: IngestMetrics;
  readonly jobs: JobMetrics;
  readonly associations: Gauge;
  readonly database: Histogram<'pool'>;
  readonly objectStore: Histogram<'operation'>;
  readonly reconcilerBacklog: Gauge;
  private readonly refreshers: Array<() => Promise<unknown>> = [];

  constructor(readonly role: ProcessRole) {
    // Memory, CPU, file descriptors and event-loop lag: what a soak run and an operator watch first.
    collectDefaultMetrics({ register: this.registry, prefix: 'yingyun_' });
    const registers = [this.registry];
    this.ingest = new IngestMetrics(this.registry);
    this.jobs = new JobMetrics(this.registry);
    this.associations = new Gauge({ name: 'yingyun_dimse_associations', help: 'DICOM associations open on this process now', registers });
    this.database = new Histogram({ name: 'yingyun_database_query_seconds', help: 'PostgreSQL query round trips, per pool (receipts: synchronous commit; derived: index and thumbnails)', labelNames: ['pool'], buckets: LATENCY_BUCKETS, registers });
    this.objectStore = new Histogram({ name: 'yingyun_object_store_seconds', help: 'Object store operations (put, get, stream, exists, delete, upload finish)', labelNames: ['operation'], buckets: LATENCY_BUCKETS, registers });
    this.reconcilerBacklog = new Gauge({ name: 'yingyun_reconciler_backlog', help: 'Unfinished work items (unindexed receipts, missing thumbnails, …) the last reconciler pass found past their grace period', registers });
  }

  /**
   * Something to bring up to date before the figures are read (the queue's depth, an edge's backlog):
   * counted afresh for a scrape or a status snapshot rather than kept current on every change.
   */
  refreshWith(refresh: () => Promise<unknown>): void {
    this.refreshers.push(refresh);
  }

  async refresh(): Promise<void> {
    // One refresher failing (Redis down) must not blank the rest: its gauges keep their last value.
    await Promise.allSettled(this.refreshers.map((refresh) => refresh()));
  }

  /** The Prometheus text exposition, refreshed first. */
  async exposition(): Promise<{ contentType: string; body: string }> {
    await this.refresh();
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }
}
