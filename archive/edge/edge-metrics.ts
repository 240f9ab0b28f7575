import { Counter, Gauge, Registry } from 'prom-client';

/**
 * The edge's figures for Prometheus (GET /metrics): its own registry, so nothing else in the
 * process leaks into what the county's monitoring scrapes. Gauges are set from the forwarder's last
 * look at the queue.
 */
export class EdgeMetrics {
  readonly registry = new Registry();
  readonly backlogInstances = new Gauge({ name: 'yingyun_edge_backlog_instances', help: 'Instances received here and not yet verified at the region', registers: [this.registry] });
  readonly backlogBytes = new Gauge({ name: 'yingyun_edge_backlog_bytes', help: 'Bytes of the instances not yet verified at the region', registers: [this.registry] });
  readonly oldestBacklogSeconds = new Gauge({ name: 'yingyun_edge_oldest_backlog_age_seconds', help: 'Age of the oldest instance not yet verified at the region (0 when none)', registers: [this.registry] });
  readonly linkUp = new Gauge({ name: 'yingyun_edge_link_up', help: '1 when the last request to the region succeeded, 0 when it failed', registers: [this.registry] });
  readonly throughput = new Gauge({ name: 'yingyun_edge_upload_bytes_per_second', help: 'Upload rate to the region over the last minute', registers: [this.registry] });
  readonly sentBytes = new Counter({ name: 'yingyun_edge_sent_bytes_total', help: 'Bytes put on the wire to the region (resent ones included)', registers: [this.registry] });
  readonly verifiedInstances = new Counter({ name: 'yingyun_edge_verified_instances_total', help: 'Instances the region holds with the same SHA-256', registers: [this.registry] });
  readonly refusedInstances = new Counter({ name: 'yingyun_edge_refused_instances_total', help: 'Instances the region refused or could not show with the same SHA-256 (retried later)', registers: [this.registry] });
  readonly linkFailures = new Counter({ name: 'yingyun_edge_link_failures_total', help: 'Requests to the region that failed as a whole (unreachable, cut, timed out, 5xx)', registers: [this.registry] });
  readonly deletedCopies = new Counter({ name: 'yingyun_edge_local_copies_deleted_total', help: 'Local objects deleted after verification and retention', registers: [this.registry] });
}
