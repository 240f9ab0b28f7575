import type { Accreditation } from '../../../archive/recognition/hr-mark.ts';
import {
  AUDIT_EVENT_TYPES,
  INSTITUTION_KINDS,
  REGION_LEVELS,
  type AdminUser,
  type ApiToken,
  type AuditEvent,
  type AuditEventType,
  type DicomPeer,
  type Institution,
  type Region,
  type RegionLevel,
} from '../api/admin-models.ts';
import type { MessageKey } from '../i18n/messages.ts';
import { ROLES, type Permission, type Role } from './session.ts';

/**
 * The administration page's logic: which tabs a user gets, forms turned into request bodies (with
 * the archive's own rules checked first, so a mistake is named next to the form rather than
 * after a round trip), and the rows its tables show.
 */

export const ADMIN_TABS = ['institutions', 'peers', 'users', 'tokens', 'persons', 'quality', 'recognition', 'routing', 'status', 'audit'] as const;
export type AdminTab = (typeof ADMIN_TABS)[number];

const TAB_PERMISSION: Record<AdminTab, Permission> = {
  institutions: 'manage-system',
  peers: 'manage-institution',
  users: 'manage-institution',
  tokens: 'manage-institution',
  /** The person index's review queue (人员关联审核). */
  persons: 'manage-persons',
  /** The centre's QC scales and defects (质控配置): its institution administrator's; a system administrator belongs to no centre. */
  quality: 'manage-institution',
  /** The HR mark's items and accreditations (互认配置): a system administrator's, or a reading centre's administrator's for its region (the archive refuses a hospital's). */
  recognition: 'manage-institution',
  /** Routing rules, DICOMweb nodes, the forward queues and their dead letters (转发): region-wide, so the system administrator's. */
  routing: 'manage-system',
  /** Every gateway and worker process and their figures (系统状态): the region's operator's. */
  status: 'manage-system',
  audit: 'read-audit',
};

export function adminTabsFor(permissions: readonly Permission[]): AdminTab[] {
  return ADMIN_TABS.filter((tab) => permissions.includes(TAB_PERMISSION[tab]) && !(tab === 'quality' && permissions.includes('manage-system')));
}

/** The tab to show: the one asked for when the user has it, else their first; undefined: no administration at all. */
export function chooseAdminTab(requested: AdminTab | undefined, permissions: readonly Permission[]): AdminTab | undefined {
  const tabs = adminTabsFor(permissions);
  return requested && tabs.includes(requested) ? requested : tabs[0];
}

/**
 * Roles a user may give. Every role but the institution administrator's reaches patient data (images
 * or the audit trail), and only a system administrator grants those (docs/security.md): the server
 * refuses the rest, so the form does not offer them.
 */
export function grantableRoles(permissions: readonly Permission[]): Role[] {
  if (permissions.includes('manage-system')) return [...ROLES];
  return ['institution_admin'];
}

/** Roles that belong to no institution necessarily. */
export function roleNeedsInstitution(role: Role): boolean {
  return role !== 'system_admin' && role !== 'auditor';
}

// Forms.

/** A form as the browser gives it: every field a string (a ticked checkbox 'on', an unticked one absent). */
export type FormFields = Record<string, string | undefined>;

export interface FieldError {
  field: string;
  problem: MessageKey;
}

export type FormResult<Body> = { ok: true; body: Body } | { ok: false; errors: FieldError[] };

const CODE = /^[A-Za-z0-9_.-]{1,64}$/;
const AE_TITLE = /^[\x20-\x5b\x5d-\x7e]{1,16}$/;
const NETWORK = /^[0-9a-fA-F.:]+(\/\d{1,3})?$/;
const USERNAME = /^[A-Za-z0-9_.@-]{1,128}$/;
const STUDY_UID = /^[0-9.]{1,64}$/;
const DATE = /^\d{4}-\d{2}-\d{2}$/;
export const PASSWORD_MIN_LENGTH = 12;
const PASSWORD_MAX_LENGTH = 256;

