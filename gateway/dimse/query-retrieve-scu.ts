import dimse from './library.ts';
import { describeRejection, watchConnection, PeerNotCallableError, type StoreDestination } from './store-scu.ts';

const { Client, requests, constants } = dimse;
const { Status } = constants;

type Request = dimse.requests.CFindRequest | dimse.requests.CMoveRequest;

/** A study a remote PACS holds, as its C-FIND answered. */
export interface RemoteStudy {
  studyInstanceUid: string;
  patientId: string;
  studyDate?: string;
  studyDescription?: string;
  accessionNumber?: string;
  modalitiesInStudy: string[];
  /** Number of Study Related Instances, when the PACS returns it. */
  numberOfInstances?: number;
}

/** Sub-operation counts of a C-MOVE, as its responses report them. */
export interface MoveProgress {
  remaining: number;
  completed: number;
  failed: number;
  warning: number;
}

export interface MoveOutcome extends MoveProgress {
  /** The final C-MOVE-RSP status; null when the association ended without one. */
  status: number | null;
  /** Why the move did not succeed whole, for a person to act on. */
  reason?: string;
}

export interface QueryRetrieveOptions {
  /** TCP connection and association negotiation together. Default 15 s. */
  associationTimeoutMs?: number;
  /** From one PDU received to the next: a C-MOVE's pending responses must come at least this often. Default 10 min. */
  responseTimeoutMs?: number;
}

/**
 * Asks a remote PACS (Study Root C-FIND, STUDY level) for the studies it holds under a Patient ID,
 * with the keys a prior fetch decides on. The Issuer of Patient ID is sent when known, so a PACS
 * serving several ID spaces matches in the right one.
 */
export async function findStudiesOfPatient(
  peer: StoreDestination,
  callingAeTitle: string,
  patient: { patientId: string; issuer?: string },
  options: QueryRetrieveOptions = {},
): Promise<RemoteStudy[]> {
  const request = requests.CFindRequest.createStudyFindRequest({
    PatientID: patient.patientId,
    ...(patient.issuer ? { IssuerOfPatientID: patient.issuer } : {}),
    StudyInstanceUID: '',
    StudyDate: '',
    StudyDescription: '',
    AccessionNumber: '',
    ModalitiesInStudy: '',
    NumberOfStudyRelatedInstances: '',
  });
  const found: RemoteStudy[] = [];
  let final: number | undefined;
  let failure: string | undefined;
  request.on('response', (response: dimse.responses.CFindResponse) => {
    const status = response.getStatus();
    if (status === Status.Pending || status === 0xff01) {
      const study = remoteStudyOf(response.getDataset()?.getElements() ?? {});
      // A PACS that ignores the Patient ID key (or matches it by wildcard) must not hand us another patient's studies.
      if (study && study.patientId === patient.patientId) found.push(study);
    } else {
      final = status;
      if (status !== Status.Success) failure = `${peer.aeTitle} answered the C-FIND with status 0x${status.toString(16).padStart(4, '0')}${response.getErrorComment() ? `: ${response.getErrorComment()}` : ''}`;
    }
  });
  await runAssociation(peer, callingAeTitle, [request], options);
  if (final === undefined) throw new Error(`${peer.aeTitle} ended the association before its final C-FIND response`);
  if (failure) throw new Error(failure);
  return found;
}

/**
 * Asks a remote PACS to C-MOVE one study to `destinationAeTitle` (Yingyun's own AE title: the
 * instances then arrive as C-STOREs from that PACS, through the normal ingest path, filed under its
 * institution). Reports each pending response's counts.
 */
