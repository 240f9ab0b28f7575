import type { Consultation, ConsultationInvitation } from '../../../archive/consultation/wire.ts';
import type { Connection } from './http.ts';

/** /api/consultations: invitations, answers, the end, the opinion; and where a session's WebSocket is. */
export class ConsultationClient {
  constructor(
    private readonly connection: Connection,
    readonly apiRoot = '/api',
  ) {}

  mine(): Promise<Consultation[]> {
    return this.connection.json(`${this.apiRoot}/consultations`);
  }

  invite(invitation: ConsultationInvitation): Promise<Consultation> {
    return this.connection.json(`${this.apiRoot}/consultations`, { method: 'POST', json: invitation });
  }

  act(id: string, action: 'accept' | 'decline' | 'end'): Promise<Consultation> {
    return this.connection.json(`${this.apiRoot}/consultations/${encodeURIComponent(id)}/${action}`, { method: 'POST' });
  }

  writeOpinion(id: string, text: string): Promise<Consultation> {
    return this.connection.json(`${this.apiRoot}/consultations/${encodeURIComponent(id)}/opinion`, { method: 'POST', json: { text } });
  }

  /** The session's WebSocket on this page's own origin (the session cookie goes with it). */
  openSession(id: string): WebSocket {
    const url = new URL(`${this.apiRoot}/consultations/${encodeURIComponent(id)}/live`, location.href);
    url.protocol = url.protocol === 'https:' ? 'wss:' : 'ws:';
    return new WebSocket(url);
  }
}