/** Collects a form's problems while reading its fields. */
class FormReader {
  readonly errors: FieldError[] = [];

  constructor(private readonly fields: FormFields) {}

  text(field: string): string {
    return (this.fields[field] ?? '').trim();
  }

  check(field: string, valid: boolean, problem: MessageKey): void {
    if (!valid) this.errors.push({ field, problem });
  }

  result<Body>(body: Body): FormResult<Body> {
    return this.errors.length ? { ok: false, errors: this.errors } : { ok: true, body };
  }
}

function nameChecked(form: FormReader, field = 'name'): string {
  const name = form.text(field);
  form.check(field, name.length >= 1 && name.length <= 128, 'admin.invalid.name');
  return name;
}

function codeChecked(form: FormReader, field: string, required: boolean): string | undefined {
  const code = form.text(field);
  if (!code && !required) return undefined;
  form.check(field, CODE.test(code), 'admin.invalid.code');
  return code;
}

export interface RegionBody {
  code: string;
  name: string;
  level: RegionLevel;
  parentCode?: string;
}

export function regionBody(fields: FormFields): FormResult<RegionBody> {
  const form = new FormReader(fields);
  const code = codeChecked(form, 'code', true)!;
  const name = nameChecked(form);
  const level = form.text('level') as RegionLevel;
  form.check('level', REGION_LEVELS.includes(level), 'admin.invalid.level');
  const parentCode = codeChecked(form, 'parentCode', false);
  return form.result({ code, name, level, ...(parentCode ? { parentCode } : {}) });
}

export interface InstitutionBody {
  code: string;
  name: string;
  kind: (typeof INSTITUTION_KINDS)[number];
  regionCode?: string;
}

export function institutionBody(fields: FormFields): FormResult<InstitutionBody> {
  const form = new FormReader(fields);
  const code = codeChecked(form, 'code', true)!;
  const name = nameChecked(form);
  const kind = form.text('kind') as InstitutionBody['kind'];
  form.check('kind', INSTITUTION_KINDS.includes(kind), 'admin.invalid.kind');
  const regionCode = codeChecked(form, 'regionCode', false);
  return form.result({ code, name, kind, ...(regionCode ? { regionCode } : {}) });
}

export interface PeerBody {
  institutionCode?: string;
  aeTitle: string;
  allowedNetworks: string[];
  host: string | null;
  port: number | null;
  tlsRequired: boolean;
  characterSet: string | null;
}

/** Networks as typed: one per line, or separated by commas, semicolons or spaces. */
export function networkList(text: string): string[] {
  return text
    .split(/[\s,;，；]+/)
    .map((network) => network.trim())
    .filter(Boolean);
}

/**
 * A DICOM peer from the form. `institution`: 'required' when a system administrator registers a
 * peer (for whose institution?), 'own' for an institution administrator, 'none' when changing
 * a registered peer (it stays where it is).
 */
export function peerBody(fields: FormFields, institution: 'required' | 'own' | 'none'): FormResult<PeerBody> {
  const form = new FormReader(fields);
  const aeTitle = form.text('aeTitle');
  form.check('aeTitle', AE_TITLE.test(aeTitle), 'admin.invalid.aeTitle');
  const allowedNetworks = networkList(fields.allowedNetworks ?? '');
  form.check('allowedNetworks', allowedNetworks.every((network) => NETWORK.test(network)) && allowedNetworks.length <= 64, 'admin.invalid.network');
  const host = form.text('host');
  form.check('host', host.length <= 253 && !/\s/.test(host), 'admin.invalid.host');
  const portText = form.text('port');
  const port = portText ? Number(portText) : null;
  form.check('port', port === null || (Number.isInteger(port) && port >= 1 && port <= 65535), 'admin.invalid.port');
  const characterSet = form.text('characterSet');
  form.check('characterSet', characterSet.length <= 64, 'admin.invalid.characterSet');
  const institutionCode = institution === 'required' ? codeChecked(form, 'institutionCode', true) : undefined;
  return form.result({
    ...(institutionCode ? { institutionCode } : {}),
    aeTitle,
    allowedNetworks,
    host: host || null,
    port,
    tlsRequired: fields.tlsRequired === 'on',
    characterSet: characterSet || null,
  });
}

