import type { Socket } from 'node:net';
import { COMMAND, CommandSet, COMMAND_FIELD, DATASET_PRESENT, encodeCommandSet, NO_DATASET, responseTo, SOP_CLASS_NOT_SUPPORTED, UNRECOGNIZED_OPERATION, type CommandValue } from './command-set.ts';
import {
  ABORT_REASON,
  ABORT_SOURCE,
  buildAbort,
  buildAssociateAccept,
  buildAssociateReject,
  buildPData,
  buildReleaseResponse,
  DICOM_APPLICATION_CONTEXT,
  parseAssociateRequest,
  PDU_TYPE,
  REJECT_REASON,
  REJECT_RESULT,
  REJECT_SOURCE,
  REJECT_UNACCEPTABLE_REQUEST,
  UnacceptableRequest,
  PduError,
  presentationDataValues,
  writeMessage,
  type AssociateRequest,
  type ContextAnswer,
  type NegotiationAnswers,
} from './pdu.ts';
import { PduReader } from './pdu-reader.ts';
import type { AcceptedContext, DimseOperation, OperationChannel, ResponseOptions } from './service.ts';

/** Command sets are a few hundred bytes; anything near this is not DICOM. */
const MAX_COMMAND_SET_LENGTH = 64 * 1024;
/**
 * Operations a peer may have outstanding. We negotiate one at a time (PS3.7 D.3.3.3); a peer that
 * sends the next request before our answer is served all the same, up to this many, and aborted
 * beyond it rather than buffered without end.
 */
const MAX_OUTSTANDING_OPERATIONS = 8;
/**
 * The largest dataset of a request that is held whole (a C-FIND identifier, a storage commitment's
 * list of references: ~130 bytes per instance, so 100,000 instances fit).
 */
const MAX_OPERATION_DATASET_BYTES = 16 * 1024 * 1024;
/** After our A-RELEASE-RP the requestor closes the connection; if it does not, we do (PS3.8 ARTIM). */
const RELEASE_CLOSE_TIMEOUT_MS = 5_000;

export type AssociationDecision =
  | { accept: true; contexts: ContextAnswer[]; negotiation?: NegotiationAnswers }
  | { accept: false; result: number; source: number; reason: number };

/** Where a C-STORE's dataset goes as its fragments arrive. */
export interface DatasetSink {
  /** A promise when the sink cannot keep up: no more is read from the peer until it resolves. */
  append(fragment: Buffer): Promise<void> | void;
  /** All fragments are in: the status to answer (and an Error Comment for a failure); undefined when a service has answered through its channel. */
  finish(): Promise<{ status: number; errorComment?: string } | undefined>;
  /** The association ended before the last fragment. */
  abandon(): void;
}

/** What an association does with what it receives: the service around the protocol. */
export interface AcceptorHandler {
  decide(request: AssociateRequest): Promise<AssociationDecision>;
  /** A C-STORE-RQ whose dataset follows on the context with this transfer syntax. */
  storeStarted(command: CommandSet, transferSyntaxUid: string): DatasetSink;
  /** Whether a DIMSE service handles this request (C-FIND, C-MOVE, C-GET, N-ACTION…) on a context of this abstract syntax. */
  serves?(abstractSyntaxUid: string, commandField: number): boolean;
  /** Handles a request `serves` said yes to, to its final response (sent through the channel). */
  operation?(operation: DimseOperation, channel: OperationChannel): Promise<void>;
  /** Something the log should hear about, with who was calling. */
  protocolProblem(reason: string): void;
  ended(): void;
}

