/** A person's studies as the timeline shows them: by year, then month, newest first; undated ones last. */
export interface TimelineYear<S> {
  /** undefined: the studies whose date is not known. */
  year: number | undefined;
  months: { month: number | undefined; studies: S[] }[];
}

export function groupTimeline<S extends { studyDate: string | null }>(studies: readonly S[]): TimelineYear<S>[] {
  const dated = (study: S) => (study.studyDate && /^\d{4}-\d{2}-\d{2}$/.test(study.studyDate) ? study.studyDate : undefined);
  const sorted = [...studies].sort((a, b) => (dated(b) ?? '').localeCompare(dated(a) ?? ''));
  const years: TimelineYear<S>[] = [];
  for (const study of sorted) {
    const date = dated(study);
    const year = date ? Number(date.slice(0, 4)) : undefined;
    const month = date ? Number(date.slice(5, 7)) : undefined;
    let entry = years.at(-1);
    if (!entry || entry.year !== year) years.push((entry = { year, months: [] }));
    let monthEntry = entry.months.at(-1);
    if (!monthEntry || monthEntry.month !== month) entry.months.push((monthEntry = { month, studies: [] }));
    monthEntry.studies.push(study);
  }
  return years;
}
