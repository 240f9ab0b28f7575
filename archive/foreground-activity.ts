/** How long after the last instance arrived the archive still counts as receiving. */
const QUIET_AFTER_MS = 250;

/**
 * Whether instances are being received right now. The embedded queue shares this process, its two
 * cores, the disk's journal and the database with the receivers; while a PACS is sending it holds
 * index and thumbnail work back (for up to 10 s), so each acknowledgement waits only for its own
 * disk and database work, and the derived work follows a moment later. (Workers in their own
 * process, with REDIS_URL, are not held back: there the operating system shares the cores.)
 */
export class ForegroundActivity {
  private inFlight = 0;
  private lastEndedAt = -Infinity;

  /** Marks one instance being received; call the returned function when it is answered. */
  begin(): () => void {
    this.inFlight++;
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      this.inFlight--;
      this.lastEndedAt = performance.now();
    };
  }

  get busy(): boolean {
    return this.inFlight > 0 || performance.now() - this.lastEndedAt < QUIET_AFTER_MS;
  }

  /** Milliseconds until `busy` may turn false, when nothing else arrives. */
  get quietInMs(): number {
    return Math.max(1, Math.ceil(QUIET_AFTER_MS - (performance.now() - this.lastEndedAt)));
  }
}
