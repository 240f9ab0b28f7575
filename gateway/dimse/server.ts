import fs from 'node:fs/promises';
import net from 'node:net';
import tls from 'node:tls';
import type { Config } from '../../archive/config.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { dimseServices } from './dimse-services.ts';
import { normaliseAddress, PeerGate } from './peer-gate.ts';
import { DimseSession, type ScpDependencies } from './scp.ts';

/** How long running associations may take to finish when the server stops. */
const DRAIN_TIMEOUT_MS = 10_000;

/**
 * TLS 1.2 cipher suites for DICOM TLS: those the BCP 195 profiles (PS3.15 B.9 and B.10, after
 * RFC 7525; B.12 after RFC 9325 4.2) recommend with ECDHE key exchange and AES-GCM, for RSA and ECDSA
 * server keys. Their DHE_RSA counterparts are left out: every TLS 1.2 DICOM peer offers ECDHE, and
 * DHE would bring finite-field groups that RFC 9325 discourages. TLS 1.3 suites are all AEAD, and
 * OpenSSL's default set of them is kept.
 */
export const BCP195_TLS12_CIPHERS = [
  'ECDHE-RSA-AES128-GCM-SHA256', // TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  'ECDHE-RSA-AES256-GCM-SHA384', // TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  'ECDHE-ECDSA-AES128-GCM-SHA256', // TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  'ECDHE-ECDSA-AES256-GCM-SHA384', // TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
] as const;

/** Handshake failures that say nothing about the caller's identity: a probe or a dropped connection. */
const UNREMARKABLE_TLS_ERRORS = new Set(['ECONNRESET', 'EPIPE', 'ERR_SSL_WRONG_VERSION_NUMBER', 'ERR_SSL_HTTP_REQUEST']);

export interface DimseServerHandle {
  port: number;
  /** The DICOM TLS port, when configured. */
  tlsPort?: number;
  close(): Promise<void>;
}

/**
 * The DIMSE listeners: plain TCP, and DICOM TLS on its own port when configured, both serving the
 * same SCP. They bind the configured address, set TCP no-delay on every socket — DCMTK peers leave Nagle on,
 * and each request/response exchange would otherwise stall ~40 ms — and drain on close. `services` are
 * the DIMSE services beyond C-ECHO and C-STORE (the runtime's, unless a benchmark leaves them out).
 */
