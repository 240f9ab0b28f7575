import { performance } from 'node:perf_hooks';
import { peerVisibility, type Visibility } from '../../archive/access/policy.ts';
import { auditPatientId } from '../../archive/audit/audit-event.ts';
import type { AuditLog } from '../../archive/audit/audit-log.ts';
import { QueryRepository } from '../../archive/db/query-repository.ts';
import type { InstitutionsRepository } from '../../archive/db/institutions-repository.ts';
import type { StoredObject } from '../../archive/db/retrieve-repository.ts';
import { DATASET_CODEC_TRANSFER_SYNTAXES, decodeDataset, encodeDataset } from '../../archive/dicom/dataset-codec.ts';
import { parseInstance } from '../../archive/dicom/parse.ts';
import { datasetOffsetFromMetaGroupLength, padDeflatedDataset } from '../../archive/dicom/part10.ts';
import type { DicomJsonDataset } from '../../archive/dicom/types.ts';
import type { Logger } from '../../archive/log.ts';
import { retrieveSelectionOf, type RetrieveModel } from '../../archive/retrieve/retrieve-keys.ts';
import { RetrieveService } from '../../archive/retrieve/retrieve-service.ts';
import { canTranscode, transcode, UNCOMPRESSED_TARGETS } from '../../archive/retrieve/transcode.ts';
import { COMMAND, COMMAND_FIELD, type CommandSet, type CommandValue } from './command-set.ts';
import type { Runtime } from '../../workers/runtime.ts';
import type { AssociationCaller, DimseOperation, DimseService, OperationChannel } from './service.ts';
import type { ProposedContext } from './pdu.ts';
import { RequestorAssociation } from './requestor-association.ts';
import { LITTLE_ENDIAN_TRANSFER_SYNTAXES } from './service.ts';
import { tlsNotCallable, type InstanceStoreResult } from './store-scu.ts';

/** The retrieve SOP classes (PS3.4 C.6.1.1, C.6.2.1): Patient Root and Study Root, MOVE and GET. */
const MOVE_MODELS = new Map<string, RetrieveModel>([
  ['1.2.840.10008.5.1.4.1.2.1.2', 'patient-root'],
  ['1.2.840.10008.5.1.4.1.2.2.2', 'study-root'],
]);
const GET_MODELS = new Map<string, RetrieveModel>([
  ['1.2.840.10008.5.1.4.1.2.1.3', 'patient-root'],
  ['1.2.840.10008.5.1.4.1.2.2.3', 'study-root'],
]);

/** C-MOVE and C-GET statuses (PS3.4 Table C.4-2, C.4-3). */
export const RETRIEVE_STATUS = {
  success: 0x0000,
  pending: 0xff00,
  cancelled: 0xfe00,
  warning: 0xb000,
  unableToCalculateMatches: 0xa701,
  unableToPerformSuboperations: 0xa702,
  moveDestinationUnknown: 0xa801,
  identifierDoesNotMatch: 0xa900,
  unableToProcess: 0xc000,
} as const;

export interface RetrieveScpDependencies {
  retrieve: RetrieveService;
  studies: QueryRepository;
  institutions: InstitutionsRepository;
  audit: Pick<AuditLog, 'record' | 'recordInBackground'>;
  /** Our AE title: the calling AE of C-MOVE sub-operation associations. */
  aeTitle: string;
  log: Logger;
}

/** Sub-operation counts (PS3.7 9.3.4.2, 9.3.3.2) and the instances that failed. */
class Tally {
  completed = 0;
  failed = 0;
  warning = 0;
  readonly failedUids: string[] = [];

  constructor(readonly total: number) {}

  add(sopInstanceUid: string, status: number | null): void {
    if (status === 0x0000) this.completed++;
    else if (status !== null && (status === 0x0001 || (status & 0xf000) === 0xb000)) this.warning++;
    else {
      this.failed++;
      if (sopInstanceUid) this.failedUids.push(sopInstanceUid);
    }
  }

