import { z } from 'zod';

/**
 * Critical findings (危急值) as they cross the wire: the server's routes and the viewer's screens
 * read these types, and the webhook's body is a `CriticalWebhookBody`.
 */

/** A category of the centre's list: `code` is stable, the names are what people read. */
export interface CriticalCategory {
  code: string;
  nameZh: string;
  nameEn: string;
  active: boolean;
  sortOrder: number;
}

export const categoryUpdateSchema = z.object({
  nameZh: z.string().trim().min(1).max(64),
  nameEn: z.string().trim().min(1).max(128),
  active: z.boolean().default(true),
  sortOrder: z.number().int().min(0).max(100_000).default(0),
});
export type CategoryUpdate = z.infer<typeof categoryUpdateSchema>;

/** Who is told when a notice escalates, level 1 first (科主任), then level 2 (医务科) and so on. */
export const criticalContactSchema = z.object({
  level: z.number().int().min(1).max(9),
  name: z.string().trim().min(1).max(100),
  title: z.string().trim().min(1).max(100),
  phone: z.string().trim().min(3).max(40),
});
export type CriticalContact = z.infer<typeof criticalContactSchema>;

/** A hospital's receiving settings. The webhook secret is written, never read back. */
export const criticalSettingsUpdateSchema = z.object({
  webhookUrl: z.string().url().max(2000).nullable(),
  /** Omitted: keep the stored one. */
  webhookSecret: z.string().min(16).max(200).optional(),
  escalateAfterSeconds: z.number().int().min(1).max(86_400),
  contacts: z.array(criticalContactSchema).max(50),
});
export type CriticalSettingsUpdate = z.infer<typeof criticalSettingsUpdateSchema>;

export interface CriticalSettings {
  institutionId: string;
  webhookUrl: string | null;
  hasWebhookSecret: boolean;
  escalateAfterSeconds: number;
  contacts: CriticalContact[];
}

export const raiseSchema = z.object({
  studyInstanceUid: z.string().min(1).max(64),
  reportId: z.string().max(64).nullable().default(null),
  /** A category's code, or its Chinese or English name as a report's content carries it. */
  category: z.string().trim().min(1).max(128),
  text: z.string().trim().min(1).max(2000),
});
export type RaiseRequest = z.input<typeof raiseSchema>;

/**
 * 复述确认: the receiving clinician types the finding back. When the one acknowledging is not the
 * signed-in user (a nurse took the call at the ward's screen), their name, role and phone are given.
 */
export const acknowledgementSchema = z.object({
  readBack: z.string().trim().min(1).max(2000),
  name: z.string().trim().min(1).max(100).optional(),
  role: z.string().trim().min(1).max(100).optional(),
  phone: z.string().trim().min(3).max(40).optional(),
});
export type Acknowledgement = z.infer<typeof acknowledgementSchema>;

export const CRITICAL_STEPS = ['raised', 'notified', 'webhook-delivered', 'webhook-failed', 'acknowledged', 'escalated'] as const;
export type CriticalStepKind = (typeof CRITICAL_STEPS)[number];

export interface CriticalStep {
  id: string;
  step: CriticalStepKind;
  occurredAt: string;
  actor: string;
  recipients: string;
  detail: Record<string, unknown>;
}

export interface CriticalNotice {
  id: string;
  studyInstanceUid: string;
  institutionId: string;
  institutionName: string;
  reportId: string | null;
  category: { code: string; nameZh: string; nameEn: string };
  text: string;
  patientId: string;
  patientName: string | null;
  raisedBy: string;
  /** The reading centre that raised it: it follows the notice to its acknowledgement. */
  raisingInstitutionId: string | null;
  raisingInstitutionName: string | null;
  raisedAt: string;
  acknowledged: { at: string; name: string; role: string | null; phone: string | null; readBack: string } | null;
  escalationLevel: number;
  steps: CriticalStep[];
}

/** What the webhook receiver gets, signed (HMAC-SHA256 over `${timestamp}.${body}`). */
export interface CriticalWebhookBody {
  event: 'critical-finding.notified' | 'critical-finding.escalated';
  deliveryId: string;
  notice: Omit<CriticalNotice, 'steps'>;
  /** For an escalation: the contacts of the level it reached. */
  contacts: CriticalContact[];
}