export interface AcceptorOptions {
  maxPduLength: number;
  idleMs: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

type State = 'awaiting-request' | 'deciding' | 'established' | 'releasing' | 'released' | 'closed';

interface DatasetInProgress {
  command: CommandSet;
  contextId: number;
  sink: DatasetSink;
  /** False for a dataset that came with a response to a request of ours: read and not answered. */
  answer: boolean;
}

/** A request of ours (C-STORE of a C-GET, N-EVENT-REPORT) waiting for the peer's response. */
interface OurRequest {
  resolve(response: CommandSet): void;
  reject(error: Error): void;
}

/**
 * One association on the acceptor side: the DICOM Upper Layer state machine of PS3.8 9.2 for the
 * states an SCP passes through, and the DIMSE message assembly of PS3.7 (command, then dataset,
 * each in PDV fragments). C-ECHO is answered here; C-STORE datasets stream to the handler's sink
 * fragment by fragment, without being parsed or copied into one buffer by this layer; every other
 * DIMSE request is answered Unrecognized Operation.
 *
 * Written for Yingyun rather than taken from dcmjs-dimse: with nothing stored, dcmjs-dimse's SCP
 * received 226–262 CT images/s on our benchmark machine where this one receives 443–706
 * (docs/benchmarks.md), and throughput with a durable acknowledgement is the archive's first promise.
 */
export class AcceptorAssociation {
  private state: State = 'awaiting-request';
  private readonly reader: PduReader;
  private request?: AssociateRequest;
  /** Accepted presentation contexts by ID. */
  private readonly accepted = new Map<number, AcceptedContext>();
  /** Operations handed to a service, by the peer's Message ID: where a C-CANCEL-RQ is delivered. */
  private readonly running = new Map<number, AbortController>();
  /** Our own requests by Message ID, until the peer responds. */
  private readonly ourRequests = new Map<number, OurRequest>();
  private nextMessageId = 1;
  /** Messages go out whole, one after another: a dataset written in pieces is never interleaved with another message. */
  private writing: Promise<void> = Promise.resolve();
  private peerMaxPduLength = 0;
  private commandFragments: Buffer[] = [];
  private commandLength = 0;
  private commandContextId?: number;
  private dataset?: DatasetInProgress;
  /** While set, the socket is paused until this sink's backlog clears. */
  private readingPausedFor?: Promise<void>;
  private outstanding = 0;
  /** The A-RELEASE-RP is queued behind the responses still being written. */
  private releaseQueued = false;

  constructor(
    private readonly socket: Socket,
    private readonly handler: AcceptorHandler,
    private readonly options: AcceptorOptions,
  ) {
    this.reader = new PduReader(options.maxPduLength);
    socket.setTimeout(options.idleMs);
    socket.on('timeout', () => this.idle());
    socket.on('data', (chunk: Buffer) => this.received(chunk));
    socket.once('close', () => this.closed());
  }

  get callingAeTitle(): string | undefined {
    return this.request?.callingAeTitle;
  }

  get calledAeTitle(): string | undefined {
    return this.request?.calledAeTitle;
  }

  /** Whether PDUs from the peer still mean anything: not after we rejected, released or aborted. */
  private get listening(): boolean {
    return this.state !== 'released' && this.state !== 'closed';
  }

  private received(chunk: Buffer): void {
    if (!this.listening) return;
    let pdus;
    try {
      pdus = this.reader.push(chunk);
    } catch (error) {
      this.protocolError(error);
      return;
    }
    for (const pdu of pdus) {
      if (!this.listening) return;
      try {
        this.dispatch(pdu.type, pdu.body);
      } catch (error) {
        this.protocolError(error);
        return;
      }
    }
  }

  private dispatch(type: number, body: Buffer): void {
    if (type === PDU_TYPE.abort) {
      this.closed();
      this.socket.destroy();
      return;
    }
    switch (this.state) {
      case 'awaiting-request':
        if (type !== PDU_TYPE.associateRq) throw new PduError(`PDU type 0x${type.toString(16)} before an A-ASSOCIATE-RQ`, ABORT_REASON.unexpectedPdu);
        try {
          this.associationRequested(parseAssociateRequest(body));
        } catch (error) {
          if (!(error instanceof UnacceptableRequest)) throw error;
          this.handler.protocolProblem(`association rejected: ${error.message}`);
          this.reject(REJECT_UNACCEPTABLE_REQUEST);
        }
        return;
      case 'established':
        if (type === PDU_TYPE.pData) this.pData(body);
        else if (type === PDU_TYPE.releaseRq) this.releaseRequestedByPeer();
        else throw new PduError(`PDU type 0x${type.toString(16)} on an established association`, ABORT_REASON.unexpectedPdu);
        return;
      default:
        // Waiting for our own decision or in release: a peer that does not wait for our answer (Sta3 AA-8).
        throw new PduError(`PDU type 0x${type.toString(16)} while the association was ${this.state}`, ABORT_REASON.unexpectedPdu);
    }
  }

