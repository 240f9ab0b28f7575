import { createHash } from 'node:crypto';
import type { AuditEventRecord } from './audit-event.ts';

/** The first event of a trail points to this. */
export const GENESIS_HASH = '0'.repeat(64);

type Hashed = Omit<AuditEventRecord, 'id' | 'hash'>;

/**
 * An event's hash: SHA-256 over the previous hash and a canonical JSON of its content (keys sorted
 * at every depth), so the value read back from PostgreSQL (jsonb reorders keys) hashes the same.
 */
export function auditEventHash(event: Hashed): string {
  const content = [
    event.previousHash,
    event.occurredAt.toISOString(),
    event.eventType,
    event.action,
    event.outcome,
    event.userName,
    event.userRole,
    event.institutionId,
    event.sourceAddress,
    event.patientId,
    event.patientName,
    event.studyUids,
    event.purpose,
    event.detail,
  ];
  return createHash('sha256').update(canonicalJson(content)).digest('hex');
}

function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(',')}]`;
  if (value && typeof value === 'object') {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, item]) => item !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
  }
  return JSON.stringify(value ?? null);
}

export interface ChainBreak {
  id: string;
  reason: string;
}

/** Checks a run of events in id order, starting from the hash the one before them carried. */
export function verifyChainSegment(events: AuditEventRecord[], previousHash: string): { breaks: ChainBreak[]; lastHash: string } {
  const breaks: ChainBreak[] = [];
  let expectedPrevious = previousHash;
  for (const event of events) {
    if (event.previousHash !== expectedPrevious) breaks.push({ id: event.id, reason: 'does not follow the event before it (an event was removed or inserted)' });
    if (auditEventHash(event) !== event.hash) breaks.push({ id: event.id, reason: 'content does not match its hash (the event was altered)' });
    expectedPrevious = event.hash;
  }
  return { breaks, lastHash: expectedPrevious };
}
