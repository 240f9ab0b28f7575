/**
 * Who may do what, and see which data: the one policy every route asks (gateway/http/access.ts
 * applies it; the repositories turn a Visibility into SQL). Roles follow the people of a regional
 * imaging network; scopes follow its institutions and regions.
 */
export const ROLES = ['system_admin', 'institution_admin', 'radiologist', 'referring_doctor', 'qc_staff', 'auditor'] as const;
export type Role = (typeof ROLES)[number];

export const PERMISSIONS = [
  /** Find and view patient images (QIDO, WADO, thumbnails, priors, the viewer). */
  'read-images',
  /** Send images (STOW-RS); they belong to the sender's institution. */
  'store',
  /** Create, claim, update and cancel workitems of the reading worklist (UPS-RS). */
  'manage-workitems',
  /** Ask a reading centre to read a study of one's own institution (远程诊断申请), and answer its returns. */
  'request-reading',
  /** Write, sign and amend reports of the studies one sees (whether one may verify is a per-user attribute). */
  'write-reports',
  /** Export a study, de-identified or not. */
  'export',
  /** Manage users and DICOM peers of one's own institution. */
  'manage-institution',
  /** Manage regions, institutions, every user and peer; see the job queue. */
  'manage-system',
  /** Search and export the audit trail, verify its chain. */
  'read-audit',
  /** Grade the image quality of the studies one sees (质控评级), series by series; a reject writes the 113001 KOS. */
  'grade-quality',
  /** Decide the person index's links: link, unlink and merge patient records, review suggestions (of one's own institution's records). */
  'manage-persons',
  /** Record whether one recognises (互认) another institution's study, opened with a purpose, instead of repeating it. */
  'record-recognition',
  /** See the region's statistics (甲片率, 互认率…) of the institutions one's scope reaches, and the studies behind them. */
  'view-statistics',
] as const;
export type Permission = (typeof PERMISSIONS)[number];

// Separation of duties (三员分立 in graded protection): administrators do not read the audit trail and
// auditors see no patient images. System administrators keep image access because quarantined
// studies (from unregistered senders) have nobody else to look at them; every access is audited.
const ROLE_PERMISSIONS: Record<Role, readonly Permission[]> = {
  system_admin: ['read-images', 'store', 'manage-workitems', 'request-reading', 'export', 'manage-institution', 'manage-system', 'manage-persons', 'view-statistics'],
  institution_admin: ['store', 'manage-institution', 'manage-persons', 'view-statistics'],
  radiologist: ['read-images', 'store', 'manage-workitems', 'request-reading', 'write-reports', 'export', 'record-recognition'],
  referring_doctor: ['read-images', 'request-reading', 'record-recognition'],
  qc_staff: ['read-images', 'grade-quality', 'view-statistics'],
  auditor: ['read-audit'],
};

/** Roles that may open a linked patient's studies at other institutions, stating a purpose. */
const CROSS_INSTITUTION_ROLES: readonly Role[] = ['radiologist', 'referring_doctor'];

/** Roles that grade image quality without seeing who the patient is. */
const MASKED_ROLES: readonly Role[] = ['qc_staff'];

export interface Principal {
  userId: string;
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  /** The session or API token this request came with (revocable). */
  sessionId: string;
  via: 'session' | 'api_token';
}

export function hasPermission(role: Role, permission: Permission): boolean {
  return ROLE_PERMISSIONS[role].includes(permission);
}

export function permissionsOf(role: Role): readonly Permission[] {
  return ROLE_PERMISSIONS[role];
}

/**
 * Which studies a request may see. `institutionIds` 'all' is the system administrator's;
 * `linkedPatientsPurpose` widens an institution scope to the same person's studies elsewhere
 * (检查检验结果互认), only when the user stated why.
 */
export interface Visibility {
  institutionIds: readonly string[] | 'all';
  linkedPatientsPurpose: string | null;
  /** Patient name, ID and birth date are hidden from this caller. */
  maskIdentity: boolean;
  /**
   * Single studies of other institutions this user may read while a grant is live (a consultation,
   * a share link). Loaded by the access policy for image routes only; absent elsewhere.
   */
  grantedStudies?: readonly StudyGrant[];
}

/** A live study access grant: which study, and the grant the audit trail names for each use. */
export interface StudyGrant {
  grantId: string;
  studyInstanceUid: string;
}

/**
 * The institutions a principal's role reaches: all for a system administrator; otherwise their
 * own, and for a reading centre also every institution of its region (`regionInstitutions`).
 */
export function visibilityFor(
  principal: Principal,
  context: { ownInstitutionKind: string | null; regionInstitutionIds: readonly string[]; purpose: string | null; grantedStudies?: readonly StudyGrant[] },
): Visibility {
  const maskIdentity = MASKED_ROLES.includes(principal.role);
  if (principal.role === 'system_admin') return { institutionIds: 'all', linkedPatientsPurpose: null, maskIdentity };
  const institutionIds = institutionsReached(principal.institutionId, context);
  const purpose = context.purpose && CROSS_INSTITUTION_ROLES.includes(principal.role) ? context.purpose : null;
  const grantedStudies = context.grantedStudies?.length ? { grantedStudies: context.grantedStudies } : {};
  return { institutionIds, linkedPatientsPurpose: purpose, maskIdentity, ...grantedStudies };
}

/** An institution's own, and for a reading centre every institution of its region. */
function institutionsReached(institutionId: string | null, context: { ownInstitutionKind: string | null; regionInstitutionIds: readonly string[] }): string[] {
  const own = institutionId ? [institutionId] : [];
  return context.ownInstitutionKind === 'reading_centre' ? [...new Set([...own, ...context.regionInstitutionIds])] : own;
}

/**
 * What a registered DICOM peer may find and retrieve (C-FIND, C-MOVE, C-GET): what its
 * institution's users see (its own studies; a reading centre's, its region's), with no purpose of
 * use (a PACS states none) and no identity masking. An unregistered peer, filed under quarantine,
 * sees nothing: null.
 */
export function peerVisibility(
  peer: { institutionId: string; quarantined: boolean },
  context: { ownInstitutionKind: string | null; regionInstitutionIds: readonly string[] },
): Visibility | null {
  if (peer.quarantined) return null;
  return { institutionIds: institutionsReached(peer.institutionId, context), linkedPatientsPurpose: null, maskIdentity: false };
}

/** A stated purpose of use: short printable text (it goes into the audit trail verbatim). */
export function parsePurpose(value: unknown): string | null {
  if (typeof value !== 'string') return null;
  const purpose = value.trim();
  if (purpose === '' || purpose.length > 200 || /[\u0000-\u001f\u007f]/.test(purpose)) return null;
  return purpose;
}
