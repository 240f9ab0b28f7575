import { createHash, type Hash } from 'node:crypto';
import type { Socket } from 'node:net';
import { Writable } from 'node:stream';
import dimse from 'dcmjs-dimse';
import { buildFileMetaHeader } from '../../archive/dicom/part10.ts';
import { IngestRejection } from '../../archive/dicom/types.ts';
import type { IngestService } from '../../archive/ingest.ts';
import type { Logger } from '../../archive/log.ts';
import { chooseTransferSyntax, isStorageSopClass, STORE_STATUS, VERIFICATION_SOP_CLASS } from './negotiation.ts';

const { Scp, constants, responses } = dimse;
const { PresentationContextResult, RejectResult, RejectSource, RejectReason, Status } = constants;

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

export interface ScpDependencies {
  ingest: IngestService;
  aeTitle: string;
  maxPduLength: number;
  log: Logger;
}

/**
 * One DICOM association. dcmjs-dimse does the PDU and DIMSE work; we decide negotiation, feed
 * C-STORE data into the ingest path without letting dcmjs parse it, and map outcomes to statuses.
 */
export function createScpClass(dependencies: ScpDependencies) {
  return class YingyunScp extends Scp {
    private association?: Association;
    private readonly peer: string;

    constructor(socket: Socket, options: ConstructorParameters<typeof Scp>[1]) {
      super(socket, options);
      this.peer = `${socket.remoteAddress}:${socket.remotePort}`;
    }

    override associationRequested(association: Association): void {
      this.association = association;
      const callingAeTitle = association.getCallingAeTitle().trim();
      const calledAeTitle = association.getCalledAeTitle().trim();
      if (calledAeTitle !== dependencies.aeTitle) {
        dependencies.log.warn({ peer: this.peer, callingAeTitle, calledAeTitle }, 'association rejected: called AE title is not ours');
        this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CalledAeNotRecognized);
        return;
      }
      if (callingAeTitle === '') {
        dependencies.log.warn({ peer: this.peer }, 'association rejected: empty calling AE title');
        this.sendAssociationReject(RejectResult.Permanent, RejectSource.ServiceUser, RejectReason.CallingAeNotRecognized);
        return;
      }
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
      dependencies.log.debug({ peer: this.peer, callingAeTitle, accepted }, 'association accepted');
      this.sendAssociationAccept();
    }

    override associationReleaseRequested(): void {
      this.sendAssociationReleaseResponse();
    }

    override cEchoRequest(request: CEchoRequest, callback: (response: dimse.responses.CEchoResponse) => void): void {
      const response = responses.CEchoResponse.fromRequest(request);
      response.setStatus(Status.Success);
      callback(response);
    }

    override createStoreWritableStream(context: PresentationContext, request: CStoreRequest): Writable {
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
      callback((writable as Writable & { received: ReceivedInstance }).received as unknown as dimse.Dataset);
    }

    override cStoreRequest(request: CStoreRequest, callback: (response: dimse.responses.CStoreResponse) => void): void {
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
      dependencies.ingest
        .ingest(
          received.finish(),
          { via: 'dimse', name: callingAeTitle, remoteAddress: this.peer, calledAeTitle: dependencies.aeTitle },
          { affectedSopClassUid: request.getAffectedSopClassUid(), affectedSopInstanceUid: sopInstanceUid },
        )
        .then(
          () => respond(Status.Success),
          (error: unknown) => {
            const kind = error instanceof IngestRejection ? error.kind : 'unexpected';
            const reason = error instanceof Error ? error.message : String(error);
            dependencies.log.warn({ peer: this.peer, callingAeTitle, sopInstanceUid, kind, reason }, 'C-STORE refused');
            respond(STORE_STATUS[kind], reason);
          },
        );
    }
  };
}