  get remaining(): number {
    return this.total - this.completed - this.failed - this.warning;
  }

  counts(withRemaining: boolean): Array<readonly [number, CommandValue]> {
    return [
      ...(withRemaining ? [[COMMAND.numberOfRemainingSuboperations, { us: this.remaining }] as const] : []),
      [COMMAND.numberOfCompletedSuboperations, { us: this.completed }],
      [COMMAND.numberOfFailedSuboperations, { us: this.failed }],
      [COMMAND.numberOfWarningSuboperations, { us: this.warning }],
    ];
  }

  /**
   * PS3.4 C.4.2.3.1 / C.4.3.3.1: Cancel once cancelled (with the sub-operations not started as
   * remaining); Success when all completed; Failure (A702) when all failed; Warning otherwise.
   */
  finalStatus(cancelled: boolean): number {
    if (cancelled && this.remaining > 0) return RETRIEVE_STATUS.cancelled;
    if (this.failed === 0 && this.warning === 0) return RETRIEVE_STATUS.success;
    if (this.completed === 0 && this.warning === 0) return RETRIEVE_STATUS.unableToPerformSuboperations;
    return RETRIEVE_STATUS.warning;
  }
}

/** What C-MOVE and C-GET share: the identifier, the caller's scope, the audit, the answers. */
abstract class RetrieveScp implements DimseService {
  abstract readonly name: 'C-MOVE' | 'C-GET';
  protected abstract readonly models: ReadonlyMap<string, RetrieveModel>;
  protected abstract readonly commandField: number;

  constructor(protected readonly dependencies: RetrieveScpDependencies) {}

  transferSyntaxesFor(abstractSyntaxUid: string): readonly string[] | undefined {
    return this.models.has(abstractSyntaxUid) ? DATASET_CODEC_TRANSFER_SYNTAXES : undefined;
  }

  handles(commandField: number): boolean {
    return commandField === this.commandField;
  }

  async handle(operation: DimseOperation, channel: OperationChannel, caller: AssociationCaller): Promise<void> {
    const refuse = (status: number, why: string) => {
      this.dependencies.log.info({ service: this.name, callingAeTitle: caller.callingAeTitle, status: hex(status), why }, `${this.name} refused`);
      return channel.respond(status, { errorComment: why });
    };
    let identifier: DicomJsonDataset;
    try {
      if (!operation.dataset) return await refuse(RETRIEVE_STATUS.identifierDoesNotMatch, 'the request has no identifier');
      identifier = decodeDataset(operation.dataset, operation.context.transferSyntaxUid, caller.characterSetOverride);
    } catch (error) {
      return refuse(RETRIEVE_STATUS.identifierDoesNotMatch, `the identifier cannot be read: ${(error as Error).message}`);
    }
    const selection = retrieveSelectionOf(identifier, this.models.get(operation.context.abstractSyntaxUid)!);
    if (typeof selection === 'string') return refuse(RETRIEVE_STATUS.identifierDoesNotMatch, selection);
    const visibility = await this.visibilityOf(caller);
    const prepared = await this.prepare(operation, caller, visibility);
    if (typeof prepared === 'string') return refuse(RETRIEVE_STATUS.moveDestinationUnknown, prepared);
    let objects: StoredObject[];
    try {
      // An unregistered (quarantined) caller sees nothing: zero matches, as for a study it may not see.
      objects = visibility ? await this.dependencies.retrieve.visibleObjects(selection, visibility) : [];
    } catch (error) {
      this.dependencies.log.error({ err: error, service: this.name }, 'retrieve: listing the matching instances failed');
      return channel.respond(RETRIEVE_STATUS.unableToCalculateMatches, { errorComment: 'unable to list the matching instances' });
    }
    const tally = new Tally(objects.length);
    if (objects.length > 0) {
      try {
        await this.audit(caller, objects, visibility!, prepared.destination, 0);
      } catch (error) {
        // As WADO-RS: no patient data leaves unless its audit event is written.
        this.dependencies.log.error({ err: error, service: this.name }, 'audit trail unavailable: retrieve refused');
        return channel.respond(RETRIEVE_STATUS.unableToPerformSuboperations, { errorComment: 'audit trail unavailable; retry later' });
      }
      // Pending responses are queued one behind the other: a slow caller slows the sub-operations, never reorders them.
      let responses = Promise.resolve();
      const progress = (result: InstanceStoreResult) => {
        tally.add(result.sopInstanceUid, result.status);
        if (result.reason) this.dependencies.log.warn({ service: this.name, destination: prepared.destination, sopInstanceUid: result.sopInstanceUid, reason: result.reason }, 'retrieve sub-operation failed');
        if (tally.remaining > 0) responses = responses.then(() => channel.respond(RETRIEVE_STATUS.pending, { elements: tally.counts(true) }));
      };
      const comment = await this.subOperations(operation, channel, caller, objects, progress, prepared);
      await responses;
      if (tally.failed > 0 || channel.signal.aborted) void this.audit(caller, objects, visibility!, prepared.destination, 4, tally, channel.signal.aborted).catch(() => undefined);
      const status = tally.finalStatus(channel.signal.aborted);
      const failedList = tally.failedUids.length > 0 || status !== RETRIEVE_STATUS.success ? { dataset: this.failedList(tally, operation) } : {};
      return channel.respond(status, { elements: tally.counts(status === RETRIEVE_STATUS.cancelled), ...failedList, ...(comment ? { errorComment: comment } : {}) });
    }
    // PS3.4 C.4.2.3.1: nothing matched (or nothing the caller may see) is no sub-operation to fail: Success, all counts zero.
    return channel.respond(RETRIEVE_STATUS.success, { elements: tally.counts(false) });
  }

