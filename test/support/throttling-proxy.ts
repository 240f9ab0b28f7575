import net from 'node:net';

/**
 * A TCP proxy standing for the county's WAN link to the region: every byte, each way, arrives
 * `latencyMs` late and no faster than `bytesPerSecond`; `cut()` closes every connection and refuses new
 * ones (the link down), `restore()` lets them through again. On 127.0.0.1 only.
 */
export interface ThrottlingProxy {
  port: number;
  cut(): void;
  restore(): void;
  setBandwidth(bytesPerSecond: number): void;
  /** Bytes delivered towards the target (the upload), with when the first and the last of them went. */
  uploaded: { bytes: number; firstAt: number; lastAt: number };
  close(): Promise<void>;
}

export async function startThrottlingProxy(options: { targetPort: number; latencyMs: number; bytesPerSecond: number }): Promise<ThrottlingProxy> {
  let bytesPerSecond = options.bytesPerSecond;
  let down = false;
  const sockets = new Set<net.Socket>();

  /**
   * Copies `from` to `to` with the delay and the cap, in order: one queue and one timer per direction
   * (a timer per chunk could fire out of order); `from` is paused while much is in flight.
   */
  const uploaded = { bytes: 0, firstAt: 0, lastAt: 0 };
  const relay = (from: net.Socket, to: net.Socket, count?: typeof uploaded) => {
    const queue: Array<{ chunk: Buffer | null; dueAt: number }> = [];
    let nextFreeAt = 0;
    let inFlight = 0;
    let timer: NodeJS.Timeout | undefined;
    const deliver = () => {
      timer = undefined;
      const now = Date.now();
      while (queue.length && queue[0]!.dueAt <= now) {
        const { chunk } = queue.shift()!;
        if (chunk === null) {
          to.end();
          continue;
        }
        inFlight -= chunk.length;
        if (to.destroyed) continue;
        to.write(chunk);
        if (count) {
          count.firstAt ||= now;
          count.lastAt = now;
          count.bytes += chunk.length;
        }
      }
      if (inFlight <= 256 * 1024 && from.isPaused()) from.resume();
      if (queue.length) timer = setTimeout(deliver, queue[0]!.dueAt - now);
    };
    const enqueue = (chunk: Buffer | null) => {
      const now = Date.now();
      // The link is busy until the previous chunk has gone through at the cap.
      nextFreeAt = Math.max(nextFreeAt, now) + ((chunk?.length ?? 0) * 1000) / bytesPerSecond;
      queue.push({ chunk, dueAt: nextFreeAt + options.latencyMs });
      if (chunk) {
        inFlight += chunk.length;
        if (inFlight > 256 * 1024) from.pause();
      }
      timer ??= setTimeout(deliver, queue[0]!.dueAt - now);
    };
    from.on('data', (chunk: Buffer) => enqueue(chunk));
    from.on('end', () => enqueue(null));
  };

  const server = net.createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = net.connect({ host: '127.0.0.1', port: options.targetPort });
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => undefined);
    }
    client.on('close', () => upstream.destroy());
    upstream.on('close', () => client.destroy());
    relay(client, upstream, uploaded);
    relay(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    cut() {
      down = true;
      for (const socket of sockets) socket.destroy();
    },
    restore() {
      down = false;
    },
    uploaded,
    setBandwidth(value) {
      bytesPerSecond = value;
    },
    close() {
      for (const socket of sockets) socket.destroy();
      return new Promise((resolve) => server.close(() => resolve()));
    },
  };
}
