import type { Socket } from 'node:net';
import { parseInstance } from '../../archive/dicom/parse.ts';
import { padDeflatedDataset } from '../../archive/dicom/part10.ts';
import { canTranscode, transcode, UNCOMPRESSED_TARGETS } from '../../archive/retrieve/transcode.ts';
import dimse from './library.ts';
import { TRANSFER_SYNTAX_NAMES } from './negotiation.ts';

const { Client, Dataset, association, requests, constants } = dimse;
const { PresentationContextResult, TransferSyntax } = constants;

type CStoreRequest = dimse.requests.CStoreRequest;
type CStoreResponse = dimse.responses.CStoreResponse;
type Association = dimse.association.Association;

/** Where to send: a registered peer's AE title and address. */
export interface StoreDestination {
  aeTitle: string;
  host: string;
  port: number;
  /** The peer accepts DICOM only over TLS. */
  tlsRequired?: boolean;
}

export interface StoreOptions {
  /** TCP connection and A-ASSOCIATE negotiation together must finish within this. Default 15 s. */
  associationTimeoutMs?: number;
  /** No byte moving either way for this long ends the association. Default 2 min. */
  idleTimeoutMs?: number;
  /**
   * From one PDU received to the next: sending one instance and getting its response must fit in it,
   * so it allows for a large instance over a slow link. Default 15 min.
   */
  instanceTimeoutMs?: number;
  /**
   * An instance whose stored transfer syntax the peer does not accept for its SOP class goes in
   * Explicit or Implicit VR Little Endian when the peer accepted one (a second association, after
   * the first has sent what went as stored), decoded as archive/retrieve/transcode.ts does. Off:
   * such an instance is reported as not sent (an export sends what was asked for, as stored).
   */
  transcode?: boolean;
  /** Called once per instance as soon as its outcome is known (answered, refused, not sent). */
  onInstance?: (result: InstanceStoreResult) => void;
  /** Stops sending: the instance being sent is answered, the rest are reported as not sent. */
  signal?: AbortSignal;
  /** Move Originator AE Title and Message ID (0000,1030/1031) for each C-STORE-RQ: the C-MOVE it serves. */
  moveOriginator?: { aeTitle: string; messageId: number };
}

export interface InstanceStoreResult {
  /** Empty when the input could not be parsed far enough to name it. */
  sopInstanceUid: string;
  /** The peer's C-STORE response status; null when the instance was not sent or not answered. */
  status: number | null;
  /** The peer's Error Comment (0000,0902), when it sent one. */
  errorComment?: string;
  /** For an instance not stored: why, for a person to act on. */
  reason?: string;
  /** Set when it was sent transcoded into this transfer syntax rather than as stored. */
  transcodedTo?: string;
  /** Not sent because StoreOptions.signal was aborted first. */
  cancelled?: true;
}

export interface StoreSummary {
  /** Instances the peer answered with Success or a Warning status. */
  sent: number;
  failed: number;
  results: InstanceStoreResult[];
  /** Set when no association could be established (peer down, rejected, timed out): nothing was sent. */
  associationFailure?: string;
}

/** A peer that cannot be called at all with what Yingyun has: refused before anything is read or sent. */
export class PeerNotCallableError extends Error {
  override name = 'PeerNotCallableError';
}

/** A peer that requires TLS: no association of ours (dcmjs-dimse's or our own requestor's) calls it yet. */
export function tlsNotCallable(aeTitle: string): PeerNotCallableError {
  return new PeerNotCallableError(`DICOM peer ${aeTitle} requires TLS, and Yingyun has no client TLS settings (certificate, key, CA) to call peers with yet`);
}

const DEFAULT_ASSOCIATION_TIMEOUT_MS = 15_000;
const DEFAULT_IDLE_TIMEOUT_MS = 120_000;
const DEFAULT_INSTANCE_TIMEOUT_MS = 15 * 60_000;
/** PS3.8 9.3.2.2: presentation context IDs are the odd numbers 1 to 255. */
const MAX_PRESENTATION_CONTEXTS = 128;

/** One instance to send: what the command needs, and the dataset bytes exactly as stored. */
interface Outgoing {
  /** Where it came in the input (from 0). */
  position: number;
  sopClassUid: string;
  sopInstanceUid: string;
  transferSyntaxUid: string;
  dataset: Buffer;
  /** The whole stored object, for transcoding. */
  part10: Buffer;
  transcodedTo?: string;
}

