import { createHmac } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import ipaddr from 'ipaddr.js';
import type { z } from 'zod';
import type { Principal, Visibility } from '../access/policy.ts';
import { auditPatientId, type AuditAction, type AuditEventInput } from '../audit/audit-event.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { CriticalFindingsRepository, StepInput } from '../db/critical-findings-repository.ts';
import type { QueryRepository } from '../db/query-repository.ts';
import type { Logger } from '../log.ts';
import {
  acknowledgementSchema,
  categoryUpdateSchema,
  criticalSettingsUpdateSchema,
  raiseSchema,
  type CriticalCategory,
  type CriticalContact,
  type CriticalNotice,
  type CriticalSettings,
  type CriticalWebhookBody,
} from './critical-finding-wire.ts';
import { readBackMatches } from './critical-read-back.ts';
import type { ReportSignedEvent } from './report-service.ts';

/** Escalation within the hospital when it has not set its own time: 10 minutes, as most 危急值 rules say. */
export const DEFAULT_ESCALATE_AFTER_SECONDS = 600;
/** Levels escalated through when a hospital names fewer contacts: the department head, then 医务科. */
const MIN_ESCALATION_LEVELS = 2;
/** What the register and the audit trail name as the actor of what Yingyun does by itself. */
export const SYSTEM_ACTOR = 'Yingyun';
export const SIGNATURE_HEADER = 'x-yingyun-signature';
export const TIMESTAMP_HEADER = 'x-yingyun-timestamp';
export const DELIVERY_HEADER = 'x-yingyun-delivery';

/** Who raises a notice: the signed-in reader, or a report's signer when the sweep raises it. */
type Raiser = Pick<Principal, 'userId' | 'username' | 'displayName' | 'role' | 'institutionId'>;

/** Why a request was refused: the HTTP status and what to do about it. */
export class CriticalFindingRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404 | 409 | 422,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'CriticalFindingRefusal';
  }
}

/** The webhook's signature: HMAC-SHA256 over `${timestamp}.${body}`, hex, as `sha256=…`. */
export function signWebhook(secret: string, timestamp: string, body: string): string {
  return `sha256=${createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex')}`;
}

// A report's signer was already shown the study by the report service: the listener raises with no
// further scope check.
const EVERY_STUDY: Visibility = { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity: false };

/**
 * Critical findings (危急值报告制度): a reader raises one on a study (directly, or by signing a
 * report that carries one); the hospital that sent the study is told at once — in the app, on its
 * worklist, and through its webhook (SMS or WeChat gateways) — and acknowledges by reading the
 * finding back. Unacknowledged notices escalate level by level. Every step is kept in the
 * register and the audit trail.
 */
export class CriticalFindingsService {
  constructor(
    private readonly deps: {
      repository: CriticalFindingsRepository;
      studies: QueryRepository;
      audit: AuditLog;
      log: Logger;
      /** Hands a webhook delivery to the durable queue (workers/jobs/deliver-critical-webhook.ts). */
      enqueueWebhook: (stepId: string) => Promise<void>;
      /** Tests and development: a webhook may be plain http to loopback (YINGYUN_WEBHOOK_ALLOW_LOOPBACK). */
      webhookAllowLoopback: boolean;
    },
  ) {}

  categories(options: { activeOnly: boolean }): Promise<CriticalCategory[]> {
    return this.deps.repository.categories(options);
  }

  saveCategory(code: string, body: unknown): Promise<CriticalCategory> {
    if (!/^[a-z0-9-]{1,64}$/.test(code)) throw new CriticalFindingRefusal(400, 'a category code is 1 to 64 lower-case letters, digits and hyphens');
    return this.deps.repository.saveCategory(code, parse(categoryUpdateSchema, body));
  }

  async settings(principal: Principal, institutionId: string): Promise<CriticalSettings> {
    this.mayConfigure(principal, institutionId);
    const stored = await this.deps.repository.settings(institutionId);
    return {
      institutionId,
      webhookUrl: stored.webhookUrl,
      hasWebhookSecret: stored.webhookSecret !== null,
      escalateAfterSeconds: stored.escalateAfterSeconds ?? DEFAULT_ESCALATE_AFTER_SECONDS,
      contacts: stored.contacts,
    };
  }

