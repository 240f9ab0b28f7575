import { personNameText } from '../dicom/normalize.ts';
import type { DicomJsonDataset, DicomJsonPersonName } from '../dicom/types.ts';

/**
 * What the audit trail records. The vocabulary follows DICOM PS3.15 A.5 / IHE ATNA, so that an
 * event exports to a DICOM audit message without guessing: `eventType` picks the EventID (and
 * EventTypeCode), `action` is EventActionCode, `outcome` is EventOutcomeIndicator.
 */
export const AUDIT_EVENT_TYPES = [
  'login', // 110114 User Authentication, type 110122 Login
  'logout', // 110114 User Authentication, type 110123 Logout
  'query', // 110112 Query (QIDO-RS, study lists, priors)
  'instances-accessed', // 110103 DICOM Instances Accessed (WADO-RS/URI, metadata, thumbnails, viewing)
  'export', // 110106 Export (de-identified or not: detail.deidentified)
  'procedure-record', // 110111 Procedure Record (UPS-RS workitems: C create, R retrieve, U update or state change)
  'instances-stored', // 110104 DICOM Instances Transferred, action C (C-STORE, STOW-RS, import)
  'association-accepted', // 110108 Network Entry, type 110124 Attach
  'association-rejected', // 110113 Security Alert, type 110126 Node Authentication
  'access-denied', // 110113 Security Alert, type 110132 Use of Restricted Function (401/403 on patient data)
  'admin-change', // 110113 Security Alert, type 110137 User Security Attributes Changed / 110128 Network Configuration
  'audit-log-used', // 110101 Audit Log Used
] as const;
export type AuditEventType = (typeof AUDIT_EVENT_TYPES)[number];

/** EventActionCode: Create, Read, Update, Delete, Execute. */
export type AuditAction = 'C' | 'R' | 'U' | 'D' | 'E';

/** EventOutcomeIndicator: 0 success, 4 minor failure, 8 serious failure, 12 major failure. */
export type AuditOutcome = 0 | 4 | 8 | 12;

export interface AuditEventInput {
  eventType: AuditEventType;
  action: AuditAction;
  outcome: AuditOutcome;
  /** Defaults to now. */
  occurredAt?: Date;
  /** Who: a user name, or for DIMSE the calling AE title. */
  userName?: string;
  userRole?: string;
  /** The institution the actor belongs to (for DIMSE: the peer's). */
  institutionId?: string;
  /** Where from: the client's IP address. */
  sourceAddress?: string;
  /** Whose data: Patient ID (with issuer, 'issuer|id', when known) and name, when one patient is concerned. */
  patientId?: string;
  patientName?: string;
  studyUids?: string[];
  /** Why: the purpose of use the user stated (cross-institution access requires one). */
  purpose?: string;
  /** Anything else worth keeping: route, query, counts, reason of a failure. Never secrets. */
  detail?: Record<string, unknown>;
}

/** How the trail names a patient: 'issuer|Patient ID' when the issuer is known, else the bare ID (searches match both). */
export function auditPatientId(issuer: string | null | undefined, patientId: string): string {
  return issuer ? `${issuer}|${patientId}` : patientId;
}

/** What a search returned (QIDO-RS results, C-FIND responses), for its audit event: the studies, and the patient when there was one. */
export function auditedResults(results: DicomJsonDataset[]): { studyUids: string[]; patientId?: string; patientName?: string } {
  const text = (result: DicomJsonDataset, tag: string) => {
    const value = result[tag]?.Value?.[0];
    if (typeof value === 'string') return value;
    if (value && typeof value === 'object') return personNameText(value as DicomJsonPersonName);
    return undefined;
  };
  const studyUids = [...new Set(results.map((result) => text(result, '0020000D')).filter((uid): uid is string => uid !== undefined))];
  const patients = new Set(results.map((result) => auditPatientId(text(result, '00100021'), text(result, '00100020') ?? '')));
  if (patients.size !== 1 || results.length === 0) return { studyUids };
  return { studyUids, patientId: [...patients][0], patientName: text(results[0]!, '00100010') };
}

/** A stored event: the input plus its place in the hash chain. */
export interface AuditEventRecord extends Required<Pick<AuditEventInput, 'eventType' | 'action' | 'outcome'>> {
  id: string;
  occurredAt: Date;
  userName: string | null;
  userRole: string | null;
  institutionId: string | null;
  sourceAddress: string | null;
  patientId: string | null;
  patientName: string | null;
  studyUids: string[];
  purpose: string | null;
  detail: Record<string, unknown>;
  previousHash: string;
  hash: string;
}
