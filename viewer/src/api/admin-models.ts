import type { StoredAccreditation } from '../../../archive/db/recognition-repository.ts';
import type { RegionRecognition } from '../../../archive/recognition/recognition-service.ts';
import type { Role } from '../logic/session.ts';

/** What /api/admin and /api/audit answer, as the archive sends it (dates as ISO strings). */

export const REGION_LEVELS = ['province', 'city', 'district', 'county'] as const;
export type RegionLevel = (typeof REGION_LEVELS)[number];

/** Kinds an administrator can create (the quarantine institution is the archive's own). */
export const INSTITUTION_KINDS = ['hospital', 'reading_centre'] as const;
export type InstitutionKind = (typeof INSTITUTION_KINDS)[number] | 'quarantine';

export interface Region {
  id: string;
  parentId: string | null;
  code: string;
  name: string;
  level: RegionLevel;
}

export interface Institution {
  id: string;
  code: string;
  name: string;
  kind: InstitutionKind;
  regionId: string | null;
}

export interface DicomPeer {
  id: string;
  institutionId: string;
  aeTitle: string;
  /** CIDR blocks the peer may call from; empty: any address. */
  allowedNetworks: string[];
  host: string | null;
  port: number | null;
  tlsRequired: boolean;
  characterSet: string | null;
}

export interface AdminUser {
  id: string;
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  disabled: boolean;
  lockedUntil: string | null;
  /** Linked to a single sign-on identity. */
  oidc: boolean;
}

export interface ApiToken {
  id: string;
  userId: string;
  username: string;
  label: string | null;
  createdAt: string;
  expiresAt: string;
  revokedAt: string | null;
}

/** A token just created: the secret is in this answer and nowhere else, ever. */
export interface CreatedToken {
  id: string;
  token: string;
  expiresAt: string;
}

/** The audit trail's event types (archive/audit/audit-event.ts). */
export const AUDIT_EVENT_TYPES = [
  'login',
  'logout',
  'query',
  'instances-accessed',
  'export',
  'procedure-record',
  'instances-stored',
  'association-accepted',
  'association-rejected',
  'access-denied',
  'admin-change',
  'audit-log-used',
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

export interface AuditEvent {
  id: string;
  occurredAt: string;
  eventType: AuditEventType;
  /** EventActionCode: C, R, U, D, E. */
  action: string;
  /** EventOutcomeIndicator: 0 success, 4 minor, 8 serious, 12 major failure. */
  outcome: number;
  userName: string | null;
  userRole: string | null;
  institutionId: string | null;
  sourceAddress: string | null;
  patientId: string | null;
  patientName: string | null;
  studyUids: string[];
  purpose: string | null;
  detail: Record<string, unknown>;
}

export interface AuditVerification {
  intact: boolean;
  events: number;
  breaks: { id: string; reason: string }[];
}

/** GET /api/admin/recognition-regions: a region whose recognition the user configures (archive/recognition/recognition-service.ts). */
export interface AdministeredRegion {
  region: Region;
  /** The region whose configuration applies here; null: the shipped defaults. */
  configurationFrom: string | null;
  reasonsFrom: string | null;
  /** The institutions in the region and below it. */
  institutions: Institution[];
}

/** GET/PUT /api/admin/regions/{id}/recognition: its time as an ISO string. */
export type RegionRecognitionOnWire = Omit<RegionRecognition, 'own'> & { own: (Omit<NonNullable<RegionRecognition['own']>, 'updatedAt'> & { updatedAt: string }) | null };

/** An accreditation (互认资质) as the archive keeps it (withdrawn ones stay, with who and why), its times as ISO strings. */
export type AccreditationOnWire = Omit<StoredAccreditation, 'grantedAt' | 'withdrawnAt'> & { grantedAt: string; withdrawnAt: string | null };
