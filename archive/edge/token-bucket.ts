/**
 * The bandwidth cap on the upload to the region: a token bucket of bytes. `bytesPerSecond` refill,
 * at most `burstBytes` saved up, so the gaps between requests (a round trip, the region's commit) are
 * made up for by a short burst instead of lowering the average below the cap. Time is passed in, so
 * the arithmetic is tested without clocks.
 */
export class TokenBucket {
  private tokens: number;
  private updatedAt: number;

  constructor(
    readonly bytesPerSecond: number,
    readonly burstBytes: number,
    nowMs: number,
  ) {
    if (!(bytesPerSecond > 0) || !(burstBytes > 0)) throw new Error('a token bucket needs a positive rate and burst');
    this.tokens = burstBytes;
    this.updatedAt = nowMs;
  }

  /**
   * Takes `bytes` tokens and says how long to wait before sending them: 0 when the bucket held them,
   * else until the debt is refilled. Taking before waiting keeps concurrent senders in one queue.
   */
  take(bytes: number, nowMs: number): number {
    this.refill(nowMs);
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil((-this.tokens * 1000) / this.bytesPerSecond);
  }

  private refill(nowMs: number): void {
    const elapsed = Math.max(0, nowMs - this.updatedAt);
    this.tokens = Math.min(this.burstBytes, this.tokens + (elapsed * this.bytesPerSecond) / 1000);
    this.updatedAt = nowMs;
  }
}

/**
 * Pieces leave the bucket one at a time: at most 16 KiB, and at most a tenth of a second's worth, so the
 * stream stays smooth at low caps and no wait comes near the request's idle timeout.
 */
const MAX_PIECE_BYTES = 16 * 1024;
const MIN_PIECE_BYTES = 256;

export function pieceBytes(bytesPerSecond: number): number {
  return Math.max(MIN_PIECE_BYTES, Math.min(MAX_PIECE_BYTES, Math.floor(bytesPerSecond / 10)));
}

/** The chunks of `source` re-cut into pieces, each sent only once the bucket allows (no bucket: as they come). */
export async function* throttled(source: AsyncIterable<Buffer>, bucket: TokenBucket | undefined, sleep: (ms: number) => Promise<void>, now: () => number = Date.now): AsyncGenerator<Buffer> {
  for await (const chunk of source) {
    if (!bucket) {
      yield chunk;
      continue;
    }
    const size = pieceBytes(bucket.bytesPerSecond);
    for (let offset = 0; offset < chunk.length; offset += size) {
      const piece = chunk.subarray(offset, offset + size);
      const wait = bucket.take(piece.length, now());
      if (wait > 0) await sleep(wait);
      yield piece;
    }
  }
}
