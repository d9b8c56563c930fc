// Entity and character references, read one character at a time so that a
// reference may be split between pieces of input.
// https://www.w3.org/TR/xml/#sec-references
//
// [67] Reference ::= EntityRef | CharRef
// [68] EntityRef ::= '&' Name ';'
// [66] CharRef   ::= '&#' [0-9]+ ';' | '&#x' [0-9a-fA-F]+ ';'
// Without a DTD (RFC 6120 11.1) only the five predefined entities exist
// (https://www.w3.org/TR/xml/#sec-predefined-ent), so anything else is
// an undeclared entity: not well-formed (WFC: Entity Declared).
import { XmlStreamError } from "./stream-error.js";
import { isNameCode, isNameStartCode, isXmlCharCodePoint } from "./xml-chars.js";

const START = 0; // after '&'
const NAME = 1; // &lt
const HASH = 2; // &#
const DECIMAL = 3; // &#60
const HEX = 4; // &#x3C

const SEMICOLON = 0x3b;
const HASH_CHAR = 0x23;
const LOWER_X = 0x78;

function predefinedEntity(name: string): string | undefined {
  switch (name) {
    case "lt": return "<";
    case "gt": return ">";
    case "amp": return "&";
    case "apos": return "'";
    case "quot": return '"';
    default: return undefined;
  }
}

function digitValue(c: number, hex: boolean): number {
  if (c >= 0x30 && c <= 0x39) return c - 0x30;
  if (!hex) return -1;
  if (c >= 0x61 && c <= 0x66) return c - 0x57;
  if (c >= 0x41 && c <= 0x46) return c - 0x37;
  return -1;
}

function malformed(message: string, at: number): never {
  throw new XmlStreamError("not-well-formed", message, at);
}

export class ReferenceReader {
  /** The replacement text, once read() has returned past the ';'. */
  value = "";
  done = false;
  private kind = START;
  private name = "";
  private codePoint = 0;
  private digits = 0;

  /** Starts a reference; the '&' has just been read. */
  begin(): void {
    this.done = false;
    this.kind = START;
    this.name = "";
    this.codePoint = 0;
    this.digits = 0;
  }

  /** Reads s[i..end); returns the index after the ';' (then `done`), or `end`. */
  read(s: string, i: number, end: number): number {
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      switch (this.kind) {
        case START:
          if (c === HASH_CHAR) this.kind = HASH;
          else if (isNameStartCode(c)) this.readName(c, s, i);
          else malformed("'&' must start a reference such as &amp; (write &amp; for '&')", i);
          break;
        case NAME:
          if (c === SEMICOLON) {
            const value = predefinedEntity(this.name);
            if (value === undefined) malformed(`undefined entity &${this.name};`, i);
            return this.finish(value, i);
          }
          this.readName(c, s, i);
          break;
        case HASH:
          this.kind = c === LOWER_X ? HEX : DECIMAL;
          if (c !== LOWER_X) i--; // read it again as the first decimal digit
          break;
        default: {
          const hex = this.kind === HEX;
          if (c === SEMICOLON && this.digits > 0) {
            // WFC: Legal Character
            if (!isXmlCharCodePoint(this.codePoint)) malformed(`&#${this.codePoint}; is not a legal XML character`, i);
            return this.finish(String.fromCodePoint(this.codePoint), i);
          }
          const digit = digitValue(c, hex);
          if (digit < 0) malformed(`malformed character reference (expected ${hex ? "&#xHEX;" : "&#DIGITS;"})`, i);
          this.codePoint = this.codePoint * (hex ? 16 : 10) + digit;
          this.digits++;
          if (this.codePoint > 0x10ffff) malformed("character reference beyond U+10FFFF", i);
        }
      }
    }
    return end;
  }

  private readName(c: number, s: string, i: number): void {
    if (!isNameCode(c)) malformed(`malformed entity reference &${this.name} (';' expected)`, i);
    // None of the five is longer than four ASCII letters.
    if (c >= 0x80 || this.name.length >= 4) malformed(`undefined entity &${this.name}${s[i]}...`, i);
    this.kind = NAME;
    this.name += s[i];
  }

  private finish(value: string, semicolon: number): number {
    this.value = value;
    this.done = true;
    return semicolon + 1;
  }
}