export interface UserBody {
  username: string;
  displayName: string;
  role: Role;
  institutionCode?: string;
  password?: string;
}

export type UserChanges = Partial<{ displayName: string; role: Role; disabled: boolean; password: string }>;

function passwordProblem(password: string): MessageKey | undefined {
  if (password.length < PASSWORD_MIN_LENGTH) return 'admin.invalid.passwordShort';
  if (password.length > PASSWORD_MAX_LENGTH) return 'admin.invalid.passwordLong';
  return undefined;
}

/**
 * A new user from the form. A system administrator names the institution of every role that has
 * one; an institution administrator's users join their own. No password: the user signs in only
 * through single sign-on (OIDC).
 */
export function userBody(fields: FormFields, permissions: readonly Permission[]): FormResult<UserBody> {
  const form = new FormReader(fields);
  const username = form.text('username');
  form.check('username', USERNAME.test(username), 'admin.invalid.username');
  const displayName = nameChecked(form, 'displayName');
  const role = form.text('role') as Role;
  form.check('role', grantableRoles(permissions).includes(role), 'admin.invalid.role');
  const systemAdministrator = permissions.includes('manage-system');
  const institutionCode = systemAdministrator ? codeChecked(form, 'institutionCode', ROLES.includes(role) && roleNeedsInstitution(role)) : undefined;
  // Passwords are taken as typed: spaces may be part of them.
  const password = fields.password ?? '';
  const problem = password ? passwordProblem(password) : undefined;
  if (problem) form.check('password', false, problem);
  return form.result({ username, displayName, role, ...(institutionCode ? { institutionCode } : {}), ...(password ? { password } : {}) });
}

export function passwordChange(password: string): FormResult<{ password: string }> {
  const form = new FormReader({});
  const problem = passwordProblem(password);
  if (problem) form.check('password', false, problem);
  return form.result({ password });
}

export interface TokenBody {
  username: string;
  label: string;
  days: number;
}

export function tokenBody(fields: FormFields): FormResult<TokenBody> {
  const form = new FormReader(fields);
  const username = form.text('username');
  form.check('username', username.length >= 1 && username.length <= 128, 'admin.invalid.tokenUser');
  const label = form.text('label');
  form.check('label', label.length >= 1 && label.length <= 128, 'admin.invalid.label');
  const days = Number(form.text('days') || '365');
  form.check('days', Number.isInteger(days) && days >= 1 && days <= 3650, 'admin.invalid.days');
  return form.result({ username, label, days });
}

// The person index's review queue and corrections (人员关联审核): every decision names its reason.

const RECORD_ID = /^\d{1,18}$/;

function reasonChecked(form: FormReader): string {
  const reason = form.text('reason');
  form.check('reason', reason.length >= 1 && reason.length <= 500, 'admin.invalid.reason');
  return reason;
}

export function reasonBody(fields: FormFields): FormResult<{ reason: string }> {
  const form = new FormReader(fields);
  return form.result({ reason: reasonChecked(form) });
}

/** An accreditation (互认资质) as the form gives it: an institution, an item, from a day, until a day or until withdrawn. */
export function accreditationBody(fields: FormFields): FormResult<Accreditation> {
  const form = new FormReader(fields);
  const institutionId = form.text('institutionId');
  const itemCode = form.text('itemCode');
  const validFrom = form.text('validFrom');
  const validUntil = form.text('validUntil');
  form.check('institutionId', institutionId !== '', 'admin.invalid.institution');
  form.check('itemCode', itemCode !== '', 'admin.invalid.item');
  form.check('validFrom', DATE.test(validFrom), 'admin.invalid.date');
  form.check('validUntil', !validUntil || DATE.test(validUntil), 'admin.invalid.date');
  form.check('validUntil', !validUntil || !DATE.test(validFrom) || validFrom <= validUntil, 'admin.invalid.dateRange');
  return form.result({ institutionId, itemCode, validFrom, validUntil: validUntil || null });
}

