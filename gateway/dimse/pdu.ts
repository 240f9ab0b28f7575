import type { Socket } from 'node:net';

/**
 * The DICOM Upper Layer PDUs an association acceptor reads and writes (PS3.8 9.3): the
 * A-ASSOCIATE-RQ parsed into what negotiation needs, and every PDU we send built byte for byte.
 */

export const PDU_TYPE = {
  associateRq: 0x01,
  associateAc: 0x02,
  associateRj: 0x03,
  pData: 0x04,
  releaseRq: 0x05,
  releaseRp: 0x06,
  abort: 0x07,
} as const;

/** The one application context name of DICOM (PS3.7 Annex A.2.1). */
export const DICOM_APPLICATION_CONTEXT = '1.2.840.10008.3.1.1.1';

/** A-ASSOCIATE-RJ Result, Source and Reason/Diag. values (PS3.8 Table 9-21). */
export const REJECT_RESULT = { permanent: 1, transient: 2 } as const;
export const REJECT_SOURCE = { serviceUser: 1, serviceProviderAcse: 2, serviceProviderPresentation: 3 } as const;
export const REJECT_REASON = {
  // source service-user
  noReasonGiven: 1,
  applicationContextNameNotSupported: 2,
  callingAeTitleNotRecognised: 3,
  calledAeTitleNotRecognised: 7,
  // source service-provider (ACSE)
  protocolVersionNotSupported: 2,
  // source service-provider (presentation)
  temporaryCongestion: 1,
} as const;

/** A-ABORT Source and Reason/Diag. values (PS3.8 Table 9-26). */
export const ABORT_SOURCE = { serviceUser: 0, serviceProvider: 2 } as const;
export const ABORT_REASON = {
  notSpecified: 0,
  unrecognisedPdu: 1,
  unexpectedPdu: 2,
  unrecognisedPduParameter: 4,
  unexpectedPduParameter: 5,
  invalidPduParameterValue: 6,
} as const;

/** Presentation context Result/Reason values in the A-ASSOCIATE-AC (PS3.8 Table 9-18). */
export const CONTEXT_RESULT = {
  acceptance: 0,
  userRejection: 1,
  noReason: 2,
  abstractSyntaxNotSupported: 3,
  transferSyntaxesNotSupported: 4,
} as const;

/** A PDU whose content breaks PS3.8: the association is aborted with this reason. */
export class PduError extends Error {
  constructor(
    message: string,
    readonly abortReason: number = ABORT_REASON.invalidPduParameterValue,
  ) {
    super(message);
    this.name = 'PduError';
  }
}

/**
 * An A-ASSOCIATE-RQ that is well framed but cannot be accepted as it stands (no presentation
 * context, no User Information): PS3.8 9.2 (Sta2, AE-6) answers it with an A-ASSOCIATE-RJ
 * (rejected-permanent, service-provider (ACSE), no-reason-given) rather than an A-ABORT.
 */
export class UnacceptableRequest extends PduError {
  constructor(message: string) {
    super(message);
    this.name = 'UnacceptableRequest';
  }
}

export interface ProposedContext {
  id: number;
  abstractSyntaxUid: string;
  transferSyntaxUids: string[];
}

export interface AssociateRequest {
  protocolVersion: number;
  calledAeTitle: string;
  callingAeTitle: string;
  applicationContextName: string;
  contexts: ProposedContext[];
  /** The requestor's Maximum Length Received (0: no limit), which bounds the PDUs we send it. */
  maxPduLength: number;
  implementationClassUid?: string;
  implementationVersionName?: string;
  /** SCP/SCU Role Selection sub-items (PS3.7 D.3.3.4), by SOP class UID. */
  roleSelections: Map<string, RoleSelection>;
  /** SOP Class Extended Negotiation sub-items (PS3.7 D.3.3.5): the service-class application information, by SOP class UID. */
  extendedNegotiations: Map<string, Buffer>;
  /** Bytes 7–74 of the request, from which the A-ASSOCIATE-AC repeats the AE title and reserved fields (PS3.8 9.3.3.2). */
  fixedFields: Buffer;
}

/** What the requestor may be for a SOP class: SCU, SCP or both. */
export interface RoleSelection {
  scu: boolean;
  scp: boolean;
}