export async function startDimseServer(runtime: Runtime, options: Config['dicom'], services = dimseServices(runtime)): Promise<DimseServerHandle> {
  const log = runtime.log.child({ component: 'dimse' });
  const dependencies: ScpDependencies & { idleMs: number } = {
    ingest: runtime.ingest,
    gate: new PeerGate(runtime.institutions, runtime.config.access.unknownPeers),
    audit: runtime.audit,
    aeTitle: options.aeTitle,
    maxPduLength: options.maxPduLength,
    maxObjectBytes: runtime.config.http.maxStowBytes,
    idleMs: options.idleSeconds * 1000,
    services,
    log,
  };
  /** Every TCP connection of both listeners, ended at the drain deadline. */
  const sockets = new Set<net.Socket>();
  /** Running associations, whose end (and audit events) the drain waits for. */
  const associations = new Set<DimseSession>();

  /** Per TCP connection, TLS or not: no-delay and tracking for the drain. */
  const trackConnections = (server: net.Server) =>
    server.on('connection', (socket: net.Socket) => {
      socket.setNoDelay(true);
      sockets.add(socket);
      socket.once('close', () => sockets.delete(socket));
      socket.on('error', (error) => log.debug({ peer: `${socket.remoteAddress}:${socket.remotePort}`, err: error }, 'connection error'));
    });

  /** Per DICOM byte stream: the plain socket, or the TLS socket once its handshake is done. */
  const serveAssociation = (socket: net.Socket) => {
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.on('error', (error) => log.debug({ peer, err: error }, 'connection error'));
    try {
      const session = new DimseSession(socket, dependencies);
      associations.add(session);
      runtime.metrics.associations.inc();
      void session.whenEnded().finally(() => {
        associations.delete(session);
        runtime.metrics.associations.dec();
      });
    } catch (error) {
      log.warn({ peer, err: error }, 'could not set up the association');
      socket.destroy();
    }
  };

  const plainServer = net.createServer(serveAssociation);
  trackConnections(plainServer);
  const servers: net.Server[] = [plainServer];
  let tlsServer: tls.Server | undefined;
  if (options.tls) {
    tlsServer = tls.createServer({ ...(await bcp195ServerOptions(options.tls)), handshakeTimeout: options.idleSeconds * 1000 }, serveAssociation);
    trackConnections(tlsServer);
    tlsServer.on('tlsClientError', (error: Error & { code?: string }, socket: tls.TLSSocket) => {
      const peer = `${socket.remoteAddress}:${socket.remotePort}`;
      // Under TLS 1.3 the client certificate is checked after the handshake, and a refused one ends
      // the connection with no error of its own: the reason is on the socket.
      const certificateRefused = socket.authorizationError ? `client certificate refused (${String(socket.authorizationError)})` : undefined;
      const reason = certificateRefused ?? error.message.trim();
      log.warn({ peer, reason }, 'DICOM TLS handshake failed');
      if (!certificateRefused && error.code && UNREMARKABLE_TLS_ERRORS.has(error.code)) return;
      // No association was requested, but a node failed to authenticate: a security alert all the same.
      runtime.audit.recordInBackground({
        eventType: 'association-rejected',
        action: 'E',
        outcome: 4,
        sourceAddress: normaliseAddress(socket.remoteAddress ?? ''),
        detail: { tls: true, reason: `TLS handshake failed: ${reason}` },
      });
    });
    servers.push(tlsServer);
  }
  for (const server of servers) server.on('error', (error) => log.error({ err: error }, 'DIMSE listener error'));

  const closeServers = () => Promise.all(servers.map((server) => new Promise<void>((resolve) => server.close(() => resolve()))));
  try {
    await listen(plainServer, options.port, options.host);
    if (tlsServer && options.tls) await listen(tlsServer, options.tls.port, options.host);
  } catch (error) {
    await closeServers();
    throw error;
  }
  return {
    port: (plainServer.address() as net.AddressInfo).port,
    ...(tlsServer ? { tlsPort: (tlsServer.address() as net.AddressInfo).port } : {}),
    async close() {
      const deadline = setTimeout(() => {
        for (const socket of sockets) socket.destroy();
      }, DRAIN_TIMEOUT_MS);
      deadline.unref();
      await closeServers();
      clearTimeout(deadline);
      await Promise.all([...associations].map((association) => association.whenEnded()));
    },
  };
}

function listen(server: net.Server, port: number, host: string): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
}

/**
 * The server side of the BCP 195 TLS profiles: TLS 1.2 at least (1.0 and 1.1 are never negotiated,
 * RFC 8996), TLS 1.3 preferred when the client offers it, the cipher suites above in our order,
 * and with client verification, a certificate from the configured CA or no connection.
 */
async function bcp195ServerOptions(files: NonNullable<Config['dicom']['tls']>): Promise<tls.TlsOptions> {
  const read = (file: string, what: string) =>
    fs.readFile(file).catch((error: unknown) => {
      throw new Error(`DICOM TLS: cannot read the ${what} ${file}: ${error instanceof Error ? error.message : String(error)}`, { cause: error });
    });
  const [cert, key, ca] = await Promise.all([
    read(files.certFile, 'server certificate'),
    read(files.keyFile, 'server key'),
    files.caFile ? read(files.caFile, 'client CA certificates') : undefined,
  ]);
  return {
    cert,
    key,
    ...(ca ? { ca } : {}),
    minVersion: 'TLSv1.2',
    maxVersion: 'TLSv1.3',
    ciphers: BCP195_TLS12_CIPHERS.join(':'),
    honorCipherOrder: true,
    requestCert: files.verifyClient,
    rejectUnauthorized: files.verifyClient,
  };
}
