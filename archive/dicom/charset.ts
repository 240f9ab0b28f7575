import { TextDecoder } from 'node:util';
import iconv from 'iconv-lite';

/**
 * Decoding DICOM text per Specific Character Set (0008,0005), PS3.5 6.1 and Annex J.
 *
 * Node's TextDecoder (full ICU) knows every repertoire DICOM uses, but no library implements DICOM's
 * ISO 2022 code extensions: escape sequences switching G0/G1 mid-value, with the character set reset
 * to the initial one at each PN delimiter ('^', '=') and at line ends. That part is ours.
 */

/** A repertoire a byte run is decoded with, and whether it is designated to G0 (GL) or G1 (GR). */
interface Repertoire {
  /** WHATWG encoding label for TextDecoder. */
  decoder: string;
  /** Bytes of a two-byte set in GL (JIS X 0208/0212) need the escape re-sent to the decoder. */
  prefix?: number[];
  /** JIS X 0212 in GL: decoded through EUC-JP, each byte pair preceded by SS3 and moved to GR. */
  viaEucJp3?: boolean;
}

const ASCII: Repertoire = { decoder: 'latin1' };

/** Single-value (non-ISO 2022) defined terms → encoding. */
const SINGLE_BYTE_AND_UNICODE: Record<string, string> = {
  '': 'latin1', // default repertoire; latin1 keeps any stray high byte visible instead of dropping it
  ISO_IR_6: 'latin1',
  ISO_IR_100: 'latin1',
  ISO_IR_101: 'iso-8859-2',
  ISO_IR_109: 'iso-8859-3',
  ISO_IR_110: 'iso-8859-4',
  ISO_IR_144: 'iso-8859-5',
  ISO_IR_127: 'iso-8859-6',
  ISO_IR_126: 'iso-8859-7',
  ISO_IR_138: 'iso-8859-8',
  ISO_IR_148: 'iso-8859-9',
  ISO_IR_203: 'iso-8859-15',
  ISO_IR_166: 'windows-874',
  ISO_IR_13: 'shift_jis',
  ISO_IR_192: 'utf-8',
  GB18030: 'gb18030',
  GBK: 'gbk',
};

/** ISO 2022 defined terms → what they designate. */
const ISO_2022_TERMS: Record<string, { g0?: Repertoire; g1?: Repertoire }> = {
  ISO_2022_IR_6: { g0: ASCII },
  ISO_2022_IR_100: { g0: ASCII, g1: { decoder: 'latin1' } },
  ISO_2022_IR_101: { g0: ASCII, g1: { decoder: 'iso-8859-2' } },
  ISO_2022_IR_109: { g0: ASCII, g1: { decoder: 'iso-8859-3' } },
  ISO_2022_IR_110: { g0: ASCII, g1: { decoder: 'iso-8859-4' } },
  ISO_2022_IR_144: { g0: ASCII, g1: { decoder: 'iso-8859-5' } },
  ISO_2022_IR_127: { g0: ASCII, g1: { decoder: 'iso-8859-6' } },
  ISO_2022_IR_126: { g0: ASCII, g1: { decoder: 'iso-8859-7' } },
  ISO_2022_IR_138: { g0: ASCII, g1: { decoder: 'iso-8859-8' } },
  ISO_2022_IR_148: { g0: ASCII, g1: { decoder: 'iso-8859-9' } },
  ISO_2022_IR_203: { g0: ASCII, g1: { decoder: 'iso-8859-15' } },
  ISO_2022_IR_166: { g0: ASCII, g1: { decoder: 'windows-874' } },
  ISO_2022_IR_13: { g0: ASCII, g1: { decoder: 'shift_jis' } },
  ISO_2022_IR_87: { g0: { decoder: 'iso-2022-jp', prefix: [0x1b, 0x24, 0x42] } },
  ISO_2022_IR_159: { g0: { decoder: 'euc-jp', viaEucJp3: true } },
  ISO_2022_IR_149: { g1: { decoder: 'euc-kr' } },
  ISO_2022_IR_58: { g1: { decoder: 'gbk' } },
};

