import type pg from 'pg';
import type { AuditEventInput, AuditEventRecord } from '../audit/audit-event.ts';
import { auditEventHash, GENESIS_HASH } from '../audit/audit-chain.ts';
import { inTransaction } from './transaction.ts';

// One writer at a time extends the chain; any constant works if every process uses the same.
const AUDIT_CHAIN_LOCK = 0x41_55_44_49;

const EVENT_COLUMNS = `id, occurred_at AS "occurredAt", event_type AS "eventType", action, outcome, user_name AS "userName",
  user_role AS "userRole", institution_id AS "institutionId", source_address AS "sourceAddress", patient_id AS "patientId",
  patient_name AS "patientName", study_uids AS "studyUids", purpose, detail, previous_hash AS "previousHash", hash`;

export interface AuditSearch {
  patientId?: string;
  userName?: string;
  studyUid?: string;
  eventType?: string;
  from?: Date;
  to?: Date;
  limit: number;
  /** Events with an id below this (newest first paging). */
  beforeId?: string;
}

/** The only place with SQL for the audit trail. */
export class AuditRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Appends events in order, in one transaction holding the chain lock: each row's hash covers the
   * row before it, so the head must not move while we compute.
   */
  async append(events: AuditEventInput[]): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
      let previousHash = await headHash(client);
      const columns: unknown[][] = [[], [], [], [], [], [], [], [], [], [], [], [], [], [], []];
      for (const input of events) {
        const record = {
          occurredAt: input.occurredAt ?? new Date(),
          eventType: input.eventType,
          action: input.action,
          outcome: input.outcome,
          userName: input.userName ?? null,
          userRole: input.userRole ?? null,
          institutionId: input.institutionId ?? null,
          sourceAddress: input.sourceAddress ?? null,
          patientId: input.patientId ?? null,
          patientName: input.patientName ?? null,
          studyUids: input.studyUids ?? [],
          purpose: input.purpose ?? null,
          detail: withoutNul(input.detail ?? {}),
          previousHash,
        };
        const hash = auditEventHash(record);
        const values = [record.occurredAt, record.eventType, record.action, record.outcome, record.userName, record.userRole,
          record.institutionId, record.sourceAddress, record.patientId, record.patientName, JSON.stringify(record.studyUids),
          record.purpose, JSON.stringify(record.detail), record.previousHash, hash];
        values.forEach((value, index) => columns[index]!.push(value));
        previousHash = hash;
      }
      await client.query(
        `INSERT INTO audit_events (occurred_at, event_type, action, outcome, user_name, user_role, institution_id, source_address,
           patient_id, patient_name, study_uids, purpose, detail, previous_hash, hash)
         SELECT occurred_at, event_type, action, outcome, user_name, user_role, institution_id, source_address, patient_id,
           patient_name, ARRAY(SELECT jsonb_array_elements_text(study_uids)), purpose, detail, previous_hash, hash
         FROM unnest($1::timestamptz[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::bigint[], $8::text[],
           $9::text[], $10::text[], $11::jsonb[], $12::text[], $13::jsonb[], $14::text[], $15::text[])
           WITH ORDINALITY AS e(occurred_at, event_type, action, outcome, user_name, user_role, institution_id, source_address,
             patient_id, patient_name, study_uids, purpose, detail, previous_hash, hash, position)
         ORDER BY position`,
        columns,
      );
    });
  }

  async search(search: AuditSearch): Promise<AuditEventRecord[]> {
    const values: unknown[] = [];
    const where: string[] = [];
    const add = (clause: (parameter: string) => string, value: unknown) => {
      values.push(value);
      where.push(clause(`$${values.length}`));
    };
    if (search.patientId) add((p) => `(patient_id = ${p} OR patient_id LIKE '%|' || ${p})`, search.patientId);
    if (search.userName) add((p) => `user_name = ${p}`, search.userName);
    if (search.studyUid) add((p) => `study_uids @> ARRAY[${p}::text]`, search.studyUid);
    if (search.eventType) add((p) => `event_type = ${p}`, search.eventType);
    if (search.from) add((p) => `occurred_at >= ${p}`, search.from);
    if (search.to) add((p) => `occurred_at < ${p}`, search.to);
    if (search.beforeId) add((p) => `id < ${p}`, search.beforeId);
    values.push(search.limit);
    const result = await this.pool.query<AuditEventRecord>(
      `SELECT ${EVENT_COLUMNS} FROM audit_events ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY id DESC LIMIT $${values.length}`,
      values,
    );
    return result.rows;
  }

  /** The whole trail in id order, a batch at a time (for verification and export). */
  async *inOrder(batchSize = 5000): AsyncGenerator<AuditEventRecord[]> {
    let afterId = '0';
    for (;;) {
      const { rows } = await this.pool.query<AuditEventRecord>(`SELECT ${EVENT_COLUMNS} FROM audit_events WHERE id > $1 ORDER BY id LIMIT $2`, [afterId, batchSize]);
      if (rows.length === 0) return;
      yield rows;
      afterId = rows[rows.length - 1]!.id;
    }
  }

  /** The hash the oldest kept event must point to: the genesis value, or the last one retention removed. */
  async anchorHash(): Promise<string> {
    const { rows } = await this.pool.query<{ hash: string }>('SELECT hash FROM audit_anchor');
    return rows[0]?.hash ?? GENESIS_HASH;
  }

  /**
   * Removes events older than `before`, oldest first, keeping the hash of the last removed one as the
   * anchor, so the rest still verifies. The delete is allowed only through this setting (migration 003).
   */
  async removeOlderThan(before: Date): Promise<number> {
    return inTransaction(this.pool, async (client) => {
      await client.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_CHAIN_LOCK]);
      await client.query("SET LOCAL yingyun.audit_retention = 'on'");
      const { rows } = await client.query<{ removed: number; id: string | null; hash: string | null }>(
        `WITH removed AS (DELETE FROM audit_events WHERE occurred_at < $1 RETURNING id, hash)
         SELECT count(*)::int AS removed, max(id) AS id, (SELECT hash FROM removed ORDER BY id DESC LIMIT 1) AS hash FROM removed`,
        [before],
      );
      const { removed, id, hash } = rows[0]!;
      if (removed > 0) {
        await client.query(
          `INSERT INTO audit_anchor (last_removed_id, hash) VALUES ($1, $2)
           ON CONFLICT (singleton) DO UPDATE SET last_removed_id = EXCLUDED.last_removed_id, hash = EXCLUDED.hash`,
          [id, hash],
        );
      }
      return removed;
    });
  }
}

async function headHash(client: pg.PoolClient): Promise<string> {
  const { rows } = await client.query<{ hash: string }>(
    `SELECT hash FROM audit_events ORDER BY id DESC LIMIT 1`,
  );
  if (rows[0]) return rows[0].hash;
  const { rows: anchor } = await client.query<{ hash: string }>('SELECT hash FROM audit_anchor');
  return anchor[0]?.hash ?? GENESIS_HASH;
}

/** jsonb cannot hold U+0000; a hostile query string might. */
function withoutNul(detail: Record<string, unknown>): Record<string, unknown> {
  return JSON.parse(JSON.stringify(detail).replace(/\\u0000/g, '\uFFFD')) as Record<string, unknown>;
}
