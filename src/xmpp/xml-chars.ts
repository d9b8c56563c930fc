// Character classes of XML 1.0 (Fifth Edition), tested on UTF-16 code units
// from charCodeAt: a lookup table for ASCII, a short range list above it.
// Deliberately no Unicode (u-flag) RegExps: those are costly to build at
// import time (saxes, through xmlchars, builds several).
// https://www.w3.org/TR/xml/#charsets
// https://www.w3.org/TR/xml/#NT-Name

const NAME_START = 1;
const NAME = 2;
const SPACE = 4;

/** Flags for each ASCII code unit. */
const ASCII = new Uint8Array(128);
for (let c = 0; c < 128; c++) {
  const ch = String.fromCharCode(c);
  // [4] NameStartChar ::= ":" | [A-Z] | "_" | [a-z] | ... (non-ASCII below)
  if (/[:A-Z_a-z]/.test(ch)) ASCII[c] |= NAME_START | NAME;
  // [4a] NameChar ::= NameStartChar | "-" | "." | [0-9] | ... (non-ASCII below)
  if (/[-.0-9]/.test(ch)) ASCII[c] |= NAME;
  // [3] S ::= (#x20 | #x9 | #xD | #xA)+
  if (c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a) ASCII[c] |= SPACE;
}

// [4] NameStartChar above ASCII, as inclusive [from, to] pairs of BMP code
// units. [#x10000-#xEFFFF] is the surrogate pairs with a high surrogate in
// D800-DB7F; see isNameStartCode.
const NAME_START_RANGES = [
  0xc0, 0xd6, 0xd8, 0xf6, 0xf8, 0x2ff, 0x370, 0x37d, 0x37f, 0x1fff, 0x200c, 0x200d, 0x2070, 0x218f,
  0x2c00, 0x2fef, 0x3001, 0xd7ff, 0xf900, 0xfdcf, 0xfdf0, 0xfffd,
];
// [4a] NameChar adds #xB7 | [#x0300-#x036F] | [#x203F-#x2040].
const NAME_EXTRA_RANGES = [0xb7, 0xb7, 0x300, 0x36f, 0x203f, 0x2040];

function inRanges(c: number, ranges: readonly number[]): boolean {
  for (let k = 0; k < ranges.length; k += 2) {
    if (c < ranges[k]) return false; // ranges are sorted
    if (c <= ranges[k + 1]) return true;
  }
  return false;
}

/** A high surrogate whose pairs lie in [#x10000-#xEFFFF] (planes 1 to 14). */
function isNameHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdb7f;
}

/**
 * [4] NameStartChar, for one code unit. A high surrogate of planes 1-14
 * counts; the caller must check that a low surrogate follows it.
 */
export function isNameStartCode(c: number): boolean {
  if (c < 0x80) return (ASCII[c] & NAME_START) !== 0;
  return isNameHighSurrogate(c) || inRanges(c, NAME_START_RANGES);
}

/** [4a] NameChar, for one code unit (high surrogates as for isNameStartCode). */
export function isNameCode(c: number): boolean {
  if (c < 0x80) return (ASCII[c] & NAME) !== 0;
  return isNameHighSurrogate(c) || inRanges(c, NAME_START_RANGES) || inRanges(c, NAME_EXTRA_RANGES);
}

/** [3] S: space, tab, CR or LF. */
export function isSpaceCode(c: number): boolean {
  return c < 0x80 && (ASCII[c] & SPACE) !== 0;
}

export function isHighSurrogate(c: number): boolean {
  return c >= 0xd800 && c <= 0xdbff;
}

export function isLowSurrogate(c: number): boolean {
  return c >= 0xdc00 && c <= 0xdfff;
}

/**
 * The end index of the run of NameChars starting at `i` (at most `end`).
 * A surrogate pair counts only if it is complete and in planes 1-14.
 */
export function nameCharsEnd(s: string, i: number, end: number): number {
  for (; i < end; i++) {
    const c = s.charCodeAt(i);
    if (c < 0x80) {
      if ((ASCII[c] & NAME) === 0) return i;
    } else if (isNameHighSurrogate(c)) {
      if (i + 1 >= end || !isLowSurrogate(s.charCodeAt(i + 1))) return i;
      i++;
    } else if (!inRanges(c, NAME_START_RANGES) && !inRanges(c, NAME_EXTRA_RANGES)) {
      return i;
    }
  }
  return end;
}

/**
 * [2] Char ::= #x9 | #xA | #xD | [#x20-#xD7FF] | [#xE000-#xFFFD] | [#x10000-#x10FFFF]
 * How many code units the character at `i` takes (1, or 2 for a surrogate
 * pair), or 0 if it is not a legal XML character: other C0 controls, a lone
 * surrogate, U+FFFE, U+FFFF.
 */
export function charUnitsAt(s: string, i: number, end: number): 0 | 1 | 2 {
  const c = s.charCodeAt(i);
  if (c >= 0x20) {
    if (c < 0xd800) return 1;
    if (c >= 0xe000) return c <= 0xfffd ? 1 : 0;
    if (c >= 0xdc00) return 0; // low surrogate without a high one
    return i + 1 < end && isLowSurrogate(s.charCodeAt(i + 1)) ? 2 : 0;
  }
  return c === 0x09 || c === 0x0a || c === 0x0d ? 1 : 0;
}

/** Says which character at `i` charUnitsAt() rejected. */
export function illegalCharMessage(s: string, i: number): string {
  const hex = s.charCodeAt(i).toString(16).toUpperCase().padStart(4, "0");
  return `U+${hex} is not a legal XML character here`;
}

/** [2] Char, for a code point (a character reference's value). */
export function isXmlCharCodePoint(cp: number): boolean {
  if (cp < 0x20) return cp === 0x09 || cp === 0x0a || cp === 0x0d;
  if (cp <= 0xd7ff) return true;
  if (cp < 0xe000) return false;
  if (cp <= 0xfffd) return true;
  return cp >= 0x10000 && cp <= 0x10ffff;
}