export interface ContextAnswer {
  id: number;
  result: number;
  /** The accepted transfer syntax; for a refused context the field is not significant. */
  transferSyntaxUid: string;
}

/** UIDs and AE titles in PDU items: ASCII, trailing NULs or spaces allowed and ignored. */
function text(bytes: Buffer): string {
  return bytes.toString('latin1').replace(/[\0 ]+$/, '').trim();
}

/** Walks the items of a variable field: type (1), reserved (1), length (2, big endian), value. */
function* items(bytes: Buffer, what: string): Generator<{ type: number; value: Buffer }> {
  let offset = 0;
  while (offset < bytes.length) {
    if (offset + 4 > bytes.length) throw new PduError(`${what}: truncated item header`);
    const type = bytes[offset]!;
    const length = bytes.readUInt16BE(offset + 2);
    const end = offset + 4 + length;
    if (end > bytes.length) throw new PduError(`${what}: item 0x${type.toString(16)} claims ${length} bytes, ${bytes.length - offset - 4} remain`);
    yield { type, value: bytes.subarray(offset + 4, end) };
    offset = end;
  }
}

/** Parses the body (after the 6-byte PDU header) of an A-ASSOCIATE-RQ. */
export function parseAssociateRequest(body: Buffer): AssociateRequest {
  if (body.length < 68) throw new PduError(`A-ASSOCIATE-RQ of ${body.length} bytes is shorter than its fixed fields (68)`);
  const request: AssociateRequest = {
    protocolVersion: body.readUInt16BE(0),
    calledAeTitle: text(body.subarray(4, 20)),
    callingAeTitle: text(body.subarray(20, 36)),
    applicationContextName: '',
    contexts: [],
    maxPduLength: 0,
    roleSelections: new Map(),
    extendedNegotiations: new Map(),
    fixedFields: body.subarray(0, 68),
  };
  let sawUserInformation = false;
  for (const item of items(body.subarray(68), 'A-ASSOCIATE-RQ')) {
    if (item.type === 0x10) request.applicationContextName = text(item.value);
    else if (item.type === 0x20) request.contexts.push(parseProposedContext(item.value));
    else if (item.type === 0x50) {
      sawUserInformation = true;
      for (const sub of items(item.value, 'User Information')) {
        if (sub.type === 0x51) {
          if (sub.value.length !== 4) throw new UnacceptableRequest('Maximum Length sub-item is not 4 bytes long');
          request.maxPduLength = sub.value.readUInt32BE(0);
        } else if (sub.type === 0x52) request.implementationClassUid = text(sub.value);
        else if (sub.type === 0x55) request.implementationVersionName = text(sub.value);
        else if (sub.type === 0x54) {
          const { uid, rest } = sopClassPrefixed(sub.value, 'SCP/SCU Role Selection');
          if (rest.length < 2) throw new UnacceptableRequest('SCP/SCU Role Selection sub-item lacks its role fields');
          request.roleSelections.set(uid, { scu: rest[0] === 1, scp: rest[1] === 1 });
        } else if (sub.type === 0x56) {
          const { uid, rest } = sopClassPrefixed(sub.value, 'SOP Class Extended Negotiation');
          request.extendedNegotiations.set(uid, Buffer.from(rest));
        }
        // Asynchronous operations and user identity are left unanswered: PS3.7 D.3.3 makes their
        // absence in the A-ASSOCIATE-AC mean the defaults (one operation at a time, identity not asserted).
      }
    }
    // Items of other types are skipped, as PS3.8 9.3.1 asks of a receiver.
  }
  if (!request.applicationContextName) throw new UnacceptableRequest('A-ASSOCIATE-RQ has no Application Context item');
  if (!sawUserInformation) throw new UnacceptableRequest('A-ASSOCIATE-RQ has no User Information item');
  if (request.contexts.length === 0) throw new UnacceptableRequest('A-ASSOCIATE-RQ proposes no presentation context');
  // Each context is answered, and later addressed by P-DATA, by its ID alone: an ID that is not odd
  // (PS3.8 9.3.2.2) or is proposed twice would make the answer ambiguous.
  const ids = new Set<number>();
  for (const { id } of request.contexts) {
    if (id % 2 === 0) throw new UnacceptableRequest(`presentation context ID ${id} is not odd`);
    if (ids.has(id)) throw new UnacceptableRequest(`presentation context ID ${id} is proposed twice`);
    ids.add(id);
  }
  return request;
}

