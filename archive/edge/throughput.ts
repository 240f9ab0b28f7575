/**
 * Bytes per second over the last `windowMs`, from what was put on the wire: one sum per second, so
 * memory stays the same however fast the link. Time is passed in.
 */
export class ThroughputMeter {
  private readonly seconds = new Map<number, number>();

  constructor(private readonly windowMs = 60_000) {}

  add(bytes: number, nowMs: number): void {
    const second = Math.floor(nowMs / 1000);
    this.seconds.set(second, (this.seconds.get(second) ?? 0) + bytes);
  }

  bytesPerSecond(nowMs: number): number {
    const oldest = Math.floor((nowMs - this.windowMs) / 1000);
    let total = 0;
    for (const [second, bytes] of this.seconds) {
      if (second <= oldest) this.seconds.delete(second);
      else total += bytes;
    }
    return total / (this.windowMs / 1000);
  }
}