  async saveSettings(principal: Principal, institutionId: string, body: unknown): Promise<CriticalSettings> {
    this.mayConfigure(principal, institutionId);
    const update = parse(criticalSettingsUpdateSchema, body);
    if (update.webhookUrl) {
      const refused = webhookUrlRefusal(new URL(update.webhookUrl), this.deps.webhookAllowLoopback);
      if (refused) throw new CriticalFindingRefusal(400, refused);
    }
    if (update.webhookUrl && !update.webhookSecret && (await this.deps.repository.settings(institutionId)).webhookSecret === null) {
      throw new CriticalFindingRefusal(400, 'a webhook needs a secret (at least 16 characters) for its signature');
    }
    await this.deps.repository.saveSettings(institutionId, update);
    return this.settings(principal, institutionId);
  }

  /**
   * Raises a finding on a study the caller may see, notifying the study's institution. A report's
   * finding raised twice (the listener re-run) answers the first notice.
   */
  async raise(principal: Raiser, visibility: Visibility, body: unknown): Promise<CriticalNotice> {
    const request = parse(raiseSchema, body);
    const category = await this.category(request.category);
    const study = await this.deps.studies.studyOwnership(request.studyInstanceUid, visibility);
    if (!study?.visible) throw new CriticalFindingRefusal(404, `no study ${request.studyInstanceUid} is stored here`);
    const settings = await this.deps.repository.settings(study.institutionId);
    const patientId = auditPatientId(study.issuer, study.patientId);
    const recipients = settings.webhookUrl ? 'in-app; webhook' : 'in-app';
    const stored = await this.deps.repository.raise(
      {
        studyInstanceUid: study.studyInstanceUid,
        institutionId: study.institutionId,
        reportId: request.reportId,
        categoryCode: category.code,
        text: request.text,
        patientId,
        patientName: study.patientName,
        raisedByUserId: principal.userId,
        raisedByName: principal.displayName,
        raisingInstitutionId: principal.institutionId,
        escalateAfterSeconds: settings.escalateAfterSeconds ?? DEFAULT_ESCALATE_AFTER_SECONDS,
      },
      {
        raised: { step: 'raised', actor: principal.displayName, detail: { username: principal.username, category: category.code } },
        notified: { step: 'notified', actor: SYSTEM_ACTOR, recipients },
      },
    );
    if (!stored.notifiedStepId) return (await this.deps.repository.find(stored.noticeId))!;
    const notice = (await this.deps.repository.find(stored.noticeId))!;
    this.auditStep(notice, 'C', 0, { step: 'raised', username: principal.username, role: principal.role, institutionId: principal.institutionId ?? undefined });
    this.auditStep(notice, 'E', 0, { step: 'notified', recipients });
    if (settings.webhookUrl) await this.deps.enqueueWebhook(stored.notifiedStepId);
    this.deps.log.info({ noticeId: notice.id, category: category.code }, 'critical finding raised');
    return notice;
  }

  /** The ReportService listener: a signed version carrying a critical finding raises it, once per report. */
  async onReportSigned(event: ReportSignedEvent): Promise<void> {
    const finding = event.version.content.criticalFinding;
    if (!finding) return;
    await this.raise(event.signer, EVERY_STUDY, {
      studyInstanceUid: event.report.studyInstanceUid,
      reportId: event.report.id,
      category: finding.category,
      text: finding.text,
    });
  }

  /**
   * The escalation timer's sweep: a signed version whose notice was never raised (the listener
   * failed or the process stopped after the signing commit) is raised now, as by its signer. Raising
   * is idempotent per report and category, so a sweep racing the listener adds nothing.
   */
  async raiseMissedReportFindings(graceSeconds: number): Promise<number> {
    let raised = 0;
    for (const missed of await this.deps.repository.signedFindingsWithoutNotice(graceSeconds)) {
      const { reportId, studyInstanceUid, version, category, text, ...signer } = missed;
      try {
        await this.raise(signer, EVERY_STUDY, { studyInstanceUid, reportId, category, text });
        raised += 1;
        this.deps.log.warn({ reportId, version }, 'critical finding of a signed report had no notice: raised by the sweep');
      } catch (error) {
        // A category retired before signing checked it: a person must raise this one; say so every pass.
        this.deps.log.error({ err: error, reportId, version, category }, 'critical finding of a signed report cannot be raised');
      }
    }
    return raised;
  }

