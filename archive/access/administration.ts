import { z } from 'zod';
import type { AuditAction, AuditEventInput } from '../audit/audit-event.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import { INSTITUTION_KINDS, REGION_LEVELS, type InstitutionsRepository } from '../db/institutions-repository.ts';
import type { User, UsersRepository } from '../db/users-repository.ts';
import type { AuthService } from './auth-service.ts';
import { hashPassword, passwordProblem } from './passwords.ts';
import { hasPermission, ROLES, type Role } from './policy.ts';

/** Who asks for a change: a signed-in administrator, or the command line on the server itself. */
export interface Actor {
  username: string;
  role: Role;
  institutionId: string | null;
  sourceAddress?: string;
}

export const COMMAND_LINE_ACTOR: Actor = { username: 'cli', role: 'system_admin', institutionId: null };

/** An administrative change made by `actor`, as the audit trail records it (admin-change, success). */
export function adminChangeEvent(actor: Actor, action: AuditAction, detail: Record<string, unknown>): AuditEventInput {
  return { eventType: 'admin-change', action, outcome: 0, userName: actor.username, userRole: actor.role, institutionId: actor.institutionId ?? undefined, sourceAddress: actor.sourceAddress, detail };
}

/** A change the actor may not make, or input that does not make sense: the REST layer answers 403 / 400. */
export class AdministrationError extends Error {
  constructor(
    readonly kind: 'forbidden' | 'invalid' | 'not-found' | 'conflict',
    message: string,
  ) {
    super(message);
  }
}

const code = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a code is 1-64 letters, digits, _ . -');
const aeTitle = z.string().regex(/^[\x20-\x5b\x5d-\x7e]{1,16}$/, 'an AE title is 1 to 16 printable ASCII characters without a backslash').transform((title) => title.trim()).refine((title) => title !== '', 'an AE title is not all spaces');
const cidr = z.string().regex(/^[0-9a-fA-F.:]+(\/\d{1,3})?$/, 'a network is an address or CIDR block, e.g. 10.1.0.0/16');

export const regionInput = z.object({ code, name: z.string().min(1).max(128), level: z.enum(REGION_LEVELS), parentCode: code.optional() });
export const institutionInput = z.object({ code, name: z.string().min(1).max(128), kind: z.enum(INSTITUTION_KINDS).exclude(['quarantine']), regionCode: code.optional() });
export const peerInput = z.object({
  institutionCode: code.optional(),
  aeTitle,
  allowedNetworks: z.array(cidr).max(64).default([]),
  host: z.string().max(253).nullable().default(null),
  port: z.number().int().min(1).max(65535).nullable().default(null),
  tlsRequired: z.boolean().default(false),
  characterSet: z.string().max(64).nullable().default(null),
});
export const peerChanges = peerInput.omit({ institutionCode: true }).partial();
export const userInput = z.object({
  username: z.string().regex(/^[A-Za-z0-9_.@-]{1,128}$/, 'a user name is 1-128 letters, digits, _ . @ -'),
  displayName: z.string().min(1).max(128),
  role: z.enum(ROLES),
  institutionCode: code.optional(),
  password: z.string().optional(),
});
export const userChanges = z.object({ displayName: z.string().min(1).max(128), role: z.enum(ROLES), disabled: z.boolean(), password: z.string() }).partial();
export const tokenInput = z.object({ username: z.string().min(1).max(128), label: z.string().min(1).max(128), days: z.number().int().min(1).max(3650).default(365) });

/**
 * Regions, institutions, DICOM peers, users and API tokens, for the REST API and `npm run admin`
 * alike. Institution administrators act within their own institution; every change is audited.
 */
export class Administration {
  constructor(
    private readonly institutions: InstitutionsRepository,
    private readonly users: UsersRepository,
    private readonly auth: AuthService,
    private readonly audit: AuditLog,
  ) {}

  listRegions() {
    return this.institutions.listRegions();
  }

  async createRegion(actor: Actor, input: z.input<typeof regionInput>) {
    this.requireSystem(actor);
    const region = parse(regionInput, input);
    const parent = region.parentCode ? await this.institutions.findRegionByCode(region.parentCode) : null;
    if (region.parentCode && !parent) throw new AdministrationError('not-found', `no region ${region.parentCode}`);
    const created = await this.unique(() => this.institutions.createRegion({ code: region.code, name: region.name, level: region.level, parentId: parent?.id ?? null }));
    await this.changed(actor, 'C', 'region created', { target: 'region', region: created });
    return created;
  }

  listInstitutions() {
    return this.institutions.listInstitutions();
  }

  async createInstitution(actor: Actor, input: z.input<typeof institutionInput>) {
    this.requireSystem(actor);
    const institution = parse(institutionInput, input);
    const region = institution.regionCode ? await this.institutions.findRegionByCode(institution.regionCode) : null;
    if (institution.regionCode && !region) throw new AdministrationError('not-found', `no region ${institution.regionCode}`);
    const created = await this.unique(() => this.institutions.createInstitution({ code: institution.code, name: institution.name, kind: institution.kind, regionId: region?.id ?? null }));
    await this.changed(actor, 'C', 'institution created', { target: 'institution', institution: created });
    return created;
  }