export function unlinkBody(fields: FormFields): FormResult<{ patientPk: string; reason: string }> {
  const form = new FormReader(fields);
  const patientPk = form.text('patientPk');
  form.check('patientPk', RECORD_ID.test(patientPk), 'admin.invalid.recordNumber');
  return form.result({ patientPk, reason: reasonChecked(form) });
}

export function mergeBody(fields: FormFields): FormResult<{ intoPersonId: string; fromPersonId: string; reason: string }> {
  const form = new FormReader(fields);
  const intoPersonId = form.text('intoPersonId');
  const fromPersonId = form.text('fromPersonId');
  form.check('intoPersonId', RECORD_ID.test(intoPersonId), 'admin.invalid.personNumber');
  form.check('fromPersonId', RECORD_ID.test(fromPersonId) && fromPersonId !== intoPersonId, 'admin.invalid.personNumber');
  return form.result({ intoPersonId, fromPersonId, reason: reasonChecked(form) });
}

/** Two records of a suggestion, as the review queue reads them. */
export interface SuggestedPair {
  records: readonly { patientPk: string; personId: string | null; institutionId: string }[];
}

/**
 * 确认为同一人: which record joins whose person. An institution administrator may move only their
 * own institution's records, so their record joins the other's person; a system administrator's
 * choice is the second record into the first's. Undefined when no record may move or no person is known.
 */
export function linkToMake(pair: SuggestedPair, actorInstitutionId: string | null, systemAdministrator: boolean): { patientPk: string; personId: string } | undefined {
  const [first, second] = pair.records;
  if (!first || !second) return undefined;
  const moving = systemAdministrator || second.institutionId === actorInstitutionId ? second : first.institutionId === actorInstitutionId ? first : undefined;
  const staying = moving === second ? first : second;
  return moving && staying.personId ? { patientPk: moving.patientPk, personId: staying.personId } : undefined;
}

/** The QC configuration as typed in its editor: JSON, which the archive then validates (its reasons come back as a 400). */
export function qcConfigurationBody(text: string): FormResult<unknown> {
  try {
    return { ok: true, body: JSON.parse(text) as unknown };
  } catch {
    return { ok: false, errors: [{ field: 'configuration', problem: 'admin.invalid.json' }] };
  }
}

/** Minutes to add to local time for UTC on a calendar day (Date.getTimezoneOffset's sign), so tests can fix the zone. */
export type TimeZoneOffset = (year: number, monthIndex: number, day: number) => number;
const localOffset: TimeZoneOffset = (year, monthIndex, day) => new Date(year, monthIndex, day).getTimezoneOffset();

/** The start of a local calendar day as an ISO date-time with its offset, e.g. 2024-11-05T00:00:00+08:00. */
export function localDayStart(date: string, offsetOf: TimeZoneOffset = localOffset, addDays = 0): string {
  const [year, month, day] = date.split('-').map(Number) as [number, number, number];
  const start = new Date(Date.UTC(year, month - 1, day + addDays));
  const offset = -offsetOf(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate());
  const sign = offset < 0 ? '-' : '+';
  const hours = String(Math.floor(Math.abs(offset) / 60)).padStart(2, '0');
  const minutes = String(Math.abs(offset) % 60).padStart(2, '0');
  return `${start.toISOString().slice(0, 10)}T00:00:00${sign}${hours}:${minutes}`;
}

/**
 * An audit search as the query of /api/audit/events and its exports. Dates are the reader's
 * calendar days, both included: `to` becomes the start of the next day, since the archive's bound
 * is exclusive.
 */
