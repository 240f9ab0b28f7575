import type { AdminClient } from '../api/admin-client.ts';
import type { PersonClient, SuggestionOnWire } from '../api/person-client.ts';
import type { QualityClient } from '../api/quality-client.ts';
import type { RecognitionRegion } from '../../../archive/recognition/hr-mark.ts';
import type { RecognitionReason } from '../../../archive/recognition/recognition-reasons.ts';
import type { MessageKey } from '../i18n/messages.ts';
import {
  accreditationBody,
  AUDIT_PAGE_SIZE,
  auditSearch,
  chooseAdminTab,
  institutionBody,
  linkToMake,
  mergeBody,
  olderAuditPage,
  passwordChange,
  peerBody,
  qcConfigurationBody,
  reasonBody,
  regionBody,
  tokenBody,
  unlinkBody,
  userBody,
  type AdminTab,
  type FormFields,
  type FormResult,
} from '../logic/admin.ts';
import { dicomwebNodeBody, routingRuleBody } from '../logic/routing.ts';
import type { Role } from '../logic/session.ts';
import type { AccreditationOnWire, RegionRecognitionOnWire } from '../api/admin-models.ts';
import { emptyAdmin, failed, signedInUserOf, type AdminState, type AppState, type Loadable } from './app-state.ts';
import type { Store } from './store.ts';

/** The status page follows the processes' heartbeats, which come every 10 s. */
const STATUS_REFRESH_MS = 10_000;

type ListKey = 'regions' | 'institutions' | 'peers' | 'users' | 'tokens' | 'suggestions' | 'forwardQueues' | 'deadLetters' | 'routingRules' | 'dicomwebNodes';

/**
 * The administration page's actions: what each tab lists, and the changes an administrator
 * makes (each checked by logic/admin.ts before it is sent, then the list asked for again).
 * An auditor's tab searches and verifies the audit trail.
 */
export class AdminController {
  private statusTimer: ReturnType<typeof setInterval> | undefined;

  constructor(
    private readonly store: Store<AppState>,
    private readonly client: AdminClient,
    private readonly persons: PersonClient,
    private readonly quality: QualityClient,
  ) {}

  private get permissions() {
    return signedInUserOf(this.store.get())?.permissions ?? [];
  }

  private update(change: (admin: AdminState) => AdminState): void {
    this.store.update((state) => ({ ...state, admin: change(state.admin) }));
  }

  /** Opens a tab (the first the user has when none or another is asked for) and fetches what it lists. */
  async enter(requested: AdminTab | undefined): Promise<void> {
    const tab = chooseAdminTab(requested, this.permissions);
    const previous = this.store.get().admin;
    this.update((admin) => (admin.tab === tab ? admin : { ...emptyAdmin(), audit: admin.audit, tab }));
    const systemAdministrator = this.permissions.includes('manage-system');
    switch (tab) {
      case 'institutions':
        return this.reload('regions', 'institutions');
      case 'peers':
        return this.reload('peers', ...(systemAdministrator ? (['institutions'] as const) : []));
      case 'users':
        return this.reload('users', ...(systemAdministrator ? (['institutions'] as const) : []));
      case 'tokens':
        return this.reload('tokens', 'users');
      case 'persons':
        return this.reload('suggestions');
      case 'quality':
        return this.loadQualityConfiguration();
      case 'recognition':
        return this.loadRecognitionRegions(previous.recognition?.regionId);
      case 'routing':
        return this.reload('forwardQueues', 'deadLetters', 'routingRules', 'dicomwebNodes', 'peers', 'institutions');
      case 'status':
        return this.loadSystemStatus();
      case 'audit':
        return this.runAuditSearch(previous.audit.search);
      case undefined:
        return;
    }
  }

  private async reload(...keys: ListKey[]): Promise<void> {
    await Promise.all(keys.map((key) => this.load(key)));
  }

