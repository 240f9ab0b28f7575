import type pg from 'pg';
import type { RoutingCriteria } from '../routing/routing-rules.ts';

/** Where items go: a registered DICOM peer (C-STORE) or a DICOMweb node (STOW-RS). */
export type DestinationRef = { peerId: string } | { dicomwebNodeId: string };

export type Destination =
  | { kind: 'dicom'; key: string; peerId: string; name: string; institutionId: string; host: string | null; port: number | null; tlsRequired: boolean }
  | { kind: 'dicomweb'; key: string; dicomwebNodeId: string; name: string; url: string; bearerToken: string | null };

export interface DicomwebNode {
  id: string;
  name: string;
  url: string;
  /** Whether a bearer token is kept for it (the token itself is never listed). */
  hasToken: boolean;
  createdAt: string;
}

export interface RoutingRule extends RoutingCriteria {
  id: string;
  name: string;
  enabled: boolean;
  destination: DestinationRef;
  createdBy: string;
  createdAt: string;
}

export type NewRoutingRule = Omit<RoutingRule, 'id' | 'createdAt'>;

/** A claimed item: the stored version to send and how often it was tried before. */
export interface ClaimedItem {
  id: string;
  receiptId: string;
  objectKey: string;
  sopInstanceUid: string;
  attempts: number;
}

export type ItemOutcome = { id: string; sent: true } | { id: string; sent: false; error: string; dead: boolean; retryInMs: number };

/** One destination's queue, for the administrator's page. */
export interface DestinationQueue {
  destination: string;
  kind: 'dicom' | 'dicomweb';
  name: string;
  pending: number;
  /** Pending items that have failed at least once and wait for their next attempt. */
  retrying: number;
  inFlight: number;
  dead: number;
  /** When the oldest item not yet sent (pending or in flight) was queued. */
  oldestQueuedAt: string | null;
}

export interface DeadLetter {
  id: string;
  destination: string;
  sopInstanceUid: string;
  studyInstanceUid: string;
  attempts: number;
  lastError: string | null;
  queuedAt: string;
  ruleId: string | null;
  sendId: string | null;
}

export interface SendProgress {
  id: string;
  studyInstanceUid: string;
  seriesInstanceUid: string | null;
  destination: string;
  requestedBy: string;
  requestedAt: string;
  total: number;
  sent: number;
  /** Dead letters: given up after the configured attempts (an administrator may retry them). */
  failed: number;
  pending: number;
  inFlight: number;
}

const DESTINATION_SQL = `CASE WHEN peer_id IS NOT NULL THEN 'dicom:' || peer_id::text ELSE 'dicomweb:' || dicomweb_node_id::text END`;
const RULE_COLUMNS = `id, name, enabled, source_institution_id AS "sourceInstitutionId", calling_ae_title AS "callingAeTitle", modalities,
  study_description AS "studyDescription", attribute_tag AS "attributeTag", attribute_pattern AS "attributePattern",
  peer_id AS "peerId", dicomweb_node_id AS "dicomwebNodeId", created_by AS "createdBy", created_at AS "createdAt"`;
const NODE_COLUMNS = `id, name, url, bearer_token IS NOT NULL AS "hasToken", created_at AS "createdAt"`;

type RuleRow = Omit<RoutingRule, 'attribute' | 'destination'> & { attributeTag: string | null; attributePattern: string | null; peerId: string | null; dicomwebNodeId: string | null };

function ruleOf(row: RuleRow): RoutingRule {
  const { attributeTag, attributePattern, peerId, dicomwebNodeId, ...rest } = row;
  return {
    ...rest,
    attribute: attributeTag && attributePattern !== null ? { tag: attributeTag, pattern: attributePattern } : null,
    destination: peerId !== null ? { peerId } : { dicomwebNodeId: dicomwebNodeId! },
  };
}

function destinationColumns(destination: DestinationRef): [string | null, string | null] {
  return 'peerId' in destination ? [destination.peerId, null] : [null, destination.dicomwebNodeId];
}

