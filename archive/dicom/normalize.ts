import type { DicomJsonDataset, DicomJsonPersonName } from './types.ts';

/**
 * Search keys for person names. All component groups (alphabetic, ideographic, phonetic) of all
 * values are folded into one string:
 *   - Unicode NFKC (full-width Ｗａｎｇ → Wang, half-width katakana → full-width) and lower case;
 *   - the component separator '^' becomes a space, runs of spaces collapse;
 *   - each group is wrapped as ' <group> ' and groups are joined with '|'.
 * So `王^小东=Wang^XiaoDong` is stored as `| 王 小东 | wang xiaodong |`, and a query is
 * matched against it with LIKE: a name component prefix `wang*` becomes `% wang%`, an exact
 * family name `王` becomes `% 王 %`. See archive/query for the query side.
 */
export function personNameSearchKeys(names: readonly DicomJsonPersonName[]): string {
  const groups: string[] = [];
  for (const name of names) {
    for (const group of [name.Alphabetic, name.Ideographic, name.Phonetic]) {
      const folded = foldPersonName(group ?? '');
      if (folded) groups.push(` ${folded} `);
    }
  }
  return groups.length ? `|${groups.join('|')}|` : '';
}

/** A PN value as DICOM writes it: component groups joined by '=' (trailing empty groups dropped). */
export function personNameText(name: DicomJsonPersonName): string {
  return [name.Alphabetic ?? '', name.Ideographic ?? '', name.Phonetic ?? ''].join('=').replace(/=+$/, '');
}

/** The folding applied to both stored names and query values. */
export function foldPersonName(value: string): string {
  return value.normalize('NFKC').toLowerCase().replace(/\^/g, ' ').replace(/\s+/g, ' ').trim();
}

/** 'YYYYMMDD' (and the old ACR-NEMA 'YYYY.MM.DD') → 'YYYY-MM-DD'; anything else → null. */
export function dicomDateToIso(value: string | null | undefined): string | null {
  if (!value) return null;
  const match = /^(\d{4})\.?(\d{2})\.?(\d{2})$/.exec(value.trim());
  if (!match) return null;
  const [, year, month, day] = match;
  const date = new Date(Date.UTC(Number(year), Number(month) - 1, Number(day)));
  if (date.getUTCMonth() !== Number(month) - 1 || date.getUTCDate() !== Number(day)) return null;
  return `${year}-${month}-${day}`;
}

/** The first value of an element as a string (numbers stringified), or null when absent or empty. */
export function firstString(metadata: DicomJsonDataset, tag: string): string | null {
  const value = metadata[tag]?.Value?.[0];
  if (typeof value === 'string') return value;
  if (typeof value === 'number') return String(value);
  return null;
}
