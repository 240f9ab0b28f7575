import net from 'node:net';
import dimse from 'dcmjs-dimse';
import type { Config } from '../../archive/config.ts';
import { IMPLEMENTATION_CLASS_UID, IMPLEMENTATION_VERSION_NAME } from '../../archive/dicom/part10.ts';
import type { Runtime } from '../../workers/runtime.ts';
import { guardPduFraming } from './pdu-guard.ts';
import { createScpClass } from './scp.ts';

// dcmjs-dimse logs every PDU at info level; our own log records what an administrator needs.
dimse.log.setLevel('silent');
dimse.Implementation.setImplementationClassUid(IMPLEMENTATION_CLASS_UID);
dimse.Implementation.setImplementationVersion(IMPLEMENTATION_VERSION_NAME);

/** How long running associations may take to finish when the server stops. */
const DRAIN_TIMEOUT_MS = 10_000;

export interface DimseServerHandle {
  port: number;
  close(): Promise<void>;
}

/**
 * The DIMSE listener. We own the TCP server (rather than dcmjs-dimse's Server) to bind the
 * configured address, set TCP no-delay on every socket — DCMTK peers leave Nagle on, and each
 * request/response exchange would otherwise stall ~40 ms — guard PDU framing, and drain on close.
 */
export async function startDimseServer(runtime: Runtime, options: Config['dicom']): Promise<DimseServerHandle> {
  const log = runtime.log.child({ component: 'dimse' });
  const Scp = createScpClass({ ingest: runtime.ingest, aeTitle: options.aeTitle, maxPduLength: options.maxPduLength, log });
  const sockets = new Set<net.Socket>();
  const server = net.createServer((socket) => {
    socket.setNoDelay(true);
    sockets.add(socket);
    const peer = `${socket.remoteAddress}:${socket.remotePort}`;
    socket.once('close', () => sockets.delete(socket));
    socket.on('error', (error) => log.debug({ peer, err: error }, 'connection error'));
    guardPduFraming(socket, options.maxPduLength, (reason) => log.warn({ peer, reason }, 'connection aborted'));
    try {
      const scp = new Scp(socket, { associationTimeout: options.idleSeconds * 1000, pduTimeout: options.idleSeconds * 1000 });
      // dcmjs-dimse's own Server marks the SCP connected; its idle timeouts depend on it.
      (scp as unknown as { connected: boolean }).connected = true;
      scp.on('networkError', (error: Error) => {
        log.warn({ peer, reason: error.message }, 'association ended by a network or protocol error');
        socket.destroy();
      });
    } catch (error) {
      log.warn({ peer, err: error }, 'could not set up the association');
      socket.destroy();
    }
  });
  server.on('error', (error) => log.error({ err: error }, 'DIMSE listener error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  return {
    port: (server.address() as net.AddressInfo).port,
    async close() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        const deadline = setTimeout(() => {
          for (const socket of sockets) socket.destroy();
        }, DRAIN_TIMEOUT_MS);
        deadline.unref();
        if (sockets.size === 0) clearTimeout(deadline);
      });
    },
  };
}