  /** C-MOVE's destination check; C-GET has none. A string refuses the request with A801. */
  protected abstract prepare(operation: DimseOperation, caller: AssociationCaller, visibility: Visibility | null): Promise<Preparation | string>;

  /** Runs the sub-operations, reporting each outcome; resolves with an error comment for the final response, if any. */
  protected abstract subOperations(
    operation: DimseOperation,
    channel: OperationChannel,
    caller: AssociationCaller,
    objects: StoredObject[],
    progress: (result: InstanceStoreResult) => void,
    prepared: Preparation,
  ): Promise<string | undefined>;

  /**
   * The C-STORE sub-operations, one at a time, the next objects read while one is in flight (a few,
   * bounded by READ_AHEAD_*, never the whole selection in memory), each on a context of its SOP class in its stored transfer
   * syntax, or transcoded to an uncompressed one the peer accepted, else failed. Stops before the
   * next object once cancelled; resolves with the index of the first object not answered when the
   * association ended under it.
   */
  protected async storeEach(
    operation: DimseOperation,
    channel: OperationChannel,
    objects: StoredObject[],
    progress: (result: InstanceStoreResult) => void,
    acceptedContexts: (sopClassUid: string) => Array<{ id: number; transferSyntaxUid: string }>,
    send: (context: { id: number; transferSyntaxUid: string }, elements: ReadonlyArray<readonly [number, CommandValue]>, dataset: Buffer) => Promise<CommandSet>,
  ): Promise<{ associationEnded?: number }> {
    const { retrieve, log } = this.dependencies;
    type Read = Promise<{ part10: Buffer; memory: Buffer } | { error: Error }>;
    const reads = new Map<number, Read>();
    let readUpTo = 0;
    let bytesAhead = 0;
    // Reads run ahead of the sending: several at once, so the store's latency (a disk seek, an S3
    // round trip) overlaps the C-STOREs, within a bound in objects and bytes (at least the next one).
    // Buffers an object was read into come back here once its C-STORE is answered and written out,
    // for the next reads: a few allocations per retrieve rather than one per object.
    const spare: Buffer[] = [];
    const readAhead = (from: number) => {
      while (readUpTo < objects.length && (readUpTo === from || (readUpTo - from < READ_AHEAD_OBJECTS && bytesAhead + objects[readUpTo]!.sizeBytes <= READ_AHEAD_BYTES))) {
        const object = objects[readUpTo]!;
        bytesAhead += object.sizeBytes;
        const reusable = spare.pop();
        const memory = reusable && reusable.length >= object.sizeBytes ? reusable : Buffer.allocUnsafeSlow(Math.max(object.sizeBytes, reusable?.length ?? 0));
        reads.set(readUpTo++, retrieve.bytes(object, memory).then((part10) => ({ part10, memory }), (error: Error) => ({ error })));
      }
    };
    const times = { readWaitMs: 0, prepareMs: 0, exchangeMs: 0 };
    try {
      for (let index = 0; index < objects.length; index++) {
        if (channel.signal.aborted) break;
        const object = objects[index]!;
        const failed = (reason: string) => progress({ sopInstanceUid: object.sopInstanceUid, status: null, reason });
        let started = performance.now();
        readAhead(index);
        const stored = await reads.get(index)!;
        reads.delete(index);
        bytesAhead -= object.sizeBytes;
        readAhead(index + 1);
        times.readWaitMs += performance.now() - started;
        if ('error' in stored) {
          failed(`the stored object cannot be read: ${stored.error.message}`);
          continue;
        }
        const candidates = acceptedContexts(object.sopClassUid);
        const context = contextFor(candidates, object.transferSyntaxUid);
        if (!context) {
          failed(
            candidates.length === 0
              ? `no presentation context for SOP class ${object.sopClassUid} accepted by the destination${this.name === 'C-GET' ? ' with the requestor as SCP (role selection)' : ''}`
              : `no presentation context for SOP class ${object.sopClassUid} in ${object.transferSyntaxUid} or one it can be transcoded to`,
          );
          continue;
        }
        started = performance.now();
        let dataset: Buffer;
        try {
          dataset = await subOperationDataset(stored.part10, object.transferSyntaxUid, context.transferSyntaxUid);
        } catch (error) {
          failed(`cannot be transcoded from ${object.transferSyntaxUid} to ${context.transferSyntaxUid}: ${(error as Error).message}`);
          continue;
        }
        times.prepareMs += performance.now() - started;
        started = performance.now();
        let status: number | null;
        try {
          const response = await send(
            context,
            [
              [COMMAND.affectedSopClassUid, { uid: object.sopClassUid }],
              [COMMAND.commandField, { us: COMMAND_FIELD.cStoreRq }],
              [COMMAND.priority, { us: operation.command.number(COMMAND.priority) ?? 0 }],
              [COMMAND.affectedSopInstanceUid, { uid: object.sopInstanceUid }],
            ],
            dataset,
          );
          status = response.number(COMMAND.status) ?? null;
          spare.push(stored.memory);
        } catch (error) {
          failed(`the association ended before the C-STORE was answered: ${(error as Error).message}`);
          return { associationEnded: index + 1 };
        }
        times.exchangeMs += performance.now() - started;
        progress({ sopInstanceUid: object.sopInstanceUid, status, ...(status === 0x0000 || status === null ? {} : { reason: `C-STORE answered 0x${hex(status)}` }) });
      }
      return {};
    } finally {
      // Where a retrieve's time goes: waiting for the object store, making datasets, the C-STORE round trips.
      log.debug({ service: this.name, instances: objects.length, ...Object.fromEntries(Object.entries(times).map(([phase, ms]) => [phase, Math.round(ms)])) }, 'retrieve sub-operations timed');
    }
  }

