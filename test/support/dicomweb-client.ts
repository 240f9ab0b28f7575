import { createRequire } from 'node:module';

/**
 * dicomweb-client is written for browsers: it needs a global XMLHttpRequest, which xhr2 provides
 * in Node. The client under test is then the same code OHIF and other viewers use.
 */
const require = createRequire(import.meta.url);
(globalThis as Record<string, unknown>).XMLHttpRequest ??= require('xhr2');

export interface DicomWebClient {
  searchForStudies(options?: { queryParams?: Record<string, unknown> }): Promise<Array<Record<string, { vr: string; Value?: unknown[] }>>>;
  searchForSeries(options?: { studyInstanceUID?: string; queryParams?: Record<string, unknown> }): Promise<Array<Record<string, { vr: string; Value?: unknown[] }>>>;
  searchForInstances(options?: { studyInstanceUID?: string; seriesInstanceUID?: string; queryParams?: Record<string, unknown> }): Promise<Array<Record<string, { vr: string; Value?: unknown[] }>>>;
  retrieveInstance(options: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string }): Promise<ArrayBuffer>;
  retrieveSeriesMetadata(options: { studyInstanceUID: string; seriesInstanceUID: string }): Promise<Array<Record<string, { vr: string; Value?: unknown[]; BulkDataURI?: string }>>>;
  retrieveInstanceFrames(options: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string; frameNumbers: number[]; mediaTypes?: Array<{ mediaType: string; transferSyntaxUID?: string }> }): Promise<ArrayBuffer[]>;
  retrieveInstanceRendered(options: { studyInstanceUID: string; seriesInstanceUID: string; sopInstanceUID: string; mediaTypes?: Array<{ mediaType: string }> }): Promise<ArrayBuffer>;
}

/** A client signed in with an API token, as a PACS or a script would be. */
export function dicomWebClient(url: string, token: string): DicomWebClient {
  const { api } = require('dicomweb-client') as { api: { DICOMwebClient: new (options: { url: string; headers: Record<string, string> }) => DicomWebClient } };
  return new api.DICOMwebClient({ url, headers: { Authorization: `Bearer ${token}` } });
}