/** A sub-item that starts with a 2-byte length and a SOP class UID (role selection, extended negotiation). */
function sopClassPrefixed(value: Buffer, what: string): { uid: string; rest: Buffer } {
  if (value.length < 2) throw new UnacceptableRequest(`${what} sub-item shorter than its UID length`);
  const length = value.readUInt16BE(0);
  if (2 + length > value.length) throw new UnacceptableRequest(`${what} sub-item's UID runs past its end`);
  return { uid: text(value.subarray(2, 2 + length)), rest: value.subarray(2 + length) };
}

function parseProposedContext(value: Buffer): ProposedContext {
  if (value.length < 4) throw new PduError('presentation context item shorter than 4 bytes');
  const context: ProposedContext = { id: value[0]!, abstractSyntaxUid: '', transferSyntaxUids: [] };
  for (const sub of items(value.subarray(4), `presentation context ${context.id}`)) {
    if (sub.type === 0x30) context.abstractSyntaxUid = text(sub.value);
    else if (sub.type === 0x40) context.transferSyntaxUids.push(text(sub.value));
  }
  return context;
}

function pdu(type: number, body: Buffer): Buffer {
  const header = Buffer.alloc(6);
  header[0] = type;
  header.writeUInt32BE(body.length, 2);
  return Buffer.concat([header, body]);
}

function item(type: number, value: Buffer): Buffer {
  const header = Buffer.alloc(4);
  header[0] = type;
  header.writeUInt16BE(value.length, 2);
  return Buffer.concat([header, value]);
}

const ascii = (value: string) => Buffer.from(value, 'latin1');

/** Role selection and extended negotiation answered in the A-ASSOCIATE-AC (PS3.7 D.3.3.4, D.3.3.5). */
export interface NegotiationAnswers {
  roleSelections?: ReadonlyMap<string, RoleSelection>;
  extendedNegotiations?: ReadonlyMap<string, Buffer>;
}

function sopClassItem(type: number, uid: string, rest: Buffer): Buffer {
  const length = Buffer.alloc(2);
  length.writeUInt16BE(uid.length, 0);
  return item(type, Buffer.concat([length, ascii(uid), rest]));
}

/** The User Information item (PS3.7 D.3.3, PS3.8 9.3.2.3/9.3.3.3): sub-items in ascending type order. */
function userInformationItem(ours: { maxPduLength: number; implementationClassUid: string; implementationVersionName: string }, negotiation: NegotiationAnswers): Buffer {
  const maxLength = Buffer.alloc(4);
  maxLength.writeUInt32BE(ours.maxPduLength, 0);
  return item(
    0x50,
    Buffer.concat([
      item(0x51, maxLength),
      item(0x52, ascii(ours.implementationClassUid)),
      ...[...(negotiation.roleSelections ?? [])].map(([uid, role]) => sopClassItem(0x54, uid, Buffer.from([role.scu ? 1 : 0, role.scp ? 1 : 0]))),
      item(0x55, ascii(ours.implementationVersionName)),
      ...[...(negotiation.extendedNegotiations ?? [])].map(([uid, information]) => sopClassItem(0x56, uid, information)),
    ]),
  );
}

export function buildAssociateAccept(
  request: AssociateRequest,
  answers: readonly ContextAnswer[],
  ours: { maxPduLength: number; implementationClassUid: string; implementationVersionName: string },
  negotiation: NegotiationAnswers = {},
): Buffer {
  const contexts = answers.map((answer) =>
    item(0x21, Buffer.concat([Buffer.from([answer.id, 0, answer.result, 0]), item(0x40, ascii(answer.transferSyntaxUid))])),
  );
  const userInformation = userInformationItem(ours, negotiation);
  // Bytes 11–74 (AE title fields and reserved) go back as received (PS3.8 9.3.3.2); the protocol
  // version is the one we speak, and bytes 9–10 are reserved zeros.
  const fixedFields = Buffer.from(request.fixedFields);
  fixedFields.writeUInt16BE(0x0001, 0);
  fixedFields.writeUInt16BE(0x0000, 2);
  return pdu(PDU_TYPE.associateAc, Buffer.concat([fixedFields, item(0x10, ascii(DICOM_APPLICATION_CONTEXT)), ...contexts, userInformation]));
}