  /** A registered peer sees what its institution's users see (peerVisibility); an unregistered one nothing. */
  protected async visibilityOf(caller: AssociationCaller): Promise<Visibility | null> {
    if (caller.quarantined) return null;
    const institution = await this.dependencies.institutions.findInstitution(caller.institutionId);
    const regionInstitutionIds = institution?.kind === 'reading_centre' && institution.regionId ? await this.dependencies.institutions.institutionsInRegion(institution.regionId) : [];
    return peerVisibility(caller, { ownInstitutionKind: institution?.kind ?? null, regionInstitutionIds });
  }

  /** The Failed SOP Instance UID List (0008,0058), in the request's transfer syntax (PS3.4 C.4.2.1.4.2). */
  private failedList(tally: Tally, operation: DimseOperation): Buffer {
    return encodeDataset({ '00080058': { vr: 'UI', ...(tally.failedUids.length ? { Value: tally.failedUids } : {}) } }, operation.context.transferSyntaxUid);
  }

  /**
   * One event per study, as WADO-RS retrieval: 110106 Export, naming the caller and (C-MOVE) the
   * destination; written before the first sub-operation, and again with the counts when some failed
   * or it was cancelled.
   */
  private async audit(caller: AssociationCaller, objects: StoredObject[], visibility: Visibility, destination: string | undefined, outcome: 0 | 4, tally?: Tally, cancelled?: boolean): Promise<void> {
    const perStudy = new Map<string, number>();
    for (const object of objects) perStudy.set(object.studyInstanceUid, (perStudy.get(object.studyInstanceUid) ?? 0) + 1);
    for (const [studyInstanceUid, count] of perStudy) {
      const study = await this.dependencies.studies.studyOwnership(studyInstanceUid, visibility);
      const event = {
        eventType: 'export' as const,
        action: 'R' as const,
        outcome,
        userName: caller.callingAeTitle,
        institutionId: caller.institutionId,
        sourceAddress: caller.remoteAddress,
        patientId: study ? auditPatientId(study.issuer, study.patientId) : undefined,
        patientName: study?.patientName ?? undefined,
        studyUids: [studyInstanceUid],
        detail: {
          via: 'dimse',
          service: this.name,
          target: 'dicom-node',
          destination: destination ?? caller.callingAeTitle,
          instances: count,
          ...(study && study.institutionId !== caller.institutionId ? { crossInstitution: true, studyInstitutionId: study.institutionId } : {}),
          ...(tally ? { completed: tally.completed, failed: tally.failed, warning: tally.warning, ...(cancelled ? { cancelled: true } : {}) } : {}),
        },
      };
      if (outcome === 0) await this.dependencies.audit.record(event);
      else this.dependencies.audit.recordInBackground(event);
    }
  }
}

