import type { CommandSet, CommandValue } from './command-set.ts';

/**
 * The seam between the association (gateway/dimse/association.ts: the protocol) and the DIMSE
 * services (C-FIND, C-MOVE, C-GET, N-ACTION…): one handler per service, as Orthanc's DicomNetworking
 * has one request handler per service, so a new service is a new handler and not an edit of the
 * association's state machine. C-ECHO and C-STORE stay in the association and DimseSession, because
 * C-STORE streams its dataset instead of holding it whole.
 */

/** A presentation context the association accepted. */
export interface AcceptedContext {
  id: number;
  abstractSyntaxUid: string;
  transferSyntaxUid: string;
  /** Role selection (PS3.7 D.3.3.4) as agreed for this abstract syntax; the defaults when none was negotiated. */
  requestorIsScu: boolean;
  requestorIsScp: boolean;
}

/** A request from the peer, with its dataset (identifier, action information) complete. */
export interface DimseOperation {
  command: CommandSet;
  context: AcceptedContext;
  /** The dataset's bytes as sent, in the context's transfer syntax; undefined when none followed the command. */
  dataset?: Buffer;
}

export interface ResponseOptions {
  /** A dataset (C-FIND match, Failed SOP Instance UID List, Action Reply…) encoded in the context's transfer syntax. */
  dataset?: Buffer;
  /** LO, 64 characters at most; non-ASCII is replaced. */
  errorComment?: string;
  /** Command elements beyond those every response has (Number of Remaining Sub-operations, Action Type ID…). */
  elements?: ReadonlyArray<readonly [number, CommandValue]>;
}

/** What a service may do on the association for one operation. */
export interface OperationChannel {
  /** Aborted by a C-CANCEL-RQ for this operation, or when the association ends before the operation does. */
  readonly signal: AbortSignal;
  /** Every accepted presentation context, by ID. */
  readonly contexts: ReadonlyMap<number, AcceptedContext>;
  /**
   * Sends a response to this operation (pending or final), its Message ID Being Responded To and
   * Affected SOP Class UID filled in. Resolves once the bytes are handed to the socket without
   * overfilling it. A final response ends the operation: responses after it are dropped.
   */
  respond(status: number, options?: ResponseOptions): Promise<void>;
  /**
   * Sends a request of our own on this association (a C-STORE sub-operation of a C-GET, an
   * N-EVENT-REPORT) and resolves with the peer's response command. The association assigns the
   * Message ID; `elements` must not hold it. Usable after the final response too (a storage
   * commitment report follows its N-ACTION-RSP), until the association ends: then it rejects, and
   * a request still unanswered when the peer releases is rejected with it.
   */
  request(contextId: number, elements: ReadonlyArray<readonly [number, CommandValue]>, dataset?: Buffer): Promise<CommandSet>;
}

/** Who is calling: settled when the association was accepted. */
export interface AssociationCaller {
  callingAeTitle: string;
  calledAeTitle: string;
  /** The caller's IP address, IPv4-mapped IPv6 unwrapped. */
  remoteAddress: string;
  /** The institution the peer registry files this AE under (the quarantine institution for an unknown one). */
  institutionId: string;
  quarantined: boolean;
  /** The character set the registry says to read this peer's text with, overriding what it declares. */
  characterSetOverride?: string;
}

export interface DimseService {
  /** For logs and audit: 'C-FIND', 'C-MOVE', 'storage commitment'… */
  readonly name: string;
  /**
   * The transfer syntaxes this service takes for an abstract syntax it serves, in our order of
   * preference; undefined when it does not serve that abstract syntax.
   */
  transferSyntaxesFor(abstractSyntaxUid: string): readonly string[] | undefined;
  /**
   * The answer to a SOP Class Extended Negotiation sub-item the requestor proposed for an abstract
   * syntax this service serves (PS3.4 C.5.1.1.1, C.5.2.1.1…: relational queries, combined date-time
   * matching…): the bytes to send back, or undefined to leave the sub-item unanswered (the defaults).
   */
  extendedNegotiation?(abstractSyntaxUid: string, proposed: Buffer): Buffer | undefined;
  /** Handles a request of this command field (C-FIND-RQ…) on a context of an abstract syntax it serves. */
  handles(commandField: number): boolean;
  /**
   * Handles one operation to its final response. A throw is answered 0110 Processing Failure and
   * logged; the association carries on.
   */
  handle(operation: DimseOperation, channel: OperationChannel, caller: AssociationCaller): Promise<void>;
}

/** Implicit and Explicit VR Little Endian: what every query/retrieve and commitment SCU proposes. */
export const LITTLE_ENDIAN_TRANSFER_SYNTAXES = ['1.2.840.10008.1.2.1', '1.2.840.10008.1.2'] as const;
