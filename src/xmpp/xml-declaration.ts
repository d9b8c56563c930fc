// The XML declaration, the one processing-instruction-like construct XMPP
// allows, and only as the very first thing in a stream.
// https://www.w3.org/TR/xml/#NT-XMLDecl
// https://www.rfc-editor.org/rfc/rfc6120#section-11.5
//
// [23] XMLDecl      ::= '<?xml' VersionInfo EncodingDecl? SDDecl? S? '?>'
// [24] VersionInfo  ::= S 'version' Eq ("'" VersionNum "'" | '"' VersionNum '"')
// [25] Eq           ::= S? '=' S?
// [26] VersionNum   ::= '1.' [0-9]+
// [80] EncodingDecl ::= S 'encoding' Eq ('"' EncName '"' | "'" EncName "'" )
// [81] EncName      ::= [A-Za-z] ([A-Za-z0-9._] | '-')*
// [32] SDDecl       ::= S 'standalone' Eq (("'" ('yes' | 'no') "'") | ('"' ('yes' | 'no') '"'))
import { XmlStreamError } from "./stream-error.js";
import { isSpaceCode } from "./xml-chars.js";

const S = "[\\x20\\x09\\x0D\\x0A]";
const EQ = `${S}*=${S}*`;
const quoted = (value: string): string => `(?:'(${value})'|"(${value})")`;

// Matches what lies between '<?xml' and '?>'. ASCII only, so no u flag needed.
const XML_DECL = new RegExp(
  `^${S}+version${EQ}${quoted("1\\.[0-9]+")}` +
    `(?:${S}+encoding${EQ}${quoted("[A-Za-z][A-Za-z0-9._-]*")})?` +
    `(?:${S}+standalone${EQ}${quoted("yes|no")})?${S}*$`,
);

/** Characters that can occur between '<?xml' and '?>' of a valid declaration. */
function isXmlDeclCode(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2e || c === 0x5f || c === 0x2d || // . _ -
    c === 0x3d || c === 0x22 || c === 0x27 || // = " '
    c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a // S
  );
}

interface XmlDeclaration {
  version: string;
  encoding: string | undefined;
  standalone: string | undefined;
}

/** Parses the text between '<?xml' and '?>'; a string result says what is wrong. */
function parseXmlDeclaration(body: string): XmlDeclaration | string {
  const m = XML_DECL.exec(body);
  if (m === null) {
    const shown = body.length > 60 ? `${body.slice(0, 60)}...` : body;
    return `malformed XML declaration <?xml${shown}?> (expected <?xml version='1.0' encoding='UTF-8'?>)`;
  }
  return { version: m[1] ?? m[2], encoding: m[3] ?? m[4], standalone: m[5] ?? m[6] };
}

const TARGET = 0; // after '<?': "xml"
const BODY = 1; // up to '?'
const END = 2; // after '?': '>'
const QUESTION = 0x3f;
const GT = 0x3e;

/**
 * Reads what follows '<?' at the start of a stream: an XML declaration, or
 * else a processing instruction, which RFC 6120 11.1 does not allow.
 */
export class XmlDeclarationReader {
  done = false;
  /** The declared encoding, once done. */
  encoding: string | undefined;
  private state = TARGET;
  private matched = 0; // characters of "xml" read
  private body = "";

  /** Reads s[i..end); returns the index after the '?>' (then `done`), or `end`. */
  read(s: string, i: number, end: number): number {
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (this.state === TARGET) {
        // "xml" and then S or '?'; anything else is a processing instruction
        // (<?xml-stylesheet ...?>, <?XML ...?>, <?php ...?>).
        const expected = this.matched < 3 ? c === "xml".charCodeAt(this.matched) : isSpaceCode(c) || c === QUESTION;
        if (!expected) throw new XmlStreamError("restricted-xml", "processing instructions are not allowed in XMPP", i);
        if (this.matched < 3) {
          this.matched++;
          continue;
        }
        this.state = BODY; // this S or '?' is part of the body
      }
      if (this.state === BODY) {
        if (c !== QUESTION) {
          if (!isXmlDeclCode(c)) throw new XmlStreamError("not-well-formed", "character not allowed in the XML declaration", i);
          this.body += s[i];
          continue;
        }
        const decl = parseXmlDeclaration(this.body);
        if (typeof decl === "string") throw new XmlStreamError("not-well-formed", decl, i);
        this.encoding = decl.encoding;
        this.state = END;
      } else if (c === GT) {
        this.done = true;
        return i + 1;
      } else {
        throw new XmlStreamError("not-well-formed", "the XML declaration must end with '?>'", i);
      }
    }
    return end;
  }
}
