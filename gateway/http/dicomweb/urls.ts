import type { Request } from 'express';
import type { DicomJsonElement } from '../../../archive/dicom/types.ts';

/**
 * The gateway's own base URL: YINGYUN_PUBLIC_URL when configured, otherwise the address and port the
 * connection reached. Never the request's Host header, which the client writes: RetrieveURLs built
 * from it would point a viewer (and its credentials) wherever an attacker's request said.
 */
export function gatewayBase(request: Request): string {
  const configured = (request.app.locals as { publicUrl?: string }).publicUrl;
  if (configured) return configured.replace(/\/+$/, '');
  const { localAddress = '127.0.0.1', localPort } = request.socket;
  const host = localAddress.includes(':') ? (localAddress.startsWith('::ffff:') ? localAddress.slice(7) : `[${localAddress}]`) : localAddress;
  return `${request.protocol}://${host}:${localPort}`;
}

/** The DICOMweb base URL, for RetrieveURL and BulkDataURI values. */
export function dicomWebBase(request: Request): string {
  return `${gatewayBase(request)}/dicom-web`;
}

export function studyUrl(base: string, study: string): string {
  return `${base}/studies/${study}`;
}

export function seriesUrl(base: string, study: string, series: string): string {
  return `${studyUrl(base, study)}/series/${series}`;
}

export function instanceUrl(base: string, study: string, series: string, instance: string): string {
  return `${seriesUrl(base, study, series)}/instances/${instance}`;
}

/** Small builders for DICOM JSON elements written by the server itself. */
export const element = {
  ui: (value: string): DicomJsonElement => ({ vr: 'UI', Value: [value] }),
  ur: (value: string): DicomJsonElement => ({ vr: 'UR', Value: [value] }),
  us: (value: number): DicomJsonElement => ({ vr: 'US', Value: [value] }),
  is: (value: number): DicomJsonElement => ({ vr: 'IS', Value: [value] }),
  lo: (value: string): DicomJsonElement => ({ vr: 'LO', Value: [value] }),
  cs: (values: string[]): DicomJsonElement => (values.length ? { vr: 'CS', Value: values } : { vr: 'CS' }),
};

/** A UID in a URL path: digits and dots only, so it can be neither a path trick nor an SQL surprise. */
export function isUid(value: string | undefined): value is string {
  return value !== undefined && value.length <= 64 && /^[0-9]+(\.[0-9]+)*$/.test(value);
}
