/**
 * Storage Commitment Push Model (PS3.4 Annex J) as plain rules: what a valid request holds, what
 * each referenced instance's outcome is, and which event reports it. No I/O here.
 */

export const STORAGE_COMMITMENT_SOP_CLASS = '1.2.840.10008.1.20.1';
/** The well-known SOP Instance every request and report names (PS3.4 J.3.1). */
export const STORAGE_COMMITMENT_SOP_INSTANCE = '1.2.840.10008.1.20.1.1';
/** Action Type ID 1: Request Storage Commitment (PS3.4 Table J.3-1). */
export const REQUEST_STORAGE_COMMITMENT = 1;
/** Event Type IDs of the N-EVENT-REPORT (PS3.4 Table J.3-2). */
export const EVENT_TYPE = { successful: 1, failuresExist: 2 } as const;

/** Failure Reason (0008,1197) values of the Failed SOP Sequence (PS3.3 C.14.1.1, PS3.4 J.3.3.1.1.2). */
export const FAILURE_REASON = {
  processingFailure: 0x0110,
  noSuchObjectInstance: 0x0112,
  classInstanceConflict: 0x0119,
  referencedSopClassNotSupported: 0x0122,
  resourceLimitation: 0x0213,
  duplicateTransactionUid: 0x0131,
} as const;

/** N-ACTION-RSP statuses this SCP answers (PS3.7 10.1.4.1.10, C.5). */
export const ACTION_STATUS = {
  success: 0x0000,
  processingFailure: 0x0110,
  noSuchSopInstance: 0x0112,
  invalidArgumentValue: 0x0115,
  missingAttribute: 0x0120,
  missingAttributeValue: 0x0121,
  noSuchAction: 0x0123,
  notAuthorised: 0x0124,
  resourceLimitation: 0x0213,
} as const;

/**
 * References one request may hold: each costs a receipt lookup and a read of the whole object to
 * hash it; a PACS commits a study or a batch, far below this.
 */
export const MAX_REFERENCES = 10_000;

export interface ReferencedInstance {
  sopClassUid: string;
  sopInstanceUid: string;
}

export interface FailedInstance extends ReferencedInstance {
  failureReason: number;
}

/** What one N-EVENT-REPORT says of one transaction. */
export interface CommitmentReport {
  transactionUid: string;
  committed: ReferencedInstance[];
  failed: FailedInstance[];
}

export function eventTypeOf(report: CommitmentReport): number {
  return report.failed.length === 0 ? EVENT_TYPE.successful : EVENT_TYPE.failuresExist;
}

export type ActionCheck = { ok: true; transactionUid: string; references: ReferencedInstance[] } | { ok: false; status: number; errorComment: string };

/** UI: digits and dots, components without leading zeros, 64 characters at most (PS3.5 9.1). */
function isUid(value: unknown): value is string {
  return typeof value === 'string' && value.length <= 64 && /^(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*$/.test(value);
}

/**
 * Checks the Action Information of an N-ACTION-RQ (PS3.4 Table J.3-1) as decoded into keywords:
 * Transaction UID (0008,1195) and a Referenced SOP Sequence (0008,1199) whose every item holds
 * Referenced SOP Class and Instance UIDs (all Type 1). A missing attribute answers 0120, an empty
 * one 0121, one that is no UID 0115 (PS3.7 C.5).
 */
export function checkActionInformation(elements: Record<string, unknown> | undefined): ActionCheck {
  const refuse = (status: number, errorComment: string): ActionCheck => ({ ok: false, status, errorComment });
  if (!elements) return refuse(ACTION_STATUS.missingAttribute, 'no Action Information');
  const transactionUid = elements.TransactionUID;
  if (transactionUid === undefined) return refuse(ACTION_STATUS.missingAttribute, 'Transaction UID (0008,1195) missing');
  if (transactionUid === '' || transactionUid === null) return refuse(ACTION_STATUS.missingAttributeValue, 'Transaction UID (0008,1195) empty');
  if (!isUid(transactionUid)) return refuse(ACTION_STATUS.invalidArgumentValue, 'Transaction UID (0008,1195) is not a UID');
  const sequence = elements.ReferencedSOPSequence;
  if (sequence === undefined) return refuse(ACTION_STATUS.missingAttribute, 'Referenced SOP Sequence (0008,1199) missing');
  if (!Array.isArray(sequence) || sequence.length === 0) return refuse(ACTION_STATUS.missingAttributeValue, 'Referenced SOP Sequence (0008,1199) empty');
  if (sequence.length > MAX_REFERENCES) return refuse(ACTION_STATUS.resourceLimitation, `more than ${MAX_REFERENCES} references in one request`);
  const references: ReferencedInstance[] = [];
  for (const [index, item] of sequence.entries()) {
    const { ReferencedSOPClassUID: sopClassUid, ReferencedSOPInstanceUID: sopInstanceUid } = (item ?? {}) as Record<string, unknown>;
    if (sopClassUid === undefined || sopInstanceUid === undefined) return refuse(ACTION_STATUS.missingAttribute, `item ${index + 1} lacks its Referenced SOP Class or Instance UID`);
    if (!isUid(sopClassUid) || !isUid(sopInstanceUid)) return refuse(ACTION_STATUS.invalidArgumentValue, `item ${index + 1}: a Referenced SOP UID is not a UID`);
    references.push({ sopClassUid, sopInstanceUid });
  }
  return { ok: true, transactionUid, references };
}

/** What the archive holds of an instance the caller's institution may see: its current version. */
export interface HeldInstance {
  sopClassUid: string;
  /** Whether the object, read from the object store now, still hashes to the receipt's SHA-256. */
  verifies(): Promise<boolean>;
}

/**
 * The Failure Reason for one reference, or null when it is committed: a receipt the caller's
 * institution may see, of the same SOP class, whose object verifies now. A storage SOP class is all
 * Yingyun keeps (0122 for any other); an instance another institution holds is, to this caller, no
 * such instance (0112).
 */
export async function failureReasonOf(reference: ReferencedInstance, held: HeldInstance | undefined, isStorageSopClass: (uid: string) => boolean): Promise<number | null> {
  if (!isStorageSopClass(reference.sopClassUid)) return FAILURE_REASON.referencedSopClassNotSupported;
  if (!held) return FAILURE_REASON.noSuchObjectInstance;
  if (held.sopClassUid !== reference.sopClassUid) return FAILURE_REASON.classInstanceConflict;
  return (await held.verifies()) ? null : FAILURE_REASON.processingFailure;
}

/** Exponential back-off for the next delivery attempt on a new association: base, 2×base… capped. */
export function retryDelayMs(attemptsMade: number, policy: { retryBaseMs: number; retryMaxMs: number }): number {
  return Math.min(policy.retryMaxMs, policy.retryBaseMs * 2 ** Math.max(0, attemptsMade - 1));
}
