import { dicomDateToIso } from '../dicom/normalize.ts';

/**
 * The resident identity number (公民身份号码, GB 11643-1999) as printed on the 居民身份证.
 *
 * It is the strongest identifier a Chinese patient has, so it links records of different hospitals
 * automatically; a mistyped number would then join two people's records. The check digit is what
 * catches a mistyped number, so a number that fails any check here is rejected with its reason and
 * never used for linking.
 *
 * Layout of the 18 characters: 6 digits of the region of first registration (GB/T 2260), 8 of the
 * birth date (YYYYMMDD), 3 of the sequence (odd for men, even for women), and the ISO 7064 MOD 11-2
 * check character (0-9 or X for 10). The 15-digit numbers issued before 1999 have a two-digit year
 * and no check character; GB 11643-1999 upgrades them by inserting the century '19' and computing the
 * check character, which is what we store, so the old and the new card of one person match.
 */

export type ResidentIdRejection =
  | 'empty'
  | 'wrong-length' // neither 18 nor 15 characters
  | 'not-digits' // anything but digits, and X in the check position of an 18-character number
  | 'unknown-province' // the first two digits are not a province-level code
  | 'invalid-birth-date' // not a calendar date
  | 'future-birth-date'
  | 'wrong-check-digit';

export type ResidentIdResult =
  | { ok: true; number: string; birthDate: string; sex: 'M' | 'F'; convertedFromLegacy: boolean }
  | { ok: false; reason: ResidentIdRejection };

/**
 * Province-level codes of GB/T 2260 (11 Beijing … 65 Xinjiang, 71 Taiwan) and 81, 82, 83: the
 * residence permits of Hong Kong, Macao and Taiwan residents (since 2018) carry 810000, 820000 and
 * 830000 in the same format. The foreigner's permanent residence card of 2023 (first digit 9) is a
 * different document and is not accepted as a resident identity number.
 */
const PROVINCE_CODES = new Set([
  '11', '12', '13', '14', '15', '21', '22', '23', '31', '32', '33', '34', '35', '36', '37',
  '41', '42', '43', '44', '45', '46', '50', '51', '52', '53', '54', '61', '62', '63', '64', '65',
  '71', '81', '82', '83',
]);

/** ISO 7064 MOD 11-2 weights of the first 17 digits (2^(18-i) mod 11) and the check character for each remainder. */
const WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2];
const CHECK_CHARACTERS = '10X98765432';

/**
 * Validates a resident identity number already normalised by `normaliseIdentifierValue` (upper case,
 * no spaces or hyphens), converting a 15-digit number to its 18-character form. `today` bounds the
 * birth date (tests pass a fixed day).
 */
export function parseResidentIdNumber(value: string, today: Date = new Date()): ResidentIdResult {
  if (value === '') return { ok: false, reason: 'empty' };
  let number: string;
  if (value.length === 18) {
    if (!/^\d{17}[\dX]$/.test(value)) return { ok: false, reason: 'not-digits' };
    number = value;
  } else if (value.length === 15) {
    if (!/^\d{15}$/.test(value)) return { ok: false, reason: 'not-digits' };
    const body = `${value.slice(0, 6)}19${value.slice(6)}`;
    number = `${body}${checkCharacter(body)}`;
  } else {
    return { ok: false, reason: 'wrong-length' };
  }
  if (!PROVINCE_CODES.has(number.slice(0, 2))) return { ok: false, reason: 'unknown-province' };
  const birthDate = dicomDateToIso(number.slice(6, 14));
  if (!birthDate) return { ok: false, reason: 'invalid-birth-date' };
  if (birthDate > today.toISOString().slice(0, 10)) return { ok: false, reason: 'future-birth-date' };
  if (value.length === 18 && checkCharacter(number.slice(0, 17)) !== number[17]) return { ok: false, reason: 'wrong-check-digit' };
  return { ok: true, number, birthDate, sex: residentIdSex(number), convertedFromLegacy: value.length === 15 };
}

/** The birth date a valid 18-character number encodes, as YYYY-MM-DD (the index's form). */
export function residentIdBirthDate(number: string): string {
  return `${number.slice(6, 10)}-${number.slice(10, 12)}-${number.slice(12, 14)}`;
}

/** The sex a valid 18-character number encodes: the last sequence digit is odd for men, even for women. */
export function residentIdSex(number: string): 'M' | 'F' {
  return Number(number[16]) % 2 === 1 ? 'M' : 'F';
}

function checkCharacter(body: string): string {
  const sum = WEIGHTS.reduce((total, weight, index) => total + weight * Number(body[index]), 0);
  return CHECK_CHARACTERS[sum % 11]!;
}