/**
 * Stands in for a dcmjs Dataset in a C-STORE request, as ReceivedInstance does on the SCP side. The
 * network layer asks a request's dataset only for its transfer syntax (to pick the presentation
 * context) and for its encoded bytes; a real Dataset would re-encode the instance through dcmjs, which
 * relabels text as ISO_IR 192, throws on ISO 2022 IR 58 and rewrites encapsulated pixel data's offset
 * table. These bytes are the stored dataset after its File Meta group, in its own transfer syntax; for
 * Deflated Explicit VR Little Endian that is the deflated bytestream, which is what P-DATA carries
 * (PS3.5 A.5: the transfer syntax is the encoding of the whole data set, File Meta excluded), padded
 * to even length as A.5 requires when the stored stream is not.
 */
class StoredDataset {
  constructor(private readonly outgoing: Outgoing) {}

  getTransferSyntaxUid(): string {
    return this.outgoing.transferSyntaxUid;
  }

  getDenaturalizedDataset(): Buffer {
    return this.outgoing.dataset;
  }

  getElements(): Record<string, unknown> {
    return { SOPClassUID: this.outgoing.sopClassUid, SOPInstanceUID: this.outgoing.sopInstanceUid };
  }
}

/**
 * Sends Part 10 instances to a peer as a C-STORE SCU, all over one association, each in the transfer
 * syntax it is stored in. For each SOP class and stored transfer syntax one presentation context
 * proposes exactly that transfer syntax; an instance whose transfer syntax the peer does not accept
 * for its SOP class is reported as failed, saying what the peer accepts — or, with
 * `options.transcode` (C-MOVE), sent again transcoded on a second association.
 *
 * Every presentation context must be proposed before the first C-STORE, so the instances are read
 * ahead to learn their SOP classes and transfer syntaxes: the whole input is held in memory while it
 * is sent (one study, for export or a C-MOVE).
 */
export async function storeInstances(
  destination: StoreDestination,
  callingAeTitle: string,
  instances: AsyncIterable<Buffer>,
  options: StoreOptions = {},
): Promise<StoreSummary> {
  if (destination.tlsRequired) {
    // A TLS peer would be called with dcmjs-dimse's securityOptions (client certificate, key, CA),
    // but Yingyun has no client TLS configuration yet; calling it in plain TCP would send patient
    // data unencrypted to a peer that requires encryption.
    throw tlsNotCallable(destination.aeTitle);
  }
  // In input order: an unreadable instance's failure where it came, the others once sent.
  const unreadable = new Map<number, InstanceStoreResult>();
  const outgoing: Outgoing[] = [];
  let position = 0;
  for await (const part10 of instances) {
    try {
      const parsed = parseInstance(part10);
      outgoing.push({
        position,
        sopClassUid: parsed.sopClassUid,
        sopInstanceUid: parsed.sopInstanceUid,
        transferSyntaxUid: parsed.transferSyntaxUid,
        dataset: padDeflatedDataset(part10.subarray(parsed.datasetOffset), parsed.transferSyntaxUid),
        part10,
      });
    } catch (error) {
      unreadable.set(position, { sopInstanceUid: '', status: null, reason: `instance ${position + 1} is not readable DICOM: ${(error as Error).message}` });
    }
    position++;
  }
  for (const result of unreadable.values()) options.onInstance?.(result);
  const attempted = new Map<number, InstanceStoreResult>();
  let associationFailure: string | undefined;
  if (outgoing.length > 0) {
    const asStored = await sendOverOneAssociation(destination, callingAeTitle, outgoing, options);
    associationFailure = asStored.associationFailure;
    const retry: Outgoing[] = [];
    for (const [index, result] of asStored.results.entries()) {
      if (result === 'transcode') retry.push(outgoing[index]!);
      else attempted.set(outgoing[index]!.position, result);
    }
    for (const [position, result] of await sendTranscoded(destination, callingAeTitle, retry, asStored.acceptedTargets, options)) attempted.set(position, result);
  }
  const results = [...unreadable.entries(), ...attempted.entries()].sort(([a], [b]) => a - b).map(([, result]) => result);
  return tally(results, associationFailure && `no association with ${destination.aeTitle} at ${destination.host}:${destination.port}: ${associationFailure}`);
}

/**
 * The instances the first association could not send as stored, transcoded into the uncompressed
 * transfer syntax the peer accepted for their SOP class and sent over a second one. Transcoding is
 * asynchronous (the frame reader), and dcmjs-dimse sends a queued request's bytes synchronously, so
 * it happens between the two associations rather than during the first.
 */