export const REJECT_UNACCEPTABLE_REQUEST = { result: REJECT_RESULT.permanent, source: REJECT_SOURCE.serviceProviderAcse, reason: REJECT_REASON.noReasonGiven } as const;

export function buildAssociateReject(result: number, source: number, reason: number): Buffer {
  return pdu(PDU_TYPE.associateRj, Buffer.from([0, result, source, reason]));
}

export function buildReleaseResponse(): Buffer {
  return pdu(PDU_TYPE.releaseRp, Buffer.alloc(4));
}

export function buildAbort(source: number, reason: number): Buffer {
  return pdu(PDU_TYPE.abort, Buffer.from([0, 0, source, reason]));
}

/**
 * A command set or a dataset as P-DATA-TF PDUs no longer than the peer's maximum, one PDV per PDU,
 * the last one flagged as such (PS3.8 9.3.5, E.2). Returned as the buffers to write in order: each
 * PDU's 12-byte header, then its fragment — a view of `bytes`, not a copy, so a dataset of hundreds
 * of kilobytes is never copied on its way to the socket.
 */
export function buildPData(contextId: number, bytes: Buffer, peerMaxPduLength: number, kind: 'command' | 'dataset' = 'command'): Buffer[] {
  // PDU length = PDV item length field (4) + context ID (1) + control header (1) + fragment.
  // A peer with no limit (0) still gets datasets in 1 MiB PDVs, so writes can wait for the socket between them.
  const fragmentMax = peerMaxPduLength > 6 ? peerMaxPduLength - 6 : Math.min(bytes.length || 1, 1 << 20);
  const buffers: Buffer[] = [];
  let offset = 0;
  do {
    const fragment = bytes.subarray(offset, offset + fragmentMax);
    offset += fragment.length;
    const header = Buffer.allocUnsafe(12);
    header[0] = PDU_TYPE.pData;
    header[1] = 0;
    header.writeUInt32BE(6 + fragment.length, 2);
    header.writeUInt32BE(2 + fragment.length, 6);
    header[10] = contextId;
    header[11] = (kind === 'command' ? 0x01 : 0x00) | (offset >= bytes.length ? 0x02 : 0x00);
    buffers.push(header, fragment);
  } while (offset < bytes.length);
  return buffers;
}

/**
 * Writes one message's buffers (buildPData's) in a single corked batch — one system call rather
 * than two per PDU. `until: 'queued'` resolves at once, or once the socket drains when its buffer is
 * over its mark; `until: 'flushed'` once the last buffer is handed to the kernel (or the socket has
 * failed), after which the caller may reuse the memory its dataset was in.
 */
export function writeMessage(socket: Socket, buffers: readonly Buffer[], until: 'queued' | 'flushed'): Promise<void> {
  if (socket.destroyed || buffers.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    socket.cork();
    buffers.forEach((buffer, index) => socket.write(buffer, until === 'flushed' && index === buffers.length - 1 ? () => resolve() : undefined));
    socket.uncork();
    if (until === 'flushed') return;
    if (!socket.writableNeedDrain) return resolve();
    const done = () => {
      socket.off('drain', done);
      socket.off('close', done);
      resolve();
    };
    socket.on('drain', done);
    socket.on('close', done);
  });
}

/** One presentation data value of a P-DATA-TF: a command or dataset fragment (PS3.8 9.3.5.1, Annex E). */
export interface PresentationDataValue {
  contextId: number;
  /** Message control header: bit 0 command (else dataset), bit 1 last fragment. */
  control: number;
  /** A view of the PDU's bytes. */
  fragment: Buffer;
}

/** The PDV items of a P-DATA-TF body, each checked to fit it. */
export function* presentationDataValues(body: Buffer): Generator<PresentationDataValue> {
  let offset = 0;
  while (offset < body.length) {
    if (offset + 6 > body.length) throw new PduError('P-DATA-TF ends inside a PDV item header');
    const itemLength = body.readUInt32BE(offset);
    if (itemLength < 2 || offset + 4 + itemLength > body.length) throw new PduError(`PDV item length ${itemLength} does not fit its P-DATA-TF`);
    yield { contextId: body[offset + 4]!, control: body[offset + 5]!, fragment: body.subarray(offset + 6, offset + 4 + itemLength) };
    offset += 4 + itemLength;
  }
}

