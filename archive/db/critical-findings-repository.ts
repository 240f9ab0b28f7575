import type pg from 'pg';
import type { Role } from '../access/policy.ts';
import type { CategoryUpdate, CriticalCategory, CriticalContact, CriticalNotice, CriticalSettingsUpdate, CriticalStep, CriticalStepKind } from '../reading/critical-finding-wire.ts';
import { inTransaction } from './transaction.ts';

/** What the service stores when a finding is raised: the notice's facts, copied once. */
export interface NewNotice {
  studyInstanceUid: string;
  institutionId: string;
  reportId: string | null;
  categoryCode: string;
  text: string;
  patientId: string;
  patientName: string | null;
  raisedByUserId: string;
  raisedByName: string;
  raisingInstitutionId: string | null;
  escalateAfterSeconds: number;
}

export interface StoredSettings {
  webhookUrl: string | null;
  webhookSecret: string | null;
  escalateAfterSeconds: number | null;
  contacts: CriticalContact[];
}

/** Which notices a list or the register covers. `institutionIds` 'all' for a system administrator. */
export interface NoticeFilter {
  institutionIds: readonly string[] | 'all';
  /** The caller's own institution: a reading centre also sees the notices it raised. */
  raisingInstitutionId: string | null;
  openOnly?: boolean;
  studyInstanceUid?: string;
  institutionId?: string;
  from?: Date;
  to?: Date;
  limit?: number;
}

/** A notice the escalation check moved up a level, in the same transaction as its step. */
export interface Escalated {
  noticeId: string;
  stepId: string;
  level: number;
}

const NOTICE_SELECT = `
  SELECT n.id::text, n.study_instance_uid, n.institution_id::text, i.name AS institution_name, n.report_id,
         c.code AS category_code, c.name_zh AS category_zh, c.name_en AS category_en, n.text, n.patient_id, n.patient_name,
         n.raised_by_name, n.raising_institution_id::text, ri.name AS raising_institution_name, n.raised_at, n.acknowledged_at, n.acknowledged_by_name,
         n.acknowledged_by_role, n.acknowledged_by_phone, n.read_back, n.escalation_level
  FROM critical_notices n
  JOIN institutions i ON i.id = n.institution_id
  JOIN critical_categories c ON c.code = n.category_code
  LEFT JOIN institutions ri ON ri.id = n.raising_institution_id`;

interface NoticeRow {
  id: string;
  study_instance_uid: string;
  institution_id: string;
  institution_name: string;
  report_id: string | null;
  category_code: string;
  category_zh: string;
  category_en: string;
  text: string;
  patient_id: string;
  patient_name: string | null;
  raised_by_name: string;
  raising_institution_id: string | null;
  raising_institution_name: string | null;
  raised_at: Date;
  acknowledged_at: Date | null;
  acknowledged_by_name: string | null;
  acknowledged_by_role: string | null;
  acknowledged_by_phone: string | null;
  read_back: string | null;
  escalation_level: number;
}

/** The critical_* tables (migration 013): the only file with their SQL. */
export class CriticalFindingsRepository {
  constructor(private readonly pool: pg.Pool) {}

  async categories(options: { activeOnly: boolean }): Promise<CriticalCategory[]> {
    const { rows } = await this.pool.query<CriticalCategory>(
      `SELECT code, name_zh AS "nameZh", name_en AS "nameEn", active, sort_order AS "sortOrder"
       FROM critical_categories ${options.activeOnly ? 'WHERE active' : ''} ORDER BY sort_order, code`,
    );
    return rows;
  }

  async saveCategory(code: string, update: CategoryUpdate): Promise<CriticalCategory> {
    const { rows } = await this.pool.query<CriticalCategory>(
      `INSERT INTO critical_categories (code, name_zh, name_en, active, sort_order) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (code) DO UPDATE SET name_zh = EXCLUDED.name_zh, name_en = EXCLUDED.name_en, active = EXCLUDED.active, sort_order = EXCLUDED.sort_order
       RETURNING code, name_zh AS "nameZh", name_en AS "nameEn", active, sort_order AS "sortOrder"`,
      [code, update.nameZh, update.nameEn, update.active, update.sortOrder],
    );
    return rows[0]!;
  }

  async settings(institutionId: string): Promise<StoredSettings> {
    const [settings, contacts] = await Promise.all([
      this.pool.query<{ webhook_url: string | null; webhook_secret: string | null; escalate_after_seconds: number }>(
        'SELECT webhook_url, webhook_secret, escalate_after_seconds FROM critical_settings WHERE institution_id = $1',
        [institutionId],
      ),
      this.pool.query<CriticalContact>('SELECT level, name, title, phone FROM critical_contacts WHERE institution_id = $1 ORDER BY level, id', [institutionId]),
    ]);
    const row = settings.rows[0];
    return { webhookUrl: row?.webhook_url ?? null, webhookSecret: row?.webhook_secret ?? null, escalateAfterSeconds: row?.escalate_after_seconds ?? null, contacts: contacts.rows };
  }