  private async load(key: ListKey): Promise<void> {
    const fetchers: Record<ListKey, () => Promise<unknown[]>> = {
      regions: () => this.client.regions(),
      institutions: () => this.client.institutions(),
      peers: () => this.client.peers(),
      users: () => this.client.users(),
      tokens: () => this.client.tokens(),
      suggestions: () => this.persons.suggestions(),
      forwardQueues: () => this.client.forwardQueues(),
      deadLetters: () => this.client.deadLetters(),
      routingRules: () => this.client.routingRules(),
      dicomwebNodes: () => this.client.dicomwebNodes(),
    };
    const set = (loadable: Loadable<unknown[]>) => this.update((admin) => ({ ...admin, [key]: loadable }));
    if (!this.store.get().admin[key]) set({ status: 'loading' });
    try {
      set({ status: 'ready', value: await fetchers[key]() });
    } catch (error) {
      set(failed(error));
    }
  }

  /**
   * One change: refused with the form's problems when it does not validate; otherwise sent,
   * reported, and the lists it touches fetched again. Resolves true when it was made.
   */
  private async change<Body>(
    /** The form the change came from (problems are said there); `closes`: it closes when done, so "done" is said above it. */
    from: { form: string; closes?: boolean } | undefined,
    form: FormResult<Body>,
    send: (body: Body) => Promise<unknown>,
    done: MessageKey,
    values: Record<string, string>,
    reload: ListKey[],
  ): Promise<boolean> {
    if (!form.ok) {
      this.update((admin) => ({ ...admin, outcome: { form: from?.form, kind: 'invalid', errors: form.errors } }));
      return false;
    }
    this.update((admin) => ({ ...admin, busy: true, outcome: undefined }));
    try {
      await send(form.body);
    } catch (error) {
      this.update((admin) => ({ ...admin, busy: false, outcome: { form: from?.form, kind: 'failed', problem: failed(error).problem } }));
      return false;
    }
    this.update((admin) => ({ ...admin, busy: false, outcome: { form: from?.closes ? undefined : from?.form, kind: 'done', message: done, values } }));
    await this.reload(...reload);
    return true;
  }

