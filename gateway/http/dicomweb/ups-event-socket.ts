import { isAeTitle } from '../../../archive/reading/ups-event-report.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import type { WebSocketRoute } from '../websocket.ts';

/**
 * The UPS event channel (PS3.18 11 Open Notification Connection, Send Event Report): a subscriber
 * opens `ws(s)://<host>/dicom-web/subscribers/<AE Title>` — the address Create Subscription gave in
 * Content-Location — with its token or, from Yingyun's own pages, its session cookie, and receives
 * one text message per event report (a DICOM JSON dataset) for the subscriptions of that AE Title of
 * its user. Messages from the client are not part of the protocol and are ignored.
 */
const HEARTBEAT_MS = 30_000;

export function upsEventSocket(runtime: Runtime): WebSocketRoute {
  return {
    path: /^\/dicom-web\/subscribers\/([^/]+)$/,
    requires: 'read-images',
    async open(socket, { principal, visibility, match }) {
      const aeTitle = match[1]!;
      // 1008 Policy Violation: the name cannot be a subscriber's.
      if (!isAeTitle(aeTitle)) return socket.close(1008, 'the AE Title is 1 to 16 printable ASCII characters, without spaces or backslash');
      const disconnect = await runtime.upsEvents.connect({
        userId: principal.userId,
        aeTitle,
        visibility,
        send: (report) => socket.send(JSON.stringify(report)),
        authorised: () => runtime.auth.isLive(principal),
        end: (code, reason) => socket.close(code, reason),
      });
      if (socket.readyState !== socket.OPEN) return disconnect();
      // A subscriber may hear nothing for hours: a ping keeps proxies from closing the idle connection,
      // and a peer that stopped answering (a laptop closed) is let go instead of being written to.
      let answering = true;
      socket.on('pong', () => (answering = true));
      const heartbeat = setInterval(() => {
        if (!answering) return socket.terminate();
        answering = false;
        socket.ping();
      }, HEARTBEAT_MS);
      heartbeat.unref();
      socket.once('close', () => {
        clearInterval(heartbeat);
        disconnect();
      });
    },
  };
}
