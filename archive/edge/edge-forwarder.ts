import type { EdgeBacklog, EdgeForward, EdgeForwardingRepository } from '../db/edge-forwarding-repository.ts';
import type { Logger } from '../log.ts';
import { ObjectNotFound, type ObjectStore } from '../storage/object-store.ts';
import type { EdgeConfig } from './edge-config.ts';
import { EdgeMetrics } from './edge-metrics.ts';
import type { Metrics } from '../metrics/metrics.ts';
import { RegionClient, RegionUnavailable } from './region-client.ts';
import { retryDelayMs, type RetrySchedule } from './retry-schedule.ts';
import { ThroughputMeter } from './throughput.ts';
import { TokenBucket } from './token-bucket.ts';
import { urgencyOf } from './urgency.ts';

export type LinkState = 'unknown' | 'up' | 'down';

export interface EdgeStatus {
  regionUrl: string;
  link: { state: LinkState; since: string | null; lastError: string | null; lastErrorAt: string | null; nextAttemptAt: string | null };
  backlog: EdgeBacklog;
  uploadBytesPerSecond: number;
  capBytesPerSecond: number | null;
  retentionSeconds: number;
}

/** How much goes in one STOW-RS request: a cut costs at most this much again, an urgent study waits at most this long. */
const BATCH_INSTANCES = 200;
const BATCH_SECONDS_AT_CAP = 5;
/**
 * Requests on the wire at once, sharing the one bandwidth cap: the region ingests the parts of one
 * request one after the other, so with small instances a single request left the link idle while the
 * region committed (24 % of a 2 MB/s cap; docs/benchmarks.md).
 */
const PARALLEL_UPLOADS = 3;
const UNCAPPED_BATCH_BYTES = 64 * 1024 * 1024;
const MIN_BATCH_BYTES = 1024 * 1024;
/** Between looks at an empty queue: a new receipt starts on its way within this. */
const IDLE_POLL_MS = 500;
const VERIFY_BATCH = 500;
const CLASSIFY_BATCH = 1000;
const OBSERVE_EVERY_MS = 5000;

/**
 * Store-and-forward to the region (issue 17): a long-running service of the edge role. Every
 * receipt (queued by the receipts trigger, migration 024) is sent over STOW-RS — most urgent first,
 * then oldest, through the bandwidth cap — then compared by SHA-256 with what the region says it
 * stored, and its local object deleted once the retention has passed. The queue is in PostgreSQL:
 * after a crash, an outage or a restart of the region, the loop picks up where the rows say. An
 * instance put on the wire before (a cut, a crash mid-request) is first looked up at the region, so
 * only what it lacks goes again, and a re-sent instance is a duplicate there, never a second copy.
 */
export class EdgeForwarder {
  readonly metrics: EdgeMetrics;
  private readonly client: RegionClient;
  private readonly bucket: TokenBucket | undefined;
  private readonly meter = new ThroughputMeter();
  private readonly linkRetry: RetrySchedule;
  private readonly batchBytes: number;
  private link: EdgeStatus['link'] = { state: 'unknown', since: null, lastError: null, lastErrorAt: null, nextAttemptAt: null };
  private linkFailures = 0;
  private observedAt = 0;
  private running: Promise<void> | undefined;
  private stopped = false;
  private readonly abort = new AbortController();
  private wake: (() => void) | undefined;

  constructor(
    private readonly deps: { repository: EdgeForwardingRepository; store: ObjectStore; config: EdgeConfig; log: Logger; metrics: Metrics; random?: () => number },
  ) {
    this.metrics = new EdgeMetrics(deps.metrics.registry);
    // A scrape sets the gauges from a fresh look at the queue, not the loop's last one.
    deps.metrics.refreshWith(() => this.status());
    const { config } = deps;
    this.client = new RegionClient({ url: config.regionUrl, token: config.regionToken, idleTimeoutMs: config.idleTimeoutSeconds * 1000 });
    const cap = config.bandwidthBytesPerSecond;
    // One second's worth saved up: the gap between two requests is made up, the cap still holds on average.
    this.bucket = cap ? new TokenBucket(cap, Math.max(64 * 1024, cap), Date.now()) : undefined;
    this.batchBytes = cap ? Math.max(MIN_BATCH_BYTES, cap * BATCH_SECONDS_AT_CAP) : UNCAPPED_BATCH_BYTES;
    this.linkRetry = { baseMs: 1000, maxMs: config.retryMaxSeconds * 1000 };
  }

  /** Queues what was received before (first start) and starts the loop. */
  async start(): Promise<void> {
    const queued = await this.deps.repository.enable();
    if (queued) this.deps.log.info({ queued }, 'receipts from before the edge role queued for the region');
    this.running = this.loop();
  }

