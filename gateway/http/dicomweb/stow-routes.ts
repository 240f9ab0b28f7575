import express, { Router, type Request, type Response } from 'express';
import { parseInstance } from '../../../archive/dicom/parse.ts';
import { IngestRejection, type DicomJsonDataset, type RejectionKind } from '../../../archive/dicom/types.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import { HttpProblem } from '../problem.ts';
import { parseMediaType, parseMultipartRelated } from './multipart.ts';
import { dicomWebBase, element, instanceUrl, isUid, studyUrl } from './urls.ts';

/** FailureReason (0008,1197) per PS3.18 Table 10.5.3-2 / PS3.4 Annex B. */
const FAILURE_REASON: Record<RejectionKind | 'unexpected', number> = {
  'out-of-resources': 0xa700,
  'missing-attribute': 0xa900,
  'sop-class-mismatch': 0xa900,
  malformed: 0xc000,
  'processing-failure': 0x0110,
  unexpected: 0x0110,
};

/**
 * STOW-RS (PS3.18 10.5): POST /studies and /studies/{study} with multipart/related application/dicom
 * parts. Each part goes through the one ingest path; the response lists what was stored and what
 * failed, with 200 (all stored), 202 (some failed) or 409 (none stored).
 */
export function stowRoutes(runtime: Runtime): Router {
  const router = Router();
  const body = express.raw({ type: () => true, limit: runtime.config.http.maxStowBytes });
  router.post(['/studies', '/studies/:study'], body, async (request: Request, response: Response) => {
    const targetStudy = request.params.study as string | undefined;
    if (targetStudy !== undefined && !isUid(targetStudy)) throw new HttpProblem(400, 'problem.badRequest', `"${targetStudy}" is not a Study Instance UID`);
    const accept = request.get('accept');
    if (accept && !/(application\/dicom\+json|application\/json|\*\/\*)/i.test(accept)) {
      throw new HttpProblem(406, 'problem.notAcceptable', 'the STOW-RS response is available as application/dicom+json only');
    }
    const mediaType = parseMediaType(request.get('content-type') ?? '');
    if (mediaType.type !== 'multipart/related') {
      throw new HttpProblem(415, 'problem.unsupportedMediaType', 'STOW-RS takes multipart/related; type="application/dicom"');
    }
    const rootType = (mediaType.parameters.type ?? 'application/dicom').toLowerCase();
    if (rootType !== 'application/dicom') {
      throw new HttpProblem(415, 'problem.unsupportedMediaType', `parts of type ${rootType} are not accepted; send application/dicom instances`);
    }
    if (!Buffer.isBuffer(request.body) || request.body.length === 0) throw new HttpProblem(400, 'problem.badRequest', 'the request has no body');
    const parts = parseMultipartRelated(request.body, mediaType.parameters.boundary ?? '');
    if (parts.length === 0) throw new HttpProblem(400, 'problem.badRequest', 'the multipart body has no parts');
    for (const [index, part] of parts.entries()) {
      const partType = parseMediaType(part.headers['content-type'] ?? rootType).type;
      if (partType !== 'application/dicom') {
        throw new HttpProblem(415, 'problem.unsupportedMediaType', `part ${index + 1} is ${partType}; only application/dicom parts are accepted`);
      }
    }

    const base = dicomWebBase(request);
    const source = { via: 'stow' as const, name: 'anonymous', remoteAddress: request.socket.remoteAddress };
    const referenced: DicomJsonDataset[] = [];
    const failed: DicomJsonDataset[] = [];
    const studies = new Set<string>();
    for (const part of parts) {
      try {
        const outcome = await runtime.ingest.ingest({ part10: part.body }, source, { studyInstanceUid: targetStudy });
        const { studyInstanceUid, seriesInstanceUid, sopInstanceUid, sopClassUid } = outcome.parsed;
        studies.add(studyInstanceUid);
        referenced.push({
          '00081150': element.ui(sopClassUid),
          '00081155': element.ui(sopInstanceUid),
          '00081190': element.ur(instanceUrl(base, studyInstanceUid, seriesInstanceUid, sopInstanceUid)),
        });
      } catch (error) {
        const kind = error instanceof IngestRejection ? error.kind : 'unexpected';
        const reason = error instanceof Error ? error.message : String(error);
        runtime.log.warn({ component: 'stow', remoteAddress: source.remoteAddress, kind, reason }, 'STOW-RS instance refused');
        failed.push(failedItem(part.body, FAILURE_REASON[kind]));
      }
    }
    const result: DicomJsonDataset = {};
    const [onlyStudy] = studies;
    if (targetStudy || (studies.size === 1 && onlyStudy)) result['00081190'] = element.ur(studyUrl(base, targetStudy ?? onlyStudy!));
    if (failed.length) result['00081198'] = { vr: 'SQ', Value: failed };
    if (referenced.length) result['00081199'] = { vr: 'SQ', Value: referenced };
    const status = failed.length === 0 ? 200 : referenced.length === 0 ? 409 : 202;
    response.status(status).type('application/dicom+json').send(JSON.stringify(result));
  });
  return router;
}

/** A FailedSOPSequence item names the instance when its UIDs can still be read. */
function failedItem(part10: Buffer, reason: number): DicomJsonDataset {
  const item: DicomJsonDataset = {};
  try {
    const parsed = parseInstance(part10);
    item['00081150'] = element.ui(parsed.sopClassUid);
    item['00081155'] = element.ui(parsed.sopInstanceUid);
  } catch {
    item['00081150'] = { vr: 'UI' };
    item['00081155'] = { vr: 'UI' };
  }
  item['00081197'] = element.us(reason);
  return item;
}
