import net from 'node:net';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../archive/dicom/part10.ts';
import { COMMAND, CommandSet, DATASET_PRESENT, encodeCommandSet, NO_DATASET, type CommandValue } from './command-set.ts';
import { PduReader, type Pdu } from './pdu-reader.ts';
import {
  ABORT_REASON,
  ABORT_SOURCE,
  buildAbort,
  buildAssociateRequest,
  buildPData,
  buildReleaseRequest,
  parseAssociateAccept,
  PDU_TYPE,
  presentationDataValues,
  writeMessage,
  type AssociateAccept,
  type ProposedContext,
  type RoleSelection,
} from './pdu.ts';
import { describeRejection } from './store-scu.ts';

export interface RequestorDestination {
  aeTitle: string;
  host: string;
  port: number;
}

export interface RequestorOptions {
  contexts: readonly ProposedContext[];
  /** SCP/SCU Role Selection sub-items to propose (PS3.7 D.3.3.4), by SOP class UID. */
  roleSelections?: ReadonlyMap<string, RoleSelection>;
  /** The TCP connection and the A-ASSOCIATE negotiation together must finish within this. */
  associationTimeoutMs: number;
  /**
   * Nothing received for this long while we wait for the peer (an A-ASSOCIATE-AC, a response, an
   * A-RELEASE-RP) aborts the association; a large dataset being sent counts as activity.
   */
  idleTimeoutMs: number;
}

/** The largest PDU we take: only an A-ASSOCIATE-AC and response commands (a few hundred bytes) come back. */
const OUR_MAX_PDU_LENGTH = 64 * 1024;
/** After our A-RELEASE-RQ the peer has this long to answer before the connection is simply closed. */
const RELEASE_TIMEOUT_MS = 5_000;

/** The association could not be established, or ended before what was asked of it was answered. */
export class AssociationError extends Error {
  override name = 'AssociationError';
}

/**
 * One association as requestor (PS3.8 9.2, the states a requestor passes through): A-ASSOCIATE-RQ
 * with the contexts and role selections asked for, requests sent one at a time (we negotiate no
 * asynchronous operations window) with their responses read back, then A-RELEASE — or A-ABORT on a
 * protocol error, a timeout or a cancel. Used for C-STORE sub-operations of a C-MOVE and for the
 * N-EVENT-REPORT of storage commitment.
 *
 * Written for Yingyun rather than taken from dcmjs-dimse, whose Client proposes no role selection,
 * needs every presentation context (so every object) known before it connects, and was the slow
 * part of a C-MOVE: bench:retrieve's 500-slice CT took 7.9 s through it, 1.3 s through this one
 * (docs/benchmarks.md, "Query and retrieve").
 */
export class RequestorAssociation {
  private readonly reader = new PduReader(OUR_MAX_PDU_LENGTH);
  private nextMessageId = 1;
  private commandFragments: Buffer[] = [];
  /** A dataset that came with a response is read and dropped (none of ours carries one we need). */
  private skippingDataset = false;
  private waiting?: { messageId: number; resolve(response: CommandSet): void; reject(error: Error): void };
  private releasing?: () => void;
  private ended?: AssociationError;

  private constructor(
    private readonly socket: net.Socket,
    readonly accept: AssociateAccept,
    private readonly where: string,
  ) {}

