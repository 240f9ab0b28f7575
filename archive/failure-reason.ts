/**
 * The one sentence a command prints when it cannot go on. Anything may be thrown or rejected — an
 * Error, a string, or nothing at all (a bare `reject()` in a dependency) — and the line must still
 * say something a person can act on.
 */
export function failureReason(error: unknown): string {
  if (error instanceof Error) {
    const cause = error.cause === undefined ? '' : ` (${failureReason(error.cause)})`;
    return `${error.message || error.name}${cause}`;
  }
  if (error === undefined || error === null) return `a failure without a reason (${String(error)} was thrown); run again with YINGYUN_LOG_LEVEL=debug to see what the components logged`;
  return typeof error === 'string' ? error : JSON.stringify(error) ?? String(error);
}