async function sendTranscoded(
  destination: StoreDestination,
  callingAeTitle: string,
  instances: Outgoing[],
  acceptedTargets: ReadonlyMap<string, string>,
  options: StoreOptions,
): Promise<Array<[number, InstanceStoreResult]>> {
  const settled: Array<[number, InstanceStoreResult]> = [];
  const settle = (position: number, result: InstanceStoreResult) => {
    settled.push([position, result]);
    options.onInstance?.(result);
  };
  const transcoded: Outgoing[] = [];
  for (const instance of instances) {
    const target = acceptedTargets.get(instance.sopClassUid)!;
    if (options.signal?.aborted) {
      settle(instance.position, { sopInstanceUid: instance.sopInstanceUid, status: null, reason: 'not sent: cancelled', cancelled: true });
      continue;
    }
    try {
      transcoded.push({ ...instance, transferSyntaxUid: target, dataset: await transcode(instance.part10, target), transcodedTo: target });
    } catch (error) {
      settle(instance.position, { sopInstanceUid: instance.sopInstanceUid, status: null, reason: `not sent: ${destination.aeTitle} does not accept ${nameOf(instance.transferSyntaxUid)} for SOP class ${instance.sopClassUid}, and it could not be transcoded to ${nameOf(target)}: ${(error as Error).message}` });
    }
  }
  if (transcoded.length === 0) return settled;
  const { results } = await sendOverOneAssociation(destination, callingAeTitle, transcoded, { ...options, transcode: false });
  for (const [index, result] of results.entries()) settled.push([transcoded[index]!.position, result as InstanceStoreResult]);
  return settled;
}

function tally(results: InstanceStoreResult[], associationFailure?: string): StoreSummary {
  const sent = results.filter((result) => result.status !== null && isStored(result.status)).length;
  return { sent, failed: results.length - sent, results, ...(associationFailure ? { associationFailure } : {}) };
}

interface AssociationOutcome {
  /** One per instance, in the order given; 'transcode' for one to send again transcoded (options.transcode). */
  results: Array<InstanceStoreResult | 'transcode'>;
  /** Why no association was established; then nothing was sent. */
  associationFailure?: string;
  /** By SOP class, the uncompressed transfer syntax the peer accepted that we prefer (Explicit, else Implicit VR Little Endian). */
  acceptedTargets: Map<string, string>;
}

