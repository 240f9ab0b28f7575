import type pg from 'pg';
import type { Logger } from '../log.ts';
import { UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID, UPS_GLOBAL_SUBSCRIPTION_UID } from '../reading/ups-event-report.ts';
import { inTransaction } from './transaction.ts';

/** A subscription that covers a workitem: whose it is, and the filter a filtered global one matches by. */
export interface CoveringSubscription {
  userId: string;
  aeTitle: string;
  target: string;
  filter: Record<string, string> | null;
}

export interface StoredSubscription extends CoveringSubscription {
  deletionLock: boolean;
  suspended: boolean;
}

/** The PostgreSQL channel UPS events travel on between gateway processes. */
const CHANNEL = 'yingyun_ups_events';
const GLOBAL_TARGETS = [UPS_GLOBAL_SUBSCRIPTION_UID, UPS_FILTERED_GLOBAL_SUBSCRIPTION_UID];

/** The ups_subscriptions table, and the LISTEN/NOTIFY channel of UPS events: the only file with their SQL. */
export class UpsSubscriptionsRepository {
  constructor(private readonly pool: pg.Pool) {}

  /**
   * Subscribes (again): a global or filtered one also takes back every "not this workitem" the
   * subscriber left, and ends a suspension, since subscribing globally covers every workitem anew.
   */
  async subscribe(userId: string, aeTitle: string, target: string, options: { deletionLock: boolean; filter: Record<string, string> | null }): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      if (GLOBAL_TARGETS.includes(target)) {
        await client.query('DELETE FROM ups_subscriptions WHERE user_id = $1 AND ae_title = $2 AND excluded', [userId, aeTitle]);
      }
      await client.query(
        `INSERT INTO ups_subscriptions (user_id, ae_title, target, filter, deletion_lock)
         VALUES ($1, $2, $3, $4, $5)
         ON CONFLICT (user_id, ae_title, target)
         DO UPDATE SET filter = EXCLUDED.filter, deletion_lock = EXCLUDED.deletion_lock, suspended_at = NULL, excluded = false`,
        [userId, aeTitle, target, options.filter, options.deletionLock],
      );
    });
  }

  /** Suspends a global or filtered subscription; false when there is none. */
  async suspend(userId: string, aeTitle: string, target: string): Promise<boolean> {
    const result = await this.pool.query(
      `UPDATE ups_subscriptions SET suspended_at = COALESCE(suspended_at, now())
       WHERE user_id = $1 AND ae_title = $2 AND target = $3 AND NOT excluded`,
      [userId, aeTitle, target],
    );
    return result.rowCount === 1;
  }

  /**
   * Unsubscribes. From a global or filtered subscription: it goes with every workitem subscription
   * of that subscriber (PS3.4 CC.2.3.3). From one workitem: while a global one would still cover it,
   * a "not this workitem" row stays in its place.
   */
  async unsubscribe(userId: string, aeTitle: string, target: string): Promise<void> {
    if (GLOBAL_TARGETS.includes(target)) {
      await this.pool.query(
        `DELETE FROM ups_subscriptions WHERE user_id = $1 AND ae_title = $2 AND (target = $3 OR target <> ALL ($4::text[]))`,
        [userId, aeTitle, target, GLOBAL_TARGETS],
      );
      return;
    }
    await this.pool.query(
      `WITH global AS (
         SELECT 1 FROM ups_subscriptions WHERE user_id = $1 AND ae_title = $2 AND target = ANY ($4::text[])
       ), removed AS (
         DELETE FROM ups_subscriptions WHERE user_id = $1 AND ae_title = $2 AND target = $3 AND NOT EXISTS (SELECT 1 FROM global)
       )
       INSERT INTO ups_subscriptions (user_id, ae_title, target, excluded)
       SELECT $1, $2, $3, true WHERE EXISTS (SELECT 1 FROM global)
       ON CONFLICT (user_id, ae_title, target) DO UPDATE SET excluded = true, deletion_lock = false`,
      [userId, aeTitle, target, GLOBAL_TARGETS],
    );
  }

  async find(userId: string, aeTitle: string, target: string): Promise<StoredSubscription | null> {
    const { rows } = await this.pool.query<StoredSubscription>(
      `SELECT user_id::text AS "userId", ae_title AS "aeTitle", target, filter, deletion_lock AS "deletionLock", suspended_at IS NOT NULL AS suspended
       FROM ups_subscriptions WHERE user_id = $1 AND ae_title = $2 AND target = $3 AND NOT excluded`,
      [userId, aeTitle, target],
    );
    return rows[0] ?? null;
  }

  /**
   * Every subscription that covers a workitem: its own, and the global and filtered ones (a suspended
   * one only for workitems created before it was suspended), less those the subscriber left for this
   * workitem. A filtered one's filter is still to be matched by the caller.
   */
  async covering(workitemUid: string): Promise<CoveringSubscription[]> {
    const { rows } = await this.pool.query<CoveringSubscription>(
      `SELECT s.user_id::text AS "userId", s.ae_title AS "aeTitle", s.target, s.filter
       FROM ups_subscriptions s JOIN workitems w ON w.sop_instance_uid = $1
       WHERE NOT s.excluded
         AND (s.target = w.sop_instance_uid OR (s.target = ANY ($2::text[]) AND (s.suspended_at IS NULL OR w.created_at < s.suspended_at)))
         AND NOT EXISTS (
           SELECT 1 FROM ups_subscriptions x
           WHERE x.user_id = s.user_id AND x.ae_title = s.ae_title AND x.target = w.sop_instance_uid AND x.excluded
         )`,
      [workitemUid, GLOBAL_TARGETS],
    );
    return rows;
  }

  /** Sends a notice to every process listening (delivered once the sender's statement commits). */
  async notify(payload: string): Promise<void> {
    await notifyUpsListeners(this.pool, [payload]);
  }

  /**
   * Listens on one connection of the pool, held for as long as this process listens. `onLost` is
   * told when that connection fails; the caller listens again.
   */
  async listen(onPayload: (payload: string) => void, onLost: (error: Error) => void, log: Logger): Promise<{ stop(): Promise<void> }> {
    const client = await this.pool.connect();
    let lost = false;
    const fail = (error: Error) => {
      if (lost) return;
      lost = true;
      client.removeListener('notification', deliver);
      client.release(error);
      onLost(error);
    };
    const deliver = (message: pg.Notification) => {
      if (message.channel === CHANNEL && message.payload !== undefined) onPayload(message.payload);
    };
    client.on('notification', deliver);
    client.on('error', fail);
    client.on('end', () => fail(new Error('the database connection ended')));
    try {
      await client.query(`LISTEN ${CHANNEL}`);
    } catch (error) {
      fail(error as Error);
      throw error;
    }
    log.debug({ channel: CHANNEL }, 'listening for UPS events');
    return {
      async stop() {
        if (lost) return;
        lost = true;
        client.removeListener('notification', deliver);
        await client.query(`UNLISTEN ${CHANNEL}`).catch(() => undefined);
        // The connection held a LISTEN: it is closed rather than handed to someone else.
        client.release(true);
      },
    };
  }
}

/**
 * Sends notices to every process listening on the UPS event channel, in this order, from within
 * `client`'s transaction when it has one: PostgreSQL delivers them when that transaction commits, in
 * commit order, and never if it rolls back, so a notice is exactly as durable as the change it reports.
 */
export async function notifyUpsListeners(client: pg.Pool | pg.PoolClient, payloads: readonly string[]): Promise<void> {
  for (const payload of payloads) await client.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
}
