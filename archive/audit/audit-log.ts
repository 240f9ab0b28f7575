import type { AuditRepository } from '../db/audit-repository.ts';
import type { Logger } from '../log.ts';
import type { AuditEventInput } from './audit-event.ts';
import { verifyChainSegment, type ChainBreak } from './audit-chain.ts';

export interface AuditVerification {
  events: number;
  breaks: ChainBreak[];
}

/**
 * Records audit events. Appends are batched: while one transaction extends the chain, new events
 * wait and go together in the next, so a viewer loading 500 frames costs a few transactions, not
 * 500 serialised ones. `record` resolves only once its event is committed.
 */
export class AuditLog {
  private pending: { event: AuditEventInput; done: (error?: unknown) => void }[] = [];
  private flushing: Promise<void> | null = null;

  constructor(
    private readonly repository: AuditRepository,
    private readonly log: Logger,
  ) {}

  record(event: AuditEventInput): Promise<void> {
    return new Promise((resolve, reject) => {
      this.pending.push({ event: { ...event, occurredAt: event.occurredAt ?? new Date() }, done: (error) => (error ? reject(error) : resolve()) });
      this.flushing ??= this.flush();
    });
  }

  /** For callers that must not fail on the audit trail (it is logged loudly instead). */
  recordInBackground(event: AuditEventInput): void {
    this.record(event).catch((error: unknown) => this.log.error({ err: error, eventType: event.eventType }, 'AUDIT EVENT NOT RECORDED'));
  }

  private async flush(): Promise<void> {
    while (this.pending.length > 0) {
      const batch = this.pending;
      this.pending = [];
      try {
        await this.repository.append(batch.map((item) => item.event));
        for (const item of batch) item.done();
      } catch (error) {
        for (const item of batch) item.done(error);
      }
    }
    this.flushing = null;
  }

  /** Waits for events already handed over (on shutdown). */
  async drain(): Promise<void> {
    while (this.flushing) await this.flushing;
  }

  async verify(): Promise<AuditVerification> {
    let previousHash = await this.repository.anchorHash();
    let events = 0;
    const breaks: ChainBreak[] = [];
    for await (const batch of this.repository.inOrder()) {
      const segment = verifyChainSegment(batch, previousHash);
      breaks.push(...segment.breaks);
      previousHash = segment.lastHash;
      events += batch.length;
    }
    return { events, breaks };
  }

  /** Retention: removes events older than `days` days (oldest first; the chain stays verifiable). */
  removeOlderThanDays(days: number): Promise<number> {
    return this.repository.removeOlderThan(new Date(Date.now() - days * 86_400_000));
  }
}