/** Escape sequences (bytes after ESC) → the designation they make. */
const ESCAPES: Array<{ bytes: number[]; g0?: Repertoire; g1?: Repertoire }> = [
  { bytes: [0x28, 0x42], g0: ASCII }, // ESC ( B  ASCII
  { bytes: [0x28, 0x4a], g0: ASCII }, // ESC ( J  JIS X 0201 Roman (ASCII but ¥ and ‾)
  { bytes: [0x29, 0x49], g1: { decoder: 'shift_jis' } }, // ESC ) I  JIS X 0201 Katakana
  { bytes: [0x24, 0x42], g0: ISO_2022_TERMS.ISO_2022_IR_87!.g0 }, // ESC $ B  JIS X 0208
  { bytes: [0x24, 0x28, 0x44], g0: ISO_2022_TERMS.ISO_2022_IR_159!.g0 }, // ESC $ ( D  JIS X 0212
  { bytes: [0x24, 0x29, 0x43], g1: { decoder: 'euc-kr' } }, // ESC $ ) C  KS X 1001
  { bytes: [0x24, 0x29, 0x41], g1: { decoder: 'gbk' } }, // ESC $ ) A  GB 2312
  { bytes: [0x2d, 0x41], g1: { decoder: 'latin1' } }, // ESC - A  Latin-1
  { bytes: [0x2d, 0x42], g1: { decoder: 'iso-8859-2' } },
  { bytes: [0x2d, 0x43], g1: { decoder: 'iso-8859-3' } },
  { bytes: [0x2d, 0x44], g1: { decoder: 'iso-8859-4' } },
  { bytes: [0x2d, 0x4c], g1: { decoder: 'iso-8859-5' } },
  { bytes: [0x2d, 0x47], g1: { decoder: 'iso-8859-6' } },
  { bytes: [0x2d, 0x46], g1: { decoder: 'iso-8859-7' } },
  { bytes: [0x2d, 0x48], g1: { decoder: 'iso-8859-8' } },
  { bytes: [0x2d, 0x4d], g1: { decoder: 'iso-8859-9' } },
  { bytes: [0x2d, 0x62], g1: { decoder: 'iso-8859-15' } },
  { bytes: [0x2d, 0x54], g1: { decoder: 'windows-874' } },
];

const decoders = new Map<string, TextDecoder>();
function decoderFor(label: string, fatal = false): TextDecoder {
  const key = `${label}${fatal ? '!' : ''}`;
  let decoder = decoders.get(key);
  if (!decoder) {
    decoder = new TextDecoder(label, { fatal });
    decoders.set(key, decoder);
  }
  return decoder;
}

/** Normalises a Specific Character Set value the way PACS actually send them ('ISO_IR 100', 'iso-ir 100 '). */
function termKey(term: string): string {
  return term.trim().toUpperCase().replace(/[\s-]+/g, '_');
}

/**
 * The terms of a Specific Character Set written as one string, as a registered sender's configured
 * character set is ('GB18030', '\ISO 2022 IR 58'): split on the value delimiter like (0008,0005).
 */
export function splitCharacterSetTerms(value: string): string[] {
  return value.split('\\').map((term) => term.trim());
}

/** Whether we can decode with these terms; unknown ones would fall back to Latin-1. */
export function isKnownCharacterSet(terms: readonly string[]): boolean {
  return terms.every((term) => Object.hasOwn(SINGLE_BYTE_AND_UNICODE, termKey(term)) || Object.hasOwn(ISO_2022_TERMS, termKey(term)));
}

/** Whether two Specific Character Set values name the same repertoires ('ISO_IR 100' = 'iso-ir 100'). */
export function sameCharacterSet(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((term, index) => termKey(term) === termKey(b[index]!));
}

export type Delimiters = 'person-name' | 'text';

/**
 * Decodes the bytes of one text value. `terms` are the values of Specific Character Set in force.
 * Unknown terms fall back to Latin-1, which never loses a byte.
 */
