import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { launchOrthanc, type OrthancProcess } from '../../bench/peers.ts';
import { commandExists } from './peers.ts';

/** Debian's `orthanc` package: /usr/sbin/Orthanc. */
export const orthancAvailable = (): boolean => commandExists('Orthanc');

/** A DICOM node Orthanc knows (its DicomModalities), by the name its REST API uses (/modalities/{name}/…). */
export interface OrthancModality {
  aeTitle: string;
  host: string;
  port: number;
}

export interface OrthancPeer extends OrthancProcess {
  aeTitle: string;
  /** http://127.0.0.1:{httpPort} */
  restUrl: string;
  /** Calls the REST API; resolves with the JSON answer, rejects with Orthanc's answer on a non-2xx status. */
  rest<T = unknown>(method: 'GET' | 'POST' | 'PUT' | 'DELETE', route: string, body?: unknown): Promise<T>;
  /** Uploads a DICOM file through the REST API (POST /instances); resolves with its Orthanc instance ID. */
  upload(file: Buffer): Promise<string>;
}

/**
 * Orthanc as a real PACS peer of Yingyun: its REST API on 127.0.0.1 without authentication, the
 * given modalities registered with every DICOM service allowed, storage commitment included (as SCU
 * it asks for it after a C-STORE; as SCP it takes N-EVENT-REPORTs from them), TCP_NODELAY=1 in its
 * environment. Its folder is removed by stop().
 */
export async function startOrthancPeer(options: { aeTitle?: string; modalities: Record<string, OrthancModality>; settings?: Record<string, unknown> }): Promise<OrthancPeer> {
  const aeTitle = options.aeTitle ?? 'ORTHANC';
  const workDir = await fs.mkdtemp(path.join(os.tmpdir(), 'yingyun-orthanc-'));
  const dicomModalities = Object.fromEntries(
    Object.entries(options.modalities).map(([name, modality]) => [
      name,
      { AET: modality.aeTitle, Host: modality.host, Port: modality.port, AllowStorageCommitment: true },
    ]),
  );
  const orthanc = await launchOrthanc(workDir, { Name: 'yingyun-peer', DicomAet: aeTitle, DicomModalities: dicomModalities, ...options.settings });
  const restUrl = `http://127.0.0.1:${orthanc.httpPort}`;
  async function call(method: string, route: string, body: string | Uint8Array | undefined, contentType: string): Promise<unknown> {
    const response = await fetch(`${restUrl}${route}`, { method, body, headers: body === undefined ? {} : { 'content-type': contentType } });
    const text = await response.text();
    if (!response.ok) throw new Error(`Orthanc ${method} ${route}: ${response.status} ${text}`);
    return text ? JSON.parse(text) : undefined;
  }
  return {
    ...orthanc,
    aeTitle,
    restUrl,
    rest: <T>(method: string, route: string, body?: unknown) =>
      call(method, route, body === undefined ? undefined : JSON.stringify(body), 'application/json') as Promise<T>,
    async upload(file) {
      const answer = (await call('POST', '/instances', new Uint8Array(file), 'application/dicom')) as { ID: string };
      return answer.ID;
    },
    async stop() {
      await orthanc.stop();
      await fs.rm(workDir, { recursive: true, force: true });
    },
  };
}
