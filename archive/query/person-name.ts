import { foldPersonName } from '../dicom/normalize.ts';

/**
 * Person-name matching for QIDO-RS, against the search keys of archive/dicom/normalize.ts
 * (`| wang xiaodong | 王 小东 |`: every component group folded and wrapped in '| … |').
 *
 * Literal matching (PS3.4 C.2.2.2.1 allows PN matching to be insensitive to case and character
 * width): the value, folded the same way, must equal one whole component group of the stored name,
 * whichever group it is; '*' and '?' are wildcards within a group. A value with component groups
 * ('Wang^XiaoDong=王^小东') must match group by group, in any stored group. Between two Han
 * characters the '^' is optional on both sides, because Chinese names are written both as
 * 王^小东 and as 王小东.
 *
 * Fuzzy matching (fuzzymatching=true): the value is the start of any name component ('xiao' finds
 * Wang^XiaoDong); a value starting with a Han character may start at any character of a group
 * ('小东' finds 王小东), since a Chinese name written without '^' is a single component.
 *
 * Each pattern is a regular expression that means the same in PostgreSQL (ARE, with `~`) and in
 * JavaScript (with the 'u' flag); every pattern returned must match. None means universal matching.
 */
export function personNamePatterns(value: string, fuzzy: boolean): string[] {
  return foldedGroups(value).map((folded) => {
    const body = groupPattern(folded);
    if (!fuzzy) return `\\| ${body} \\|`;
    return HAN.test([...folded][0]!) ? body : ` ${body}`;
  });
}

/**
 * Prefixes of the keys in patient_name_keys (migration 027) that every name matching the value's
 * patterns has, one per component group with a literal start: its characters up to the first
 * wildcard, spaces removed as in the keys, cut at the keys' 64 characters, and '|' first for a literal
 * match (the whole group's key). A group starting with a wildcard, or naming a '|' (which splits
 * the stored search keys), gives none: its pattern alone decides, without an index.
 */
export function personNameKeyPrefixes(value: string, fuzzy: boolean): string[] {
  const prefixes: string[] = [];
  for (const folded of foldedGroups(value)) {
    const literal = [...folded.split(/[*?]/)[0]!.replace(/ /g, '')].slice(0, 64).join('');
    if (literal === '' || literal.includes('|')) continue;
    prefixes.push(fuzzy ? literal : `|${literal}`);
  }
  return prefixes;
}

/** The value's component groups, folded as stored; groups that match anything ('' or '*') left out. */
function foldedGroups(value: string): string[] {
  return value
    .split('=')
    .map(foldPersonName)
    .filter((folded) => folded.replace(/\*/g, '') !== '');
}

const HAN = /\p{Script=Han}/u;
/** Characters with a meaning in regular expressions; escaped with a backslash they are literal in both dialects. */
const REGEX_SYNTAX = /[\\^$.|?*+()[\]{}]/;

function groupPattern(folded: string): string {
  const characters = [...folded];
  let pattern = '';
  for (const [index, character] of characters.entries()) {
    const previous = characters[index - 1] ?? '';
    const next = characters[index + 1] ?? '';
    if (character === '*') pattern += '[^|]*';
    else if (character === '?') pattern += '[^|]';
    else if (character === ' ') pattern += HAN.test(previous) && HAN.test(next) ? ' ?' : ' ';
    else {
      pattern += REGEX_SYNTAX.test(character) ? `\\${character}` : character;
      if (HAN.test(character) && HAN.test(next)) pattern += ' ?';
    }
  }
  return pattern;
}