export function decodeText(bytes: Uint8Array, terms: readonly string[], delimiters: Delimiters): string {
  if (bytes.length === 0) return '';
  const keys = terms.length === 0 ? [''] : terms.map(termKey);
  const usesCodeExtensions = keys.some((key) => key.startsWith('ISO_2022'));
  if (!usesCodeExtensions) {
    const label = SINGLE_BYTE_AND_UNICODE[keys[0]!] ?? 'latin1';
    return decoderFor(label).decode(bytes);
  }
  return decodeWithCodeExtensions(bytes, keys, delimiters);
}

function decodeWithCodeExtensions(bytes: Uint8Array, keys: string[], delimiters: Delimiters): string {
  // The first value is in force at the start of the value and after every delimiter; an empty
  // first value means the default repertoire.
  const initial = ISO_2022_TERMS[keys[0]!] ?? (keys[0] === '' ? { g0: ASCII } : undefined) ?? { g0: ASCII };
  let g0: Repertoire = initial.g0 ?? ASCII;
  let g1: Repertoire | undefined = initial.g1;
  // Bytes in GR with no G1 set designated break PS3.5 6.1.2.5, but some writers (pydicom 2.3, Chinese
  // PACS) leave out `ESC $ ) A` before GB 2312 text: when the terms declare exactly one G1 set, such
  // bytes are read with it rather than as Latin-1 mojibake.
  const declaredG1 = keys.map((key) => ISO_2022_TERMS[key]?.g1).filter((set) => set !== undefined);
  const undesignatedG1 = declaredG1.length === 1 ? declaredG1[0] : undefined;
  let output = '';
  let runStart = 0;

  const flush = (end: number) => {
    if (end > runStart) output += decodeRun(bytes.subarray(runStart, end), g0, g1 ?? undesignatedG1);
  };

  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index]!;
    if (byte === 0x1b) {
      const escape = ESCAPES.find((candidate) => candidate.bytes.every((value, offset) => bytes[index + 1 + offset] === value));
      flush(index);
      if (escape) {
        if (escape.g0) g0 = escape.g0;
        if (escape.g1) g1 = escape.g1;
        index += escape.bytes.length;
      }
      runStart = index + 1;
      continue;
    }
    const twoByteG0 = g0.prefix !== undefined || g0.viaEucJp3 === true;
    if (twoByteG0) {
      index++; // GL two-byte sets consume pairs; a delimiter cannot appear inside them
      continue;
    }
    if (isDelimiter(byte, delimiters)) {
      flush(index + 1);
      runStart = index + 1;
      g0 = initial.g0 ?? ASCII;
      g1 = initial.g1;
    }
  }
  flush(bytes.length);
  return output;
}

function isDelimiter(byte: number, delimiters: Delimiters): boolean {
  if (byte === 0x0d || byte === 0x0a || byte === 0x09 || byte === 0x0c) return true;
  return delimiters === 'person-name' && (byte === 0x5e || byte === 0x3d);
}

function decodeRun(run: Uint8Array, g0: Repertoire, g1: Repertoire | undefined): string {
  if (g0.prefix) return decoderFor(g0.decoder).decode(Uint8Array.from([...g0.prefix, ...run]));
  if (g0.viaEucJp3) {
    const euc: number[] = [];
    for (let index = 0; index + 1 < run.length; index += 2) euc.push(0x8f, run[index]! | 0x80, run[index + 1]! | 0x80);
    return decoderFor('euc-jp').decode(Uint8Array.from(euc));
  }
  // G0 is ASCII here; the G1 decoders (EUC-style and ISO 8859) read ASCII in GL unchanged.
  return decoderFor(g1?.decoder ?? 'latin1').decode(run);
}

/**
 * G1 sets an ISO 2022 value may switch to when encoding: the escape sequence that designates each,
 * the encoder (iconv-lite; its GB2312 and EUC-KR are their supersets GBK and CP949, so a character
 * is taken only when both its bytes lie in the 94×94 area the standard set covers), and whether it
 * is a two-byte set. Japanese (IR 87, 159, 13) is decoded but not encoded: nothing we serve asks.
 */
