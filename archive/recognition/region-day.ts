// Apart from hr-mark.ts (which builds zod schemas) so the viewer can count the region's days too.

/**
 * Today's date in the region (YYYY-MM-DD), the "today" a mark is computed for: study dates are the
 * region's calendar dates, and China keeps one time zone, so this is the date in Asia/Shanghai
 * whatever the server's own zone.
 */
export function regionToday(now = new Date()): string {
  return new Intl.DateTimeFormat('en-CA', { timeZone: 'Asia/Shanghai', year: 'numeric', month: '2-digit', day: '2-digit' }).format(now);
}