/** The only place with SQL for DICOMweb nodes, routing rules, manual sends and the forward queue. */
export class RoutingRepository {
  constructor(private readonly pool: pg.Pool) {}

  async listNodes(): Promise<DicomwebNode[]> {
    return (await this.pool.query<DicomwebNode>(`SELECT ${NODE_COLUMNS} FROM dicomweb_nodes ORDER BY name`)).rows;
  }

  async createNode(node: { name: string; url: string; bearerToken: string | null }): Promise<DicomwebNode> {
    return (await this.pool.query<DicomwebNode>(`INSERT INTO dicomweb_nodes (name, url, bearer_token) VALUES ($1, $2, $3) RETURNING ${NODE_COLUMNS}`, [node.name, node.url, node.bearerToken])).rows[0]!;
  }

  async findNodeByName(name: string): Promise<DicomwebNode | null> {
    return (await this.pool.query<DicomwebNode>(`SELECT ${NODE_COLUMNS} FROM dicomweb_nodes WHERE name = $1`, [name])).rows[0] ?? null;
  }

  async deleteNode(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM dicomweb_nodes WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  async listRules(): Promise<RoutingRule[]> {
    return (await this.pool.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules ORDER BY id`)).rows.map(ruleOf);
  }

  async enabledRules(): Promise<RoutingRule[]> {
    return (await this.pool.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules WHERE enabled ORDER BY id`)).rows.map(ruleOf);
  }

  async findRule(id: string): Promise<RoutingRule | null> {
    const row = (await this.pool.query<RuleRow>(`SELECT ${RULE_COLUMNS} FROM routing_rules WHERE id = $1`, [id])).rows[0];
    return row ? ruleOf(row) : null;
  }

  async createRule(rule: NewRoutingRule): Promise<RoutingRule> {
    const [peerId, nodeId] = destinationColumns(rule.destination);
    const result = await this.pool.query<RuleRow>(
      `INSERT INTO routing_rules (name, enabled, source_institution_id, calling_ae_title, modalities, study_description, attribute_tag, attribute_pattern, peer_id, dicomweb_node_id, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING ${RULE_COLUMNS}`,
      [rule.name, rule.enabled, rule.sourceInstitutionId, rule.callingAeTitle, rule.modalities, rule.studyDescription, rule.attribute?.tag ?? null, rule.attribute?.pattern ?? null, peerId, nodeId, rule.createdBy],
    );
    return ruleOf(result.rows[0]!);
  }

  async setRuleEnabled(id: string, enabled: boolean): Promise<RoutingRule | null> {
    const row = (await this.pool.query<RuleRow>(`UPDATE routing_rules SET enabled = $2 WHERE id = $1 RETURNING ${RULE_COLUMNS}`, [id, enabled])).rows[0];
    return row ? ruleOf(row) : null;
  }

  async deleteRule(id: string): Promise<boolean> {
    return ((await this.pool.query('DELETE FROM routing_rules WHERE id = $1', [id])).rowCount ?? 0) > 0;
  }

  /** Who sent a receipt: the source's institution (and whether it is the quarantine), and its calling AE title when it came over DIMSE. */
  async sourceOf(sourceId: string): Promise<{ institutionId: string; quarantined: boolean; callingAeTitle: string | null }> {
    const result = await this.pool.query<{ institutionId: string; quarantined: boolean; callingAeTitle: string | null }>(
      `SELECT s.institution_id AS "institutionId", i.kind = 'quarantine' AS quarantined, CASE WHEN s.via = 'dimse' THEN s.name END AS "callingAeTitle"
       FROM sources s JOIN institutions i ON i.id = s.institution_id WHERE s.id = $1`,
      [sourceId],
    );
    return result.rows[0]!;
  }