export async function moveStudy(
  peer: StoreDestination,
  callingAeTitle: string,
  destinationAeTitle: string,
  studyInstanceUid: string,
  onProgress: (progress: MoveProgress) => void = () => undefined,
  options: QueryRetrieveOptions = {},
): Promise<MoveOutcome> {
  const request = requests.CMoveRequest.createStudyMoveRequest(destinationAeTitle, studyInstanceUid);
  let outcome: MoveOutcome = { status: null, remaining: 0, completed: 0, failed: 0, warning: 0 };
  request.on('response', (response: dimse.responses.CMoveResponse) => {
    const status = response.getStatus();
    const counts = { remaining: response.getRemaining() ?? 0, completed: response.getCompleted() ?? 0, failed: response.getFailures() ?? 0, warning: response.getWarnings() ?? 0 };
    if (status === Status.Pending) {
      outcome = { ...outcome, ...counts };
      onProgress(counts);
      return;
    }
    // A final response need not repeat Remaining (PS3.4 C.4.2.1.5): nothing remains once it is final.
    outcome = { ...counts, remaining: 0, status };
    if (status !== Status.Success) {
      const comment = response.getErrorComment();
      outcome.reason = `${peer.aeTitle} answered the C-MOVE with status 0x${status.toString(16).padStart(4, '0')}${comment ? `: ${comment}` : ''}`;
    }
  });
  const associationFailure = await runAssociation(peer, callingAeTitle, [request], options).then(
    () => undefined,
    (error: Error) => error.message,
  );
  if (outcome.status === null) outcome.reason = associationFailure ?? `${peer.aeTitle} ended the association before its final C-MOVE response`;
  return outcome;
}

/** The keys a prior fetch reads from a C-FIND match; undefined without a Study Instance UID. */
function remoteStudyOf(elements: Record<string, unknown>): RemoteStudy | undefined {
  const text = (value: unknown) => (typeof value === 'string' && value.trim() !== '' ? value.trim() : undefined);
  const studyInstanceUid = text(elements.StudyInstanceUID);
  if (!studyInstanceUid) return undefined;
  const modalities = elements.ModalitiesInStudy;
  const count = Number(elements.NumberOfStudyRelatedInstances);
  const studyDate = text(elements.StudyDate);
  const studyDescription = text(elements.StudyDescription);
  const accessionNumber = text(elements.AccessionNumber);
  return {
    studyInstanceUid,
    patientId: text(elements.PatientID) ?? '',
    modalitiesInStudy: (Array.isArray(modalities) ? modalities : typeof modalities === 'string' ? modalities.split('\\') : []).map(String).filter(Boolean),
    ...(studyDate ? { studyDate } : {}),
    ...(studyDescription ? { studyDescription } : {}),
    ...(accessionNumber ? { accessionNumber } : {}),
    ...(Number.isFinite(count) && elements.NumberOfStudyRelatedInstances !== '' ? { numberOfInstances: count } : {}),
  };
}

/**
 * Sends the requests over one association and resolves once it is released; rejects, saying why,
 * when no association could be made or the connection broke.
 */
function runAssociation(peer: StoreDestination, callingAeTitle: string, pending: Request[], options: QueryRetrieveOptions): Promise<void> {
  if (peer.tlsRequired) {
    return Promise.reject(new PeerNotCallableError(`DICOM peer ${peer.aeTitle} requires TLS, and Yingyun has no client TLS settings to call peers with yet`));
  }
  const associationTimeoutMs = options.associationTimeoutMs ?? 15_000;
  const client = new Client();
  for (const request of pending) client.addRequest(request);
  return new Promise<void>((resolve, reject) => {
    let settled = false;
    let associated = false;
    const finish = (failure?: string) => {
      if (settled) return;
      settled = true;
      clearTimeout(associationTimer);
      if (failure === undefined) resolve();
      else reject(new Error(`${peer.aeTitle} at ${peer.host}:${peer.port}: ${failure}`));
    };
    const associationTimer = setTimeout(() => {
      finish(`no association within ${associationTimeoutMs / 1000} s`);
      try {
        client.abort();
      } catch {
        // Not connected yet: nothing to abort.
      }
    }, associationTimeoutMs);
    client.on('associationAccepted', () => {
      associated = true;
      clearTimeout(associationTimer);
    });
    client.on('associationRejected', (rejection: { result: number; source: number; reason: number }) => finish(`association rejected: ${describeRejection(rejection)}`));
    client.on('associationReleased', () => finish());
    client.on('networkError', (error: Error) => finish(error.message.replace(/^.*?-> /, '')));
    client.on('closed', () => finish(associated ? 'the connection closed before the association was released' : 'the peer closed the connection'));
    try {
      client.send(peer.host, peer.port, callingAeTitle, peer.aeTitle, {
        connectTimeout: options.responseTimeoutMs ?? 600_000,
        associationTimeout: associationTimeoutMs,
        pduTimeout: options.responseTimeoutMs ?? 600_000,
      });
    } catch (error) {
      finish((error as Error).message);
      return;
    }
    watchConnection(client, (abort) => finish(`the peer aborted the association: ${abort}`));
  });
}
