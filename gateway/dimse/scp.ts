import { createHash, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import { TLSSocket } from 'node:tls';
import { auditPatientId, type AuditEventInput } from '../../archive/audit/audit-event.ts';
import type { AuditLog } from '../../archive/audit/audit-log.ts';
import { firstString, personNameText } from '../../archive/dicom/normalize.ts';
import { buildFileMetaHeader } from '../../archive/dicom/part10.ts';
import { IngestRejection, type DicomJsonPersonName, type ParsedInstance } from '../../archive/dicom/types.ts';
import type { IngestService } from '../../archive/ingest.ts';
import type { Logger } from '../../archive/log.ts';
import dimse from './library.ts';
import { chooseTransferSyntax, isStorageSopClass, STORE_STATUS, VERIFICATION_SOP_CLASS } from './negotiation.ts';
import { normaliseAddress, REJECTION, type AdmittedPeer, type AssociationRejection, type GateDecision, type PeerGate } from './peer-gate.ts';

const { Scp, constants, responses } = dimse;
const { AbortReason, AbortSource, PresentationContextResult, Status } = constants;

type Association = dimse.association.Association;
type PresentationContext = dimse.association.PresentationContext;
type CStoreRequest = dimse.requests.CStoreRequest;
type CEchoRequest = dimse.requests.CEchoRequest;

/** What the store stream hands to cStoreRequest in place of a parsed dcmjs Dataset. */
class ReceivedInstance {
  readonly chunks: Buffer[];
  private readonly objectHash: Hash;
  private readonly datasetHash = createHash('sha256');

  constructor(fileMetaHeader: Buffer) {
    this.chunks = [fileMetaHeader];
    this.objectHash = createHash('sha256').update(fileMetaHeader);
  }

  /** Hashing as fragments arrive keeps the digest off the critical path after the last fragment. */
  append(fragment: Buffer): void {
    this.chunks.push(fragment);
    this.objectHash.update(fragment);
    this.datasetHash.update(fragment);
  }

  finish(): { part10: Buffer; objectSha256: string; datasetSha256: string } {
    return { part10: Buffer.concat(this.chunks), objectSha256: this.objectHash.digest('hex'), datasetSha256: this.datasetHash.digest('hex') };
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
  log: Logger;
}

/**
 * One DICOM association. dcmjs-dimse does the PDU and DIMSE work; we decide negotiation, feed
 * C-STORE data into the ingest path without letting dcmjs parse it, and map outcomes to statuses.
 */
export function createScpClass(dependencies: ScpDependencies) {
  const { log, audit } = dependencies;
  return class YingyunScp extends Scp {
    private association?: Association;
    /** Set once the association is accepted: whose data arrives on it. */
    private admitted?: AdmittedPeer;
    private readonly connection: Socket;
    /** `address:port`, for the log and the receipt. */
    private readonly peer: string;
    /** The caller's IP address (IPv4-mapped IPv6 unwrapped), for the gate and the audit trail. */
    private readonly remoteAddress: string;
    private readonly transport: Transport;
    private readonly studiesReceived = new Map<string, StudyReceived>();
    private readonly ingesting = new Set<Promise<void>>();
    private ending?: Promise<void>;

    constructor(socket: Socket, options: ConstructorParameters<typeof Scp>[1]) {
      super(socket, options);
      this.connection = socket;
      this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
      this.remoteAddress = normaliseAddress(socket.remoteAddress ?? '');
      this.transport = transportOf(socket);
      socket.once('close', () => void this.ended());
    }

    override associationRequested(association: Association): void {
      this.association = association;
      const callingAeTitle = association.getCallingAeTitle().trim();
      const calledAeTitle = association.getCalledAeTitle().trim();
      if (calledAeTitle !== dependencies.aeTitle) {
        this.reject(REJECTION.calledAeTitleNotRecognised, 'called AE title is not ours');
        return;
      }
      if (callingAeTitle === '') {
        this.reject(REJECTION.callingAeTitleNotRecognised, 'empty calling AE title');
        return;
      }
      // The A-ASSOCIATE-AC/RJ goes out once the registry answers; the requestor waits for it.
      dependencies.gate
        .decide({ callingAeTitle, remoteAddress: this.remoteAddress, tls: this.transport.tls })
        .then((decision) => {
          if (this.connection.destroyed) return;
          if (decision.admitted) this.accept(association, decision);
          else this.reject(decision.rejection, decision.why, decision.institutionId);
        })
        .catch((error: unknown) => {
          log.error({ peer: this.peer, callingAeTitle, err: error }, 'association set-up failed');
          this.connection.destroy();
        });
    }

    private accept(association: Association, decision: Extract<GateDecision, { admitted: true }>): void {
      let accepted = 0;
      for (const { context } of association.getPresentationContexts()) {
        const abstractSyntaxUid = context.getAbstractSyntaxUid().replace(/\0+$/, '').trim();
        if (abstractSyntaxUid !== VERIFICATION_SOP_CLASS && !isStorageSopClass(abstractSyntaxUid)) {
          context.setResult(PresentationContextResult.RejectAbstractSyntaxNotSupported);
          continue;
        }
        const transferSyntaxUid = chooseTransferSyntax(abstractSyntaxUid, context.getTransferSyntaxUids());
        if (transferSyntaxUid) {
          context.setResult(PresentationContextResult.Accept, transferSyntaxUid);
          accepted++;
        } else {
          context.setResult(PresentationContextResult.RejectTransferSyntaxesNotSupported);
        }
      }
      association.setMaxPduLength(dependencies.maxPduLength);
      this.admitted = decision.peer;
      const details = this.describe();
      if (decision.peer.quarantined) log.warn({ ...details, why: decision.why, accepted }, 'association accepted from an unregistered peer: its data goes to quarantine');
      else log.debug({ ...details, why: decision.why, accepted }, 'association accepted');
      this.auditAssociation('association-accepted', 0, decision.peer.institutionId, { reason: decision.why, ...(decision.peer.quarantined ? { quarantined: true } : {}) });
      this.sendAssociationAccept();
    }

    private reject(rejection: AssociationRejection, why: string, institutionId?: string): void {
      const transient = rejection === REJECTION.temporarilyUnavailable;
      log.warn({ ...this.describe(), rejection: rejection.description, why }, 'association rejected');
      this.auditAssociation('association-rejected', transient ? 8 : 4, institutionId, { reason: why, rejection: rejection.description });
      this.sendAssociationReject(rejection.result, rejection.source, rejection.reason);
    }

    /** Who is calling, for the log: AE titles, address, transport. */
    private describe() {
      return {
        peer: this.peer,
        callingAeTitle: this.association?.getCallingAeTitle().trim(),
        calledAeTitle: this.association?.getCalledAeTitle().trim(),
        tls: this.transport.tls,
        ...(this.transport.clientCertificate ? { clientCertificate: this.transport.clientCertificate } : {}),
      };
    }

    private auditAssociation(eventType: 'association-accepted' | 'association-rejected', outcome: 0 | 4 | 8, institutionId: string | undefined, detail: Record<string, unknown>): void {
      const { callingAeTitle, calledAeTitle, tls, clientCertificate } = this.describe();
      audit.recordInBackground({
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
     * A DIMSE message before we accepted the association (a peer that does not wait for the
     * A-ASSOCIATE-AC): PS3.8 9.2 (state Sta3, action AA-8) answers with an A-ABORT.
     */
    private abortIfNotAdmitted(): boolean {
      if (this.admitted) return false;
      if (!this.connection.destroyed) {
        log.warn({ peer: this.peer }, 'DIMSE message before the association was accepted: aborted');
        this.sendAbort(AbortSource.ServiceProvider, AbortReason.UnexpectedPdu);
        this.connection.destroySoon();
      }
      return true;
    }

    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
      void this.ended();
    }

    override abort(): void {
      void this.ended();
    }

    /**
     * Resolves once the association has ended (released, aborted or disconnected) and its
     * `instances-stored` events, one per study, are handed to the audit log.
     */
    ended(): Promise<void> {
      this.ending ??= (async () => {
        // An abort can arrive while instances are still being committed: they count once they are.
        while (this.ingesting.size > 0) await Promise.allSettled([...this.ingesting]);
        if (!this.admitted) return;
        const callingAeTitle = this.association?.getCallingAeTitle().trim() ?? '';
        for (const [studyInstanceUid, study] of this.studiesReceived) {
          audit.recordInBackground({
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

    override cEchoRequest(request: CEchoRequest, callback: (response: dimse.responses.CEchoResponse) => void): void {
      if (this.abortIfNotAdmitted()) return;
      const response = responses.CEchoResponse.fromRequest(request);
      response.setStatus(Status.Success);
      callback(response);
    }

    override createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable {
      if (this.abortIfNotAdmitted()) return new Writable({ write: (_fragment, _encoding, done) => done() });
      const received = new ReceivedInstance(
        buildFileMetaHeader({
          sopClassUid: request.getAffectedSopClassUid(),
          sopInstanceUid: request.getAffectedSopInstanceUid(),
          transferSyntaxUid: context.getAcceptedTransferSyntaxUid() ?? '',
          sourceAeTitle: this.association?.getCallingAeTitle().trim(),
        }),
      );
      const stream = new Writable({
        write(fragment: Buffer, _encoding, done) {
          received.append(fragment);
          done();
        },
      });
      return Object.assign(stream, { received });
    }

    override createDatasetFromStoreWritableStream(
      writable: Writable,
      _context: PresentationContext,
      callback: (dataset: dimse.Dataset) => void,
    ): void {
      callback((writable as Writable & { received?: ReceivedInstance }).received as unknown as dimse.Dataset);
    }

    override cStoreRequest(request: CStoreRequest, callback: (response: dimse.responses.CStoreResponse) => void): void {
      const admitted = this.admitted;
      if (!admitted) {
        this.abortIfNotAdmitted();
        return;
      }
      const response = responses.CStoreResponse.fromRequest(request);
      const received = request.getDataset() as unknown as ReceivedInstance | undefined;
      const sopInstanceUid = request.getAffectedSopInstanceUid();
      const callingAeTitle = this.association?.getCallingAeTitle().trim() ?? '';
      const respond = (status: number, comment?: string) => {
        response.setStatus(status);
        // Error Comment (0000,0902) is an LO: 64 characters at most.
        if (comment) response.setErrorComment(comment.slice(0, 64));
        callback(response);
      };
      if (!(received instanceof ReceivedInstance)) {
        respond(STORE_STATUS.malformed, 'no dataset received');
        return;
      }
      const ingesting = dependencies.ingest
        .ingest(
          received.finish(),
          {
            via: 'dimse',
            name: callingAeTitle,
            remoteAddress: this.peer,
            calledAeTitle: dependencies.aeTitle,
            institutionId: admitted.institutionId,
            ...(admitted.characterSetOverride ? { characterSetOverride: admitted.characterSetOverride } : {}),
          },
          { affectedSopClassUid: request.getAffectedSopClassUid(), affectedSopInstanceUid: sopInstanceUid },
        )
        .then(
          (outcome) => {
            this.noteReceived(outcome.parsed);
            respond(Status.Success);
          },
          (error: unknown) => {
            const kind = error instanceof IngestRejection ? error.kind : 'unexpected';
            const reason = error instanceof Error ? error.message : String(error);
            log.warn({ peer: this.peer, callingAeTitle, sopInstanceUid, kind, reason }, 'C-STORE refused');
            respond(STORE_STATUS[kind], reason);
          },
        )
        .catch((error: unknown) => log.error({ peer: this.peer, sopInstanceUid, err: error }, 'could not answer the C-STORE'))
        .finally(() => this.ingesting.delete(ingesting));
      this.ingesting.add(ingesting);
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
  };
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
