import type { RemoteStudy } from '../../gateway/dimse/query-retrieve-scu.ts';

/**
 * Which of the studies a remote PACS holds a prior fetch retrieves: those dated within the
 * look-back window (an undated study is taken: its age is unknown, and a missing prior costs more
 * than a needless one), that Yingyun does not hold whole. "Whole" is judged by the PACS's Number
 * of Study Related Instances when it gives one; without it, any instance held counts as whole,
 * since a C-MOVE of a study already held would only resend it. Oldest last: the newest prior matters most.
 */
export function studiesToRetrieve(
  found: readonly RemoteStudy[],
  heldInstances: ReadonlyMap<string, number>,
  window: { today: string; lookBackDays: number },
): { retrieve: RemoteStudy[]; alreadyHeld: number } {
  const earliest = shiftDays(window.today, -window.lookBackDays).replaceAll('-', '');
  let alreadyHeld = 0;
  const retrieve: RemoteStudy[] = [];
  for (const study of found) {
    if (study.studyDate && study.studyDate < earliest) continue;
    const held = heldInstances.get(study.studyInstanceUid);
    const whole = held !== undefined && (study.numberOfInstances === undefined || held >= study.numberOfInstances);
    if (whole) alreadyHeld++;
    else retrieve.push(study);
  }
  retrieve.sort((a, b) => (b.studyDate ?? '99999999').localeCompare(a.studyDate ?? '99999999'));
  return { retrieve, alreadyHeld };
}

function shiftDays(isoDate: string, days: number): string {
  const date = new Date(`${isoDate}T00:00:00Z`);
  date.setUTCDate(date.getUTCDate() + days);
  return date.toISOString().slice(0, 10);
}
