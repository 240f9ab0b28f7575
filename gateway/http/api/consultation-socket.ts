import { z } from 'zod';
import { ConsultationRefusal, consultationAudit } from '../../../archive/consultation/consultation-service.ts';
import type { Consultation, ConsultationClientMessage, ConsultationServerMessage } from '../../../archive/consultation/wire.ts';
import type { Runtime } from '../../../workers/runtime.ts';
import type { WebSocketRoute } from '../websocket.ts';

const point = z.tuple([z.number().finite(), z.number().finite(), z.number().finite()]);
const clientMessage: z.ZodType<ConsultationClientMessage> = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('view'),
    view: z.object({
      layout: z.string().max(20),
      activeCell: z.number().int().min(0).max(15),
      cells: z.array(z.object({ studyInstanceUid: z.string().max(64), seriesInstanceUid: z.string().max(64), imageIndex: z.number().int().min(0) }).nullable()).max(16),
      voi: z.object({ windowCenter: z.number().finite(), windowWidth: z.number().finite() }).nullable(),
      camera: z.object({ parallelScale: z.number().finite(), focalPoint: point, position: point }).nullable(),
      annotations: z.array(z.unknown()).max(200),
    }),
  }),
  z.object({ type: z.literal('pointer'), pointer: z.object({ x: z.number().min(0).max(1), y: z.number().min(0).max(1) }) }),
  z.object({ type: z.literal('chat'), text: z.string() }),
  z.object({ type: z.literal('floor-request') }),
  z.object({ type: z.literal('floor-hand-over') }),
]);

/** Close codes: the application range (4000–4999), mirroring the HTTP status a request would get. */
const NOT_A_PARTICIPANT = 4404;
const NOT_IN_SESSION = 4409;
const LIVENESS_CHECK_MS = 5_000;

/**
 * /api/consultations/{id}/live: the shared session of one consultation, for its two participants
 * while it is active. The one who has the floor sends their view; both send pointer positions, chat
 * and floor requests. Anyone else is refused (closed with 4404, as if there were no such
 * consultation); a consultation that ends closes its sockets.
 */
export function consultationSocket(runtime: Runtime): WebSocketRoute {
  const consultations = runtime.consultations;
  return {
    path: /^\/api\/consultations\/([0-9]{1,18})\/live$/,
    requires: 'read-images',
    async open(socket, { principal, match, url, request }) {
      const id = match[1]!;
      const send = (message: ConsultationServerMessage) => socket.send(JSON.stringify(message));
      const row = await consultations.get(principal, id).catch((error: unknown) => {
        if (error instanceof ConsultationRefusal) return null;
        throw error;
      });
      if (!row) return socket.close(NOT_A_PARTICIPANT, `no consultation ${id}`);
      if (row.status !== 'active') return socket.close(NOT_IN_SESSION, `the consultation is ${row.status}`);
      // Opening the session shows the study to this participant: audited like reading the consultation.
      const audited = consultationAudit(row.consultation, row.grantId);
      runtime.audit.recordInBackground({
        eventType: 'procedure-record',
        action: 'R',
        outcome: 0,
        userName: principal.username,
        userRole: principal.role,
        institutionId: principal.institutionId ?? undefined,
        sourceAddress: request.socket.remoteAddress,
        studyUids: audited.studyUids,
        detail: { route: url.pathname, ...audited.detail },
      });
      let current: Consultation = row.consultation;
      const unsubscribe = consultations.subscribe(id, (event) => {
        if ('consultation' in event) {
          current = event.consultation;
          send({ type: 'consultation', consultation: current, you: principal.username });
          if (current.status !== 'active') socket.close(1000, `the consultation is ${current.status}`);
          return;
        }
        const { message } = event;
        // A participant's own view and pointer are already on their screen.
        if ((message.type === 'view' || message.type === 'pointer') && message.from === principal.username) return;
        send(message);
      });
      // The session shows a patient's images as they move: a sign-out, a revoked token or a disabled
      // account ends it within LIVENESS_CHECK_MS, as the UPS event channel ends (1008).
      const liveness = setInterval(() => {
        runtime.auth.isLive(principal).then(
          (live) => void (live || socket.close(1008, 'the credentials this session was opened with are no longer valid')),
          (error: unknown) => runtime.log.warn({ err: error, consultationId: id }, 'consultation liveness check failed'),
        );
      }, LIVENESS_CHECK_MS);
      socket.on('close', () => {
        clearInterval(liveness);
        unsubscribe();
      });

      const handle = async (message: ConsultationClientMessage) => {
        switch (message.type) {
          case 'view':
            if (current.floorHolder !== principal.username) throw new ConsultationRefusal(409, 'only the one who has the floor leads the view; ask for the floor first');
            return consultations.shareView(principal, id, message.view);
          case 'pointer':
            return consultations.sharePointer(principal, id, message.pointer);
          case 'chat':
            return consultations.chat(principal, row, message.text);
          case 'floor-request':
            return void (await consultations.requestFloor(principal, id));
          case 'floor-hand-over':
            return void (await consultations.handOver(principal, id));
        }
      };
      // One message at a time, in the order they came: a view never overtakes the one before.
      let queue = Promise.resolve();
      socket.on('message', (data) => {
        queue = queue.then(async () => {
          let message: ConsultationClientMessage;
          try {
            const parsed = clientMessage.safeParse(JSON.parse(String(data)));
            if (!parsed.success) return send({ type: 'refused', reason: `not a consultation message: ${parsed.error.issues[0]?.message ?? 'invalid'}` });
            message = parsed.data;
          } catch {
            return send({ type: 'refused', reason: 'messages are JSON' });
          }
          try {
            await handle(message);
          } catch (error) {
            if (error instanceof ConsultationRefusal) return send({ type: 'refused', reason: error.reason });
            runtime.log.error({ err: error, consultationId: id }, 'consultation message failed');
            send({ type: 'refused', reason: 'the message could not be passed on; try again' });
          }
        });
      });
      send({ type: 'consultation', consultation: current, you: principal.username });
      for (const earlier of await consultations.chatHistory(row)) send({ type: 'chat', ...earlier });
      await consultations.announceJoined(principal, id);
    },
  };
}