interface Preparation {
  /** C-MOVE: the Move Destination's AE title and where it listens. */
  destination?: string;
  host?: string;
  port?: number;
  tlsRequired?: boolean;
}

/**
 * C-MOVE SCP (PS3.4 C.4.2): the sub-operations go to the Move Destination, which must be a peer
 * registered with a host and port (the peer registry: no other address is ever called) and belong
 * to an institution the caller's scope reaches; otherwise A801, before anything is read. They go
 * over one new association, as C-STORE SCU, each as stored where the destination accepted that,
 * otherwise transcoded to Explicit or Implicit VR Little Endian (store-scu, transcode: true).
 */
export class MoveScp extends RetrieveScp {
  readonly name = 'C-MOVE' as const;
  protected readonly models = MOVE_MODELS;
  protected readonly commandField = COMMAND_FIELD.cMoveRq;

  protected async prepare(operation: DimseOperation, _caller: AssociationCaller, visibility: Visibility | null): Promise<Preparation | string> {
    const aeTitle = operation.command.text(COMMAND.moveDestination) ?? '';
    const peer = aeTitle ? await this.dependencies.institutions.findPeerByAeTitle(aeTitle) : null;
    // A peer of an institution out of the caller's reach is answered as unknown, as the export route
    // answers it: its AE title is not the caller's to learn, and data it may not see must not go there.
    const reachable = peer && visibility && (visibility.institutionIds === 'all' || visibility.institutionIds.includes(peer.institutionId));
    if (!peer || !reachable) return `Move Destination ${JSON.stringify(aeTitle)} is not a DICOM peer known to this archive`;
    if (!peer.host || !peer.port) return `Move Destination ${aeTitle} has no host and port registered to send to`;
    return { destination: peer.aeTitle, host: peer.host, port: peer.port, tlsRequired: peer.tlsRequired };
  }