/** What a requestor proposes in its A-ASSOCIATE-RQ (PS3.8 9.3.2). */
export interface AssociateRequestProposal {
  calledAeTitle: string;
  callingAeTitle: string;
  contexts: readonly ProposedContext[];
  /** SCP/SCU Role Selection sub-items (PS3.7 D.3.3.4), by SOP class UID. */
  roleSelections?: ReadonlyMap<string, RoleSelection>;
  maxPduLength: number;
  implementationClassUid: string;
  implementationVersionName: string;
}

/** An AE title field: 16 bytes, space padded (PS3.8 9.3.2). */
function aeTitleField(aeTitle: string): Buffer {
  return Buffer.from(aeTitle.padEnd(16, ' ').slice(0, 16), 'latin1');
}

export function buildAssociateRequest(proposal: AssociateRequestProposal): Buffer {
  const fixedFields = Buffer.alloc(68);
  fixedFields.writeUInt16BE(0x0001, 0);
  aeTitleField(proposal.calledAeTitle).copy(fixedFields, 4);
  aeTitleField(proposal.callingAeTitle).copy(fixedFields, 20);
  const contexts = proposal.contexts.map((context) =>
    item(0x20, Buffer.concat([Buffer.from([context.id, 0, 0, 0]), item(0x30, ascii(context.abstractSyntaxUid)), ...context.transferSyntaxUids.map((uid) => item(0x40, ascii(uid)))])),
  );
  const userInformation = userInformationItem(proposal, proposal.roleSelections ? { roleSelections: proposal.roleSelections } : {});
  return pdu(PDU_TYPE.associateRq, Buffer.concat([fixedFields, item(0x10, ascii(DICOM_APPLICATION_CONTEXT)), ...contexts, userInformation]));
}

/** An A-ASSOCIATE-AC as a requestor needs it: each context's answer, the acceptor's PDU limit and role selections. */
export interface AssociateAccept {
  contexts: ContextAnswer[];
  /** The acceptor's Maximum Length Received (0: no limit), which bounds the PDUs we send it. */
  maxPduLength: number;
  /** Role selections the acceptor answered (PS3.7 D.3.3.4); a SOP class it did not answer keeps the default roles. */
  roleSelections: Map<string, RoleSelection>;
}

/** Parses the body (after the 6-byte PDU header) of an A-ASSOCIATE-AC. */
export function parseAssociateAccept(body: Buffer): AssociateAccept {
  if (body.length < 68) throw new PduError(`A-ASSOCIATE-AC of ${body.length} bytes is shorter than its fixed fields (68)`);
  const accept: AssociateAccept = { contexts: [], maxPduLength: 0, roleSelections: new Map() };
  for (const field of items(body.subarray(68), 'A-ASSOCIATE-AC')) {
    if (field.type === 0x21) {
      if (field.value.length < 4) throw new PduError('presentation context item shorter than 4 bytes');
      const transferSyntax = [...items(field.value.subarray(4), `presentation context ${field.value[0]}`)].find((sub) => sub.type === 0x40);
      accept.contexts.push({ id: field.value[0]!, result: field.value[2]!, transferSyntaxUid: transferSyntax ? text(transferSyntax.value) : '' });
    } else if (field.type === 0x50) {
      for (const sub of items(field.value, 'User Information')) {
        if (sub.type === 0x51 && sub.value.length === 4) accept.maxPduLength = sub.value.readUInt32BE(0);
        else if (sub.type === 0x54) {
          const { uid, rest } = sopClassPrefixed(sub.value, 'SCP/SCU Role Selection');
          if (rest.length >= 2) accept.roleSelections.set(uid, { scu: rest[0] === 1, scp: rest[1] === 1 });
        }
      }
    }
  }
  return accept;
}

export function buildReleaseRequest(): Buffer {
  return pdu(PDU_TYPE.releaseRq, Buffer.alloc(4));
}
