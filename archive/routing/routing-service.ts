import { z } from 'zod';
import { adminChangeEvent, type Actor } from '../access/administration.ts';
import { hasPermission } from '../access/policy.ts';
import type { AuditLog } from '../audit/audit-log.ts';
import type { DicomPeer, InstitutionsRepository } from '../db/institutions-repository.ts';
import type { Destination, DestinationRef, RoutingRepository, SendProgress } from '../db/routing-repository.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { Logger } from '../log.ts';
import type { ObjectStore } from '../storage/object-store.ts';
import { afterFailure, matchesRule, type RetryPolicy } from './routing-rules.ts';

/**
 * What became of one batch sent to a destination: every instance's result in the order given, or why
 * none was sent. `permanent`: sending it again cannot succeed until someone changes something (the peer
 * refuses its SOP class or transfer syntax, needs TLS), so it goes to the dead letters at once.
 */
export type BatchOutcome = { failure: string; permanent?: boolean } | { results: Array<{ stored: boolean; reason?: string; permanent?: boolean }> };

/** Sends Part 10 instances to a destination in one go (one association, one STOW-RS request). */
export type SendBatch = (destination: Destination, part10s: Buffer[]) => Promise<BatchOutcome>;

/** A refusal the REST layer answers as problem JSON with this status. */
export class RoutingRefusal extends Error {
  constructor(
    readonly httpStatus: 400 | 403 | 404 | 409,
    readonly reason: string,
  ) {
    super(reason);
    this.name = 'RoutingRefusal';
  }
}

