import { Counter, Gauge, type Registry } from 'prom-client';

/**
 * The edge's own figures for Prometheus, in the process's registry (archive/metrics), so GET /metrics
 * shows them beside the ingest, queue and latency figures every process has. Gauges are set from the
 * forwarder's last look at the queue, which a scrape refreshes.
 */
export class EdgeMetrics {
  readonly backlogInstances: Gauge;
  readonly backlogBytes: Gauge;
  readonly oldestBacklogSeconds: Gauge;
  readonly linkUp: Gauge;
  readonly throughput: Gauge;
  readonly sentBytes: Counter;
  readonly verifiedInstances: Counter;
  readonly refusedInstances: Counter;
  readonly linkFailures: Counter;
  readonly deletedCopies: Counter;

  constructor(registry: Registry) {
    const registers = [registry];
    this.backlogInstances = new Gauge({ name: 'yingyun_edge_backlog_instances', help: 'Instances received here and not yet verified at the region', registers });
    this.backlogBytes = new Gauge({ name: 'yingyun_edge_backlog_bytes', help: 'Bytes of the instances not yet verified at the region', registers });
    this.oldestBacklogSeconds = new Gauge({ name: 'yingyun_edge_oldest_backlog_age_seconds', help: 'Age of the oldest instance not yet verified at the region (0 when none)', registers });
    this.linkUp = new Gauge({ name: 'yingyun_edge_link_up', help: '1 when the last request to the region succeeded, 0 when it failed', registers });
    this.throughput = new Gauge({ name: 'yingyun_edge_upload_bytes_per_second', help: 'Upload rate to the region over the last minute', registers });
    this.sentBytes = new Counter({ name: 'yingyun_edge_sent_bytes_total', help: 'Bytes put on the wire to the region (resent ones included)', registers });
    this.verifiedInstances = new Counter({ name: 'yingyun_edge_verified_instances_total', help: 'Instances the region holds with the same SHA-256', registers });
    this.refusedInstances = new Counter({ name: 'yingyun_edge_refused_instances_total', help: 'Instances the region refused or could not show with the same SHA-256 (retried later)', registers });
    this.linkFailures = new Counter({ name: 'yingyun_edge_link_failures_total', help: 'Requests to the region that failed as a whole (unreachable, cut, timed out, 5xx)', registers });
    this.deletedCopies = new Counter({ name: 'yingyun_edge_local_copies_deleted_total', help: 'Local objects deleted after verification and retention', registers });
  }
}