export function auditSearch(fields: FormFields, offsetOf: TimeZoneOffset = localOffset): FormResult<string> {
  const form = new FormReader(fields);
  const params = new URLSearchParams();
  const patientId = form.text('patientId');
  form.check('patientId', patientId.length <= 128, 'admin.invalid.patientId');
  if (patientId) params.set('patientId', patientId);
  const user = form.text('user');
  form.check('user', user.length <= 128, 'admin.invalid.tokenUser');
  if (user) params.set('user', user);
  const study = form.text('study');
  form.check('study', !study || STUDY_UID.test(study), 'admin.invalid.studyUid');
  if (study) params.set('study', study);
  const type = form.text('type');
  form.check('type', !type || AUDIT_EVENT_TYPES.includes(type as AuditEventType), 'admin.invalid.eventType');
  if (type) params.set('type', type);
  const from = form.text('from');
  const to = form.text('to');
  form.check('from', !from || DATE.test(from), 'admin.invalid.date');
  form.check('to', !to || DATE.test(to), 'admin.invalid.date');
  form.check('to', !from || !to || !DATE.test(from) || !DATE.test(to) || from <= to, 'admin.invalid.dateRange');
  if (from && DATE.test(from)) params.set('from', localDayStart(from, offsetOf));
  if (to && DATE.test(to)) params.set('to', localDayStart(to, offsetOf, 1));
  return form.result(params.toString());
}

export function auditExportUrl(format: 'csv' | 'xml', search: string, apiRoot = '/api'): string {
  return `${apiRoot}/audit/export.${format}${search ? `?${search}` : ''}`;
}

/** Events a page of the audit search holds; a full page means there may be older ones. */
export const AUDIT_PAGE_SIZE = 100;

export function olderAuditPage(events: readonly AuditEvent[], pageSize = AUDIT_PAGE_SIZE): string | undefined {
  return events.length > 0 && events.length % pageSize === 0 ? events[events.length - 1]!.id : undefined;
}

// Tables.

/** A moment in the reader's local time: 2024-11-05 09:03:07. */
export function formatLocalTime(value: string | Date | null): string {
  if (!value) return '';
  const date = new Date(value);
  if (Number.isNaN(date.getTime())) return String(value);
  const two = (part: number) => String(part).padStart(2, '0');
  return `${date.getFullYear()}-${two(date.getMonth() + 1)}-${two(date.getDate())} ${two(date.getHours())}:${two(date.getMinutes())}:${two(date.getSeconds())}`;
}

function institutionLabel(id: string | null, institutions: readonly Institution[]): string | undefined {
  if (!id) return undefined;
  const institution = institutions.find((candidate) => candidate.id === id);
  return institution ? `${institution.name} (${institution.code})` : undefined;
}

export interface RegionRow {
  code: string;
  name: string;
  level: RegionLevel;
  parent: string;
}

export function regionRows(regions: readonly Region[]): RegionRow[] {
  const byId = new Map(regions.map((region) => [region.id, region]));
  return regions.map((region) => {
    const parent = region.parentId ? byId.get(region.parentId) : undefined;
    return { code: region.code, name: region.name, level: region.level, parent: parent ? `${parent.name} (${parent.code})` : '' };
  });
}

export interface InstitutionRow {
  code: string;
  name: string;
  kind: Institution['kind'];
  region: string;
}

export function institutionRows(institutions: readonly Institution[], regions: readonly Region[]): InstitutionRow[] {
  return institutions.map((institution) => {
    const region = regions.find((candidate) => candidate.id === institution.regionId);
    return { code: institution.code, name: institution.name, kind: institution.kind, region: region ? `${region.name} (${region.code})` : '' };
  });
}

export interface PeerRow {
  id: string;
  aeTitle: string;
  institutionId: string;
  /** Name and code, when the institutions are known (system administrators). */
  institution: string | undefined;
  /** Empty: any address may call. */
  networks: string[];
  address: string;
  tlsRequired: boolean;
  characterSet: string;
}