const aeTitle = z.string().trim().min(1).max(16);
const nodeName = z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/, 'a node name is 1-64 letters, digits, _ . -');
const pattern = z.string().trim().min(1).max(128);
export const destinationInput = z.union([z.object({ dicomPeer: aeTitle }).strict(), z.object({ dicomwebNode: nodeName }).strict()]);
export const ruleInput = z.object({
  name: z.string().trim().min(1).max(128),
  enabled: z.boolean().default(true),
  sourceInstitution: z.string().regex(/^[A-Za-z0-9_.-]{1,64}$/).optional(),
  callingAeTitle: pattern.optional(),
  modalities: z.array(z.string().regex(/^[A-Za-z0-9]{1,16}$/)).max(32).default([]),
  studyDescription: pattern.optional(),
  attribute: z.object({ tag: z.string().regex(/^[0-9A-Fa-f]{8}$/).transform((tag) => tag.toUpperCase()), pattern }).optional(),
  destination: destinationInput,
});
export const nodeInput = z.object({
  name: nodeName,
  url: z.string().url().refine((url) => /^https?:\/\//.test(url), 'a DICOMweb URL is http or https'),
  bearerToken: z.string().min(1).max(4096).optional(),
});
export const sendInput = z.object({ destination: destinationInput, seriesInstanceUid: z.string().regex(/^[0-9.]{1,64}$/).optional() });

/** Claims that stayed in flight this long belong to a process that stopped mid-send (a send's own timeouts end well before). */
const STALE_CLAIM_SECONDS = 30 * 60;

/**
 * Routing and sending on (issue 17): rules evaluated once per arriving instance, manual sends, and
 * the forward queue they both fill, worked by destination in batches with retries, back-off and
 * dead letters. Knows nothing of HTTP or of the job queue: `wake` asks for a destination's job.
 */
export class RoutingService {
  constructor(
    private readonly deps: {
      repository: RoutingRepository;
      institutions: InstitutionsRepository;
      store: ObjectStore;
      audit: AuditLog;
      log: Logger;
      policy: RetryPolicy;
      batchSize: number;
      sendBatch: SendBatch;
      /** Has the destination's forward job run soon (after a short batching window). */
      wake(destination: string): Promise<void>;
      /** Has it run again after `delayMs`, when its next retry is due. */
      wakeLater(destination: string, delayMs: number): Promise<void>;
    },
  ) {}

  // --- rules evaluated at indexing --------------------------------------------------------------

  /**
   * Called once the index has committed an instance's current version: queues it for the
   * destinations of every enabled rule it matches, at most once per destination however often the
   * index job runs, and wakes those destinations.
   */
  async routeArrived(receipt: { id: string; studyInstanceUid: string; sourceId: string; metadata: DicomJsonDataset }): Promise<void> {
    const rules = await this.deps.repository.enabledRules();
    if (rules.length === 0) return;
    const source = await this.deps.repository.sourceOf(receipt.sourceId);
    // An unregistered sender's instances wait in the quarantine for a system administrator: never passed on by a rule.
    if (source.quarantined) return;
    const instance = { sourceInstitutionId: source.institutionId, callingAeTitle: source.callingAeTitle, metadata: receipt.metadata };
    const matched = rules.filter((rule) => matchesRule(rule, instance)).map((rule) => ({ ruleId: rule.id, destination: rule.destination }));
    for (const destination of await this.deps.repository.queueByRules(receipt, matched)) await this.deps.wake(destination);
  }

  // --- the forward job ----------------------------------------------------------------------------

  /**
   * Sends what is due for one destination, batch after batch, each over one association (or one
   * STOW-RS request), and records each instance's outcome; then has the job run again when the next
   * waiting item is due. Only a failure to reach PostgreSQL or the object store throws (the job is retried).
   */
  async forward(destinationKey: string): Promise<void> {
    const { repository } = this.deps;
    const destination = await repository.destination(destinationKey);
    // A removed peer or node takes its items with it (ON DELETE CASCADE): nothing left to do.
    if (!destination) return;
    for (;;) {
      const items = await repository.claimDue(destinationKey, this.deps.batchSize);
      if (items.length === 0) break;
      // An object the store cannot give fails as an item (and ends in the dead letters), never the whole run.
      const read = await Promise.all(items.map((item) => this.deps.store.get(item.objectKey).catch((error: Error) => new Error(`not read from the object store: ${error.message}`))));
      const readable = read.flatMap((part10) => (part10 instanceof Error ? [] : [part10]));
      const outcome = readable.length > 0 ? await this.sendSafely(destination, readable) : { results: [] };
      let position = 0;
      const outcomes = items.map((item, index) => {
        const part10 = read[index]!;
        const result: { stored: boolean; reason?: string; permanent?: boolean } = part10 instanceof Error
          ? { stored: false, reason: part10.message }
          : 'failure' in outcome ? { stored: false, reason: outcome.failure, permanent: outcome.permanent } : outcome.results[position++] ?? { stored: false, reason: 'no result for this instance' };
        if (result.stored) return { id: item.id, sent: true as const };
        const next = result.permanent ? { dead: true as const } : afterFailure(item.attempts + 1, this.deps.policy);
        return { id: item.id, sent: false as const, error: result.reason ?? 'not stored', dead: next.dead, retryInMs: next.dead ? 0 : next.retryInMs };
      });
      await repository.recordOutcomes(outcomes);
      const failed = outcomes.filter((outcome) => !outcome.sent);
      if (failed.length > 0) {
        this.deps.log.warn({ destination: destination.name, sent: outcomes.length - failed.length, failed: failed.length, dead: failed.filter((outcome) => !outcome.sent && outcome.dead).length, reason: failed[0]!.sent ? undefined : failed[0]!.error }, 'forwarding: instances not stored; they will be retried or dead-lettered');
      }
      // The destination is down: the rest of what is due would only fail the same way, one attempt each.
      if ('failure' in outcome) break;
    }
    const nextDueInMs = await repository.nextDueInMs(destinationKey);
    if (nextDueInMs !== null) await this.deps.wakeLater(destinationKey, Math.max(1, Math.ceil(nextDueInMs)));
  }

  private async sendSafely(destination: Destination, part10s: Buffer[]): Promise<BatchOutcome> {
    try {
      return await this.deps.sendBatch(destination, part10s);
    } catch (error) {
      return { failure: (error as Error).message };
    }
  }

  // --- manual sends -------------------------------------------------------------------------------

  /**
   * Queues a study (or one of its series) for a registered node and wakes it. Only a system
   * administrator may send to another institution's DICOM peer or to a DICOMweb node, as for exports.
   */
  async send(actor: Actor, studyInstanceUid: string, input: unknown): Promise<SendProgress> {
    const parsed = this.parse(sendInput, input);
    const destination = await this.resolveDestination(parsed.destination, actor);
    const created = await this.deps.repository.createSend({ studyInstanceUid, seriesInstanceUid: parsed.seriesInstanceUid ?? null, destination, requestedBy: actor.username });
    if (!created) throw new RoutingRefusal(404, `no instance of ${parsed.seriesInstanceUid ? `series ${parsed.seriesInstanceUid} in ` : ''}study ${studyInstanceUid} is stored here`);
    await this.deps.wake(created.destination);
    return (await this.deps.repository.sendProgress(created.id))!;
  }

  async sendProgress(id: string, actor: Actor): Promise<SendProgress> {
    const progress = /^\d{1,18}$/.test(id) ? await this.deps.repository.sendProgress(id) : null;
    // Another user's send answers as unknown unless the caller administers the system.
    if (!progress || (progress.requestedBy !== actor.username && !hasPermission(actor.role, 'manage-system'))) throw new RoutingRefusal(404, `no send ${id}`);
    return progress;
  }

  // --- administration -----------------------------------------------------------------------------

  listRules() {
    return this.deps.repository.listRules();
  }

  async createRule(actor: Actor, input: unknown) {
    const parsed = this.parse(ruleInput, input);
    let sourceInstitutionId: string | null = null;
    if (parsed.sourceInstitution !== undefined) {
      const institution = await this.deps.institutions.findInstitutionByCode(parsed.sourceInstitution);
      if (!institution) throw new RoutingRefusal(400, `sourceInstitution: no institution ${parsed.sourceInstitution}`);
      sourceInstitutionId = institution.id;
    }
    const rule = await this.deps.repository.createRule({
      name: parsed.name,
      enabled: parsed.enabled,
      sourceInstitutionId,
      callingAeTitle: parsed.callingAeTitle ?? null,
      modalities: parsed.modalities.map((modality) => modality.toUpperCase()),
      studyDescription: parsed.studyDescription ?? null,
      attribute: parsed.attribute ?? null,
      destination: await this.resolveDestination(parsed.destination, actor),
      createdBy: actor.username,
    });
    await this.deps.audit.record(adminChangeEvent(actor, 'C', { change: 'routing-rule', rule: rule.id, name: rule.name, destination: parsed.destination }));
    return rule;
  }

  async setRuleEnabled(actor: Actor, id: string, enabled: unknown) {
    if (typeof enabled !== 'boolean') throw new RoutingRefusal(400, 'enabled: true or false');
    const rule = /^\d{1,18}$/.test(id) ? await this.deps.repository.setRuleEnabled(id, enabled) : null;
    if (!rule) throw new RoutingRefusal(404, `no routing rule ${id}`);
    await this.deps.audit.record(adminChangeEvent(actor, 'U', { change: 'routing-rule', rule: id, enabled }));
    return rule;
  }

  async deleteRule(actor: Actor, id: string): Promise<void> {
    if (!/^\d{1,18}$/.test(id) || !(await this.deps.repository.deleteRule(id))) throw new RoutingRefusal(404, `no routing rule ${id}`);
    await this.deps.audit.record(adminChangeEvent(actor, 'D', { change: 'routing-rule', rule: id }));
  }

  listNodes() {
    return this.deps.repository.listNodes();
  }

  async createNode(actor: Actor, input: unknown) {
    const parsed = this.parse(nodeInput, input);
    let node;
    try {
      node = await this.deps.repository.createNode({ name: parsed.name, url: parsed.url, bearerToken: parsed.bearerToken ?? null });
    } catch (error) {
      if ((error as { code?: string }).code === '23505') throw new RoutingRefusal(409, `a DICOMweb node ${parsed.name} exists already`);
      throw error;
    }
    await this.deps.audit.record(adminChangeEvent(actor, 'C', { change: 'dicomweb-node', node: node.id, name: node.name, url: node.url }));
    return node;
  }

  async deleteNode(actor: Actor, name: string): Promise<void> {
    const node = await this.deps.repository.findNodeByName(name);
    if (!node || !(await this.deps.repository.deleteNode(node.id))) throw new RoutingRefusal(404, `no DICOMweb node ${name}`);
    await this.deps.audit.record(adminChangeEvent(actor, 'D', { change: 'dicomweb-node', node: node.id, name }));
  }

  queues() {
    return this.deps.repository.queues();
  }

  deadLetters(destination: string | null, limit = 500) {
    return this.deps.repository.deadLetters(destination, limit);
  }

  /** Dead letters pending again from their first attempt (all, one destination's, or the ids given), and their destinations woken. */
  async retryDead(actor: Actor, filter: { destination?: string; ids?: string[] }): Promise<{ retried: number }> {
    const woken = await this.deps.repository.retryDead(filter);
    for (const { destination } of woken) await this.deps.wake(destination);
    const retried = woken.reduce((sum, { retried: count }) => sum + count, 0);
    await this.deps.audit.record(adminChangeEvent(actor, 'U', { change: 'forward-dead-letters-retried', ...filter, retried }));
    return { retried };
  }

  /** The reconciler's pass: claims of a stopped process released, and destinations whose due items nobody works (a lost job message) woken. */
  async wakeForgotten(graceSeconds: number): Promise<number> {
    const released = await this.deps.repository.releaseStaleClaims(STALE_CLAIM_SECONDS);
    const overdue = await this.deps.repository.overdueDestinations(graceSeconds);
    const destinations = [...new Set([...released, ...overdue])];
    for (const destination of destinations) await this.deps.wake(destination);
    return destinations.length;
  }

  private parse<S extends z.ZodType>(schema: S, input: unknown): z.output<S> {
    const parsed = schema.safeParse(input);
    if (!parsed.success) throw new RoutingRefusal(400, parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`).join('; '));
    return parsed.data;
  }

  private async resolveDestination(input: z.infer<typeof destinationInput>, actor: Actor): Promise<DestinationRef> {
    if ('dicomPeer' in input) return { peerId: (await this.sendablePeer(actor, input.dicomPeer)).id };
    const node = await this.deps.repository.findNodeByName(input.dicomwebNode);
    if (!node) throw new RoutingRefusal(404, `no DICOMweb node ${input.dicomwebNode}`);
    if (!hasPermission(actor.role, 'manage-system')) throw new RoutingRefusal(403, `only a system administrator sends to DICOMweb node ${input.dicomwebNode}`);
    return { dicomwebNodeId: node.id };
  }

  /**
   * The registered DICOM peer `actor` may send to (a system administrator: any; others: their own
   * institution's), with the address to call it at. Also the export's (gateway/http/api/export-routes.ts).
   */
  async sendablePeer(actor: Pick<Actor, 'role' | 'institutionId'>, aeTitle: string): Promise<DicomPeer & { host: string; port: number }> {
    const peer = await this.deps.institutions.findPeerByAeTitle(aeTitle);
    // Another institution's peer answers as an unknown one: its AE title is not the caller's to learn.
    if (!peer || (!hasPermission(actor.role, 'manage-system') && peer.institutionId !== actor.institutionId)) throw new RoutingRefusal(404, `no DICOM peer ${aeTitle}`);
    if (!peer.host || !peer.port) throw new RoutingRefusal(400, `DICOM peer ${aeTitle} has no host and port to send to; register them for the peer (admin page or PATCH /api/admin/peers/${peer.id})`);
    return { ...peer, host: peer.host, port: peer.port };
  }
}