  /** Notices the caller may see (their hospital's, or those their centre raised), open ones or all. */
  list(principal: Principal, visibility: Visibility, options: { openOnly: boolean; studyInstanceUid?: string }): Promise<CriticalNotice[]> {
    return this.deps.repository.list({ institutionIds: visibility.institutionIds, raisingInstitutionId: principal.institutionId, ...options });
  }

  /** One notice the caller may see, with every step so far (the reader watching for its acknowledgement). */
  get(principal: Principal, visibility: Visibility, noticeId: string): Promise<CriticalNotice> {
    return this.visibleNotice(principal, visibility, noticeId);
  }

  /** The register (危急值登记本): every notice raised in [from, to), optionally of one institution, with every step. */
  register(principal: Principal, visibility: Visibility, filter: { from?: Date; to?: Date; institutionId?: string }): Promise<CriticalNotice[]> {
    return this.deps.repository.list({ institutionIds: visibility.institutionIds, raisingInstitutionId: principal.institutionId, ...filter, limit: 10_000 });
  }

  /**
   * 复述确认 by the receiving hospital: the read-back must name the finding; whoever took it is
   * recorded (the signed-in user unless someone else is named, with their role and phone).
   */
  async acknowledge(principal: Principal, visibility: Visibility, noticeId: string, body: unknown): Promise<CriticalNotice> {
    const acknowledgement = parse(acknowledgementSchema, body);
    const notice = await this.visibleNotice(principal, visibility, noticeId);
    if (principal.role !== 'system_admin' && principal.institutionId !== notice.institutionId) {
      throw new CriticalFindingRefusal(403, `only ${notice.institutionName}, which sent the study, acknowledges this notice`);
    }
    if (notice.acknowledged) throw new CriticalFindingRefusal(409, `already acknowledged by ${notice.acknowledged.name} at ${notice.acknowledged.at}`);
    if (!readBackMatches(notice, acknowledgement.readBack)) {
      throw new CriticalFindingRefusal(422, `the read-back does not name the finding: type back "${notice.category.nameZh}" (${notice.category.nameEn}) or its text`);
    }
    const by = {
      userId: principal.userId,
      name: acknowledgement.name ?? principal.displayName,
      role: acknowledgement.role ?? principal.role,
      phone: acknowledgement.phone ?? null,
      readBack: acknowledgement.readBack,
    };
    const step: StepInput = { step: 'acknowledged', actor: by.name, detail: { username: principal.username, role: by.role, phone: by.phone, readBack: by.readBack } };
    if (!(await this.deps.repository.acknowledge(notice.id, by, step))) {
      throw new CriticalFindingRefusal(409, 'someone acknowledged this notice a moment ago');
    }
    const acknowledged = (await this.deps.repository.find(notice.id))!;
    this.auditStep(acknowledged, 'U', 0, { step: 'acknowledged', username: principal.username, role: principal.role, institutionId: principal.institutionId ?? undefined });
    return acknowledged;
  }

  /**
   * One escalation pass (the worker's timer): every unacknowledged notice past its time moves one
   * level up, reaching that level's contacts; after the last level it stays open and escalated.
   */
  async escalateDue(): Promise<number> {
    const escalated = await this.deps.repository.escalateDue(async ({ institutionId, level }) => {
      const settings = await this.deps.repository.settings(institutionId);
      const contacts = settings.contacts.filter((contact) => contact.level === level);
      const lastLevel = Math.max(MIN_ESCALATION_LEVELS, ...settings.contacts.map((contact) => contact.level));
      return {
        step: { step: 'escalated', actor: SYSTEM_ACTOR, recipients: describeContacts(contacts), detail: { level, webhook: settings.webhookUrl !== null } },
        nextAfterSeconds: level < lastLevel ? (settings.escalateAfterSeconds ?? DEFAULT_ESCALATE_AFTER_SECONDS) : null,
      };
    });
    for (const { noticeId, stepId, level } of escalated) {
      const notice = (await this.deps.repository.find(noticeId))!;
      this.auditStep(notice, 'E', 0, { step: 'escalated', level });
      if ((await this.deps.repository.settings(notice.institutionId)).webhookUrl) await this.deps.enqueueWebhook(stepId);
    }
    if (escalated.length) this.deps.log.warn({ notices: escalated.map((item) => item.noticeId) }, 'unacknowledged critical findings escalated');
    return escalated.length;
  }