  listPeers(actor: Actor) {
    return this.institutions.listPeers(this.isSystem(actor) ? undefined : actor.institutionId!);
  }

  async createPeer(actor: Actor, input: z.input<typeof peerInput>) {
    const peer = parse(peerInput, input);
    const institutionId = await this.targetInstitution(actor, peer.institutionCode);
    const { institutionCode: _code, ...fields } = peer;
    const created = await this.unique(() => this.institutions.createPeer({ ...fields, institutionId }));
    await this.changed(actor, 'C', 'DICOM peer registered', { target: 'dicom-peer', peer: created });
    return created;
  }

  async updatePeer(actor: Actor, id: string, input: z.input<typeof peerChanges>) {
    const existing = await this.peerInReach(actor, id);
    const updated = await this.unique(() => this.institutions.updatePeer(existing.id, parse(peerChanges, input)));
    await this.changed(actor, 'U', 'DICOM peer changed', { target: 'dicom-peer', before: existing, after: updated });
    return updated!;
  }

  async deletePeer(actor: Actor, id: string) {
    const existing = await this.peerInReach(actor, id);
    await this.institutions.deletePeer(existing.id);
    await this.changed(actor, 'D', 'DICOM peer removed', { target: 'dicom-peer', peer: existing });
  }

  async listUsers(actor: Actor) {
    return (await this.users.list(this.isSystem(actor) ? undefined : actor.institutionId!)).map(publicUser);
  }

  async createUser(actor: Actor, input: z.input<typeof userInput>) {
    const user = parse(userInput, input);
    await this.requireRoleGrantable(actor, user.role, { target: 'user', user: user.username });
    // System administrators and auditors may work for no institution; everyone else works for one.
    const mayBeWithout = user.role === 'system_admin' || user.role === 'auditor';
    const institutionId = mayBeWithout && !user.institutionCode ? null : await this.targetInstitution(actor, user.institutionCode);
    const problem = user.password === undefined ? null : passwordProblem(user.password, user.username);
    if (problem) throw new AdministrationError('invalid', problem);
    const passwordHash = user.password === undefined ? null : await hashPassword(user.password);
    const created = await this.unique(() => this.users.create({ username: user.username, displayName: user.displayName, role: user.role, institutionId, passwordHash }));
    await this.changed(actor, 'C', 'user created', { target: 'user', user: publicUser(created) });
    return publicUser(created);
  }

  async updateUser(actor: Actor, username: string, input: z.input<typeof userChanges>) {
    const existing = await this.userInReach(actor, username);
    const changes = parse(userChanges, input);
    const attempted = { target: 'user', user: existing.username, fields: Object.keys(changes) };
    // No self-elevation, for any role: a second person changes what an account may do.
    if (changes.role !== undefined && changes.role !== existing.role && existing.username === actor.username) {
      throw await this.refused(actor, 'U', 'nobody changes their own role; another administrator must', attempted);
    }
    if (changes.role) await this.requireRoleGrantable(actor, changes.role, attempted);
    // Taking access away is always allowed; anything else on an account that reaches patient data —
    // a new password, another role, re-enabling it — only a system administrator may do.
    const onlyDisables = Object.keys(changes).every((key) => key === 'disabled') && changes.disabled === true;
    if (!this.isSystem(actor) && reachesPatientData(existing.role) && !onlyDisables) {
      throw await this.refused(actor, 'U', `only a system administrator may change a ${existing.role}'s account (an institution administrator may disable it)`, attempted);
    }
    if (changes.password !== undefined) {
      const problem = passwordProblem(changes.password, existing.username);
      if (problem) throw new AdministrationError('invalid', problem);
    }
    const updated = await this.users.update(existing.id, {
      displayName: changes.displayName,
      role: changes.role,
      disabled: changes.disabled,
      passwordHash: changes.password === undefined ? undefined : await hashPassword(changes.password),
    });
    // A new password, a new role or a disabled account must not leave old sessions working.
    const revoked = changes.password !== undefined || changes.role !== undefined || changes.disabled ? await this.users.revokeAllOf(existing.id) : 0;
    await this.changed(actor, 'U', 'user changed', { target: 'user', user: existing.username, fields: Object.keys(changes).map((key) => (key === 'password' ? 'password (new)' : key)), sessionsRevoked: revoked });
    return publicUser(updated!);
  }

  async createToken(actor: Actor, input: z.input<typeof tokenInput>) {
    const request = parse(tokenInput, input);
    const user = request.username === actor.username ? await this.users.findByUsername(request.username) : await this.userInReach(actor, request.username);
    if (!user) throw new AdministrationError('not-found', `no user ${request.username}`);
    // A token is a credential: minting one for another account that reaches patient data is signing in as them.
    if (!this.isSystem(actor) && user.username !== actor.username && reachesPatientData(user.role)) {
      throw await this.refused(actor, 'C', `only a system administrator may issue an API token for a ${user.role}`, { target: 'api-token', user: user.username });
    }
    const token = await this.auth.createApiToken(user, request.label, request.days);
    await this.changed(actor, 'C', 'API token created', { target: 'api-token', user: user.username, token: token.id, label: request.label, expiresAt: token.expiresAt });
    return token;
  }

