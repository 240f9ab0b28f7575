import dicomParser from 'dicom-parser';
import { Router, type Request, type Response } from 'express';
import { IngestRejection, type DicomJsonDataset, type RejectionKind } from '../../../archive/dicom/types.ts';
import { READER_DOCUMENT_SOP_CLASSES } from '../../../archive/reading/reader-documents.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { accessOf, noteAudited } from '../access.ts';
import { HttpProblem } from '../problem.ts';
import { accepts, isValidBoundary, MultipartError, parseMediaType, readMultipartRelated, type MultipartPart } from './multipart.ts';
import { dicomWebBase, element, instanceUrl, isUid, studyUrl } from './urls.ts';

/** FailureReason (0008,1197) values, PS3.18 Table I.2-2. */
const FAILURE_REASON = {
  outOfResources: 0xa700,
  /** Also a study other than the one named in the URL: the standard has no closer code (see docs). */
  dataSetDoesNotMatchSopClass: 0xa900,
  cannotUnderstand: 0xc000,
  processingFailure: 0x0110,
  notAuthorized: 0x0124,
} as const;

const REASON_OF_REJECTION: Record<RejectionKind, number> = {
  'out-of-resources': FAILURE_REASON.outOfResources,
  'missing-attribute': FAILURE_REASON.dataSetDoesNotMatchSopClass,
  'sop-class-mismatch': FAILURE_REASON.dataSetDoesNotMatchSopClass,
  malformed: FAILURE_REASON.cannotUnderstand,
  'processing-failure': FAILURE_REASON.processingFailure,
  'not-authorized': FAILURE_REASON.notAuthorized,
};

const RESPONSE_TYPES = ['application/dicom+json', 'application/json'];

/** How long a refused body is still read (and dropped) before the connection is closed. */
const LINGER_AFTER_REFUSAL_MS = 2000;

/**
 * STOW-RS (PS3.18 10.5): POST /studies and /studies/{study}. The body is multipart/related with
 * application/dicom parts (a bare application/dicom body is one instance); metadata+bulk data
 * requests (application/dicom+json, +xml) are not accepted. The body is read as it arrives, one
 * part at a time, and each part goes through the one ingest path before the next is read. The
 * response lists what was stored and what failed: 200 all stored, 202 some failed, 409 none
 * stored (PS3.18 10.5.3); a request that cannot be read is a problem+json 400, 406, 413 or 415.
 */
