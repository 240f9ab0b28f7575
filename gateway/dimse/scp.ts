import { createHash, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { TLSSocket } from 'node:tls';
import { auditPatientId, type AuditEventInput } from '../../archive/audit/audit-event.ts';
import type { AuditLog } from '../../archive/audit/audit-log.ts';
import { firstString, personNameText } from '../../archive/dicom/normalize.ts';
import { holdsHeader } from '../../archive/dicom/parse.ts';
import { buildFileMetaHeader, IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../archive/dicom/part10.ts';
import { IngestRejection, type DicomJsonPersonName, type ParsedInstance, type RejectionKind } from '../../archive/dicom/types.ts';
import type { IngestOutcome, IngestService, StreamedObject } from '../../archive/ingest.ts';
import type { IncomingObject } from '../../archive/storage/object-store.ts';
import type { Logger } from '../../archive/log.ts';
import { AcceptorAssociation, type AcceptorHandler, type AssociationDecision, type DatasetSink } from './association.ts';
import { COMMAND, type CommandSet } from './command-set.ts';
import { chooseTransferSyntax, isStorageSopClass, STORE_STATUS, VERIFICATION_SOP_CLASS } from './negotiation.ts';
import { CONTEXT_RESULT, type AssociateRequest, type ContextAnswer, type NegotiationAnswers, type RoleSelection } from './pdu.ts';
import type { AssociationCaller, DimseOperation, DimseService, OperationChannel } from './service.ts';
import { normaliseAddress, REJECTION, type AdmittedPeer, type AssociationRejection, type PeerGate } from './peer-gate.ts';

/** Rejections that are about us, not about the sender's data. */
const INTERNAL_KINDS = new Set<RejectionKind | 'unexpected'>(['out-of-resources', 'processing-failure', 'unexpected']);

/** The first look for the end of the header; each later one after twice as many bytes (a header of several MB is rare). */
const FIRST_HEADER_CHECK_BYTES = 64 * 1024;

/**
 * A C-STORE dataset as it arrives: hashed and written to the object store fragment by fragment, so
 * that after the last fragment only the flush remains. Only its beginning is kept in memory, up to
 * the Pixel Data value (the ingest parses the header from it), so a 2 GB multi-frame object costs
 * its header, not its size.
 */
class ReceivedInstance implements DatasetSink {
  private beginning: Buffer[];
  private beginningBytes: number;
  private headerComplete = false;
  private nextHeaderCheck = FIRST_HEADER_CHECK_BYTES;
  private readonly objectHash: Hash;
  private readonly datasetHash = createHash('sha256');

  private bytes = 0;
  private readonly startedAt = performance.now();
  /** Set once the dataset passes the size limit: its bytes are dropped, and it is refused at the end. */
  oversize = false;

  constructor(
    private readonly fileMetaHeader: Buffer,
    private readonly upload: IncomingObject,
    private readonly maxBytes: number,
    private readonly store: (received: ReceivedInstance) => Promise<{ status: number; errorComment?: string }>,
    private readonly recordReceive: (milliseconds: number) => void,
  ) {
    this.beginning = [fileMetaHeader];
    this.beginningBytes = fileMetaHeader.length;
    this.objectHash = createHash('sha256').update(fileMetaHeader);
    upload.write(fileMetaHeader);
  }

  append(fragment: Buffer): Promise<void> | undefined {
    if (this.oversize) return undefined;
    this.bytes += fragment.length;
    if (this.bytes > this.maxBytes) {
      this.oversize = true;
      this.beginning.length = 0;
      return undefined;
    }
    this.objectHash.update(fragment);
    this.datasetHash.update(fragment);
    if (!this.headerComplete) this.keep(fragment);
    return this.upload.write(fragment);
  }

  finish(): Promise<{ status: number; errorComment?: string }> {
    this.recordReceive(performance.now() - this.startedAt);
    return this.store(this);
  }

  abandon(): void {
    this.beginning.length = 0;
    void this.upload.discard().catch(() => undefined);
  }

  object(): StreamedObject {
    return {
      beginning: Buffer.concat(this.beginning),
      sizeBytes: this.fileMetaHeader.length + this.bytes,
      objectSha256: this.objectHash.digest('hex'),
      datasetSha256: this.datasetHash.digest('hex'),
      upload: this.upload,
    };
  }

  private keep(fragment: Buffer): void {
    this.beginning.push(fragment);
    this.beginningBytes += fragment.length;
    if (this.beginningBytes < this.nextHeaderCheck) return;
    this.beginning = [Buffer.concat(this.beginning, this.beginningBytes)];
    this.headerComplete = holdsHeader(this.beginning[0]!);
    this.nextHeaderCheck *= 2;
  }
}

/** What one association stored of one study, for its `instances-stored` audit event. */
interface StudyReceived {
  count: number;
  sopClassUids: Set<string>;
  patientId?: string;
  patientName?: string;
}

/** How the association reached us. */
interface Transport {
  tls: boolean;
  /** Subject of the client certificate, when TLS verified one. */
  clientCertificate?: string;
}

export interface ScpDependencies {
  ingest: IngestService;
  gate: PeerGate;
  audit: Pick<AuditLog, 'recordInBackground'>;
  aeTitle: string;
  maxPduLength: number;
  /** The largest dataset taken (the same limit as a STOW-RS body); beyond it, Out of Resources. */
  maxObjectBytes: number;
  /** Services beyond C-ECHO and C-STORE: query/retrieve, storage commitment. */
  services: readonly DimseService[];
  log: Logger;
}

/**
 * The storage SCP behind one DICOM connection: decides on the association (AE titles, the peer
 * registry), answers each presentation context, feeds C-STORE datasets into the ingest path and
 * maps its outcome to a status, and audits the association and what it stored. The protocol itself
 * is AcceptorAssociation's.
 */
export class DimseSession implements AcceptorHandler {
  private readonly association: AcceptorAssociation;
  /** Set once the association is accepted: whose data arrives on it. */
  private admitted?: AdmittedPeer;
  /** `address:port`, for the log and the receipt. */
  private readonly peer: string;
  /** The caller's IP address (IPv4-mapped IPv6 unwrapped), for the gate and the audit trail. */
  private readonly remoteAddress: string;
  private readonly transport: Transport;
  private readonly studiesReceived = new Map<string, StudyReceived>();
  private readonly ingesting = new Set<Promise<unknown>>();
  private readonly closing: Promise<void>;
  private markClosed!: () => void;
  private ending?: Promise<void>;

  constructor(
    socket: Socket,
    private readonly dependencies: ScpDependencies & { idleMs: number },
  ) {
    this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    this.remoteAddress = normaliseAddress(socket.remoteAddress ?? '');
    this.transport = transportOf(socket);
    this.closing = new Promise((resolve) => (this.markClosed = resolve));
    this.association = new AcceptorAssociation(socket, this, {
      maxPduLength: dependencies.maxPduLength,
      idleMs: dependencies.idleMs,
      implementationClassUid: IMPLEMENTATION_CLASS_UID,
      implementationVersionName: IMPLEMENTATION_VERSION_NAME,
    });
  }

  async decide(request: AssociateRequest): Promise<AssociationDecision> {
    const callingAeTitle = request.callingAeTitle;
    if (request.calledAeTitle !== this.dependencies.aeTitle) return this.reject(REJECTION.calledAeTitleNotRecognised, 'called AE title is not ours');
    if (callingAeTitle === '') return this.reject(REJECTION.callingAeTitleNotRecognised, 'empty calling AE title');
    const decision = await this.dependencies.gate.decide({ callingAeTitle, remoteAddress: this.remoteAddress, tls: this.transport.tls });
    if (!decision.admitted) return this.reject(decision.rejection, decision.why, decision.institutionId);
    const contexts = request.contexts.map((context) => this.answerContext(context));
    const accepted = contexts.filter((context) => context.result === CONTEXT_RESULT.acceptance).length;
    this.admitted = decision.peer;
    const details = this.describe();
    if (decision.peer.quarantined) this.dependencies.log.warn({ ...details, why: decision.why, accepted }, 'association accepted from an unregistered peer: its data goes to quarantine');
    else this.dependencies.log.debug({ ...details, why: decision.why, accepted }, 'association accepted');
    this.auditAssociation('association-accepted', 0, decision.peer.institutionId, { reason: decision.why, ...(decision.peer.quarantined ? { quarantined: true } : {}) });
    return { accept: true, contexts, negotiation: this.negotiate(request, contexts) };
  }

  /** Verification, every storage SOP class and what the services serve, each in the first transfer syntax we take of those proposed. */
  private answerContext(context: { id: number; abstractSyntaxUid: string; transferSyntaxUids: string[] }): ContextAnswer {
    const refused = (result: number): ContextAnswer => ({ id: context.id, result, transferSyntaxUid: context.transferSyntaxUids[0] ?? '1.2.840.10008.1.2' });
    const serviceSyntaxes = this.serviceFor(context.abstractSyntaxUid)?.transferSyntaxesFor(context.abstractSyntaxUid);
    if (serviceSyntaxes) {
      const proposed = new Set(context.transferSyntaxUids);
      const transferSyntaxUid = serviceSyntaxes.find((uid) => proposed.has(uid));
      return transferSyntaxUid ? { id: context.id, result: CONTEXT_RESULT.acceptance, transferSyntaxUid } : refused(CONTEXT_RESULT.transferSyntaxesNotSupported);
    }
    if (context.abstractSyntaxUid !== VERIFICATION_SOP_CLASS && !isStorageSopClass(context.abstractSyntaxUid)) return refused(CONTEXT_RESULT.abstractSyntaxNotSupported);
    const transferSyntaxUid = chooseTransferSyntax(context.abstractSyntaxUid, context.transferSyntaxUids);
    return transferSyntaxUid ? { id: context.id, result: CONTEXT_RESULT.acceptance, transferSyntaxUid } : refused(CONTEXT_RESULT.transferSyntaxesNotSupported);
  }

  /**
   * Role selection (PS3.7 D.3.3.4) for the abstract syntaxes accepted: for storage SOP classes the
   * requestor may be SCP too (a C-GET's sub-operations come back to it on this association, PS3.4
   * C.4.3.1); for every other one it stays SCU. Extended negotiation is each service's to answer.
   */
  private negotiate(request: AssociateRequest, answers: readonly ContextAnswer[]): NegotiationAnswers {
    const acceptedSyntaxes = new Set(
      answers.filter((answer) => answer.result === CONTEXT_RESULT.acceptance).map((answer) => request.contexts.find((context) => context.id === answer.id)!.abstractSyntaxUid),
    );
    const roleSelections = new Map<string, RoleSelection>();
    for (const [sopClassUid, proposed] of request.roleSelections) {
      if (!acceptedSyntaxes.has(sopClassUid)) continue;
      roleSelections.set(sopClassUid, isStorageSopClass(sopClassUid) ? proposed : { scu: proposed.scu, scp: false });
    }
    const extendedNegotiations = new Map<string, Buffer>();
    for (const [sopClassUid, proposed] of request.extendedNegotiations) {
      if (!acceptedSyntaxes.has(sopClassUid)) continue;
      const answer = this.serviceFor(sopClassUid)?.extendedNegotiation?.(sopClassUid, proposed);
      if (answer) extendedNegotiations.set(sopClassUid, answer);
    }
    return { roleSelections, extendedNegotiations };
  }

  private serviceFor(abstractSyntaxUid: string): DimseService | undefined {
    return this.dependencies.services.find((service) => service.transferSyntaxesFor(abstractSyntaxUid) !== undefined);
  }

  serves(abstractSyntaxUid: string, commandField: number): boolean {
    return this.serviceFor(abstractSyntaxUid)?.handles(commandField) ?? false;
  }

  operation(operation: DimseOperation, channel: OperationChannel): Promise<void> {
    const service = this.serviceFor(operation.context.abstractSyntaxUid)!;
    return service.handle(operation, channel, this.caller());
  }

  /** The admitted caller, as the services see it. */
  private caller(): AssociationCaller {
    const admitted = this.admitted!;
    return {
      callingAeTitle: this.association.callingAeTitle ?? '',
      calledAeTitle: this.association.calledAeTitle ?? '',
      remoteAddress: this.remoteAddress,
      institutionId: admitted.institutionId,
      quarantined: admitted.quarantined,
      ...(admitted.characterSetOverride ? { characterSetOverride: admitted.characterSetOverride } : {}),
    };
  }

  private reject(rejection: AssociationRejection, why: string, institutionId?: string): AssociationDecision {
    const transient = rejection === REJECTION.temporarilyUnavailable;
    this.dependencies.log.warn({ ...this.describe(), rejection: rejection.description, why }, 'association rejected');
    this.auditAssociation('association-rejected', transient ? 8 : 4, institutionId, { reason: why, rejection: rejection.description });
    return { accept: false, result: rejection.result, source: rejection.source, reason: rejection.reason };
  }

  storeStarted(command: CommandSet, transferSyntaxUid: string): DatasetSink {
    const sopClassUid = command.uid(COMMAND.affectedSopClassUid) ?? '';
    const sopInstanceUid = command.uid(COMMAND.affectedSopInstanceUid) ?? '';
    const fileMetaHeader = buildFileMetaHeader({ sopClassUid, sopInstanceUid, transferSyntaxUid, sourceAeTitle: this.association.callingAeTitle });
    const { ingest } = this.dependencies;
    return new ReceivedInstance(
      fileMetaHeader,
      ingest.openUpload(),
      this.dependencies.maxObjectBytes,
      (received) => this.store(received, sopClassUid, sopInstanceUid),
      (milliseconds) => ingest.stages.record('receive', milliseconds),
    );
  }

  private async store(received: ReceivedInstance, sopClassUid: string, sopInstanceUid: string): Promise<{ status: number; errorComment?: string }> {
    const admitted = this.admitted!;
    const callingAeTitle = this.association.callingAeTitle ?? '';
    if (received.oversize) {
      received.abandon();
      this.dependencies.log.warn({ peer: this.peer, callingAeTitle, sopInstanceUid, limit: this.dependencies.maxObjectBytes }, 'C-STORE refused: object too large');
      return { status: STORE_STATUS['out-of-resources'], errorComment: `object larger than ${this.dependencies.maxObjectBytes} bytes` };
    }
    let object: StreamedObject;
    try {
      object = received.object();
    } catch (error) {
      received.abandon();
      throw error;
    }
    const ingesting = this.dependencies.ingest.ingest(
      object,
      {
        via: 'dimse',
        name: callingAeTitle,
        remoteAddress: this.peer,
        calledAeTitle: this.dependencies.aeTitle,
        institutionId: admitted.institutionId,
        ...(admitted.characterSetOverride ? { characterSetOverride: admitted.characterSetOverride } : {}),
      },
      { affectedSopClassUid: sopClassUid, affectedSopInstanceUid: sopInstanceUid },
    );
    this.ingesting.add(ingesting);
    let outcome: IngestOutcome;
    try {
      outcome = await ingesting;
    } catch (error) {
      const kind = error instanceof IngestRejection ? error.kind : 'unexpected';
      const reason = error instanceof Error ? error.message : String(error);
      this.dependencies.log.warn({ peer: this.peer, callingAeTitle, sopInstanceUid, kind, reason }, 'C-STORE refused');
      // What is wrong with the sender's data is told to the sender; our own trouble (disk, database,
      // a bug) only in our log, so host names and paths do not travel to other hospitals.
      return { status: STORE_STATUS[kind], errorComment: INTERNAL_KINDS.has(kind) ? 'archive temporarily unable to store; retry later' : reason };
    } finally {
      this.ingesting.delete(ingesting);
    }
    this.noteReceived(outcome.parsed);
    return { status: 0x0000 };
  }

  protocolProblem(reason: string): void {
    this.dependencies.log.warn({ ...this.describe(), reason }, 'association aborted or refused by the protocol layer');
  }

  ended(): void {
    this.markClosed();
  }

  /** Who is calling, for the log: AE titles, address, transport. */
  private describe() {
    return {
      peer: this.peer,
      callingAeTitle: this.association?.callingAeTitle,
      calledAeTitle: this.association?.calledAeTitle,
      tls: this.transport.tls,
      ...(this.transport.clientCertificate ? { clientCertificate: this.transport.clientCertificate } : {}),
    };
  }

  private auditAssociation(eventType: 'association-accepted' | 'association-rejected', outcome: 0 | 4 | 8, institutionId: string | undefined, detail: Record<string, unknown>): void {
    const { callingAeTitle, calledAeTitle, tls, clientCertificate } = this.describe();
    this.dependencies.audit.recordInBackground({
      eventType,
      action: 'E',
      outcome,
      userName: callingAeTitle || undefined,
      institutionId,
      sourceAddress: this.remoteAddress,
      detail: { calledAeTitle, tls, ...(clientCertificate ? { clientCertificate } : {}), ...detail },
    });
  }

  /**
   * Resolves once the connection has closed (after release, abort or a dropped connection) and its
   * `instances-stored` events, one per study, are handed to the audit log.
   */
  whenEnded(): Promise<void> {
    this.ending ??= (async () => {
      await this.closing;
      // An abort can arrive while instances are still being committed: they count once they are.
      while (this.ingesting.size > 0) await Promise.allSettled([...this.ingesting]);
      if (!this.admitted) return;
      const callingAeTitle = this.association.callingAeTitle ?? '';
      for (const [studyInstanceUid, study] of this.studiesReceived) {
        this.dependencies.audit.recordInBackground({
          eventType: 'instances-stored',
          action: 'C',
          outcome: 0,
          userName: callingAeTitle,
          institutionId: this.admitted.institutionId,
          sourceAddress: this.remoteAddress,
          patientId: study.patientId,
          patientName: study.patientName,
          studyUids: [studyInstanceUid],
          detail: { count: study.count, sopClassUids: [...study.sopClassUids], via: 'dimse', callingAeTitle },
        } satisfies AuditEventInput);
      }
    })();
    return this.ending;
  }

  /** Tallies a stored instance under its study, from the header already parsed (no extra look-up). */
  private noteReceived(parsed: ParsedInstance): void {
    let study = this.studiesReceived.get(parsed.studyInstanceUid);
    if (!study) {
      study = { count: 0, sopClassUids: new Set(), ...patientOf(parsed) };
      this.studiesReceived.set(parsed.studyInstanceUid, study);
    }
    study.count++;
    study.sopClassUids.add(parsed.sopClassUid);
  }
}

function transportOf(socket: Socket): Transport {
  if (!(socket instanceof TLSSocket)) return { tls: false };
  const subject = socket.authorized ? socket.getPeerX509Certificate()?.subject : undefined;
  return { tls: true, ...(subject ? { clientCertificate: subject.split('\n').join(', ') } : {}) };
}

/**
 * Patient ID ('issuer|id' when the instance names its issuer, as the audit trail expects) and name
 * ('Alphabetic=Ideographic') for the audit event.
 */
function patientOf(parsed: ParsedInstance): { patientId?: string; patientName?: string } {
  const id = firstString(parsed.metadata, '00100020');
  const issuer = firstString(parsed.metadata, '00100021');
  const name = parsed.metadata['00100010']?.Value?.[0] as DicomJsonPersonName | null | undefined;
  const patientName = name && typeof name === 'object' ? personNameText(name) : '';
  return {
    ...(id ? { patientId: auditPatientId(issuer, id) } : {}),
    ...(patientName ? { patientName } : {}),
  };
}