  protected async subOperations(operation: DimseOperation, channel: OperationChannel, caller: AssociationCaller, objects: StoredObject[], progress: (result: InstanceStoreResult) => void, prepared: Preparation): Promise<string | undefined> {
    const failAll = (from: number, reason: string) => {
      for (const object of objects.slice(from)) progress({ sopInstanceUid: object.sopInstanceUid, status: null, reason });
      return reason;
    };
    if (prepared.tlsRequired) return failAll(0, tlsNotCallable(prepared.destination!).message);
    const proposal = moveProposal(objects);
    if (proposal.contexts.length > MAX_PRESENTATION_CONTEXTS) {
      return failAll(0, `not sent: these instances need ${proposal.contexts.length} presentation contexts (SOP classes × transfer syntaxes), more than the ${MAX_PRESENTATION_CONTEXTS} one association can carry`);
    }
    let association: RequestorAssociation;
    try {
      association = await RequestorAssociation.open({ aeTitle: prepared.destination!, host: prepared.host!, port: prepared.port! }, this.dependencies.aeTitle, {
        contexts: proposal.contexts,
        associationTimeoutMs: MOVE_ASSOCIATION_TIMEOUT_MS,
        idleTimeoutMs: MOVE_INSTANCE_TIMEOUT_MS,
      });
    } catch (error) {
      return failAll(0, `not sent: no association (${(error as Error).message})`);
    }
    const accepted = (sopClassUid: string) =>
      (proposal.bySopClass.get(sopClassUid) ?? []).flatMap((id) => {
        const context = association.acceptedContext(id);
        return context ? [context] : [];
      });
    const moveOriginator: Array<readonly [number, CommandValue]> = [
      [COMMAND.moveOriginatorApplicationEntityTitle, { ae: caller.callingAeTitle }],
      [COMMAND.moveOriginatorMessageId, { us: operation.command.number(COMMAND.messageId) ?? 0 }],
    ];
    const outcome = await this.storeEach(operation, channel, objects, progress, accepted, (context, elements, dataset) => association.request(context.id, [...elements, ...moveOriginator], dataset));
    if (outcome.associationEnded !== undefined) {
      failAll(outcome.associationEnded, `not sent: the association with ${prepared.destination} ended first`);
      return 'the association with the Move Destination ended';
    }
    await association.release();
    return undefined;
  }
}

/**
 * C-GET SCP (PS3.4 C.4.3): the sub-operations are C-STORE requests on the same association, on a
 * context for the instance's SOP class that the requestor took the SCP role for (role selection,
 * PS3.7 D.3.3.4) — as stored where its transfer syntax is that context's, otherwise transcoded to
 * the Explicit or Implicit VR Little Endian of such a context. An instance with no such context fails.
 */
export class GetScp extends RetrieveScp {
  readonly name = 'C-GET' as const;
  protected readonly models = GET_MODELS;
  protected readonly commandField = COMMAND_FIELD.cGetRq;

  protected async prepare(): Promise<Preparation> {
    return {};
  }

  protected async subOperations(operation: DimseOperation, channel: OperationChannel, _caller: AssociationCaller, objects: StoredObject[], progress: (result: InstanceStoreResult) => void): Promise<string | undefined> {
    const accepted = (sopClassUid: string) => [...channel.contexts.values()].filter((context) => context.abstractSyntaxUid === sopClassUid && context.requestorIsScp);
    const outcome = await this.storeEach(operation, channel, objects, progress, accepted, (context, elements, dataset) => channel.request(context.id, elements, dataset));
    return outcome.associationEnded !== undefined ? 'the association ended' : undefined;
  }
}