  /** Replaces a hospital's settings and contacts together; a secret not given keeps the stored one. */
  async saveSettings(institutionId: string, update: CriticalSettingsUpdate): Promise<void> {
    await inTransaction(this.pool, async (client) => {
      await client.query(
        `INSERT INTO critical_settings (institution_id, webhook_url, webhook_secret, escalate_after_seconds) VALUES ($1, $2, $3, $4)
         ON CONFLICT (institution_id) DO UPDATE SET webhook_url = EXCLUDED.webhook_url,
           webhook_secret = coalesce(EXCLUDED.webhook_secret, critical_settings.webhook_secret), escalate_after_seconds = EXCLUDED.escalate_after_seconds`,
        [institutionId, update.webhookUrl, update.webhookSecret ?? null, update.escalateAfterSeconds],
      );
      await client.query('DELETE FROM critical_contacts WHERE institution_id = $1', [institutionId]);
      for (const contact of update.contacts) {
        await client.query('INSERT INTO critical_contacts (institution_id, level, name, title, phone) VALUES ($1, $2, $3, $4, $5)', [institutionId, contact.level, contact.name, contact.title, contact.phone]);
      }
    });
  }

  /**
   * Stores a notice with its 'raised' and 'notified' steps in one transaction. A report's finding
   * already raised answers the stored notice with no new step (the listener ran twice).
   */
  async raise(notice: NewNotice, steps: { raised: StepInput; notified: StepInput }): Promise<{ noticeId: string; notifiedStepId: string | null }> {
    return inTransaction(this.pool, async (client) => {
      const inserted = await client.query<{ id: string }>(
        `INSERT INTO critical_notices (study_instance_uid, institution_id, report_id, category_code, text, patient_id, patient_name,
                                       raised_by_user_id, raised_by_name, raising_institution_id, next_escalation_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, now() + make_interval(secs => $11))
         ON CONFLICT (report_id, category_code) DO NOTHING RETURNING id::text`,
        [notice.studyInstanceUid, notice.institutionId, notice.reportId, notice.categoryCode, notice.text, notice.patientId, notice.patientName,
         notice.raisedByUserId, notice.raisedByName, notice.raisingInstitutionId, notice.escalateAfterSeconds],
      );
      const noticeId = inserted.rows[0]?.id;
      if (!noticeId) {
        const existing = await client.query<{ id: string }>('SELECT id::text FROM critical_notices WHERE report_id = $1 AND category_code = $2', [notice.reportId, notice.categoryCode]);
        return { noticeId: existing.rows[0]!.id, notifiedStepId: null };
      }
      await insertStep(client, noticeId, steps.raised);
      const notifiedStepId = await insertStep(client, noticeId, steps.notified);
      return { noticeId, notifiedStepId };
    });
  }

  /**
   * Signed report versions carrying a critical finding that no notice of their report names (by
   * the category's code or either name, as the content carries it): the listener after signing
   * failed or never ran. Older than the grace, so the listener gets the first try.
   */
  async signedFindingsWithoutNotice(graceSeconds: number): Promise<MissedReportFinding[]> {
    const { rows } = await this.pool.query<MissedReportFinding>(
      `SELECT r.id::text AS "reportId", r.study_instance_uid AS "studyInstanceUid", v.version,
              v.content->'criticalFinding'->>'category' AS category, v.content->'criticalFinding'->>'text' AS text,
              u.id::text AS "userId", u.username, u.display_name AS "displayName", u.role, u.institution_id::text AS "institutionId"
         FROM report_versions v
         JOIN reports r ON r.id = v.report_id
         JOIN LATERAL (SELECT user_id FROM report_signatures s WHERE s.report_id = v.report_id AND s.version = v.version ORDER BY s.signed_at DESC LIMIT 1) s ON true
         JOIN users u ON u.id = s.user_id
        WHERE jsonb_typeof(v.content->'criticalFinding') = 'object'
          AND v.created_at < now() - make_interval(secs => $1)
          AND NOT EXISTS (
            SELECT 1 FROM critical_notices n JOIN critical_categories c ON c.code = n.category_code
             WHERE n.report_id = r.id::text
               AND (c.code = lower(btrim(v.content->'criticalFinding'->>'category')) OR c.name_zh = btrim(v.content->'criticalFinding'->>'category')
                    OR lower(c.name_en) = lower(btrim(v.content->'criticalFinding'->>'category'))))
        ORDER BY v.created_at LIMIT 100`,
      [graceSeconds],
    );
    return rows;
  }