function sendOverOneAssociation(destination: StoreDestination, callingAeTitle: string, outgoing: Outgoing[], options: StoreOptions): Promise<AssociationOutcome> {
  const { aeTitle } = destination;
  const pairs = new Map<string, { sopClassUid: string; transferSyntaxUid: string }>();
  for (const instance of outgoing) pairs.set(`${instance.sopClassUid}|${instance.transferSyntaxUid}`, instance);
  const sopClasses = new Set(outgoing.map((instance) => instance.sopClassUid));
  // dcmjs-dimse proposes one context per SOP class with Implicit and Explicit VR Little Endian, and one
  // more per other transfer syntax; ours add one per SOP class for each little-endian one stored.
  const contextsNeeded = sopClasses.size + pairs.size;
  if (contextsNeeded > MAX_PRESENTATION_CONTEXTS) {
    const reason = `not sent: these instances need ${contextsNeeded} presentation contexts (SOP classes × transfer syntaxes), more than the ${MAX_PRESENTATION_CONTEXTS} one association can carry`;
    const results = outgoing.map((instance) => ({ sopInstanceUid: instance.sopInstanceUid, status: null, reason }));
    for (const result of results) options.onInstance?.(result);
    return Promise.resolve({ results, acceptedTargets: new Map() });
  }

  const client = new Client();
  const acceptedTargets = new Map<string, string>();
  let cancelled = false;
  /** Each instance's outcome, reported once, as soon as it is known. */
  const report = (entry: PendingStore, connectionError?: string): InstanceStoreResult => {
    entry.result ??= resultOf(entry, aeTitle, cancelled ? 'cancelled' : connectionError);
    if (!entry.reported) {
      entry.reported = true;
      options.onInstance?.(entry.result);
    }
    return entry.result;
  };
  const pending = outgoing.map((instance) => {
    const request = new requests.CStoreRequest(new Dataset({ SOPClassUID: instance.sopClassUid, SOPInstanceUID: instance.sopInstanceUid }, instance.transferSyntaxUid));
    request.setDataset(new StoredDataset(instance) as unknown as dimse.Dataset);
    if (options.moveOriginator) {
      // dcmjs names these command elements; its typings take strings only.
      const command = request.getCommandDataset() as unknown as { setElement(name: string, value: unknown): void };
      command.setElement('MoveOriginatorApplicationEntityTitle', options.moveOriginator.aeTitle);
      command.setElement('MoveOriginatorMessageID', options.moveOriginator.messageId);
    }
    const entry: PendingStore = { instance, request };
    request.on('response', (response: CStoreResponse) => {
      entry.response = response;
      report(entry);
    });
    client.addRequest(request);
    return entry;
  });
  // The shared Implicit/Explicit context lets the peer pick either; a context offering only the
  // stored one is what lets an Explicit VR instance go as Explicit VR.
  for (const { sopClassUid, transferSyntaxUid } of pairs.values()) {
    if (transferSyntaxUid === TransferSyntax.ImplicitVRLittleEndian || transferSyntaxUid === TransferSyntax.ExplicitVRLittleEndian) {
      client.addAdditionalPresentationContext(new association.PresentationContext(0, sopClassUid, transferSyntaxUid), true);
    }
  }

  return new Promise((resolve) => {
    let associated = false;
    let settled = false;
    /** The last connection or protocol error, in the library's words without its "<AE> -> " prefix. */
    let connectionError: string | undefined;
    const finish = (associationFailure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(associationTimer);
      options.signal?.removeEventListener('abort', cancel);
      if (associationFailure !== undefined) {
        for (const entry of pending) entry.notSent = `not sent: no association (${associationFailure})`;
        resolve({ associationFailure, acceptedTargets, results: pending.map((entry) => report(entry)) });
        return;
      }
      resolve({ acceptedTargets, results: pending.map((entry) => (entry.transcode ? 'transcode' : report(entry, connectionError))) });
    };
    // What is queued is dropped; the instance on the wire is answered, then the association released.
    const cancel = () => {
      cancelled = true;
      dropQueuedRequests(client);
    };
    if (options.signal?.aborted) cancelled = true;
    options.signal?.addEventListener('abort', cancel, { once: true });
    const associationTimeoutMs = options.associationTimeoutMs ?? DEFAULT_ASSOCIATION_TIMEOUT_MS;
    // dcmjs-dimse's own timeouts (below) end a silent connection; this one also covers a TCP connect
    // that never completes, whose socket the library leaves to the operating system to give up on.
    const associationTimer = setTimeout(() => {
      finish(`the peer did not accept an association within ${associationTimeoutMs / 1000} s`);
      try {
        client.abort();
      } catch {
        // Not connected yet: there is no association to abort.
      }
    }, associationTimeoutMs);

    // dcmjs-dimse calls its listeners synchronously and turns a throw into an unhandled rejection:
    // none of these throws.
    client.on('associationAccepted', (accepted: Association) => {
      associated = true;
      clearTimeout(associationTimer);
      // Runs before the client sends its requests. Only those with a context accepted in their own
      // transfer syntax stay (otherwise dcmjs-dimse would transcode them through dcmjs); none stay
      // when the timeout has already answered for this association.
      client.clearRequests();
      for (const { context } of accepted.getPresentationContexts()) {
        const transferSyntaxUid = context.getResult() === PresentationContextResult.Accept ? context.getAcceptedTransferSyntaxUid() : undefined;
        const sopClassUid = context.getAbstractSyntaxUid();
        const current = acceptedTargets.get(sopClassUid);
        const rank = (uid: string | undefined) => (uid === undefined ? UNCOMPRESSED_TARGETS.length : (UNCOMPRESSED_TARGETS as readonly string[]).indexOf(uid));
        if (transferSyntaxUid && rank(transferSyntaxUid) >= 0 && rank(transferSyntaxUid) < rank(current)) acceptedTargets.set(sopClassUid, transferSyntaxUid);
      }
      for (const entry of pending) {
        if (settled || cancelled) continue;
        entry.notSent = whyNotSendable(accepted, aeTitle, entry.instance);
        const target = acceptedTargets.get(entry.instance.sopClassUid);
        if (entry.notSent && options.transcode && target && canTranscode(entry.instance.transferSyntaxUid, target)) entry.transcode = true;
        else if (entry.notSent) report(entry);
        else client.addRequest(entry.request);
      }
    });
    client.on('associationRejected', (rejection: { result: number; source: number; reason: number }) => {
      finish(`the peer rejected it: ${describeRejection(rejection)}`);
    });
    // Every request has been answered (or skipped) and the peer released the association.
    client.on('associationReleased', () => finish());
    // The library ends the connection after any network error (refused, reset, timed out, aborted for
    // silence): whatever was not answered by then will not be.
    client.on('networkError', (error: Error) => {
      connectionError = error.message.replace(/^.*?-> /, '');
      finish(associated ? undefined : connectionError);
    });
    client.on('closed', () => finish(associated ? undefined : (connectionError ?? 'the peer closed the connection')));

    try {
      client.send(destination.host, destination.port, callingAeTitle, aeTitle, {
        // The library's connectTimeout is the socket's idle timeout for the whole connection, not only
        // the connect; its pduTimeout counts from the last PDU received, however busy the upload.
        connectTimeout: options.idleTimeoutMs ?? DEFAULT_IDLE_TIMEOUT_MS,
        associationTimeout: associationTimeoutMs,
        pduTimeout: options.instanceTimeoutMs ?? DEFAULT_INSTANCE_TIMEOUT_MS,
      });
    } catch (error) {
      finish((error as Error).message);
      return;
    }
    watchConnection(client, (abort) => {
      connectionError = `the peer aborted the association: ${abort}`;
      finish(associated ? undefined : connectionError);
    });
  });
}