  private associationRequested(request: AssociateRequest): void {
    this.request = request;
    this.state = 'deciding';
    // The protocol's own conditions here (PS3.8 9.3.2, 9.3.4); AE titles and the peer registry are the handler's.
    const refusal = protocolRefusal(request);
    if (refusal) this.handler.protocolProblem(`association rejected: ${refusal.why}`);
    (refusal ? Promise.resolve(refusal) : this.handler.decide(request)).then(
      (decision) => {
        if (this.state !== 'deciding') return;
        if (!decision.accept) {
          this.reject(decision);
          return;
        }
        for (const answer of decision.contexts) {
          const proposed = request.contexts.find((context) => context.id === answer.id);
          if (answer.result !== 0 || !proposed) continue;
          // PS3.7 D.3.3.4: without an agreed role selection the requestor is SCU only.
          const role = decision.negotiation?.roleSelections?.get(proposed.abstractSyntaxUid) ?? { scu: true, scp: false };
          this.accepted.set(answer.id, {
            id: answer.id,
            abstractSyntaxUid: proposed.abstractSyntaxUid,
            transferSyntaxUid: answer.transferSyntaxUid,
            requestorIsScu: role.scu,
            requestorIsScp: role.scp,
          });
        }
        this.peerMaxPduLength = request.maxPduLength;
        this.state = 'established';
        this.socket.write(
          buildAssociateAccept(request, decision.contexts, {
            maxPduLength: this.options.maxPduLength,
            implementationClassUid: this.options.implementationClassUid,
            implementationVersionName: this.options.implementationVersionName,
          }, decision.negotiation),
        );
      },
      (error: unknown) => {
        this.handler.protocolProblem(`association set-up failed: ${error instanceof Error ? error.message : String(error)}`);
        this.socket.destroy();
      },
    )
      .catch((error: unknown) => this.protocolError(error));
  }

  /** P-DATA-TF: presentation data values, each a command or dataset fragment (PS3.8 9.3.5, Annex E). */
  private pData(body: Buffer): void {
    for (const { contextId, control, fragment } of presentationDataValues(body)) {
      if (!this.accepted.has(contextId)) throw new PduError(`PDV on presentation context ${contextId}, which was not accepted`);
      const last = (control & 0x02) !== 0;
      if (control & 0x01) this.commandFragment(contextId, fragment, last);
      else this.datasetFragment(contextId, fragment, last);
    }
  }

  private commandFragment(contextId: number, fragment: Buffer, last: boolean): void {
    if (this.dataset) throw new PduError('a command fragment arrived before the previous dataset was complete', ABORT_REASON.unexpectedPduParameter);
    if (this.commandContextId !== undefined && this.commandContextId !== contextId) throw new PduError('command fragments on two presentation contexts');
    this.commandContextId = contextId;
    this.commandFragments.push(fragment);
    this.commandLength += fragment.length;
    if (this.commandLength > MAX_COMMAND_SET_LENGTH) throw new PduError(`command set longer than ${MAX_COMMAND_SET_LENGTH} bytes`);
    if (!last) return;
    const command = CommandSet.parse(Buffer.concat(this.commandFragments));
    this.commandFragments = [];
    this.commandLength = 0;
    this.commandContextId = undefined;
    this.commandReceived(contextId, command);
  }

