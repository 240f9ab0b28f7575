/**
 * The order in which a stack's images are fetched: the slice on screen first, then outward from
 * it, alternating ahead and behind, so whichever way the reader scrolls the next image is already
 * there. Ahead goes first because readers scroll down a stack more often than up.
 */
export function prefetchOrder(count: number, current: number): number[] {
  if (count <= 0) return [];
  const start = Math.min(Math.max(0, Math.trunc(current)), count - 1);
  const order = [start];
  for (let distance = 1; order.length < count; distance++) {
    if (start + distance < count) order.push(start + distance);
    if (start - distance >= 0) order.push(start - distance);
  }
  return order;
}

/**
 * What is still to fetch, re-ordered around a new current slice: after the reader jumps, the
 * slices near the new position go before those near the old one.
 */
export function reprioritise(pending: Iterable<number>, count: number, current: number): number[] {
  const waiting = new Set(pending);
  return prefetchOrder(count, current).filter((index) => waiting.has(index));
}