  /** Ends the loop; a request on the wire is abandoned (its instances are sent again after the restart). */
  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    this.wake?.();
    await this.running;
  }

  async status(): Promise<EdgeStatus> {
    const backlog = await this.deps.repository.backlog();
    this.observe(backlog);
    return {
      regionUrl: this.deps.config.regionUrl,
      link: { ...this.link },
      backlog,
      uploadBytesPerSecond: this.meter.bytesPerSecond(Date.now()),
      capBytesPerSecond: this.deps.config.bandwidthBytesPerSecond ?? null,
      retentionSeconds: this.deps.config.retentionSeconds,
    };
  }

  private async loop(): Promise<void> {
    while (!this.stopped) {
      let pauseMs = IDLE_POLL_MS;
      try {
        await this.classify();
        if (await this.cycle()) pauseMs = 0;
        // Counting the whole queue is a scan: the gauges follow every few seconds (status() and /metrics count afresh).
        if (Date.now() - this.observedAt >= OBSERVE_EVERY_MS) this.observe(await this.deps.repository.backlog());
      } catch (error) {
        if (this.stopped) break;
        if (error instanceof RegionUnavailable) {
          pauseMs = this.linkDown(error.message);
        } else {
          // The local database or store: nothing to do with the link; looked at again shortly.
          this.deps.log.error({ err: error }, 'edge forwarding failed locally');
          pauseMs = 5000;
        }
      }
      if (pauseMs > 0 && !this.stopped) await this.pause(pauseMs);
    }
  }

  /** One round: verify what was sent, send the next batch, delete what is past retention. True when there was work. */
  private async cycle(): Promise<boolean> {
    let worked = (await this.verifySent()) > 0;
    const batches: EdgeForward[][] = [];
    for (let index = 0; index < PARALLEL_UPLOADS; index++) {
      const batch = await this.deps.repository.takeBatch(BATCH_INSTANCES, this.batchBytes, batches.flat().map((forward) => forward.receiptId));
      if (!batch.length) break;
      batches.push(batch);
    }
    if (batches.length) {
      worked = true;
      const sent = await Promise.allSettled(batches.map((batch) => this.send(batch)));
      const failure = sent.find((outcome) => outcome.status === 'rejected');
      if (failure) throw failure.reason;
    }
    worked = (await this.deleteAfterRetention()) > 0 || worked;
    return worked;
  }

  private async classify(): Promise<void> {
    const rules = this.deps.config.urgencyRules;
    const unclassified = await this.deps.repository.unclassified(CLASSIFY_BATCH);
    await this.deps.repository.setUrgencies(unclassified.map(({ receiptId, metadata }) => ({ receiptId, urgency: urgencyOf(metadata, rules) })));
  }

  private async send(batch: EdgeForward[]): Promise<void> {
    const { repository, store } = this.deps;
    // Put on the wire before: the region may hold it already, and then it need not go again.
    const triedBefore = batch.filter((forward) => forward.attempts > 1);
    const held = triedBefore.length ? await this.heldByRegion(triedBefore) : new Set<string>();
    await this.verified(batch.filter((forward) => held.has(forward.receiptId)));
    const missing: EdgeForward[] = [];
    const toSend: EdgeForward[] = [];
    for (const forward of batch) {
      if (held.has(forward.receiptId)) continue;
      if (await store.exists(forward.objectKey)) toSend.push(forward);
      else missing.push(forward);
    }
    await repository.retryLater(missing.map((forward) => ({ receiptId: forward.receiptId, delaySeconds: this.itemDelaySeconds(forward), error: 'the local object is missing' })));
    if (!toSend.length) return;
    const result = await this.client.store(
      toSend.map((forward) => ({ sopInstanceUid: forward.sopInstanceUid, sizeBytes: forward.sizeBytes, open: () => store.stream(forward.objectKey) })),
      this.bucket,
      (bytes) => {
        this.meter.add(bytes, Date.now());
        this.metrics.sentBytes.inc(bytes);
      },
      this.abort.signal,
    );
    this.linkUp();
    const stored = new Set(result.stored);
    const refusals = new Map(result.failed.map((failure) => [failure.sopInstanceUid, failure.reason]));
    await repository.markSent(toSend.filter((forward) => stored.has(forward.sopInstanceUid)).map((forward) => forward.receiptId));
    const refused = toSend.filter((forward) => !stored.has(forward.sopInstanceUid));
    this.metrics.refusedInstances.inc(refused.length);
    for (const forward of refused) this.deps.log.warn({ sopInstanceUid: forward.sopInstanceUid, reason: refusals.get(forward.sopInstanceUid) }, 'the region refused an instance; retried later');
    await repository.retryLater(refused.map((forward) => {
      const reason = refusals.get(forward.sopInstanceUid);
      return {
        receiptId: forward.receiptId,
        delaySeconds: this.itemDelaySeconds(forward),
        error: reason === undefined ? 'the STOW-RS answer did not name this instance' : `STOW-RS Failure Reason ${reason.toString(16).toUpperCase().padStart(4, '0')}H`,
      };
    }));
    await this.verifySent();
  }

  /** Compares what the region stored with the local SHA-256 of every instance answered Success. */
  private async verifySent(): Promise<number> {
    const sent = await this.deps.repository.awaitingVerification(VERIFY_BATCH);
    if (!sent.length) return 0;
    const held = await this.heldByRegion(sent);
    await this.verified(sent.filter((forward) => held.has(forward.receiptId)));
    const notHeld = sent.filter((forward) => !held.has(forward.receiptId));
    this.metrics.refusedInstances.inc(notHeld.length);
    await this.deps.repository.retryLater(notHeld.map((forward) => ({
      receiptId: forward.receiptId,
      delaySeconds: this.itemDelaySeconds(forward),
      error: 'the region answered Success but shows no stored copy with this SHA-256',
    })));
    return sent.length;
  }

  /** The receipt ids among `forwards` whose exact bytes (same SHA-256) the region holds. */
  private async heldByRegion(forwards: readonly EdgeForward[]): Promise<Set<string>> {
    const digests = await this.client.digests(forwards.map((forward) => forward.sopInstanceUid), this.abort.signal);
    this.linkUp();
    return new Set(forwards.filter((forward) => digests.get(forward.sopInstanceUid)?.includes(forward.objectSha256)).map((forward) => forward.receiptId));
  }

  private async verified(forwards: readonly EdgeForward[]): Promise<void> {
    // Counted once: the three requests' verifications may look at the same sent rows.
    this.metrics.verifiedInstances.inc(await this.deps.repository.markVerified(forwards.map((forward) => forward.receiptId)));
  }

  private async deleteAfterRetention(): Promise<number> {
    const due = await this.deps.repository.pastRetention(this.deps.config.retentionSeconds, VERIFY_BATCH);
    const deleted: string[] = [];
    for (const forward of due) {
      try {
        await this.deps.store.delete(forward.objectKey);
        deleted.push(forward.receiptId);
      } catch (error) {
        if (error instanceof ObjectNotFound) deleted.push(forward.receiptId);
        else this.deps.log.warn({ err: error, objectKey: forward.objectKey }, 'could not delete a verified local copy; tried again later');
      }
    }
    await this.deps.repository.markDeleted(deleted);
    this.metrics.deletedCopies.inc(deleted.length);
    return deleted.length;
  }

  private itemDelaySeconds(forward: EdgeForward): number {
    return retryDelayMs(Math.max(1, forward.attempts), this.linkRetry, (this.deps.random ?? Math.random)()) / 1000;
  }

  private linkUp(): void {
    if (this.link.state !== 'up') {
      if (this.link.state === 'down') this.deps.log.info({ after: this.link.since }, 'the region is reachable again');
      this.link = { ...this.link, state: 'up', since: new Date().toISOString(), nextAttemptAt: null };
      this.metrics.linkUp.set(1);
    }
    this.linkFailures = 0;
  }

  /** Records the failure and says how long to wait before the next try. */
  private linkDown(reason: string): number {
    this.linkFailures++;
    this.metrics.linkFailures.inc();
    this.metrics.linkUp.set(0);
    const waitMs = retryDelayMs(this.linkFailures, this.linkRetry, (this.deps.random ?? Math.random)());
    const now = new Date();
    if (this.link.state !== 'down') this.deps.log.warn({ reason }, 'the region is unreachable; the backlog waits here');
    this.link = {
      state: 'down',
      since: this.link.state === 'down' ? this.link.since : now.toISOString(),
      lastError: reason,
      lastErrorAt: now.toISOString(),
      nextAttemptAt: new Date(now.getTime() + waitMs).toISOString(),
    };
    return waitMs;
  }

  private observe(backlog: EdgeBacklog): void {
    this.observedAt = Date.now();
    this.metrics.backlogInstances.set(backlog.count);
    this.metrics.backlogBytes.set(backlog.bytes);
    this.metrics.oldestBacklogSeconds.set(backlog.oldestReceivedAt ? Math.max(0, (Date.now() - Date.parse(backlog.oldestReceivedAt)) / 1000) : 0);
    this.metrics.throughput.set(this.meter.bytesPerSecond(Date.now()));
  }

  private pause(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      function done() {
        clearTimeout(timer);
        resolve();
      }
      this.wake = done;
    });
  }
}
