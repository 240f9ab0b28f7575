/**
 * How long to wait before trying again: doubling from `baseMs` up to `maxMs`, with the upper half
 * jittered (`random` in [0, 1)) so that several edges cut off by the same outage do not all come back
 * in the same second. Used for the link (consecutive failed requests) and for one instance the region
 * refused (its attempts).
 */
export interface RetrySchedule {
  baseMs: number;
  maxMs: number;
}

export function retryDelayMs(failures: number, schedule: RetrySchedule, random: number): number {
  if (failures <= 0) return 0;
  const ceiling = Math.min(schedule.maxMs, schedule.baseMs * 2 ** Math.min(failures - 1, 30));
  return Math.round(ceiling / 2 + (ceiling / 2) * random);
}