/**
 * What dcmjs-dimse 0.3's Client leaves undone on its connection, done on the undocumented property
 * send() sets (without it, another library version, the timeouts still end a wait):
 * - TCP no-delay. The library leaves Nagle's algorithm on, so each C-STORE-RQ's last segment waits for
 *   the peer's delayed ACK of the one before (about 40 ms): a 500-slice C-MOVE took 17 s instead of ~1 s.
 * - An A-ABORT from the peer: the Client neither reports it nor closes the connection on it, as the
 *   receiver of an A-ABORT must (PS3.8 9.2, AA-3); we would wait for the peer's ARTIM timer or our idle
 *   timeout. Its network layer does emit the abort.
 */
export function watchConnection(client: InstanceType<typeof Client>, onPeerAbort: (abort: string) => void): void {
  const network = (client as unknown as { network?: { on?: (event: 'abort', listener: (abort: { source: number; reason: number }) => void) => void; socket?: Socket } }).network;
  network?.socket?.setNoDelay?.(true);
  network?.on?.('abort', ({ source, reason }) => {
    network.socket?.destroy();
    const reasons: Record<number, string> = { 0: 'reason-not-specified', 1: 'unrecognized-PDU', 2: 'unexpected-PDU', 4: 'unrecognized-PDU-parameter', 5: 'unexpected-PDU-parameter', 6: 'invalid-PDU-parameter-value' };
    onPeerAbort(source === 2 ? `service-provider, ${reasons[reason] ?? `reason ${reason}`}` : 'service-user');
  });
}

interface PendingStore {
  instance: Outgoing;
  request: CStoreRequest;
  response?: CStoreResponse;
  /** Why the instance was kept back after negotiation. */
  notSent?: string;
  /** Kept back to go again transcoded (StoreOptions.transcode). */
  transcode?: boolean;
  result?: InstanceStoreResult;
  reported?: boolean;
}

function resultOf({ instance, response, notSent }: PendingStore, aeTitle: string, connectionError: string | undefined): InstanceStoreResult {
  const { sopInstanceUid } = instance;
  const transcoded = instance.transcodedTo ? { transcodedTo: instance.transcodedTo } : {};
  if (notSent) return { sopInstanceUid, status: null, reason: notSent };
  if (!response) {
    if (connectionError === 'cancelled') return { sopInstanceUid, status: null, reason: 'not sent: cancelled', cancelled: true };
    return { sopInstanceUid, status: null, reason: `no response from ${aeTitle}: the association ended first${connectionError ? ` (${connectionError})` : ''}` };
  }
  const status = response.getStatus();
  const errorComment = response.getErrorComment()?.trim() || undefined;
  return {
    sopInstanceUid,
    status,
    ...transcoded,
    ...(errorComment ? { errorComment } : {}),
    ...(isStored(status) ? {} : { reason: `${aeTitle} answered ${describeStatus(status)}${errorComment ? `: ${errorComment}` : ''}` }),
  };
}

/**
 * dcmjs-dimse's Client has no way to withdraw queued requests once the association is up: its
 * network layer takes the next one from an undocumented queue when the previous one is answered.
 * Emptying that queue ends the association after the current one; without it (another library
 * version) the association is aborted, which also stops the sending.
 */
