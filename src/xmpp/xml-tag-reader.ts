// Start and end tags, read one character at a time so that a tag may be
// split between pieces of input anywhere.
// https://www.w3.org/TR/xml/#sec-starttags
//
// [40] STag         ::= '<' Name (S Attribute)* S? '>'
// [44] EmptyElemTag ::= '<' Name (S Attribute)* S? '/>'
// [41] Attribute    ::= Name Eq AttValue
// [25] Eq           ::= S? '=' S?
// [10] AttValue     ::= '"' ([^<&"] | Reference)* '"' | "'" ([^<&'] | Reference)* "'"
// [42] ETag         ::= '</' Name S? '>'
// Attribute values are normalized as 3.3.3 says for CDATA attributes: each
// whitespace character (a CR LF pair counting as one) becomes a space,
// while references to them (&#10;) stay as they are.
import { XmlStreamError } from "./stream-error.js";
import { charUnitsAt, illegalCharMessage, isNameStartCode, isSpaceCode, nameCharsEnd } from "./xml-chars.js";
import { attributeError } from "./xml-namespaces.js";
import { ReferenceReader } from "./xml-references.js";

const NAME = 0; // the element name
const AFTER = 1; // after the name or a value: S, '/' or '>'
const SPACE = 2; // after S: more S, '/', '>' or an attribute name
const ATTR_NAME = 3;
const EQ = 4; // S* '='
const QUOTE = 5; // S* then ' or "
const VALUE = 6;
const REF = 7; // a reference inside a value
const SLASH = 8; // after '/': '>'
const END_NAME = 9; // the name in an end tag
const END_SPACE = 10; // S* '>'

const TAB = 0x09, LF = 0x0a, CR = 0x0d, DQUOTE = 0x22, AMP = 0x26, SQUOTE = 0x27;
const SLASH_CHAR = 0x2f, LT = 0x3c, EQ_CHAR = 0x3d, GT = 0x3e;

function malformed(message: string, at: number): never {
  throw new XmlStreamError("not-well-formed", message, at);
}

export class TagReader {
  /** The element name as written (a qualified name). */
  name = "";
  /** The attributes read so far, names as written and values normalized. */
  attrNames: string[] = [];
  attrValues: string[] = [];
  /** The tag is complete: read() returned the index after its '>'. */
  done = false;
  isEndTag = false;
  /** An empty-element tag (<x/>). */
  isEmpty = false;

  private state = NAME;
  private part = ""; // the name or value being read, as far as it has come
  private attrName = "";
  private quote = 0;
  private readonly ref = new ReferenceReader();

  constructor(private readonly maxAttributes: number) {}

  /** After '<' and before the name (whose first character the caller checked). */
  beginStartTag(): void {
    this.begin(NAME, false);
    if (this.attrNames.length > 0) {
      // Fresh arrays are cheaper than truncating (and the last ones were copied).
      this.attrNames = [];
      this.attrValues = [];
    }
  }

  /** After '</'. */
  beginEndTag(): void {
    this.begin(END_NAME, true);
  }

  private begin(state: number, isEndTag: boolean): void {
    this.state = state;
    this.isEndTag = isEndTag;
    this.isEmpty = false;
    this.done = false;
    this.name = "";
    this.part = "";
  }

  /** Reads s[i..end); returns the index after the tag's '>' (then `done`), or `end`. */
  read(s: string, i: number, end: number): number {
    while (i < end && !this.done) {
      switch (this.state) {
        case NAME:
        case ATTR_NAME:
        case END_NAME:
          i = this.readName(s, i, end);
          break;
        case VALUE:
          i = this.readValue(s, i, end);
          break;
        case REF:
          i = this.ref.read(s, i, end);
          if (this.ref.done) {
            this.part += this.ref.value;
            this.state = VALUE;
          }
          break;
        default:
          i = this.readPunctuation(s, i, end);
      }
    }
    return i;
  }

  private readName(s: string, i: number, end: number): number {
    const j = nameCharsEnd(s, i, end);
    this.part += s.slice(i, j);
    if (j === end) return end;
    if (this.state === ATTR_NAME) {
      this.attrName = this.part;
      this.state = EQ;
    } else {
      this.name = this.part;
      this.state = this.state === NAME ? AFTER : END_SPACE;
    }
    this.part = "";
    return j;
  }

  /** The whitespace and punctuation between names and values. */
  private readPunctuation(s: string, i: number, end: number): number {
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      const space = isSpaceCode(c);
      switch (this.state) {
        case AFTER:
        case SPACE:
          if (c === GT) return this.finish(i);
          if (c === SLASH_CHAR) {
            this.state = SLASH;
          } else if (space) {
            this.state = SPACE;
          } else if (this.state === AFTER) {
            // [40]: attributes are separated from the name and from each other by S.
            if (this.attrNames.length === 0) malformed(`character not allowed in the name <${this.name}...`, i);
            malformed(`whitespace required between attributes of <${this.name}>`, i);
          } else {
            if (!isNameStartCode(c)) malformed(`character not allowed in the start tag <${this.name}>`, i);
            this.state = ATTR_NAME;
            return i;
          }
          break;
        case EQ:
          if (c === EQ_CHAR) this.state = QUOTE;
          else if (!space) malformed(`expected '=' after the attribute name ${this.attrName}`, i);
          break;
        case QUOTE:
          if (c === DQUOTE || c === SQUOTE) {
            this.quote = c;
            this.state = VALUE;
            return i + 1;
          }
          if (!space) malformed(`the value of attribute ${this.attrName} must be quoted`, i);
          break;
        case SLASH:
          if (c !== GT) malformed(`'/' in <${this.name}> must be followed by '>'`, i);
          this.isEmpty = true;
          return this.finish(i);
        default: // END_SPACE
          if (c === GT) return this.finish(i);
          if (!space) malformed(`character not allowed in the end tag </${this.name}...`, i);
      }
    }
    return end;
  }

  private finish(gt: number): number {
    this.done = true;
    return gt + 1;
  }

  private readValue(s: string, i: number, end: number): number {
    const quote = this.quote;
    let from = i;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0xd800 && c !== quote && c !== LT && c !== AMP) continue;
      switch (c) {
        case quote:
          this.addAttribute(this.part + s.slice(from, i), i);
          this.part = "";
          this.state = AFTER;
          return i + 1;
        case LT:
          return malformed("'<' is not allowed in attribute values (write &lt;)", i);
        case AMP:
          this.part += s.slice(from, i);
          this.ref.begin();
          this.state = REF;
          return i + 1;
        case TAB:
        case LF:
        case CR:
          this.part += `${s.slice(from, i)} `;
          // A CR LF pair is one line end (2.11); a pair split between pieces
          // is joined by the tokenizer.
          if (c === CR && i + 1 < end && s.charCodeAt(i + 1) === LF) i++;
          from = i + 1;
          break;
        default: {
          const n = charUnitsAt(s, i, end);
          if (n === 0) malformed(illegalCharMessage(s, i), i);
          i += n - 1;
        }
      }
    }
    this.part += s.slice(from, end);
    return end;
  }

  private addAttribute(value: string, at: number): void {
    if (this.attrNames.length >= this.maxAttributes) {
      throw new XmlStreamError("policy-violation", `more than ${this.maxAttributes} attributes on one element`, at);
    }
    // What needs no other attribute is checked at once, the rest at the tag's end.
    const problem = attributeError(this.attrName, value);
    if (problem !== null) malformed(`${problem} (on <${this.name}>)`, at);
    this.attrNames.push(this.attrName);
    this.attrValues.push(value);
  }
}