  createRegion(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'region' }, regionBody(fields), (body) => this.client.createRegion(body), 'admin.done.regionCreated', { code: fields.code ?? '' }, ['regions']);
  }

  createInstitution(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'institution' }, institutionBody(fields), (body) => this.client.createInstitution(body), 'admin.done.institutionCreated', { code: fields.code ?? '' }, ['institutions']);
  }

  /** Registers a peer, or changes the one with `peerId`. */
  savePeer(fields: FormFields, peerId: string | undefined): Promise<boolean> {
    const aeTitle = (fields.aeTitle ?? '').trim();
    if (peerId) return this.change({ form: 'peer' }, peerBody(fields, 'none'), (body) => this.client.updatePeer(peerId, body), 'admin.done.peerChanged', { aeTitle }, ['peers']);
    const institution = this.permissions.includes('manage-system') ? 'required' : 'own';
    return this.change({ form: 'peer' }, peerBody(fields, institution), (body) => this.client.createPeer(body), 'admin.done.peerCreated', { aeTitle }, ['peers']);
  }

  deletePeer(peerId: string, aeTitle: string): Promise<boolean> {
    return this.change(undefined, { ok: true, body: peerId }, (id) => this.client.deletePeer(id), 'admin.done.peerDeleted', { aeTitle }, ['peers']);
  }

  createUser(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'user' }, userBody(fields, this.permissions), (body) => this.client.createUser(body), 'admin.done.userCreated', { username: (fields.username ?? '').trim() }, ['users']);
  }

  setUserRole(username: string, role: Role): Promise<boolean> {
    return this.change(undefined, { ok: true, body: { role } }, (body) => this.client.updateUser(username, body), 'admin.done.roleChanged', { username }, ['users']);
  }

  setUserDisabled(username: string, disabled: boolean): Promise<boolean> {
    return this.change(undefined, { ok: true, body: { disabled } }, (body) => this.client.updateUser(username, body), disabled ? 'admin.done.userDisabled' : 'admin.done.userEnabled', { username }, ['users']);
  }

  resetPassword(username: string, password: string): Promise<boolean> {
    return this.change({ form: 'password', closes: true }, passwordChange(password), (body) => this.client.updateUser(username, body), 'admin.done.passwordReset', { username }, ['users']);
  }

  /** Creates a token and keeps its secret in the state just long enough to show it once. */
  createToken(fields: FormFields): Promise<boolean> {
    return this.change(
      { form: 'token' },
      tokenBody(fields),
      async (body) => {
        const created = await this.client.createToken(body);
        this.update((admin) => ({ ...admin, newToken: { ...created, username: body.username, label: body.label } }));
      },
      'admin.done.tokenCreated',
      { label: (fields.label ?? '').trim() },
      ['tokens'],
    );
  }

  dismissNewToken(): void {
    this.update((admin) => ({ ...admin, newToken: undefined }));
  }

  revokeToken(tokenId: string, label: string): Promise<boolean> {
    return this.change(undefined, { ok: true, body: tokenId }, (id) => this.client.revokeToken(id), 'admin.done.tokenRevoked', { label }, ['tokens']);
  }

  // Routing and sending on (转发, docs/routing.md).

  /** The queues and dead letters again (they change as the archive sends). */
  /** The status page's figures, then again every heartbeat interval while the page stays open. */
  async loadSystemStatus(): Promise<void> {
    const set = (systemStatus: AdminState['systemStatus']) => this.update((admin) => ({ ...admin, systemStatus }));
    if (!this.store.get().admin.systemStatus) set({ status: 'loading' });
    try {
      set({ status: 'ready', value: await this.client.systemStatus() });
    } catch (error) {
      set(failed(error));
    }
    this.statusTimer ??= setInterval(() => {
      const state = this.store.get();
      if (state.route.page === 'admin' && state.admin.tab === 'status') return void this.loadSystemStatus();
      clearInterval(this.statusTimer);
      this.statusTimer = undefined;
    }, STATUS_REFRESH_MS);
  }

  refreshForwarding(): Promise<void> {
    return this.reload('forwardQueues', 'deadLetters');
  }

  /** Every dead letter of one destination (or all) pending again from its first attempt. */
  retryDeadLetters(destination: string | undefined, name: string): Promise<boolean> {
    return this.change(undefined, { ok: true, body: destination }, (body) => this.client.retryDeadLetters(body), 'routing.done.retried', { name }, ['forwardQueues', 'deadLetters']);
  }

  createRoutingRule(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'routing-rule' }, routingRuleBody(fields), (body) => this.client.createRoutingRule(body), 'routing.done.ruleCreated', { name: (fields.name ?? '').trim() }, ['routingRules']);
  }

  deleteRoutingRule(id: string, name: string): Promise<boolean> {
    return this.change(undefined, { ok: true, body: id }, (ruleId) => this.client.deleteRoutingRule(ruleId), 'routing.done.ruleDeleted', { name }, ['routingRules']);
  }

  createDicomwebNode(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'dicomweb-node' }, dicomwebNodeBody(fields), (body) => this.client.createDicomwebNode(body), 'routing.done.nodeCreated', { name: (fields.name ?? '').trim() }, ['dicomwebNodes']);
  }

  // The person index's review queue (人员关联审核).

  /** 确认为同一人: the record the administrator may move joins the other record's person. */
  acceptSuggestion(suggestion: SuggestionOnWire, fields: FormFields): Promise<boolean> {
    const user = signedInUserOf(this.store.get());
    const link = linkToMake(suggestion, user?.institutionId ?? null, this.permissions.includes('manage-system'));
    const form = reasonBody(fields);
    const checked: FormResult<{ reason: string }> = form.ok && !link ? { ok: false, errors: [{ field: 'reason', problem: 'admin.invalid.noLink' }] } : form;
    return this.change({ form: `suggestion-${suggestion.id}` }, checked, ({ reason }) => this.persons.link(link!.patientPk, link!.personId, reason), 'admin.done.linked', {}, ['suggestions']);
  }

  /** 不是同一人: the pair is not asked again. */
  dismissSuggestion(suggestionId: string, fields: FormFields): Promise<boolean> {
    return this.change({ form: `suggestion-${suggestionId}` }, reasonBody(fields), ({ reason }) => this.persons.dismiss(suggestionId, reason), 'admin.done.dismissed', {}, ['suggestions']);
  }

  unlinkRecord(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'unlink' }, unlinkBody(fields), ({ patientPk, reason }) => this.persons.unlink(patientPk, reason), 'admin.done.unlinked', { record: (fields.patientPk ?? '').trim() }, ['suggestions']);
  }

  mergePersons(fields: FormFields): Promise<boolean> {
    return this.change({ form: 'merge' }, mergeBody(fields), ({ intoPersonId, fromPersonId, reason }) => this.persons.merge(intoPersonId, fromPersonId, reason), 'admin.done.merged', { from: (fields.fromPersonId ?? '').trim(), into: (fields.intoPersonId ?? '').trim() }, ['suggestions']);
  }

  // The centre's QC configuration (质控配置).

  private async loadQualityConfiguration(): Promise<void> {
    const set = (qualityConfiguration: AdminState['qualityConfiguration']) => this.update((admin) => ({ ...admin, qualityConfiguration }));
    if (!this.store.get().admin.qualityConfiguration) set({ status: 'loading' });
    try {
      set({ status: 'ready', value: await this.quality.centreConfiguration() });
    } catch (error) {
      set(failed(error));
    }
  }

  async saveQualityConfiguration(text: string): Promise<boolean> {
    const done = await this.change({ form: 'quality' }, qcConfigurationBody(text), (body) => this.quality.saveCentreConfiguration(body), 'admin.done.qcConfigurationSaved', {}, []);
    if (done) await this.loadQualityConfiguration();
    return done;
  }

  // The HR mark's configuration (互认配置) and accreditations (互认资质) of a region.

  private async loadRecognitionRegions(preferred: string | undefined): Promise<void> {
    const set = (recognitionRegions: AdminState['recognitionRegions']) => this.update((admin) => ({ ...admin, recognitionRegions }));
    if (!this.store.get().admin.recognitionRegions) set({ status: 'loading' });
    try {
      const regions = await this.client.recognitionRegions();
      set({ status: 'ready', value: regions });
      const chosen = regions.find((entry) => entry.region.id === preferred) ?? regions[0];
      if (chosen && this.store.get().admin.recognition?.regionId !== chosen.region.id) await this.chooseRecognitionRegion(chosen.region.id);
    } catch (error) {
      set(failed(error));
    }
  }

  /** Shows a region's configuration (what applies there, from wherever it comes) and its institutions' accreditations. */
  async chooseRecognitionRegion(regionId: string): Promise<void> {
    this.update((admin) => ({ ...admin, outcome: undefined, recognition: { regionId, configuration: { status: 'loading' }, accreditations: { status: 'loading' } } }));
    await Promise.all([this.loadRegionRecognition(regionId), this.loadAccreditations(regionId)]);
  }

  private async loadRegionRecognition(regionId: string): Promise<void> {
    const set = (configuration: Loadable<RegionRecognitionOnWire>) =>
      this.update((admin) => (admin.recognition?.regionId === regionId ? { ...admin, recognition: { ...admin.recognition, configuration } } : admin));
    try {
      set({ status: 'ready', value: await this.client.regionRecognition(regionId) });
    } catch (error) {
      set(failed(error));
    }
  }

  private async loadAccreditations(regionId: string): Promise<void> {
    const set = (accreditations: Loadable<AccreditationOnWire[]>) =>
      this.update((admin) => (admin.recognition?.regionId === regionId ? { ...admin, recognition: { ...admin.recognition, accreditations } } : admin));
    try {
      set({ status: 'ready', value: await this.client.accreditations(regionId) });
    } catch (error) {
      set(failed(error));
    }
  }

  /** Saves the region's own configuration and reasons; the archive's reasons for a refusal are said next to the form. */
  async saveRegionRecognition(regionId: string, body: { configuration: RecognitionRegion; reasons: RecognitionReason[] }): Promise<boolean> {
    const done = await this.change({ form: 'recognition' }, { ok: true, body }, (checked) => this.client.saveRegionRecognition(regionId, checked), 'admin.done.recognitionSaved', {}, []);
    if (done) await Promise.all([this.loadRegionRecognition(regionId), this.loadRecognitionRegions(regionId)]);
    return done;
  }

  accredit(regionId: string, fields: FormFields): Promise<boolean> {
    return this.accreditationChange('accredit', accreditationBody(fields), (body) => this.client.accredit(body), 'admin.done.accredited', regionId);
  }

  withdrawAccreditation(regionId: string, accreditationId: string, fields: FormFields): Promise<boolean> {
    return this.accreditationChange(`withdraw-${accreditationId}`, reasonBody(fields), ({ reason }) => this.client.withdrawAccreditation(accreditationId, reason), 'admin.done.accreditationWithdrawn', regionId);
  }

  private async accreditationChange<Body>(form: string, body: FormResult<Body>, send: (body: Body) => Promise<unknown>, done: MessageKey, regionId: string): Promise<boolean> {
    const made = await this.change({ form }, body, send, done, {}, []);
    if (made) await this.loadAccreditations(regionId);
    return made;
  }

  // The audit trail.

  async searchAudit(fields: FormFields): Promise<void> {
    const search = auditSearch(fields);
    if (!search.ok) {
      this.update((admin) => ({ ...admin, outcome: { form: 'audit', kind: 'invalid', errors: search.errors } }));
      return;
    }
    this.update((admin) => ({ ...admin, outcome: undefined }));
    await this.runAuditSearch(search.body);
  }

  private async runAuditSearch(search: string): Promise<void> {
    this.update((admin) => ({ ...admin, audit: { ...admin.audit, search, events: { status: 'loading' }, olderThan: undefined } }));
    const setEvents = (audit: Partial<AdminState['audit']>) =>
      this.update((admin) => (admin.audit.search === search ? { ...admin, audit: { ...admin.audit, ...audit } } : admin));
    try {
      const events = await this.client.auditEvents(search, AUDIT_PAGE_SIZE);
      setEvents({ events: { status: 'ready', value: events }, olderThan: olderAuditPage(events) });
    } catch (error) {
      setEvents({ events: failed(error) });
    }
  }

  /** The next page back in time, added below the events shown. */
  async olderAudit(): Promise<void> {
    const { audit } = this.store.get().admin;
    if (!audit.olderThan || audit.loadingOlder || audit.events?.status !== 'ready') return;
    const shown = audit.events.value;
    this.update((admin) => ({ ...admin, audit: { ...admin.audit, loadingOlder: true } }));
    try {
      const older = await this.client.auditEvents(audit.search, AUDIT_PAGE_SIZE, audit.olderThan);
      const events = [...shown, ...older];
      this.update((admin) => ({ ...admin, audit: { ...admin.audit, events: { status: 'ready', value: events }, olderThan: olderAuditPage(events), loadingOlder: false } }));
    } catch (error) {
      this.update((admin) => ({ ...admin, audit: { ...admin.audit, loadingOlder: false }, outcome: { kind: 'failed', problem: failed(error).problem } }));
    }
  }

  async verifyAudit(): Promise<void> {
    const set = (verification: AdminState['audit']['verification']) => this.update((admin) => ({ ...admin, audit: { ...admin.audit, verification } }));
    set({ status: 'loading' });
    try {
      set({ status: 'ready', value: await this.client.verifyAudit() });
    } catch (error) {
      set(failed(error));
    }
  }
}
