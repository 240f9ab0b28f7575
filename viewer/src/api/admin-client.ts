import type { Accreditation, RecognitionRegion } from '../../../archive/recognition/hr-mark.ts';
import type { RecognitionReason } from '../../../archive/recognition/recognition-reasons.ts';
import type { InstitutionBody, PeerBody, RegionBody, TokenBody, UserBody, UserChanges } from '../logic/admin.ts';
import type { AccreditationOnWire, AdministeredRegion, AdminUser, ApiToken, AuditEvent, AuditVerification, CreatedToken, DicomPeer, Institution, Region, RegionRecognitionOnWire } from './admin-models.ts';
import type { Connection } from './http.ts';
import type { SystemStatus } from '../../../archive/metrics/status.ts';
import type { DeadLetter, DestinationBody, DestinationQueue, DicomwebNode, DicomwebNodeBody, RoutingRule, RoutingRuleBody, SendProgress } from '../logic/routing.ts';

/**
 * /api/admin (regions, institutions, DICOM peers, users, API tokens) and /api/audit. Which calls a
 * user may make is the archive's decision; this only speaks to it.
 */
export class AdminClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  regions(): Promise<Region[]> {
    return this.connection.json(`${this.apiRoot}/admin/regions`);
  }

  createRegion(body: RegionBody): Promise<Region> {
    return this.connection.json(`${this.apiRoot}/admin/regions`, { method: 'POST', json: body });
  }

  institutions(): Promise<Institution[]> {
    return this.connection.json(`${this.apiRoot}/admin/institutions`);
  }

  createInstitution(body: InstitutionBody): Promise<Institution> {
    return this.connection.json(`${this.apiRoot}/admin/institutions`, { method: 'POST', json: body });
  }

  peers(): Promise<DicomPeer[]> {
    return this.connection.json(`${this.apiRoot}/admin/peers`);
  }

  createPeer(body: PeerBody): Promise<DicomPeer> {
    return this.connection.json(`${this.apiRoot}/admin/peers`, { method: 'POST', json: body });
  }

  updatePeer(id: string, body: Omit<PeerBody, 'institutionCode'>): Promise<DicomPeer> {
    return this.connection.json(`${this.apiRoot}/admin/peers/${encodeURIComponent(id)}`, { method: 'PATCH', json: body });
  }

  deletePeer(id: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/admin/peers/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  users(): Promise<AdminUser[]> {
    return this.connection.json(`${this.apiRoot}/admin/users`);
  }

  createUser(body: UserBody): Promise<AdminUser> {
    return this.connection.json(`${this.apiRoot}/admin/users`, { method: 'POST', json: body });
  }

  updateUser(username: string, changes: UserChanges): Promise<AdminUser> {
    return this.connection.json(`${this.apiRoot}/admin/users/${encodeURIComponent(username)}`, { method: 'PATCH', json: changes });
  }

  tokens(): Promise<ApiToken[]> {
    return this.connection.json(`${this.apiRoot}/admin/tokens`);
  }

  createToken(body: TokenBody): Promise<CreatedToken> {
    return this.connection.json(`${this.apiRoot}/admin/tokens`, { method: 'POST', json: body });
  }

  revokeToken(id: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/admin/tokens/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  /** `search`: the query string of logic/admin.ts auditSearch (patientId, user, study, type, from, to), plus paging. */
  auditEvents(search: string, limit: number, before?: string): Promise<AuditEvent[]> {
    const params = new URLSearchParams(search);
    params.set('limit', String(limit));
    if (before) params.set('before', before);
    return this.connection.json(`${this.apiRoot}/audit/events?${params.toString()}`);
  }

  verifyAudit(): Promise<AuditVerification> {
    return this.connection.json(`${this.apiRoot}/audit/verify`);
  }

  // The HR mark's configuration (互认配置) and accreditations (互认资质).

  recognitionRegions(): Promise<AdministeredRegion[]> {
    return this.connection.json(`${this.apiRoot}/admin/recognition-regions`);
  }

  regionRecognition(regionId: string): Promise<RegionRecognitionOnWire> {
    return this.connection.json(`${this.apiRoot}/admin/regions/${encodeURIComponent(regionId)}/recognition`);
  }

  saveRegionRecognition(regionId: string, body: { configuration: RecognitionRegion | null; reasons: RecognitionReason[] | null }): Promise<RegionRecognitionOnWire> {
    return this.connection.json(`${this.apiRoot}/admin/regions/${encodeURIComponent(regionId)}/recognition`, { method: 'PUT', json: body });
  }

  accreditations(regionId: string): Promise<AccreditationOnWire[]> {
    return this.connection.json(`${this.apiRoot}/admin/regions/${encodeURIComponent(regionId)}/accreditations`);
  }

  accredit(body: Accreditation): Promise<AccreditationOnWire> {
    return this.connection.json(`${this.apiRoot}/admin/accreditations`, { method: 'POST', json: body });
  }

  withdrawAccreditation(accreditationId: string, reason: string): Promise<AccreditationOnWire> {
    return this.connection.json(`${this.apiRoot}/admin/accreditations/${encodeURIComponent(accreditationId)}/withdrawal`, { method: 'POST', json: { reason } });
  }

  /** Every gateway and worker process and the charts' figures (系统状态). */
  systemStatus(): Promise<SystemStatus> {
    return this.connection.json(`${this.apiRoot}/admin/status`);
  }

  // Routing and sending on (docs/routing.md).

  forwardQueues(): Promise<DestinationQueue[]> {
    return this.connection.json(`${this.apiRoot}/admin/forward-queues`);
  }

  deadLetters(): Promise<DeadLetter[]> {
    return this.connection.json(`${this.apiRoot}/admin/forward-queues/dead-letters`);
  }

  /** Every dead letter of `destination`, or all of them. */
  retryDeadLetters(destination?: string): Promise<{ retried: number }> {
    return this.connection.json(`${this.apiRoot}/admin/forward-queues/dead-letters/retry`, { method: 'POST', json: destination ? { destination } : {} });
  }

  routingRules(): Promise<RoutingRule[]> {
    return this.connection.json(`${this.apiRoot}/admin/routing-rules`);
  }

  createRoutingRule(body: RoutingRuleBody): Promise<RoutingRule> {
    return this.connection.json(`${this.apiRoot}/admin/routing-rules`, { method: 'POST', json: body });
  }

  deleteRoutingRule(id: string): Promise<void> {
    return this.connection.json(`${this.apiRoot}/admin/routing-rules/${encodeURIComponent(id)}`, { method: 'DELETE' });
  }

  dicomwebNodes(): Promise<DicomwebNode[]> {
    return this.connection.json(`${this.apiRoot}/admin/dicomweb-nodes`);
  }

  createDicomwebNode(body: DicomwebNodeBody): Promise<DicomwebNode> {
    return this.connection.json(`${this.apiRoot}/admin/dicomweb-nodes`, { method: 'POST', json: body });
  }

  /** Queues a study (or one series) for a node; the answer is its progress, which `sendProgress` follows. */
  sendStudy(studyInstanceUid: string, body: { destination: DestinationBody; seriesInstanceUid?: string }): Promise<SendProgress> {
    return this.connection.json(`${this.apiRoot}/studies/${encodeURIComponent(studyInstanceUid)}/send`, { method: 'POST', json: body });
  }

  sendProgress(id: string): Promise<SendProgress> {
    return this.connection.json(`${this.apiRoot}/sends/${encodeURIComponent(id)}`);
  }
}
