// SASLprep, close enough for usernames and passwords in SCRAM.
// https://www.rfc-editor.org/rfc/rfc4013 (a profile of stringprep, RFC 3454)
//
// What we implement: the two mappings of RFC 4013 section 2.1, NFKC (section 2.2) and the
// prohibited-output tables of section 2.3. What we leave out, on purpose:
//  * the bidi rule (section 2.4): it only rejects odd mixes of right-to-left text, which
//    cannot weaken anything here since both ends of a login run the same function;
//  * the Unicode 3.2 "unassigned code point" check: we normalize with the JS engine's
//    newer Unicode tables instead.
// Both sides of every comparison (password stored vs. password presented) pass through this
// same function, so a deviation from full SASLprep can never make a correct password fail.

/** RFC 3454 table B.1: "commonly mapped to nothing". */
const MAPPED_TO_NOTHING = /[\u00AD\u034F\u1806\u180B-\u180D\u200B-\u200D\u2060\uFE00-\uFE0F\uFEFF]/gu;

/** RFC 3454 table C.1.2: non-ASCII space characters, mapped to U+0020 (RFC 4013 section 2.1). */
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200B\u202F\u205F\u3000]/gu;

/**
 * RFC 4013 section 2.3 prohibited output: C.1.2 (non-ASCII spaces, already mapped away),
 * C.2.1/C.2.2 control characters, C.3 private use, C.4 non-character code points,
 * C.5 surrogates (a lone surrogate can exist in a JS string), C.6 inappropriate for plain
 * text, C.7 inappropriate for canonical representation, C.8 change display properties,
 * C.9 tagging characters.
 */
const PROHIBITED = new RegExp(
  [
    "[\\u0000-\\u001F\\u007F-\\u009F]", // C.2.1, C.2.2 (C0, DEL, C1)
    "[\\u06DD\\u070F\\u180E\\u200C\\u200D\\u2028\\u2029\\u2060-\\u2063\\u206A-\\u206F\\uFEFF]", // C.2.2
    "[\\uFFF9-\\uFFFC]", // C.2.2
    "[\\u{1D173}-\\u{1D17A}]", // C.2.2
    "[\\uE000-\\uF8FF\\u{F0000}-\\u{FFFFD}\\u{100000}-\\u{10FFFD}]", // C.3
    "[\\uFDD0-\\uFDEF\\uFFFE\\uFFFF]", // C.4 (BMP)
    "[\\u{1FFFE}\\u{1FFFF}\\u{2FFFE}\\u{2FFFF}\\u{3FFFE}\\u{3FFFF}\\u{4FFFE}\\u{4FFFF}]", // C.4
    "[\\u{5FFFE}\\u{5FFFF}\\u{6FFFE}\\u{6FFFF}\\u{7FFFE}\\u{7FFFF}\\u{8FFFE}\\u{8FFFF}]", // C.4
    "[\\u{9FFFE}\\u{9FFFF}\\u{AFFFE}\\u{AFFFF}\\u{BFFFE}\\u{BFFFF}\\u{CFFFE}\\u{CFFFF}]", // C.4
    "[\\u{DFFFE}\\u{DFFFF}\\u{EFFFE}\\u{EFFFF}\\u{FFFFE}\\u{FFFFF}\\u{10FFFE}\\u{10FFFF}]", // C.4
    "[\\uD800-\\uDFFF]", // C.5: only matches lone surrogates in /u mode
    "[\\uFFF9-\\uFFFD]", // C.6
    "[\\u2FF0-\\u2FFB]", // C.7
    "[\\u0340\\u0341\\u200E\\u200F\\u202A-\\u202E]", // C.8
    "[\\u{E0001}\\u{E0020}-\\u{E007F}]", // C.9
  ].join("|"),
  "u",
);

/**
 * SASLprep a string (RFC 4013). Returns undefined when the result is empty or contains a
 * prohibited character: the caller turns that into a SASL failure.
 */
export function saslprep(input: string): string | undefined {
  const mapped = input.replace(MAPPED_TO_NOTHING, "").replace(NON_ASCII_SPACE, " ");
  const normalized = mapped.normalize("NFKC");
  if (normalized.length === 0 || PROHIBITED.test(normalized)) return undefined;
  return normalized;
}