export function stowRoutes(runtime: Runtime): Router {
  const router = Router({ caseSensitive: true });
  const maxBytes = runtime.config.http.maxStowBytes;

  router.post(['/studies', '/studies/:study'], async (request: Request, response: Response) => {
    try {
      await store(request, response);
    } finally {
      // Refused before the end of the body: the rest must be read (and dropped) or the connection closed,
      // or the next request on this connection would wait behind it.
      if (!request.complete) discardRestThenClose(request);
    }
  });

  const store = async (request: Request, response: Response) => {
    const targetStudy = request.params.study as string | undefined;
    if (targetStudy !== undefined && !isUid(targetStudy)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(targetStudy)} is not a Study Instance UID`);
    if (!accepts(request.get('accept'), RESPONSE_TYPES)) {
      throw new HttpProblem(406, 'problem.notAcceptable', 'the STOW-RS response is available as application/dicom+json only');
    }
    const parts = partsOf(request, maxBytes);

    const base = dicomWebBase(request);
    const { principal, visibility } = accessOf(response);
    // Instances belong to the sender's institution; an account outside any institution has nowhere to put them.
    if (!principal.institutionId) throw new HttpProblem(403, 'problem.forbidden', `${principal.username} belongs to no institution, so stored instances would have no owner`);
    // The sender adds to the studies of its institution scope, never to those a purpose of use lets
    // it read (a linked patient's studies elsewhere stay read-only); to another institution's study
    // in that scope (a reading centre's region) only a reader's documents, written on the owner's behalf.
    const source = {
      via: 'stow' as const,
      name: principal.username,
      remoteAddress: request.ip,
      institutionId: principal.institutionId,
      writableInstitutionIds: visibility.institutionIds,
      foreignWritableSopClasses: READER_DOCUMENT_SOP_CLASSES,
    };
    const referenced: DicomJsonDataset[] = [];
    const failed: DicomJsonDataset[] = [];
    const studies = new Set<string>();
    let unsupportedParts = 0;
    try {
      for await (const part of parts) {
        const partType = parseMediaType(part.headers['content-type'] ?? 'application/dicom').type;
        if (partType !== 'application/dicom') {
          runtime.log.warn({ component: 'stow', remoteAddress: source.remoteAddress, partType }, 'STOW-RS part refused: only application/dicom parts are accepted');
          failed.push(failedItem(part.body, FAILURE_REASON.cannotUnderstand));
          unsupportedParts++;
          continue;
        }
        try {
          const outcome = await runtime.ingest.ingest({ part10: part.body }, source, { studyInstanceUid: targetStudy });
          const { studyInstanceUid, seriesInstanceUid, sopInstanceUid, sopClassUid } = outcome.parsed;
          studies.add(studyInstanceUid);
          // A duplicate (identical bytes again) and a new version are successes: the archive holds the instance.
          referenced.push({
            '00081150': element.ui(sopClassUid),
            '00081155': element.ui(sopInstanceUid),
            '00081190': element.ur(instanceUrl(base, studyInstanceUid, seriesInstanceUid, sopInstanceUid)),
          });
        } catch (error) {
          failed.push(failedItem(part.body, failureReasonOf(error)));
          const context = { component: 'stow', remoteAddress: source.remoteAddress, err: error };
          if (error instanceof IngestRejection) runtime.log.warn(context, 'STOW-RS instance refused');
          else runtime.log.error(context, 'STOW-RS instance failed unexpectedly');
        }
      }
    } catch (error) {
      throw unreadableBody(error, request, maxBytes, referenced);
    }

    if (referenced.length + failed.length === 0) throw new HttpProblem(400, 'problem.badRequest', 'the multipart body has no parts');
    if (referenced.length === 0 && unsupportedParts === failed.length) {
      throw new HttpProblem(415, 'problem.unsupportedMediaType', 'only application/dicom parts are accepted; metadata with bulk data (application/dicom+json, +xml) is not');
    }
    const result: DicomJsonDataset = {};
    const [onlyStudy] = studies;
    const study = targetStudy ?? (studies.size === 1 ? onlyStudy : undefined);
    if (study) result['00081190'] = element.ur(studyUrl(base, study));
    if (failed.length) result['00081198'] = { vr: 'SQ', Value: failed };
    if (referenced.length) result['00081199'] = { vr: 'SQ', Value: referenced };
    const status = failed.length === 0 ? 200 : referenced.length === 0 ? 409 : 202;
    noteAudited(response, { studyUids: [...studies], detail: { stored: referenced.length, failed: failed.length } });
    response.status(status).type('application/dicom+json').send(JSON.stringify(result));
  };
  return router;
}

class BodyTooLarge extends Error {}

/** The request's parts as they arrive, after checking what the headers promise. */
function partsOf(request: Request, maxBytes: number): AsyncIterable<MultipartPart> {
  const mediaType = parseMediaType(request.get('content-type') ?? '');
  const declaredLength = Number(request.get('content-length') ?? Number.NaN);
  if (declaredLength > maxBytes) throw tooLarge(maxBytes);
  // Not the default async iterator: ending it early would destroy the socket before the problem
  // response could be sent.
  const body = limitBytes(request.iterator({ destroyOnReturn: false }) as AsyncIterable<Buffer>, maxBytes);
  if (mediaType.type === 'application/dicom') return singlePart(body);
  if (mediaType.type !== 'multipart/related') {
    throw new HttpProblem(415, 'problem.unsupportedMediaType', `STOW-RS takes multipart/related; type="application/dicom" (or one application/dicom instance), not ${mediaType.type || 'a body without Content-Type'}`);
  }
  // The type parameter is required (PS3.18 8.7.1), but when it is missing the parts say what they are.
  const rootType = (mediaType.parameters.type ?? 'application/dicom').toLowerCase();
  if (rootType !== 'application/dicom') {
    throw new HttpProblem(415, 'problem.unsupportedMediaType', `type="${rootType}" is not accepted: STOW-RS here takes application/dicom instances, not metadata with bulk data`);
  }
  const boundary = mediaType.parameters.boundary;
  if (!boundary) throw new HttpProblem(400, 'problem.badRequest', 'the multipart/related Content-Type has no boundary parameter');
  if (!isValidBoundary(boundary)) throw new HttpProblem(400, 'problem.badRequest', `${JSON.stringify(boundary)} is not a valid multipart boundary (1 to 70 characters, RFC 2046)`);
  return readMultipartRelated(body, boundary);
}

async function* limitBytes(source: AsyncIterable<Buffer>, maxBytes: number): AsyncGenerator<Buffer> {
  let received = 0;
  for await (const chunk of source) {
    received += chunk.length;
    if (received > maxBytes) throw new BodyTooLarge();
    yield chunk;
  }
}

async function* singlePart(body: AsyncIterable<Buffer>): AsyncGenerator<MultipartPart> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  yield { headers: { 'content-type': 'application/dicom' }, body: Buffer.concat(chunks) };
}

/**
 * Why the body stopped being readable, as a problem response. Instances stored before that point
 * stay stored; the problem names them, and sending them again is harmless (a duplicate is a success).
 */
function unreadableBody(error: unknown, request: Request, maxBytes: number, referenced: DicomJsonDataset[]): unknown {
  const stored = referenced.map((item) => item['00081155']!.Value![0] as string);
  const extra = stored.length ? { storedSopInstanceUids: stored } : {};
  const storedNote = stored.length ? ` (${stored.length} instance${stored.length > 1 ? 's' : ''} before that point ${stored.length > 1 ? 'were' : 'was'} stored)` : '';
  if (error instanceof BodyTooLarge) {
    const problem = tooLarge(maxBytes);
    return new HttpProblem(413, problem.titleKey, `${problem.detail}${storedNote}`, extra);
  }
  if (error instanceof MultipartError) return new HttpProblem(400, 'problem.badRequest', `${error.message}${storedNote}`, extra);
  if (request.destroyed || (error as { code?: string })?.code === 'ECONNRESET') {
    return new HttpProblem(400, 'problem.badRequest', `the client closed the connection before the body was complete${storedNote}`, extra);
  }
  return error;
}

function tooLarge(maxBytes: number): HttpProblem {
  return new HttpProblem(413, 'problem.tooLarge', `a STOW-RS request may carry at most ${maxBytes} bytes; send the instances in several requests`);
}

/**
 * Discards the rest of a refused body for a while, then closes the connection: closing at once with
 * unread data would reset it, and the client would never see the answer.
 */
function discardRestThenClose(request: Request): void {
  request.resume();
  const timer = setTimeout(() => request.socket.destroy(), LINGER_AFTER_REFUSAL_MS);
  timer.unref();
  request.once('end', () => clearTimeout(timer));
}

function failureReasonOf(error: unknown): number {
  return error instanceof IngestRejection ? REASON_OF_REJECTION[error.kind] : FAILURE_REASON.processingFailure;
}

/**
 * A FailedSOPSequence item names the instance when its File Meta Information can be read (the Media
 * Storage SOP Class/Instance UIDs equal the dataset's in a Part 10 file, PS3.10 7.1), which holds
 * even for a file truncated in its pixel data; otherwise the UIDs are empty.
 */
function failedItem(part: Buffer, reason: number): DicomJsonDataset {
  let sopClassUid: string | undefined;
  let sopInstanceUid: string | undefined;
  try {
    const meta = dicomParser.readPart10Header(part);
    sopClassUid = meta.string('x00020002');
    sopInstanceUid = meta.string('x00020003');
  } catch {
    // not a Part 10 file: nothing names it
  }
  return {
    '00081150': isUid(sopClassUid) ? element.ui(sopClassUid) : { vr: 'UI' },
    '00081155': isUid(sopInstanceUid) ? element.ui(sopInstanceUid) : { vr: 'UI' },
    '00081197': element.us(reason),
  };
}