  async listTokens(actor: Actor) {
    const tokens = await this.users.listApiTokens();
    if (this.isSystem(actor)) return tokens;
    const reachable = new Set((await this.users.list(actor.institutionId!)).map((user) => user.id));
    return tokens.filter((token) => reachable.has(token.userId));
  }

  async revokeToken(actor: Actor, id: string) {
    const token = (await this.listTokens(actor)).find((candidate) => candidate.id === id);
    if (!token) throw new AdministrationError('not-found', `no API token ${id}`);
    await this.users.revokeSession(id);
    await this.changed(actor, 'D', 'API token revoked', { target: 'api-token', token: id, user: token.username });
  }

  private isSystem(actor: Actor): boolean {
    return hasPermission(actor.role, 'manage-system');
  }

  private requireSystem(actor: Actor): void {
    if (!this.isSystem(actor)) throw new AdministrationError('forbidden', 'only a system administrator may do this');
  }

  /**
   * Roles that reach patient data (images or the audit trail, which names patients) are granted by a
   * system administrator only: an institution administrator, who has no such access, must not be able
   * to hand it to an account whose password they chose — their own included.
   */
  private async requireRoleGrantable(actor: Actor, role: Role, attempted: Record<string, unknown>): Promise<void> {
    if (!this.isSystem(actor) && reachesPatientData(role)) {
      throw await this.refused(actor, 'U', `only a system administrator may grant the ${role} role (it reaches patient data)`, { ...attempted, role });
    }
  }

  /** A refused change, audited like a granted one (outcome 4), as the error to throw. */
  private async refused(actor: Actor, action: 'C' | 'U' | 'D', reason: string, detail: Record<string, unknown>): Promise<AdministrationError> {
    await this.audit.record({ eventType: 'admin-change', action, outcome: 4, userName: actor.username, userRole: actor.role, institutionId: actor.institutionId ?? undefined, sourceAddress: actor.sourceAddress, detail: { change: 'refused', reason, ...detail } });
    return new AdministrationError('forbidden', reason);
  }

  private async targetInstitution(actor: Actor, institutionCode: string | undefined): Promise<string> {
    if (!this.isSystem(actor)) {
      if (institutionCode !== undefined) {
        const named = await this.institutions.findInstitutionByCode(institutionCode);
        if (named?.id !== actor.institutionId) throw new AdministrationError('forbidden', 'an institution administrator acts within their own institution');
      }
      return actor.institutionId!;
    }
    if (!institutionCode) throw new AdministrationError('invalid', 'name the institution (institutionCode)');
    const institution = await this.institutions.findInstitutionByCode(institutionCode);
    if (!institution) throw new AdministrationError('not-found', `no institution ${institutionCode}`);
    return institution.id;
  }

  private async peerInReach(actor: Actor, id: string) {
    const peer = /^\d{1,18}$/.test(id) ? await this.institutions.findPeer(id) : await this.institutions.findPeerByAeTitle(id);
    if (!peer || (!this.isSystem(actor) && peer.institutionId !== actor.institutionId)) throw new AdministrationError('not-found', `no DICOM peer ${id}`);
    return peer;
  }

  private async userInReach(actor: Actor, username: string): Promise<User> {
    const user = await this.users.findByUsername(username);
    if (!user || (!this.isSystem(actor) && user.institutionId !== actor.institutionId)) throw new AdministrationError('not-found', `no user ${username}`);
    if (!this.isSystem(actor) && (user.role === 'system_admin' || user.role === 'auditor')) throw new AdministrationError('forbidden', `an institution administrator may not change a ${user.role}`);
    return user;
  }

  private async unique<T>(create: () => Promise<T>): Promise<T> {
    try {
      return await create();
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new AdministrationError('conflict', 'it exists already');
      throw error;
    }
  }

  private changed(actor: Actor, action: 'C' | 'U' | 'D', change: string, detail: Record<string, unknown>): Promise<void> {
    return this.audit.record(adminChangeEvent(actor, action, { change, ...detail }));
  }
}

function reachesPatientData(role: Role): boolean {
  return hasPermission(role, 'read-images') || hasPermission(role, 'read-audit');
}

function parse<Schema extends z.ZodType>(schema: Schema, input: unknown): z.output<Schema> {
  const result = schema.safeParse(input);
  if (!result.success) throw new AdministrationError('invalid', result.error.issues.map((issue) => `${issue.path.join('.') || 'input'}: ${issue.message}`).join('; '));
  return result.data;
}

/** A user as the API shows it: never the password hash. */
export function publicUser(user: User) {
  return { id: user.id, username: user.username, displayName: user.displayName, role: user.role, institutionId: user.institutionId, disabled: user.disabled, lockedUntil: user.lockedUntil, oidc: user.oidcSubject !== null };
}
