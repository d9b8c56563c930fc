// The XML declaration, the one processing-instruction-like construct XMPP
// allows, and only at the start of a stream.
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
export function isXmlDeclCode(c: number): boolean {
  return (
    (c >= 0x61 && c <= 0x7a) || // a-z
    (c >= 0x41 && c <= 0x5a) || // A-Z
    (c >= 0x30 && c <= 0x39) || // 0-9
    c === 0x2e || c === 0x5f || c === 0x2d || // . _ -
    c === 0x3d || c === 0x22 || c === 0x27 || // = " '
    c === 0x20 || c === 0x09 || c === 0x0d || c === 0x0a // S
  );
}

export interface XmlDeclaration {
  version: string;
  encoding: string | undefined;
  standalone: string | undefined;
}

/** Parses the text between '<?xml' and '?>'; a string result says what is wrong. */
export function parseXmlDeclaration(body: string): XmlDeclaration | string {
  const m = XML_DECL.exec(body);
  if (m === null) {
    const shown = body.length > 60 ? `${body.slice(0, 60)}...` : body;
    return `malformed XML declaration <?xml${shown}?> (expected <?xml version='1.0' encoding='UTF-8'?>)`;
  }
  return { version: m[1] ?? m[2], encoding: m[3] ?? m[4], standalone: m[5] ?? m[6] };
}