  private commandReceived(contextId: number, command: CommandSet): void {
    const field = command.commandField;
    if (field === COMMAND_FIELD.cCancelRq) {
      // C-CANCEL has no response; the operation it names answers Cancel (FE00) once it has stopped.
      this.running.get(command.number(COMMAND.messageIdBeingRespondedTo) ?? -1)?.abort();
      return;
    }
    if (field & 0x8000) {
      this.responseReceived(contextId, command);
      return;
    }
    const context = this.accepted.get(contextId)!;
    // PS3.7 9.1.1.1 / 9.3.1.1 / 10.1: the Affected (or Requested) SOP Class is the context's abstract syntax.
    const onItsContext = command.sopClassUid === context.abstractSyntaxUid;
    if (field === COMMAND_FIELD.cStoreRq && command.hasDataset && onItsContext) {
      this.operationStarted();
      this.dataset = { command, contextId, sink: this.handler.storeStarted(command, context.transferSyntaxUid), answer: true };
      return;
    }
    if (field === COMMAND_FIELD.cEchoRq && onItsContext) {
      this.respond(contextId, command, 0x0000);
      return;
    }
    if (onItsContext && field !== COMMAND_FIELD.cStoreRq && this.handler.serves?.(context.abstractSyntaxUid, field)) {
      this.operationStarted();
      if (command.hasDataset) this.dataset = { command, contextId, sink: new HeldDataset((dataset) => this.runOperation(context, command, dataset)), answer: true };
      else void this.runOperation(context, command, undefined).catch((error: unknown) => this.protocolError(error));
      return;
    }
    // A request we do not perform, on the wrong context, or a C-STORE without its dataset: answered,
    // not aborted. A dataset that follows is read and dropped before the answer goes out.
    const [status, comment] = !onItsContext
      ? [SOP_CLASS_NOT_SUPPORTED, 'SOP class differs from the presentation context']
      : field === COMMAND_FIELD.cStoreRq
        ? [0xc000, 'C-STORE-RQ without a dataset']
        : [UNRECOGNIZED_OPERATION, `operation 0x${field.toString(16).padStart(4, '0')} not supported`];
    if (command.hasDataset) {
      this.operationStarted();
      this.dataset = { command, contextId, sink: discardingSink(status, comment), answer: true };
    } else this.respond(contextId, command, status, comment);
  }

  /** The peer's response to a request of ours; any dataset with it is read and dropped. */
  private responseReceived(contextId: number, command: CommandSet): void {
    const messageId = command.number(COMMAND.messageIdBeingRespondedTo) ?? -1;
    const waiting = this.ourRequests.get(messageId);
    if (!waiting) throw new PduError(`a DIMSE response (0x${command.commandField.toString(16)}) to message ${messageId}, which we did not send`, ABORT_REASON.unexpectedPduParameter);
    this.ourRequests.delete(messageId);
    if (command.hasDataset) this.dataset = { command, contextId, sink: discardingSink(0, ''), answer: false };
    waiting.resolve(command);
  }

  /** Hands a request to its service with a channel to answer through; a final response ends it. */
  private async runOperation(context: AcceptedContext, command: CommandSet, dataset: Buffer | undefined): Promise<void> {
    const messageId = command.number(COMMAND.messageId) ?? 0;
    const controller = new AbortController();
    this.running.set(messageId, controller);
    let finished = false;
    const channel: OperationChannel = {
      signal: controller.signal,
      contexts: this.accepted,
      respond: async (status: number, options: ResponseOptions = {}) => {
        if (finished) return;
        const pending = status === 0xff00 || status === 0xff01;
        if (!pending) finished = true;
        await this.send(context.id, responseTo(command, command.commandField | 0x8000, status, { ...options, hasDataset: options.dataset !== undefined }), options.dataset);
      },
      request: (contextId, elements, requestDataset) => this.sendRequest(contextId, elements, requestDataset),
    };
    try {
      await this.handler.operation!({ command, context, ...(dataset ? { dataset } : {}) }, channel);
      if (!finished) {
        this.handler.protocolProblem(`the ${describeField(command.commandField)} handler ended without a final response`);
        await channel.respond(0x0110, { errorComment: 'processing failure' });
      }
    } catch (error) {
      this.handler.protocolProblem(`${describeField(command.commandField)} failed: ${error instanceof Error ? error.message : String(error)}`);
      await channel.respond(0x0110, { errorComment: 'processing failure' }).catch(() => undefined);
    } finally {
      this.running.delete(messageId);
      this.operationFinished();
    }
  }

  /** A request of ours on this association; resolves with the peer's response. */
  private sendRequest(contextId: number, elements: ReadonlyArray<readonly [number, CommandValue]>, dataset?: Buffer): Promise<CommandSet> {
    if (!this.listening) return Promise.reject(new Error('the association has ended'));
    const messageId = this.nextMessageId;
    this.nextMessageId = (this.nextMessageId % 0xffff) + 1;
    const command = encodeCommandSet([...elements, [COMMAND.messageId, { us: messageId }], [COMMAND.commandDataSetType, { us: dataset ? DATASET_PRESENT : NO_DATASET }]]);
    const response = new Promise<CommandSet>((resolve, reject) => this.ourRequests.set(messageId, { resolve, reject }));
    return this.send(contextId, command, dataset, 'flushed').then(() => response);
  }

