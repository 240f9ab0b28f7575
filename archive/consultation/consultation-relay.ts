import pg from 'pg';
import type { Logger } from '../log.ts';
import type { Consultation, ConsultationServerMessage } from './wire.ts';

/** What travels between gateway processes: a consultation changed, or a message for its participants. */
export type RelayEvent = { consultation: Consultation } | { message: ConsultationServerMessage };

const CHANNEL = 'yingyun_consultation';
// PostgreSQL refuses a NOTIFY payload of 8000 bytes or more; the envelope takes a few.
const MAX_PAYLOAD_BYTES = 7900;

export class RelayRefusal extends Error {}

/**
 * The participants of one consultation may be connected to different gateway processes, so every
 * event goes through PostgreSQL's LISTEN/NOTIFY: each process listens on one connection of its own
 * and hands each event to the sockets of that consultation it holds. Events are published on that
 * same connection, so one process's events arrive in the order it sent them (a view change never
 * overtakes the one before). The connection is opened at first use: a worker never opens one.
 */
export class ConsultationRelay {
  private readonly subscribers = new Map<string, Set<(event: RelayEvent) => void>>();
  private connection: Promise<pg.Client> | undefined;
  private closed = false;

  constructor(
    private readonly pool: pg.Pool,
    private readonly log: Logger,
  ) {}

  /** `deliver` gets every event of the consultation until the returned function is called. */
  subscribe(consultationId: string, deliver: (event: RelayEvent) => void): () => void {
    void this.connected().catch(() => undefined);
    let subscribers = this.subscribers.get(consultationId);
    if (!subscribers) this.subscribers.set(consultationId, (subscribers = new Set()));
    subscribers.add(deliver);
    return () => {
      subscribers.delete(deliver);
      if (subscribers.size === 0) this.subscribers.delete(consultationId);
    };
  }

  async publish(consultationId: string, event: RelayEvent): Promise<void> {
    const payload = JSON.stringify({ consultationId, event });
    if (Buffer.byteLength(payload) > MAX_PAYLOAD_BYTES) throw new RelayRefusal(`the message is larger than the ${MAX_PAYLOAD_BYTES} bytes a consultation relays`);
    const connection = await this.connected();
    await connection.query('SELECT pg_notify($1, $2)', [CHANNEL, payload]);
  }

  async close(): Promise<void> {
    this.closed = true;
    const connection = this.connection;
    this.connection = undefined;
    await connection?.then((client) => client.end()).catch(() => undefined);
  }

  private connected(): Promise<pg.Client> {
    if (this.closed) return Promise.reject(new Error('the consultation relay is closed'));
    this.connection ??= this.connect();
    return this.connection;
  }

  private connect(): Promise<pg.Client> {
    const client = new pg.Client(this.pool.options);
    let attempt: Promise<pg.Client> | undefined;
    const lost = (reason: string) => {
      if (this.connection === attempt) this.connection = undefined;
      client.end().catch(() => undefined);
      // Sessions still open need the relay back: listen again at once (the next publish would too).
      if (!this.closed && this.subscribers.size > 0) {
        this.log.warn({ reason }, 'consultation relay connection lost; listening again');
        void this.connected().catch((error: unknown) => this.log.error({ err: error }, 'consultation relay cannot listen'));
      }
    };
    client.on('notification', (notification) => {
      if (notification.channel !== CHANNEL || !notification.payload) return;
      const { consultationId, event } = JSON.parse(notification.payload) as { consultationId: string; event: RelayEvent };
      for (const deliver of this.subscribers.get(consultationId) ?? []) deliver(event);
    });
    client.on('error', (error) => lost(error.message));
    client.on('end', () => lost('connection ended'));
    attempt = (async () => {
      try {
        await client.connect();
        await client.query(`LISTEN ${CHANNEL}`);
        return client;
      } catch (error) {
        if (this.connection === attempt) this.connection = undefined;
        await client.end().catch(() => undefined);
        throw error;
      }
    })();
    return attempt;
  }
}