function dropQueuedRequests(client: InstanceType<typeof Client>): void {
  const network = (client as unknown as { network?: { requests?: unknown[] } }).network;
  if (Array.isArray(network?.requests)) {
    network.requests.length = 0;
    return;
  }
  try {
    client.abort();
  } catch {
    // Not connected yet: associationAccepted sends nothing once cancelled.
  }
}

/** Why an instance cannot go over this association as stored; undefined when it can. */
function whyNotSendable(accepted: Association, aeTitle: string, instance: Outgoing): string | undefined {
  const contexts = accepted
    .getPresentationContexts()
    .map(({ context }) => context)
    .filter((context) => context.getAbstractSyntaxUid() === instance.sopClassUid);
  const acceptedTransferSyntaxes = contexts.filter((context) => context.getResult() === PresentationContextResult.Accept)
    .flatMap((context) => context.getAcceptedTransferSyntaxUid() ?? []);
  if (acceptedTransferSyntaxes.includes(instance.transferSyntaxUid)) return undefined;
  const stored = nameOf(instance.transferSyntaxUid);
  if (acceptedTransferSyntaxes.length > 0) {
    const offered = [...new Set(acceptedTransferSyntaxes)].map(nameOf).join(' or ');
    return `not sent: ${aeTitle} accepts SOP class ${instance.sopClassUid} only in ${offered}, and this instance is stored in ${stored}; Yingyun sends instances as stored, without transcoding`;
  }
  const abstractSyntaxRefused = contexts.some((context) => context.getResult() === PresentationContextResult.RejectAbstractSyntaxNotSupported);
  return abstractSyntaxRefused
    ? `not sent: ${aeTitle} does not accept SOP class ${instance.sopClassUid} (abstract syntax not supported)`
    : `not sent: ${aeTitle} accepts SOP class ${instance.sopClassUid} in none of the transfer syntaxes proposed, including ${stored} as stored`;
}

function nameOf(transferSyntaxUid: string): string {
  const name = TRANSFER_SYNTAX_NAMES.get(transferSyntaxUid);
  return name ? `${name} (${transferSyntaxUid})` : transferSyntaxUid;
}

/** PS3.7 C.1.2 and PS3.4 B.2.3: Success, and Warnings (the instance was stored, perhaps coerced). */
function isStored(status: number): boolean {
  return status === 0x0000 || status === 0x0001 || (status & 0xf000) === 0xb000;
}

/** A C-STORE failure status in words (PS3.4 Table B.2-1, PS3.7 Annex C). */
function describeStatus(status: number): string {
  const hex = `0x${status.toString(16).toUpperCase().padStart(4, '0')}`;
  const meaning =
    (status & 0xff00) === 0xa700
      ? 'Refused: Out of Resources'
      : (status & 0xff00) === 0xa900
        ? 'Error: Data Set does not match SOP Class'
        : (status & 0xf000) === 0xc000
          ? 'Error: Cannot understand'
          : ({ 0x0110: 'Processing failure', 0x0111: 'Duplicate SOP Instance', 0x0117: 'Invalid SOP Instance', 0x0122: 'Refused: SOP Class not supported', 0x0124: 'Refused: Not authorized', 0x0211: 'Unrecognized operation', 0x0212: 'Mistyped argument', 0x0213: 'Resource limitation' } as Record<number, string>)[status];
  return meaning ? `${hex} (${meaning})` : `failure status ${hex}`;
}

/** An A-ASSOCIATE-RJ in the words of PS3.8 Table 9-21. */
export function describeRejection({ result, source, reason }: { result: number; source: number; reason: number }): string {
  const reasons: Record<number, Record<number, string>> = {
    1: { 1: 'no-reason-given', 2: 'application-context-name-not-supported', 3: 'calling-AE-title-not-recognized', 7: 'called-AE-title-not-recognized' },
    2: { 1: 'no-reason-given', 2: 'protocol-version-not-supported' },
    3: { 1: 'temporary-congestion', 2: 'local-limit-exceeded' },
  };
  const sources: Record<number, string> = { 1: 'DICOM UL service-user', 2: 'DICOM UL service-provider (ACSE)', 3: 'DICOM UL service-provider (presentation)' };
  return [result === 2 ? 'rejected-transient' : 'rejected-permanent', sources[source] ?? `source ${source}`, reasons[source]?.[reason] ?? `reason ${reason}`].join(', ');
}