export function peerRows(peers: readonly DicomPeer[], institutions: readonly Institution[]): PeerRow[] {
  return peers.map((peer) => ({
    id: peer.id,
    aeTitle: peer.aeTitle,
    institutionId: peer.institutionId,
    institution: institutionLabel(peer.institutionId, institutions),
    networks: peer.allowedNetworks,
    address: peer.host ? `${peer.host}${peer.port ? `:${peer.port}` : ''}` : peer.port ? `:${peer.port}` : '',
    tlsRequired: peer.tlsRequired,
    characterSet: peer.characterSet ?? '',
  }));
}

/** A peer's fields as the form shows them, to change it. */
export function peerFormFields(peer: DicomPeer): FormFields {
  return {
    aeTitle: peer.aeTitle,
    allowedNetworks: peer.allowedNetworks.join('\n'),
    host: peer.host ?? '',
    port: peer.port === null ? '' : String(peer.port),
    tlsRequired: peer.tlsRequired ? 'on' : undefined,
    characterSet: peer.characterSet ?? '',
  };
}

export type UserStatus = 'active' | 'disabled' | 'locked';

export interface UserRow {
  username: string;
  displayName: string;
  role: Role;
  institutionId: string | null;
  institution: string | undefined;
  status: UserStatus;
  disabled: boolean;
  oidc: boolean;
}

export function userRows(users: readonly AdminUser[], institutions: readonly Institution[], now: Date): UserRow[] {
  return users.map((user) => ({
    username: user.username,
    displayName: user.displayName,
    role: user.role,
    institutionId: user.institutionId,
    institution: institutionLabel(user.institutionId, institutions),
    status: user.disabled ? 'disabled' : user.lockedUntil && new Date(user.lockedUntil).getTime() > now.getTime() ? 'locked' : 'active',
    disabled: user.disabled,
    oidc: user.oidc,
  }));
}

export type TokenStatus = 'active' | 'expired' | 'revoked';

export interface TokenRow {
  id: string;
  username: string;
  label: string;
  createdAt: string;
  expiresAt: string;
  status: TokenStatus;
}

/** Tokens newest first; only active ones can be revoked. */
export function tokenRows(tokens: readonly ApiToken[], now: Date): TokenRow[] {
  return [...tokens]
    .sort((a, b) => (a.createdAt < b.createdAt ? 1 : a.createdAt > b.createdAt ? -1 : 0))
    .map((token) => ({
      id: token.id,
      username: token.username,
      label: token.label ?? '',
      createdAt: formatLocalTime(token.createdAt),
      expiresAt: formatLocalTime(token.expiresAt),
      status: token.revokedAt ? 'revoked' : new Date(token.expiresAt).getTime() <= now.getTime() ? 'expired' : 'active',
    }));
}

export type AuditOutcome = 'success' | 'minorFailure' | 'seriousFailure' | 'majorFailure';

export interface AuditRow {
  id: string;
  time: string;
  eventType: AuditEventType;
  action: string;
  outcome: AuditOutcome;
  user: string;
  /** The role the user acted in, when recorded. */
  role: Role | undefined;
  source: string;
  patient: string;
  studies: string;
  purpose: string;
  /** The rest of what was recorded (route, query, counts, reasons), compact. */
  detail: string;
}

const OUTCOMES: Record<number, AuditOutcome> = { 0: 'success', 4: 'minorFailure', 8: 'seriousFailure', 12: 'majorFailure' };

export function auditRows(events: readonly AuditEvent[]): AuditRow[] {
  return events.map((event) => ({
    id: event.id,
    time: formatLocalTime(event.occurredAt),
    eventType: event.eventType,
    action: event.action,
    outcome: OUTCOMES[event.outcome] ?? 'majorFailure',
    user: event.userName ?? '',
    role: ROLES.find((role) => role === event.userRole),
    source: event.sourceAddress ?? '',
    patient: [event.patientId, event.patientName].filter(Boolean).join(' '),
    studies: event.studyUids.join(', '),
    purpose: event.purpose ?? '',
    detail: Object.keys(event.detail ?? {}).length ? JSON.stringify(event.detail) : '',
  }));
}
