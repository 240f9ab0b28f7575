import type { Logger } from '../archive/log.ts';
import type { CriticalFindingsService } from '../archive/reading/critical-findings.ts';

/** How often the worker looks for notices due to escalate: small beside the minutes a hospital sets. */
const CHECK_EVERY_MS = 5_000;
/** A webhook job not run within this long was lost (in-process queue across a restart). */
const LOST_WEBHOOK_AFTER_SECONDS = 120;
/** A signed report's finding the listener has not raised within this long is raised by the sweep. */
const MISSED_FINDING_AFTER_SECONDS = 10;

/**
 * The worker's timer for critical findings (危急值): escalates unacknowledged notices that are due
 * re-enqueues webhook deliveries that were lost, and raises signed reports' findings that have no notice. The state lives in PostgreSQL, so a pass is
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
        await this.criticalFindings.raiseMissedReportFindings(MISSED_FINDING_AFTER_SECONDS);
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