  /**
   * Writes one message, command then dataset, after any message already being written, waiting for
   * the socket to drain — or, `flushed`, until it is all handed to the kernel (a request of ours:
   * its dataset's memory may be reused once it is answered).
   */
  private send(contextId: number, command: Buffer, dataset?: Buffer, until: 'queued' | 'flushed' = 'queued'): Promise<void> {
    const write = async () => {
      if (this.state !== 'established' && this.state !== 'releasing') return;
      const buffers = buildPData(contextId, command, this.peerMaxPduLength, 'command');
      if (dataset) buffers.push(...buildPData(contextId, dataset, this.peerMaxPduLength, 'dataset'));
      await writeMessage(this.socket, buffers, until);
    };
    this.writing = this.writing.then(write, write);
    return this.writing;
  }

  private datasetFragment(contextId: number, fragment: Buffer, last: boolean): void {
    const dataset = this.dataset;
    if (!dataset) throw new PduError('a dataset fragment arrived without a command', ABORT_REASON.unexpectedPduParameter);
    if (dataset.contextId !== contextId) throw new PduError(`dataset fragment on presentation context ${contextId}, its command on ${dataset.contextId}`);
    const backlog = dataset.sink.append(fragment);
    if (backlog) this.pauseReadingUntil(backlog);
    if (!last) return;
    this.dataset = undefined;
    if (!dataset.answer) return;
    dataset.sink
      .finish()
      .then(
        (answer) => {
          if (answer) this.respond(contextId, dataset.command, answer.status, answer.errorComment);
        },
        (error: unknown) => {
          this.handler.protocolProblem(`could not answer a C-STORE: ${error instanceof Error ? error.message : String(error)}`);
          this.respond(contextId, dataset.command, 0x0110, 'processing failure');
        },
      )
      .finally(() => {
        // A service's operation finishes itself, when its final response has gone out.
        if (!(dataset.sink instanceof HeldDataset)) this.operationFinished();
      })
      .catch((error: unknown) => this.protocolError(error));
  }

  /**
   * TCP flow control does the rest: the peer's sends block while we do not read. PDUs already read
   * are still dispatched, a bounded overshoot of one socket chunk.
   */
  private pauseReadingUntil(backlog: Promise<void>): void {
    this.readingPausedFor = backlog;
    this.socket.pause();
    void backlog.then(() => {
      if (this.readingPausedFor !== backlog) return;
      this.readingPausedFor = undefined;
      this.socket.resume();
    });
  }

  private respond(contextId: number, request: CommandSet, status: number, errorComment?: string): void {
    void this.send(contextId, responseTo(request, request.commandField | 0x8000, status, errorComment ? { errorComment } : {}));
  }

  private operationStarted(): void {
    if (this.outstanding >= MAX_OUTSTANDING_OPERATIONS) {
      throw new PduError(`more than ${MAX_OUTSTANDING_OPERATIONS} operations outstanding, where one was negotiated`, ABORT_REASON.unexpectedPdu);
    }
    this.outstanding++;
  }

  private operationFinished(): void {
    this.outstanding--;
    if (this.state === 'releasing' && this.outstanding === 0) this.sendReleaseResponse();
  }

  /** A-RELEASE-RQ: answered once every operation already requested has had its response. */
  private releaseRequestedByPeer(): void {
    if (this.dataset || this.commandFragments.length > 0) throw new PduError('A-RELEASE-RQ in the middle of a DIMSE message', ABORT_REASON.unexpectedPdu);
    this.state = 'releasing';
    if (this.outstanding === 0) this.sendReleaseResponse();
  }

  private sendReleaseResponse(): void {
    if (this.state !== 'releasing' || this.releaseQueued) return;
    this.releaseQueued = true;
    // Behind every response already queued: a C-ECHO-RSP (or any answer given at once) to a request
    // that came in the same TCP segment as the A-RELEASE-RQ is still being written, and a response
    // after the A-RELEASE-RP would never be read.
    const release = () => {
      if (this.state !== 'releasing') return;
      this.state = 'released';
      this.socket.write(buildReleaseResponse());
      this.closeSoon();
    };
    this.writing = this.writing.then(release, release);
  }