const G1_ENCODINGS: Record<string, { escape: number[]; encoding: string; twoByte: boolean }> = {
  ISO_2022_IR_58: { escape: [0x24, 0x29, 0x41], encoding: 'gb2312', twoByte: true },
  ISO_2022_IR_149: { escape: [0x24, 0x29, 0x43], encoding: 'euc-kr', twoByte: true },
  ISO_2022_IR_100: { escape: [0x2d, 0x41], encoding: 'latin1', twoByte: false },
  ISO_2022_IR_101: { escape: [0x2d, 0x42], encoding: 'iso-8859-2', twoByte: false },
  ISO_2022_IR_109: { escape: [0x2d, 0x43], encoding: 'iso-8859-3', twoByte: false },
  ISO_2022_IR_110: { escape: [0x2d, 0x44], encoding: 'iso-8859-4', twoByte: false },
  ISO_2022_IR_144: { escape: [0x2d, 0x4c], encoding: 'iso-8859-5', twoByte: false },
  ISO_2022_IR_127: { escape: [0x2d, 0x47], encoding: 'iso-8859-6', twoByte: false },
  ISO_2022_IR_126: { escape: [0x2d, 0x46], encoding: 'iso-8859-7', twoByte: false },
  ISO_2022_IR_138: { escape: [0x2d, 0x48], encoding: 'iso-8859-8', twoByte: false },
  ISO_2022_IR_148: { escape: [0x2d, 0x4d], encoding: 'iso-8859-9', twoByte: false },
  ISO_2022_IR_203: { escape: [0x2d, 0x62], encoding: 'iso-8859-15', twoByte: false },
  ISO_2022_IR_166: { escape: [0x2d, 0x54], encoding: 'windows-874', twoByte: false },
};

/** A value holds a character the declared character set cannot represent. */
export class UnencodableText extends Error {
  override name = 'UnencodableText';
}

/**
 * Encodes one text value in the character set `terms` name, the inverse of decodeText: UTF-8,
 * GB18030, GBK and the single-byte sets as they are; with ISO 2022 code extensions, each run of
 * characters outside ASCII preceded by the escape sequence designating a G1 set that holds them,
 * designated again after every delimiter (PS3.5 6.1.2.5.3: '^' and '=' in a person name, CR, LF,
 * TAB and FF everywhere), where the initial designations are back in force. Throws
 * UnencodableText when a character is in none of the sets: never a silent '?'.
 */
export function encodeText(text: string, terms: readonly string[], delimiters: Delimiters): Buffer {
  const keys = terms.length === 0 ? [''] : terms.map(termKey);
  if (!keys.some((key) => key.startsWith('ISO_2022'))) {
    const key = keys[0]!;
    if (key === '' || key === 'ISO_IR_6') return asciiOnly(text);
    const encoding = SINGLE_BYTE_AND_UNICODE[key];
    if (!encoding) throw new UnencodableText(`no encoder for Specific Character Set ${terms.join('\\')}`);
    if (encoding === 'utf-8') return Buffer.from(text, 'utf8');
    const bytes = iconv.encode(text, encoding);
    if (iconv.decode(bytes, encoding) !== text) throw new UnencodableText(`${JSON.stringify(text)} is not representable in ${terms.join('\\')}`);
    return bytes;
  }
  const initialG1 = G1_ENCODINGS[keys[0]!];
  const extensions = keys.map((key) => G1_ENCODINGS[key]).filter((set) => set !== undefined);
  let g1 = initialG1;
  const output: number[] = [];
  for (const character of text) {
    const code = character.codePointAt(0)!;
    if (code < 0x80) {
      output.push(code);
      // A value delimiter too: a reader may take each value of a multi-valued element to start afresh.
      if (isDelimiter(code, delimiters) || code === 0x5c) g1 = initialG1;
      continue;
    }
    const inCurrent = g1 ? g1Bytes(character, g1) : undefined;
    if (inCurrent) {
      output.push(...inCurrent);
      continue;
    }
    const set = extensions.find((candidate) => g1Bytes(character, candidate) !== undefined);
    if (!set) throw new UnencodableText(`${JSON.stringify(character)} is in none of ${terms.join('\\')}`);
    output.push(0x1b, ...set.escape, ...g1Bytes(character, set)!);
    g1 = set;
  }
  return Buffer.from(output);
}