  /** Connects and negotiates; rejects with an AssociationError saying why no association came about. */
  static open(destination: RequestorDestination, callingAeTitle: string, options: RequestorOptions): Promise<RequestorAssociation> {
    const where = `${destination.aeTitle} at ${destination.host}:${destination.port}`;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: destination.host, port: destination.port, noDelay: true });
      const reader = new PduReader(OUR_MAX_PDU_LENGTH);
      let settled = false;
      const fail = (why: string, abort = false) => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        if (abort) socket.end(buildAbort(ABORT_SOURCE.serviceUser, ABORT_REASON.notSpecified));
        else socket.destroy();
        reject(new AssociationError(`${where}: ${why}`));
      };
      // Covers a TCP connect that never completes as well as a peer that never answers the request.
      const timer = setTimeout(() => fail(`no association within ${options.associationTimeoutMs / 1000} s`, true), options.associationTimeoutMs);
      socket.once('error', (error) => fail(error.message));
      socket.once('close', () => fail('the connection closed during association negotiation'));
      socket.once('connect', () => {
        socket.write(
          buildAssociateRequest({
            calledAeTitle: destination.aeTitle,
            callingAeTitle,
            contexts: options.contexts,
            ...(options.roleSelections ? { roleSelections: options.roleSelections } : {}),
            maxPduLength: OUR_MAX_PDU_LENGTH,
            implementationClassUid: IMPLEMENTATION_CLASS_UID,
            implementationVersionName: IMPLEMENTATION_VERSION_NAME,
          }),
        );
      });
      const negotiating = (chunk: Buffer) => {
        let pdus: Pdu[];
        try {
          pdus = reader.push(chunk);
        } catch (error) {
          return fail((error as Error).message, true);
        }
        const [pdu] = pdus;
        if (!pdu || settled) return;
        if (pdu.type === PDU_TYPE.associateRj) return fail(`the peer rejected the association: ${describeRejection({ result: pdu.body[1]!, source: pdu.body[2]!, reason: pdu.body[3]! })}`);
        if (pdu.type === PDU_TYPE.abort) return fail(`the peer aborted the association (source ${pdu.body[2]}, reason ${pdu.body[3]})`);
        if (pdu.type !== PDU_TYPE.associateAc) return fail(`PDU type 0x${pdu.type.toString(16)} instead of an A-ASSOCIATE-AC`, true);
        let accept: AssociateAccept;
        try {
          accept = parseAssociateAccept(pdu.body);
        } catch (error) {
          return fail((error as Error).message, true);
        }
        settled = true;
        clearTimeout(timer);
        socket.removeAllListeners('data');
        socket.removeAllListeners('error');
        socket.removeAllListeners('close');
        const association = new RequestorAssociation(socket, accept, where);
        association.listen(options.idleTimeoutMs);
        // An acceptor that sends anything after its A-ASSOCIATE-AC before our first request is broken; the reader judges it.
        const rest = pdus.slice(1);
        if (rest.length > 0) association.protocolError(new Error(`PDU type 0x${rest[0]!.type.toString(16)} right after the A-ASSOCIATE-AC`));
        resolve(association);
      };
      socket.on('data', negotiating);
    });
  }

  private listen(idleTimeoutMs: number): void {
    this.socket.setTimeout(idleTimeoutMs, () => {
      // Silence is the peer's only while we wait for it; while nothing is asked, nobody owes anything.
      if (this.waiting || this.releasing) this.abort(`no answer for ${idleTimeoutMs / 1000} s`);
    });
    this.socket.on('data', (chunk: Buffer) => {
      let pdus: Pdu[];
      try {
        pdus = this.reader.push(chunk);
      } catch (error) {
        return this.protocolError(error as Error);
      }
      for (const pdu of pdus) {
        if (this.ended) return;
        try {
          this.received(pdu);
        } catch (error) {
          return this.protocolError(error as Error);
        }
      }
    });
    this.socket.once('error', (error) => this.end(error.message));
    this.socket.once('close', () => this.end('the connection closed'));
  }

  /** The context the acceptor accepted for this ID, with its transfer syntax; undefined when refused. */
  acceptedContext(contextId: number): { id: number; transferSyntaxUid: string } | undefined {
    const answer = this.accept.contexts.find((context) => context.id === contextId);
    return answer && answer.result === 0 ? answer : undefined;
  }

  /**
   * Sends a request (command, then its dataset if any) and resolves with the peer's response
   * command, once the dataset is also written out. The Message ID and Command Data Set Type are filled in here; `elements` holds neither.
   * Rejects with an AssociationError when the association ends before the response.
   */
  request(contextId: number, elements: ReadonlyArray<readonly [number, CommandValue]>, dataset?: Buffer): Promise<CommandSet> {
    if (this.ended) return Promise.reject(this.ended);
    if (this.waiting) return Promise.reject(new Error('a request is already outstanding on this association'));
    const messageId = this.nextMessageId;
    this.nextMessageId = (this.nextMessageId % 0xffff) + 1;
    const command = encodeCommandSet([...elements, [COMMAND.messageId, { us: messageId }], [COMMAND.commandDataSetType, { us: dataset ? DATASET_PRESENT : NO_DATASET }]]);
    const response = new Promise<CommandSet>((resolve, reject) => (this.waiting = { messageId, resolve, reject }));
    const buffers = buildPData(contextId, command, this.accept.maxPduLength, 'command');
    if (dataset) buffers.push(...buildPData(contextId, dataset, this.accept.maxPduLength, 'dataset'));
    // Resolved once both are done: a response cannot overtake its own request's bytes, so the caller may reuse the dataset's memory.
    return Promise.all([response, writeMessage(this.socket, buffers, 'flushed')]).then(([answer]) => answer);
  }

  /** A-RELEASE-RQ, resolving when the peer answered it or the connection closed (an unanswered release is not an error of the work done). */
  release(): Promise<void> {
    if (this.ended) return Promise.resolve();
    return new Promise((resolve) => {
      this.releasing = resolve;
      this.socket.write(buildReleaseRequest());
      setTimeout(() => this.end('the peer did not answer the A-RELEASE-RQ'), RELEASE_TIMEOUT_MS).unref();
    });
  }

  /** A-ABORT (service-user) and the connection closed; an outstanding request rejects with `why`. */
  abort(why: string): void {
    if (this.ended) return;
    this.socket.end(buildAbort(ABORT_SOURCE.serviceUser, ABORT_REASON.notSpecified));
    // The A-ABORT is flushed before the connection closes; a peer that keeps it open is cut off shortly after.
    setTimeout(() => this.socket.destroy(), RELEASE_TIMEOUT_MS).unref();
    this.end(why, false);
  }

  private received({ type, body }: Pdu): void {
    if (type === PDU_TYPE.abort) return this.end(`the peer aborted the association (source ${body[2]}, reason ${body[3]})`);
    if (type === PDU_TYPE.releaseRp && this.releasing) {
      this.socket.end();
      return this.end('released', false);
    }
    if (type !== PDU_TYPE.pData) throw new Error(`PDU type 0x${type.toString(16)} on an established association`);
    for (const { control, fragment } of presentationDataValues(body)) {
      if (!(control & 0x01)) {
        if (!this.skippingDataset) throw new Error('a dataset fragment without a command');
        if (control & 0x02) this.skippingDataset = false;
        continue;
      }
      this.commandFragments.push(fragment);
      if (!(control & 0x02)) continue;
      const response = CommandSet.parse(Buffer.concat(this.commandFragments));
      this.commandFragments = [];
      this.skippingDataset = response.hasDataset;
      const waiting = this.waiting;
      if (!(response.commandField & 0x8000) || !waiting || response.number(COMMAND.messageIdBeingRespondedTo) !== waiting.messageId) {
        throw new Error(`command 0x${response.commandField.toString(16)} that answers no request of ours`);
      }
      this.waiting = undefined;
      waiting.resolve(response);
    }
  }

  private protocolError(error: Error): void {
    this.abort(`protocol error: ${error.message}`);
  }

  private end(why: string, closeConnection = true): void {
    if (this.ended) return;
    this.ended = new AssociationError(`${this.where}: ${why}`);
    this.socket.setTimeout(0);
    if (closeConnection) this.socket.destroy();
    this.waiting?.reject(this.ended);
    this.waiting = undefined;
    this.releasing?.();
    this.releasing = undefined;
  }
}