/** PS3.8 9.3.2.2: presentation context IDs are the odd numbers 1 to 255. */
const MAX_PRESENTATION_CONTEXTS = 128;
const MOVE_ASSOCIATION_TIMEOUT_MS = 15_000;
/** How far reading runs ahead of sending: objects and bytes in memory at once, besides the one being sent. */
const READ_AHEAD_OBJECTS = 4;
const READ_AHEAD_BYTES = 32 * 1024 * 1024;
/** Sending one instance and getting its response must fit in this, allowing for a large instance over a slow link. */
const MOVE_INSTANCE_TIMEOUT_MS = 15 * 60_000;

/**
 * The contexts a C-MOVE proposes, from the index alone (no object read first): per SOP class, one
 * offering only each stored transfer syntax — so an instance can go as stored — and one offering
 * Explicit and Implicit VR Little Endian, for the instances the destination will not take as stored.
 */
function moveProposal(objects: readonly StoredObject[]): { contexts: ProposedContext[]; bySopClass: Map<string, number[]> } {
  const contexts: ProposedContext[] = [];
  const bySopClass = new Map<string, number[]>();
  const proposed = new Set<string>();
  const propose = (abstractSyntaxUid: string, transferSyntaxUids: string[]) => {
    const key = `${abstractSyntaxUid} ${transferSyntaxUids.join(' ')}`;
    if (proposed.has(key)) return;
    proposed.add(key);
    const id = 2 * contexts.length + 1;
    contexts.push({ id, abstractSyntaxUid, transferSyntaxUids });
    bySopClass.set(abstractSyntaxUid, [...(bySopClass.get(abstractSyntaxUid) ?? []), id]);
  };
  for (const object of objects) propose(object.sopClassUid, [object.transferSyntaxUid]);
  for (const sopClassUid of [...bySopClass.keys()]) propose(sopClassUid, [...LITTLE_ENDIAN_TRANSFER_SYNTAXES]);
  return { contexts, bySopClass };
}

/** The context an instance goes on: one in its stored transfer syntax, else an uncompressed one it can be transcoded to. */
function contextFor<Context extends { transferSyntaxUid: string }>(candidates: Context[], storedTransferSyntaxUid: string): Context | undefined {
  const asStored = candidates.find((context) => context.transferSyntaxUid === storedTransferSyntaxUid);
  if (asStored) return asStored;
  for (const target of UNCOMPRESSED_TARGETS) {
    const uncompressed = candidates.find((context) => context.transferSyntaxUid === target);
    if (uncompressed) return canTranscode(storedTransferSyntaxUid, target) ? uncompressed : undefined;
  }
  return undefined;
}

/** A sub-operation's dataset: the stored bytes after the File Meta group (a view, no copy), or the object transcoded. */
async function subOperationDataset(part10: Buffer, storedTransferSyntaxUid: string, targetTransferSyntaxUid: string): Promise<Buffer> {
  if (targetTransferSyntaxUid !== storedTransferSyntaxUid) return transcode(part10, targetTransferSyntaxUid);
  const datasetOffset = datasetOffsetFromMetaGroupLength(part10) ?? parseInstance(part10).datasetOffset;
  return padDeflatedDataset(part10.subarray(datasetOffset), storedTransferSyntaxUid);
}

function hex(status: number): string {
  return status.toString(16).toUpperCase().padStart(4, '0');
}

/** The C-MOVE and C-GET services, built once at start-up from the runtime's. */
export function retrieveServices(runtime: Runtime): DimseService[] {
  const dependencies: RetrieveScpDependencies = {
    retrieve: new RetrieveService(runtime.db.pool, runtime.store, runtime.renderer),
    studies: new QueryRepository(runtime.db.pool),
    institutions: runtime.institutions,
    audit: runtime.audit,
    aeTitle: runtime.config.dicom.aeTitle,
    log: runtime.log.child({ component: 'retrieve-scp' }),
  };
  return [new MoveScp(dependencies), new GetScp(dependencies)];
}