  /**
   * Queues a receipt for the destinations of the rules it matched, once per destination: an index
   * job run again, or two rules to one destination, add nothing. Returns the destinations that got a new item.
   */
  async queueByRules(receipt: { id: string; studyInstanceUid: string }, matched: Array<{ ruleId: string; destination: DestinationRef }>): Promise<string[]> {
    if (matched.length === 0) return [];
    const result = await this.pool.query<{ destination: string }>(
      `INSERT INTO forward_items (receipt_id, study_instance_uid, rule_id, peer_id, dicomweb_node_id)
       SELECT $1, $5, rule_id, peer_id, node_id FROM unnest($2::bigint[], $3::bigint[], $4::bigint[]) AS m (rule_id, peer_id, node_id)
       ON CONFLICT (receipt_id, destination, study_instance_uid) WHERE send_id IS NULL DO NOTHING
       RETURNING destination`,
      [receipt.id, matched.map((match) => match.ruleId), ...transpose(matched.map((match) => destinationColumns(match.destination))), receipt.studyInstanceUid],
    );
    return [...new Set(result.rows.map((row) => row.destination))];
  }

  /** A manual send of the current versions of a study's (or one series') instances; null when none is stored. */
  async createSend(send: { studyInstanceUid: string; seriesInstanceUid: string | null; destination: DestinationRef; requestedBy: string }): Promise<{ id: string; destination: string; total: number } | null> {
    const [peerId, nodeId] = destinationColumns(send.destination);
    const result = await this.pool.query<{ id: string; destination: string; total: number }>(
      `WITH send AS (
         INSERT INTO manual_sends (study_instance_uid, series_instance_uid, peer_id, dicomweb_node_id, requested_by)
         SELECT $1, $2, $3, $4, $5
         WHERE EXISTS (SELECT 1 FROM instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk JOIN studies st ON st.id = i.study_pk AND st.study_instance_uid = i.study_instance_uid
                       WHERE st.study_instance_uid = $1 AND ($2::text IS NULL OR se.series_instance_uid = $2))
         RETURNING id, peer_id, dicomweb_node_id
       ), items AS (
         INSERT INTO forward_items (receipt_id, study_instance_uid, send_id, peer_id, dicomweb_node_id)
         SELECT i.receipt_id, i.study_instance_uid, send.id, send.peer_id, send.dicomweb_node_id
         FROM send, instances i JOIN series se ON se.study_instance_uid = i.study_instance_uid AND se.id = i.series_pk JOIN studies st ON st.id = i.study_pk AND st.study_instance_uid = i.study_instance_uid
         WHERE st.study_instance_uid = $1 AND ($2::text IS NULL OR se.series_instance_uid = $2)
         RETURNING destination
       )
       SELECT send.id, (SELECT min(destination) FROM items) AS destination, (SELECT count(*)::int FROM items) AS total FROM send`,
      [send.studyInstanceUid, send.seriesInstanceUid, peerId, nodeId, send.requestedBy],
    );
    return result.rows[0] ?? null;
  }

  async sendProgress(id: string): Promise<SendProgress | null> {
    const result = await this.pool.query<SendProgress>(
      `SELECT s.id, s.study_instance_uid AS "studyInstanceUid", s.series_instance_uid AS "seriesInstanceUid",
              ${DESTINATION_SQL.replaceAll('peer_id', 's.peer_id').replaceAll('dicomweb_node_id', 's.dicomweb_node_id')} AS destination,
              s.requested_by AS "requestedBy", s.requested_at AS "requestedAt",
              count(f.id)::int AS total,
              count(f.id) FILTER (WHERE f.state = 'sent')::int AS sent,
              count(f.id) FILTER (WHERE f.state = 'dead')::int AS failed,
              count(f.id) FILTER (WHERE f.state = 'pending')::int AS pending,
              count(f.id) FILTER (WHERE f.state = 'in-flight')::int AS "inFlight"
       FROM manual_sends s LEFT JOIN forward_items f ON f.send_id = s.id
       WHERE s.id = $1 GROUP BY s.id`,
      [id],
    );
    return result.rows[0] ?? null;
  }