  /** Webhook steps whose job was lost before it ran (an in-process queue across a restart): enqueued again. */
  async requeueLostWebhooks(graceSeconds: number): Promise<number> {
    const stepIds = await this.deps.repository.undeliveredWebhookSteps(graceSeconds);
    for (const stepId of stepIds) await this.deps.enqueueWebhook(stepId);
    return stepIds.length;
  }

  /**
   * Sends one step's webhook (the job's handler). A failure is recorded and thrown, so the queue
   * retries with back-off; a step already delivered is not sent again.
   */
  async deliverWebhook(stepId: string): Promise<void> {
    const step = await this.deps.repository.step(stepId);
    if (!step || (step.step !== 'notified' && step.step !== 'escalated')) return;
    if (await this.deps.repository.webhookDelivered(stepId)) return;
    const notice = (await this.deps.repository.find(step.noticeId))!;
    const settings = await this.deps.repository.settings(notice.institutionId);
    if (!settings.webhookUrl || !settings.webhookSecret) return;
    // Checked again now, on the addresses the name resolves to today: DNS can change after the URL was saved.
    const refused = await this.webhookAddressRefusal(settings.webhookUrl);
    if (refused) {
      await this.deps.repository.addStep(notice.id, { step: 'webhook-failed', actor: SYSTEM_ACTOR, recipients: settings.webhookUrl, detail: { forStepId: stepId, error: refused } });
      this.auditStep(notice, 'E', 4, { step: 'webhook-failed', forStepId: stepId, error: refused });
      this.deps.log.error({ noticeId: notice.id, institutionId: notice.institutionId }, `critical-finding webhook refused: ${refused}`);
      return;
    }
    const level = typeof step.detail.level === 'number' ? step.detail.level : 0;
    const { steps: _steps, ...summary } = notice;
    const payload: CriticalWebhookBody = {
      event: step.step === 'escalated' ? 'critical-finding.escalated' : 'critical-finding.notified',
      deliveryId: stepId,
      notice: summary,
      contacts: step.step === 'escalated' ? settings.contacts.filter((contact) => contact.level === level) : [],
    };
    const body = JSON.stringify(payload);
    const timestamp = String(Math.floor(Date.now() / 1000));
    const attempt = notice.steps.filter((other) => other.step === 'webhook-failed' && other.detail.forStepId === stepId).length + 1;
    let failure: string;
    try {
      const response = await fetch(settings.webhookUrl, {
        method: 'POST',
        headers: { 'content-type': 'application/json; charset=utf-8', [SIGNATURE_HEADER]: signWebhook(settings.webhookSecret, timestamp, body), [TIMESTAMP_HEADER]: timestamp, [DELIVERY_HEADER]: stepId },
        body,
        redirect: 'manual',
        signal: AbortSignal.timeout(10_000),
      });
      await response.body?.cancel();
      if (response.ok) {
        await this.deps.repository.addStep(notice.id, { step: 'webhook-delivered', actor: SYSTEM_ACTOR, recipients: settings.webhookUrl, detail: { forStepId: stepId, status: response.status, attempt } });
        this.auditStep(notice, 'E', 0, { step: 'webhook-delivered', forStepId: stepId, status: response.status, attempt });
        return;
      }
      failure = `HTTP ${response.status}`;
    } catch (error) {
      failure = (error as Error).message;
    }
    await this.deps.repository.addStep(notice.id, { step: 'webhook-failed', actor: SYSTEM_ACTOR, recipients: settings.webhookUrl, detail: { forStepId: stepId, error: failure, attempt } });
    this.auditStep(notice, 'E', 4, { step: 'webhook-failed', forStepId: stepId, error: failure, attempt });
    throw new Error(`critical-finding webhook for step ${stepId} failed: ${failure}`);
  }