  async addStep(noticeId: string, step: StepInput): Promise<string> {
    return insertStep(this.pool, noticeId, step);
  }

  async find(noticeId: string): Promise<CriticalNotice | null> {
    if (!/^[0-9]{1,18}$/.test(noticeId)) return null;
    const { rows } = await this.pool.query<NoticeRow>(`${NOTICE_SELECT} WHERE n.id = $1`, [noticeId]);
    return rows[0] ? (await this.withSteps(rows))[0]! : null;
  }

  /** Notices within a filter, newest first, each with its steps in order. */
  async list(filter: NoticeFilter): Promise<CriticalNotice[]> {
    const values: unknown[] = [];
    const parameter = (value: unknown) => `$${values.push(value)}`;
    const conditions: string[] = [];
    if (filter.institutionIds !== 'all') {
      const own = `n.institution_id = ANY (${parameter([...filter.institutionIds])}::bigint[])`;
      conditions.push(filter.raisingInstitutionId ? `(${own} OR n.raising_institution_id = ${parameter(filter.raisingInstitutionId)})` : own);
    }
    if (filter.openOnly) conditions.push('n.acknowledged_at IS NULL');
    if (filter.studyInstanceUid) conditions.push(`n.study_instance_uid = ${parameter(filter.studyInstanceUid)}`);
    if (filter.institutionId) conditions.push(`n.institution_id = ${parameter(filter.institutionId)}`);
    if (filter.from) conditions.push(`n.raised_at >= ${parameter(filter.from)}`);
    if (filter.to) conditions.push(`n.raised_at < ${parameter(filter.to)}`);
    const where = conditions.length ? `WHERE ${conditions.join(' AND ')}` : '';
    const { rows } = await this.pool.query<NoticeRow>(`${NOTICE_SELECT} ${where} ORDER BY n.raised_at DESC, n.id DESC LIMIT ${parameter(filter.limit ?? 1000)}`, values);
    return this.withSteps(rows);
  }

  /** Records the acknowledgement once: false when someone acknowledged it first. */
  async acknowledge(noticeId: string, by: { userId: string; name: string; role: string | null; phone: string | null; readBack: string }, step: StepInput): Promise<boolean> {
    return inTransaction(this.pool, async (client) => {
      const { rowCount } = await client.query(
        `UPDATE critical_notices SET acknowledged_at = now(), acknowledged_by_user_id = $2, acknowledged_by_name = $3, acknowledged_by_role = $4,
                acknowledged_by_phone = $5, read_back = $6, next_escalation_at = NULL
         WHERE id = $1 AND acknowledged_at IS NULL`,
        [noticeId, by.userId, by.name, by.role, by.phone, by.readBack],
      );
      if (!rowCount) return false;
      await insertStep(client, noticeId, step);
      return true;
    });
  }