  /** A-ASSOCIATE-RJ, then the requestor closes the connection (or we do, after a while). */
  private reject({ result, source, reason }: { result: number; source: number; reason: number }): void {
    this.state = 'released';
    this.socket.end(buildAssociateReject(result, source, reason));
    this.closeSoon();
  }

  private closeSoon(): void {
    setTimeout(() => this.socket.destroy(), RELEASE_CLOSE_TIMEOUT_MS).unref();
  }

  private idle(): void {
    // While the peer waits for an answer of ours, the silence is ours; a dataset still arriving is not.
    if (this.outstanding - (this.dataset ? 1 : 0) > 0) return;
    if (this.state === 'established') {
      this.handler.protocolProblem(`no PDU for ${this.options.idleMs / 1000} s: aborted`);
      this.abort(ABORT_REASON.notSpecified);
    } else this.socket.destroy();
  }

  /** Anything that breaks the protocol (or our handling of it) ends this association, never the process. */
  private protocolError(error: unknown): void {
    this.handler.protocolProblem(error instanceof Error ? error.message : String(error));
    this.abort(error instanceof PduError ? error.abortReason : ABORT_REASON.notSpecified);
  }

  private abort(reason: number): void {
    if (!this.listening) return;
    this.state = 'released';
    this.socket.end(buildAbort(ABORT_SOURCE.serviceProvider, reason));
    this.closeSoon();
  }

  private closed(): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.dataset?.sink.abandon();
    this.dataset = undefined;
    for (const controller of this.running.values()) controller.abort();
    for (const waiting of this.ourRequests.values()) waiting.reject(new Error('the association ended before the peer responded'));
    this.ourRequests.clear();
    this.handler.ended();
  }
}

function protocolRefusal(request: AssociateRequest): (AssociationDecision & { why: string }) | undefined {
  if ((request.protocolVersion & 0x0001) === 0) {
    return {
      accept: false,
      result: REJECT_RESULT.permanent,
      source: REJECT_SOURCE.serviceProviderAcse,
      reason: REJECT_REASON.protocolVersionNotSupported,
      why: `protocol version 0x${request.protocolVersion.toString(16)} lacks version 1`,
    };
  }
  if (request.applicationContextName !== DICOM_APPLICATION_CONTEXT) {
    return {
      accept: false,
      result: REJECT_RESULT.permanent,
      source: REJECT_SOURCE.serviceUser,
      reason: REJECT_REASON.applicationContextNameNotSupported,
      why: `application context ${request.applicationContextName} is not DICOM's`,
    };
  }
  return undefined;
}

/** Reads a dataset we will not keep and answers with a fixed status. */
function discardingSink(status: number, errorComment: string): DatasetSink {
  return { append: () => undefined, finish: async () => ({ status, errorComment }), abandon: () => undefined };
}

/**
 * The dataset of a request a service handles (identifier, action information), held whole and
 * handed over once complete; the service answers through its channel, so finishing answers nothing.
 */
class HeldDataset implements DatasetSink {
  private readonly fragments: Buffer[] = [];
  private bytes = 0;

  constructor(private readonly complete: (dataset: Buffer) => Promise<unknown>) {}

  append(fragment: Buffer): void {
    this.bytes += fragment.length;
    if (this.bytes > MAX_OPERATION_DATASET_BYTES) throw new PduError(`a request's dataset longer than ${MAX_OPERATION_DATASET_BYTES} bytes`, ABORT_REASON.notSpecified);
    this.fragments.push(Buffer.from(fragment));
  }

  async finish(): Promise<undefined> {
    await this.complete(Buffer.concat(this.fragments, this.bytes));
    return undefined;
  }

  abandon(): void {
    this.fragments.length = 0;
  }
}

const FIELD_NAMES: Record<number, string> = { 0x0010: 'C-GET', 0x0020: 'C-FIND', 0x0021: 'C-MOVE', 0x0100: 'N-EVENT-REPORT', 0x0130: 'N-ACTION' };

function describeField(field: number): string {
  return FIELD_NAMES[field] ?? `operation 0x${field.toString(16).padStart(4, '0')}`;
}
