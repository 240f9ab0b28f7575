import type { Logger } from '../archive/log.ts';
import type { CriticalFindingsService } from '../archive/reading/critical-findings.ts';

/** How often the worker looks for notices due to escalate: small beside the minutes a hospital sets. */
const CHECK_EVERY_MS = 5_000;
/** A webhook job not run within this long was lost (in-process queue across a restart). */
const LOST_WEBHOOK_AFTER_SECONDS = 120;

/**
 * The worker's timer for critical findings (危急值): escalates unacknowledged notices that are due
 * and re-enqueues webhook deliveries that were lost. The state lives in PostgreSQL, so a pass is
 * idempotent and any number of worker processes may run it.
 */
export class CriticalEscalation {
  private timer?: NodeJS.Timeout;
  private running?: Promise<void>;

  constructor(
    private readonly criticalFindings: CriticalFindingsService,
    private readonly log: Logger,
  ) {}

  start(): void {
    this.timer = setInterval(() => void this.runOnce(), CHECK_EVERY_MS);
    this.timer.unref();
  }

  /** One pass; overlapping calls share it. */
  async runOnce(): Promise<void> {
    this.running ??= (async () => {
      try {
        await this.criticalFindings.escalateDue();
        await this.criticalFindings.requeueLostWebhooks(LOST_WEBHOOK_AFTER_SECONDS);
      } catch (error) {
        this.log.warn({ err: error }, 'critical-finding escalation pass failed; will try again');
      } finally {
        this.running = undefined;
      }
    })();
    await this.running;
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    await this.running;
  }
}