  /**
   * Moves every unacknowledged notice that is due up one level, with its 'escalated' step, in one
   * transaction per pass. Rows another process is escalating are skipped (SKIP LOCKED), and the
   * level and next time change with the step, so a pass run twice escalates nothing twice.
   * `recipientsOf` names who the level reaches; `nextAfterSeconds` null ends escalation.
   */
  async escalateDue(plan: (notice: { noticeId: string; institutionId: string; level: number }) => Promise<{ step: StepInput; nextAfterSeconds: number | null }>): Promise<Escalated[]> {
    return inTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ id: string; institution_id: string; escalation_level: number }>(
        `SELECT id::text, institution_id::text, escalation_level FROM critical_notices
         WHERE next_escalation_at <= now() AND acknowledged_at IS NULL ORDER BY next_escalation_at LIMIT 100 FOR UPDATE SKIP LOCKED`,
      );
      const escalated: Escalated[] = [];
      for (const row of rows) {
        const level = row.escalation_level + 1;
        const { step, nextAfterSeconds } = await plan({ noticeId: row.id, institutionId: row.institution_id, level });
        await client.query(
          `UPDATE critical_notices SET escalation_level = $2,
                  next_escalation_at = CASE WHEN $3::integer IS NULL THEN NULL ELSE now() + make_interval(secs => $3::integer) END
           WHERE id = $1`,
          [row.id, level, nextAfterSeconds],
        );
        escalated.push({ noticeId: row.id, stepId: await insertStep(client, row.id, step), level });
      }
      return escalated;
    });
  }

  /** A step and its notice's institution, for the webhook job. */
  async step(stepId: string): Promise<{ noticeId: string; step: CriticalStepKind; detail: Record<string, unknown> } | null> {
    const { rows } = await this.pool.query<{ notice_id: string; step: CriticalStepKind; detail: Record<string, unknown> }>(
      'SELECT notice_id::text, step, detail FROM critical_notice_steps WHERE id = $1',
      [stepId],
    );
    return rows[0] ? { noticeId: rows[0].notice_id, step: rows[0].step, detail: rows[0].detail } : null;
  }

  /** Whether the webhook for a step has already gone out (the job may run more than once). */
  async webhookDelivered(stepId: string): Promise<boolean> {
    const { rows } = await this.pool.query(`SELECT 1 FROM critical_notice_steps WHERE step = 'webhook-delivered' AND detail->>'forStepId' = $1 LIMIT 1`, [stepId]);
    return rows.length > 0;
  }

  /**
   * Steps whose webhook job never ran within `graceSeconds` (no delivery, no failed attempt): the job
   * was lost (an in-process queue across a restart). Failed attempts are the queue's to retry.
   */
  async undeliveredWebhookSteps(graceSeconds: number): Promise<string[]> {
    const { rows } = await this.pool.query<{ id: string }>(
      `SELECT s.id::text FROM critical_notice_steps s
       JOIN critical_notices n ON n.id = s.notice_id
       JOIN critical_settings cs ON cs.institution_id = n.institution_id AND cs.webhook_url IS NOT NULL
       WHERE s.step IN ('notified', 'escalated') AND s.occurred_at < now() - make_interval(secs => $1) AND s.occurred_at > now() - interval '1 day'
         AND NOT EXISTS (SELECT 1 FROM critical_notice_steps d WHERE d.notice_id = s.notice_id AND d.step IN ('webhook-delivered', 'webhook-failed')
                         AND d.detail->>'forStepId' = s.id::text)
       LIMIT 100`,
      [graceSeconds],
    );
    return rows.map((row) => row.id);
  }

  private async withSteps(rows: NoticeRow[]): Promise<CriticalNotice[]> {
    if (rows.length === 0) return [];
    const { rows: steps } = await this.pool.query<{ id: string; notice_id: string; step: CriticalStepKind; occurred_at: Date; actor: string; recipients: string; detail: Record<string, unknown> }>(
      // Ordered by the bigint id, not by its text form the row carries ('10' < '4').
      'SELECT s.id::text, s.notice_id::text, s.step, s.occurred_at, s.actor, s.recipients, s.detail FROM critical_notice_steps s WHERE s.notice_id = ANY ($1::bigint[]) ORDER BY s.id',
      [rows.map((row) => row.id)],
    );
    const byNotice = new Map<string, CriticalStep[]>();
    for (const step of steps) {
      const list = byNotice.get(step.notice_id) ?? [];
      list.push({ id: step.id, step: step.step, occurredAt: step.occurred_at.toISOString(), actor: step.actor, recipients: step.recipients, detail: step.detail });
      byNotice.set(step.notice_id, list);
    }
    return rows.map((row) => ({
      id: row.id,
      studyInstanceUid: row.study_instance_uid,
      institutionId: row.institution_id,
      institutionName: row.institution_name,
      reportId: row.report_id,
      category: { code: row.category_code, nameZh: row.category_zh, nameEn: row.category_en },
      text: row.text,
      patientId: row.patient_id,
      patientName: row.patient_name,
      raisedBy: row.raised_by_name,
      raisingInstitutionId: row.raising_institution_id,
      raisingInstitutionName: row.raising_institution_name,
      raisedAt: row.raised_at.toISOString(),
      acknowledged: row.acknowledged_at
        ? { at: row.acknowledged_at.toISOString(), name: row.acknowledged_by_name!, role: row.acknowledged_by_role, phone: row.acknowledged_by_phone, readBack: row.read_back! }
        : null,
      escalationLevel: row.escalation_level,
      steps: byNotice.get(row.id) ?? [],
    }));
  }
}

/** A signed version's critical finding with no notice yet, and who signed it (the notice's raiser). */
export interface MissedReportFinding {
  reportId: string;
  studyInstanceUid: string;
  version: number;
  category: string;
  text: string;
  userId: string;
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
}

export interface StepInput {
  step: CriticalStepKind;
  actor: string;
  recipients?: string;
  detail?: Record<string, unknown>;
}

async function insertStep(db: pg.Pool | pg.PoolClient, noticeId: string, step: StepInput): Promise<string> {
  const { rows } = await db.query<{ id: string }>(
    'INSERT INTO critical_notice_steps (notice_id, step, actor, recipients, detail) VALUES ($1, $2, $3, $4, $5) RETURNING id::text',
    [noticeId, step.step, step.actor, step.recipients ?? '', JSON.stringify(step.detail ?? {})],
  );
  return rows[0]!.id;
}