  private async webhookAddressRefusal(webhookUrl: string): Promise<string | null> {
    const url = new URL(webhookUrl);
    const byUrl = webhookUrlRefusal(url, this.deps.webhookAllowLoopback);
    if (byUrl) return byUrl;
    let addresses: string[];
    try {
      addresses = (await lookup(url.hostname.replace(/^\[|\]$/g, ''), { all: true })).map((found) => found.address);
    } catch {
      return null; // Unresolvable now: fetch fails and the queue retries, as for any unreachable gateway.
    }
    const bad = addresses.find((address) => !publicAddress(address, this.deps.webhookAllowLoopback));
    return bad ? `${url.hostname} resolves to ${bad}, a private, loopback or link-local address` : null;
  }

  private async visibleNotice(principal: Principal, visibility: Visibility, noticeId: string): Promise<CriticalNotice> {
    const notice = await this.deps.repository.find(noticeId);
    const visible =
      notice &&
      (visibility.institutionIds === 'all' || visibility.institutionIds.includes(notice.institutionId) || (principal.institutionId !== null && notice.raisingInstitutionId === principal.institutionId));
    if (!notice || !visible) throw new CriticalFindingRefusal(404, `no critical finding ${noticeId}`);
    return notice;
  }

  /** Whether `named` (code, Chinese or English name) is an active category: a report is signed only with one. */
  async isActiveCategory(named: string): Promise<boolean> {
    return this.category(named).then(
      () => true,
      (error: unknown) => {
        if (error instanceof CriticalFindingRefusal) return false;
        throw error;
      },
    );
  }

  private async category(named: string): Promise<CriticalCategory> {
    const wanted = named.trim().toLowerCase();
    const found = (await this.deps.repository.categories({ activeOnly: true })).find(
      (category) => category.code === wanted || category.nameZh === named.trim() || category.nameEn.toLowerCase() === wanted,
    );
    if (!found) throw new CriticalFindingRefusal(400, `"${named}" is not on the critical-findings list (GET /api/critical-findings/categories)`);
    return found;
  }

  private mayConfigure(principal: Principal, institutionId: string): void {
    if (principal.role !== 'system_admin' && principal.institutionId !== institutionId) {
      throw new CriticalFindingRefusal(404, `no institution ${institutionId} of yours`);
    }
  }

  private auditStep(notice: CriticalNotice, action: AuditAction, outcome: 0 | 4, detail: Record<string, unknown> & { username?: string; role?: string; institutionId?: string }): void {
    const { username, role, institutionId, ...rest } = detail;
    const event: AuditEventInput = {
      eventType: 'procedure-record',
      action,
      outcome,
      userName: username ?? SYSTEM_ACTOR,
      userRole: role,
      institutionId,
      patientId: notice.patientId,
      patientName: notice.patientName ?? undefined,
      studyUids: [notice.studyInstanceUid],
      detail: { criticalFindingId: notice.id, category: notice.category.code, ...rest },
    };
    this.deps.audit.recordInBackground(event);
  }
}

/**
 * Why a webhook URL will not do, or null: patient data goes over https only, and never to the
 * archive's own network (the worker would be a way in, SSRF). Loopback over http only when allowed.
 */
function webhookUrlRefusal(url: URL, allowLoopback: boolean): string | null {
  const host = url.hostname.replace(/^\[|\]$/g, '');
  const loopbackName = host === 'localhost' || (ipaddr.isValid(host) && ipaddr.process(host).range() === 'loopback');
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && allowLoopback && loopbackName)) return 'a webhook URL must be https (it carries patient data)';
  if (host === 'localhost' && !allowLoopback) return 'a webhook URL may not name this server (localhost)';
  if (ipaddr.isValid(host) && !publicAddress(host, allowLoopback)) return `a webhook URL may not name a private, loopback or link-local address (${host})`;
  return null;
}

/** A unicast address on the public internet (loopback too when allowed for tests). */
function publicAddress(address: string, allowLoopback: boolean): boolean {
  const range = ipaddr.process(address).range();
  return range === 'unicast' || (allowLoopback && range === 'loopback');
}

function describeContacts(contacts: readonly CriticalContact[]): string {
  return contacts.map((contact) => `${contact.name} (${contact.title}, ${contact.phone})`).join('; ');
}

function parse<T>(schema: z.ZodType<T>, value: unknown): T {
  const result = schema.safeParse(value);
  if (!result.success) throw new CriticalFindingRefusal(400, result.error.issues.map((issue) => `${issue.path.join('.') || 'body'}: ${issue.message}`).join('; '));
  return result.data;
}
