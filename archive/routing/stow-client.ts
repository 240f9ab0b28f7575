import { multipartBoundary, multipartCloseDelimiter, multipartPartHeader } from '../../gateway/http/dicomweb/multipart.ts';
import { parseInstance } from '../dicom/parse.ts';
import type { DicomJsonDataset } from '../dicom/types.ts';
import type { BatchOutcome } from './routing-service.ts';

const REFERENCED_SOP_SEQUENCE = '00081199';
const FAILED_SOP_SEQUENCE = '00081198';
const REFERENCED_SOP_INSTANCE_UID = '00081155';
const FAILURE_REASON = '00081197';
const WARNING_REASON = '00081196';

export interface StowTarget {
  /** The DICOMweb base URL; the request goes to <url>/studies. */
  url: string;
  bearerToken: string | null;
}

/**
 * STOW-RS client (PS3.18 10.5): one POST of Part 10 instances as multipart/related;
 * type="application/dicom", each instance byte for byte as stored. The answer's ReferencedSOPSequence
 * and FailedSOPSequence say which were stored; an HTTP failure or an answer that does not say fails all.
 */
export async function stowInstances(target: StowTarget, part10s: Buffer[], timeoutMs = 15 * 60_000): Promise<BatchOutcome> {
  const boundary = multipartBoundary();
  const body = Buffer.concat([...part10s.flatMap((part10) => [multipartPartHeader(boundary, 'application/dicom'), part10, Buffer.from('\r\n')]), multipartCloseDelimiter(boundary)]);
  const uids = part10s.map((part10) => {
    try {
      return parseInstance(part10).sopInstanceUid;
    } catch {
      return '';
    }
  });
  let response: Response;
  try {
    response = await fetch(`${target.url.replace(/\/+$/, '')}/studies`, {
      method: 'POST',
      headers: {
        'Content-Type': `multipart/related; type="application/dicom"; boundary=${boundary}`,
        Accept: 'application/dicom+json',
        ...(target.bearerToken ? { Authorization: `Bearer ${target.bearerToken}` } : {}),
      },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (error) {
    return { failure: `no answer from ${target.url}: ${(error as Error).cause instanceof Error ? ((error as Error).cause as Error).message : (error as Error).message}` };
  }
  const text = await response.text();
  // 200: all stored; 202: some failed or with warnings; 409: none stored (PS3.18 Table 10.5.3-1).
  if (![200, 202, 409].includes(response.status)) return { failure: `${target.url} answered HTTP ${response.status}${text ? `: ${text.slice(0, 300)}` : ''}` };
  let answer: DicomJsonDataset;
  try {
    answer = JSON.parse(text) as DicomJsonDataset;
  } catch {
    return { failure: `${target.url} answered HTTP ${response.status} without a DICOM JSON response body` };
  }
  const referenced = new Set(sequenceUids(answer, REFERENCED_SOP_SEQUENCE).map(({ uid }) => uid));
  const failed = new Map(sequenceUids(answer, FAILED_SOP_SEQUENCE).map(({ uid, item }) => [uid, item]));
  return {
    results: uids.map((uid) => {
      if (uid && referenced.has(uid)) return { stored: true };
      const item = failed.get(uid);
      const reason = item?.[FAILURE_REASON]?.Value?.[0] ?? item?.[WARNING_REASON]?.Value?.[0];
      return { stored: false, reason: item ? `${target.url} refused it (Failure Reason ${typeof reason === 'number' ? `0x${reason.toString(16).toUpperCase().padStart(4, '0')}` : 'not given'})` : `${target.url} did not list it as stored` };
    }),
  };
}

function sequenceUids(answer: DicomJsonDataset, tag: string): Array<{ uid: string; item: DicomJsonDataset }> {
  return ((answer[tag]?.Value ?? []) as DicomJsonDataset[]).map((item) => ({ uid: String(item[REFERENCED_SOP_INSTANCE_UID]?.Value?.[0] ?? ''), item }));
}