  async destination(key: string): Promise<Destination | null> {
    const [kind, id] = key.split(':');
    if (kind === 'dicom') {
      const row = (await this.pool.query(`SELECT id, ae_title, institution_id, host, port, tls_required FROM dicom_peers WHERE id = $1`, [id])).rows[0];
      return row ? { kind, key, peerId: row.id, name: row.ae_title, institutionId: row.institution_id, host: row.host, port: row.port, tlsRequired: row.tls_required } : null;
    }
    const row = (await this.pool.query(`SELECT id, name, url, bearer_token FROM dicomweb_nodes WHERE id = $1`, [id])).rows[0];
    return row ? { kind: 'dicomweb', key, dicomwebNodeId: row.id, name: row.name, url: row.url, bearerToken: row.bearer_token } : null;
  }

  /**
   * Claims up to `limit` due items of one destination (state in-flight), oldest first, grouped by
   * study and series for the association. SKIP LOCKED: two jobs for one destination never claim the same item.
   */
  async claimDue(destination: string, limit: number): Promise<ClaimedItem[]> {
    const result = await this.pool.query<ClaimedItem>(
      `WITH claimed AS (
         UPDATE forward_items SET state = 'in-flight', claimed_at = now()
         WHERE id IN (SELECT id FROM forward_items WHERE destination = $1 AND state = 'pending' AND next_attempt_at <= now()
                      ORDER BY next_attempt_at, id LIMIT $2 FOR UPDATE SKIP LOCKED)
         RETURNING id, receipt_id, study_instance_uid, attempts
       )
       SELECT c.id, c.receipt_id AS "receiptId", r.object_key AS "objectKey", r.sop_instance_uid AS "sopInstanceUid", c.attempts
       FROM claimed c JOIN receipts r ON r.study_instance_uid = c.study_instance_uid AND r.id = c.receipt_id
       ORDER BY r.study_instance_uid, r.series_instance_uid, c.id`,
      [destination, limit],
    );
    return result.rows;
  }

  /** Records what became of claimed items: sent, or failed once more (back to pending later, or dead). */
  async recordOutcomes(outcomes: ItemOutcome[]): Promise<void> {
    if (outcomes.length === 0) return;
    await this.pool.query(
      `UPDATE forward_items f SET
         attempts = f.attempts + 1,
         state = CASE WHEN o.sent THEN 'sent' WHEN o.dead THEN 'dead' ELSE 'pending' END,
         sent_at = CASE WHEN o.sent THEN now() END,
         last_error = o.error,
         next_attempt_at = CASE WHEN o.sent OR o.dead THEN f.next_attempt_at ELSE now() + make_interval(secs => o.retry_ms / 1000.0) END,
         claimed_at = NULL
       FROM unnest($1::bigint[], $2::boolean[], $3::text[], $4::boolean[], $5::float8[]) AS o (id, sent, error, dead, retry_ms)
       WHERE f.id = o.id AND f.state = 'in-flight'`,
      [
        outcomes.map((outcome) => outcome.id),
        outcomes.map((outcome) => outcome.sent),
        outcomes.map((outcome) => (outcome.sent ? null : outcome.error)),
        outcomes.map((outcome) => !outcome.sent && outcome.dead),
        outcomes.map((outcome) => (outcome.sent ? 0 : outcome.retryInMs)),
      ],
    );
  }

  /** Milliseconds until the destination's next pending item is due (0 when one is due now), null when none is pending. */
  async nextDueInMs(destination: string): Promise<number | null> {
    const result = await this.pool.query<{ ms: number | null }>(
      // greatest() ignores a NULL: without the CASE, no pending item would read as one due now.
      `SELECT CASE WHEN min(next_attempt_at) IS NOT NULL THEN greatest(0, extract(epoch FROM min(next_attempt_at) - now()) * 1000)::float8 END AS ms
       FROM forward_items WHERE destination = $1 AND state = 'pending'`,
      [destination],
    );
    return result.rows[0]!.ms;
  }