function asciiOnly(text: string): Buffer {
  if (/[^\x00-\x7f]/.test(text)) throw new UnencodableText(`${JSON.stringify(text)} needs more than the default repertoire (ASCII)`);
  return Buffer.from(text, 'latin1');
}

/** The character's bytes in a G1 set (every byte in GR), or undefined when the set lacks it. */
function g1Bytes(character: string, set: { encoding: string; twoByte: boolean }): Buffer | undefined {
  const bytes = iconv.encode(character, set.encoding);
  if (iconv.decode(bytes, set.encoding) !== character) return undefined;
  if (set.twoByte) return bytes.length === 2 && bytes[0]! >= 0xa1 && bytes[0]! <= 0xfe && bytes[1]! >= 0xa1 && bytes[1]! <= 0xfe ? bytes : undefined;
  return bytes.length === 1 && bytes[0]! >= 0xa0 ? bytes : undefined;
}

export function hasHighBytes(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) if (bytes[index]! >= 0x80) return true;
  return false;
}

/**
 * County PACS often write GB18030/GBK bytes with no Specific Character Set, or under ISO_IR 100 or
 * ISO_IR 192. Decoding those as declared produces mojibake in names. We decode as GB18030 only when
 * it is unambiguous: the declared set cannot be what the sender meant (no declaration or a
 * single-byte Western set, or invalid UTF-8 under ISO_IR 192), every non-ASCII text value is strictly
 * valid GB18030, and the result is predominantly CJK ideographs.
 */
export function looksLikeUndeclaredGb18030(terms: readonly string[], highByteValues: Uint8Array[]): boolean {
  if (highByteValues.length === 0) return false;
  const key = terms.length === 0 ? '' : termKey(terms[0]!);
  const declaredCouldBeWrong = ['', 'ISO_IR_6', 'ISO_IR_100', 'ISO_2022_IR_6', 'ISO_2022_IR_100'].includes(key);
  if (key === 'ISO_IR_192') {
    const validUtf8 = highByteValues.every((value) => {
      try {
        decoderFor('utf-8', true).decode(value);
        return true;
      } catch {
        return false;
      }
    });
    if (validUtf8) return false;
  } else if (!declaredCouldBeWrong || terms.length > 1) {
    return false;
  }
  let ideographs = 0;
  let otherNonAscii = 0;
  for (const value of highByteValues) {
    if (!hasOnlyHighTrailBytes(value)) return false;
    let text: string;
    try {
      text = decoderFor('gb18030', true).decode(value);
    } catch {
      return false;
    }
    for (const character of text) {
      const code = character.codePointAt(0)!;
      if (code < 0x80) continue;
      if ((code >= 0x4e00 && code <= 0x9fff) || (code >= 0x3400 && code <= 0x4dbf) || (code >= 0x3000 && code <= 0x303f) || (code >= 0xff00 && code <= 0xffef)) {
        ideographs++;
      } else {
        otherNonAscii++;
      }
    }
  }
  return ideographs > 0 && ideographs >= 4 * otherNonAscii;
}

/**
 * Chinese names written in GB18030 almost always use characters whose bytes are all ≥ 0x80 (the
 * GB2312 area) or four-byte sequences. A lead byte followed by an ASCII byte is what Latin-1 text
 * looks like ('Jérôme' = 4A E9 72 F4 6D 65), so such a value is not taken for GB18030.
 */
function hasOnlyHighTrailBytes(bytes: Uint8Array): boolean {
  for (let index = 0; index < bytes.length; index++) {
    const byte = bytes[index]!;
    if (byte < 0x80) continue;
    const next = bytes[index + 1] ?? 0;
    if (next >= 0x30 && next <= 0x39) {
      // four-byte GB18030: lead, digit, lead, digit
      const third = bytes[index + 2] ?? 0;
      const fourth = bytes[index + 3] ?? 0;
      if (third < 0x81 || fourth < 0x30 || fourth > 0x39) return false;
      index += 3;
    } else if (next >= 0x80) {
      index += 1;
    } else {
      return false;
    }
  }
  return true;
}