  /** Every destination with items not yet sent or dead-lettered, with counts and the oldest item's age. */
  async queues(): Promise<DestinationQueue[]> {
    const result = await this.pool.query<DestinationQueue>(
      `SELECT f.destination, CASE WHEN f.destination LIKE 'dicom:%' THEN 'dicom' ELSE 'dicomweb' END AS kind,
              coalesce(min(p.ae_title), min(n.name)) AS name,
              count(*) FILTER (WHERE f.state = 'pending')::int AS pending,
              count(*) FILTER (WHERE f.state = 'pending' AND f.attempts > 0)::int AS retrying,
              count(*) FILTER (WHERE f.state = 'in-flight')::int AS "inFlight",
              count(*) FILTER (WHERE f.state = 'dead')::int AS dead,
              min(f.queued_at) FILTER (WHERE f.state IN ('pending', 'in-flight')) AS "oldestQueuedAt"
       FROM forward_items f LEFT JOIN dicom_peers p ON p.id = f.peer_id LEFT JOIN dicomweb_nodes n ON n.id = f.dicomweb_node_id
       WHERE f.state <> 'sent'
       GROUP BY f.destination ORDER BY f.destination`,
    );
    return result.rows;
  }

  async deadLetters(destination: string | null, limit: number): Promise<DeadLetter[]> {
    const result = await this.pool.query<DeadLetter>(
      `SELECT f.id, f.destination, r.sop_instance_uid AS "sopInstanceUid", r.study_instance_uid AS "studyInstanceUid", f.attempts,
              f.last_error AS "lastError", f.queued_at AS "queuedAt", f.rule_id AS "ruleId", f.send_id AS "sendId"
       FROM forward_items f JOIN receipts r ON r.study_instance_uid = f.study_instance_uid AND r.id = f.receipt_id
       WHERE f.state = 'dead' AND ($1::text IS NULL OR f.destination = $1)
       ORDER BY f.id LIMIT $2`,
      [destination, limit],
    );
    return result.rows;
  }

  /** Dead letters (all, one destination's, or the ids given) pending again from their first attempt; returns the destinations woken with how many. */
  async retryDead(filter: { destination?: string; ids?: string[] }): Promise<Array<{ destination: string; retried: number }>> {
    const result = await this.pool.query<{ destination: string; retried: number }>(
      `WITH retried AS (
         UPDATE forward_items SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL
         WHERE state = 'dead' AND ($1::text IS NULL OR destination = $1) AND ($2::bigint[] IS NULL OR id = ANY($2))
         RETURNING destination
       )
       SELECT destination, count(*)::int AS retried FROM retried GROUP BY destination`,
      [filter.destination ?? null, filter.ids ?? null],
    );
    return result.rows;
  }

  /** Destinations with an item due for longer than `graceSeconds`: its job message was lost. */
  async overdueDestinations(graceSeconds: number): Promise<string[]> {
    const result = await this.pool.query<{ destination: string }>(
      `SELECT DISTINCT destination FROM forward_items WHERE state = 'pending' AND next_attempt_at < now() - make_interval(secs => $1)`,
      [graceSeconds],
    );
    return result.rows.map((row) => row.destination);
  }

  /** Items claimed longer ago than `olderThanSeconds` by a process that stopped: pending again, due now. */
  async releaseStaleClaims(olderThanSeconds: number): Promise<string[]> {
    const result = await this.pool.query<{ destination: string }>(
      `UPDATE forward_items SET state = 'pending', claimed_at = NULL, next_attempt_at = now()
       WHERE state = 'in-flight' AND claimed_at < now() - make_interval(secs => $1)
       RETURNING destination`,
      [olderThanSeconds],
    );
    return [...new Set(result.rows.map((row) => row.destination))];
  }
}

function transpose(pairs: Array<[string | null, string | null]>): [Array<string | null>, Array<string | null>] {
  return [pairs.map(([first]) => first), pairs.map(([, second]) => second)];
}
