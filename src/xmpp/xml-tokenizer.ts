// A strict, streaming XML tokenizer for XMPP streams: XML 1.0 (Fifth
// Edition) and Namespaces in XML 1.0, narrowed as RFC 6120 section 11 says.
// https://www.w3.org/TR/xml/
// https://www.w3.org/TR/xml-names/
// https://www.rfc-editor.org/rfc/rfc6120#section-11
//
// The document is one XMPP stream: an optional XML declaration, the root
// element (the stream header), whitespace and stanzas inside it. So:
//  * comments, processing instructions and DOCTYPEs are restricted-xml as
//    soon as they are recognized (RFC 6120 11.1), and so is <?xml?> anywhere
//    but at the very start;
//  * text directly inside the root is bad-format unless it is whitespace
//    (RFC 6120 11.7), and such whitespace is never buffered;
//  * the only entities are the five predefined ones (no DTD);
//  * after the root's end tag the stream is over and input is ignored.
//
// write() takes the text in pieces of any size and stops and resumes at any
// character. Between pieces it keeps only what the current token needs (part
// of a tag, a reference, up to two ']' of a CDATA end). Character data is
// handed on at the end of each piece, so it is never held here. Pieces must
// not split a surrogate pair (StreamParser decodes UTF-8 as one stream,
// which never does); a half pair is reported as an illegal character.
//
// The first problem is reported through error(); nothing is reported after.
import { XmlStreamError, type StreamErrorCondition } from "./stream-error.js";
import { charUnitsAt, illegalCharMessage, isNameStartCode, isSpaceCode } from "./xml-chars.js";
import { XmlDeclarationReader } from "./xml-declaration.js";
import { NamespaceScopes, type XmlStartTag } from "./xml-namespaces.js";
import { ReferenceReader } from "./xml-references.js";
import { TagReader } from "./xml-tag-reader.js";

export type { XmlAttribute, XmlStartTag } from "./xml-namespaces.js";

/** What the tokenizer reports, in document order. `at` is an index into the current piece. */
export interface XmlTokenHandler {
  /** The XML declaration at the start of the stream. */
  xmlDecl(encoding: string | undefined): void;
  /** A '<' directly inside the root, at index `at`: a stanza (or the root's end tag) begins. */
  markupStart(at: number): void;
  /** A start tag that ends just before `at`. */
  startTag(tag: XmlStartTag, at: number): void;
  /** Character data inside a stanza: references resolved, CDATA included, line ends normalized; maybe in several calls. */
  text(text: string): void;
  /** An end tag (or the end of an empty-element tag) ending just before `at`. */
  endTag(at: number): void;
  /** The construct begun at the last markupStart (a stanza or a CDATA section) ended just before `at`. */
  markupEnd(at: number): void;
  /** The first problem found; nothing is reported after it. */
  error(condition: StreamErrorCondition, text: string): void;
}

export interface XmlTokenizerLimits {
  /** Nesting inside a stanza, the stanza itself being depth 1. */
  maxStanzaDepth: number;
  /** Attributes per start tag, namespace declarations included. */
  maxAttributes: number;
}

// Where the next character is read.
const PROLOG = 0; // before the root: S or '<'                           [22] prolog
const ROOT = 1; // directly inside the root: S or '<'
const CONTENT = 2; // inside a stanza: character data                 [43] content
const REF = 3; // a reference in character data                       [67] Reference
const LT = 4; // after '<'
const TAG = 5; // inside a start or end tag                   [40] STag, [42] ETag
const BANG = 6; // after '<!': "--", "[CDATA[" or "DOCTYPE"
const CDATA = 7; // inside a CDATA section                             [18] CDSect
const DECL = 8; // after '<?' at the very start                       [23] XMLDecl
const DONE = 9; // the root has ended, or an error: input is ignored

const LF = 0x0a, CR = 0x0d, AMP = 0x26, SLASH = 0x2f, LT_CHAR = 0x3c, GT = 0x3e;
const QUESTION = 0x3f, BANG_CHAR = 0x21, RSQB = 0x5d;

function malformed(message: string, at: number): never {
  throw new XmlStreamError("not-well-formed", message, at);
}

export class XmlTokenizer {
  private state = PROLOG;
  private depth_ = 0;
  private readonly names: string[] = []; // qualified names of the open elements
  private readonly scopes = new NamespaceScopes();
  private readonly tag: TagReader;
  private readonly ref = new ReferenceReader();
  private readonly decl = new XmlDeclarationReader();

  // The current piece, and where the text not yet handed on starts in it.
  private s = "";
  private end = 0;
  private mark = 0;
  private text = ""; // decoded text from before `mark` not yet handed on
  private origin = 0; // stream position of s[0], for error texts
  private consumed = 0; // characters read before this piece
  private pendingCR = false; // the last piece ended with CR: skip a leading LF
  private docStart = true; // nothing read yet: an XML declaration may come
  private declPossible = false; // the '<' just read was the first character

  private literal = ""; // what '<!' must continue with
  private matched = 0;
  private bracketCarry = 0; // ']' at the end of the last piece's character data
  private cdataBrackets = 0; // ']' just read inside CDATA

  constructor(
    private readonly handler: XmlTokenHandler,
    private readonly limits: XmlTokenizerLimits,
  ) {
    this.tag = new TagReader(limits.maxAttributes);
  }

  /** Open elements, the root included (a stanza's children are at depth 3). */
  get depth(): number {
    return this.depth_;
  }

  /** Reads s[start..end). Handler exceptions pass through; the tokenizer is then unusable. */
  write(s: string, start = 0, end = s.length): void {
    if (this.state === DONE || start >= end) return;
    this.s = s;
    this.end = end;
    this.origin = this.consumed - start;
    this.consumed += end - start;
    let i = start;
    // 2.11: a CR LF pair split between pieces is one line end.
    if (this.pendingCR && s.charCodeAt(i) === LF) i++;
    this.pendingCR = s.charCodeAt(end - 1) === CR;
    this.mark = i;
    try {
      while (i < end) i = this.step(i);
      this.pieceEnd();
    } catch (e) {
      if (!(e instanceof XmlStreamError)) throw e;
      this.state = DONE;
      this.handler.error(e.condition, `${e.message} (at stream position ${this.origin + e.at})`);
    }
  }

  private step(i: number): number {
    const { s, end } = this;
    switch (this.state) {
      case CONTENT:
        return this.content(i);
      case TAG: {
        const next = this.tag.read(s, i, end);
        if (!this.tag.done) return next;
        return this.tag.isEndTag ? this.closeElement(next) : this.openElement(next);
      }
      case ROOT:
        return this.root(i);
      case LT:
        return this.afterLt(i);
      case REF: {
        const next = this.ref.read(s, i, end);
        if (this.ref.done) {
          this.text += this.ref.value;
          this.mark = next;
          this.state = CONTENT;
        }
        return next;
      }
      case CDATA:
        return this.cdata(i);
      case BANG:
        return this.bang(i);
      case PROLOG:
        return this.prolog(i);
      case DECL:
        return this.declaration(i);
      default: // DONE
        return end;
    }
  }

  /** Hands on the character data read so far. */
  private pieceEnd(): void {
    if (this.state === CONTENT) this.emitText(this.end);
    else if (this.state === REF) this.emitText(this.mark); // the text before the '&'
    else if (this.state === CDATA) this.cdataPieceEnd();
  }

  private emitText(upTo: number): void {
    const t = this.mark < upTo ? this.text + this.s.slice(this.mark, upTo) : this.text;
    this.text = "";
    if (t.length > 0) this.handler.text(t);
  }

  // ---- between markup ---------------------------------------------------

  /** [22] prolog: whitespace until the root's '<' (a declaration only as the first thing). */
  private prolog(i: number): number {
    const { s, end } = this;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c === LT_CHAR) {
        this.declPossible = this.docStart;
        this.docStart = false;
        this.state = LT;
        return i + 1;
      }
      this.docStart = false;
      if (!isSpaceCode(c)) malformed("text before the stream header", i);
    }
    return end;
  }

  /** Directly inside the root: whitespace only. https://www.rfc-editor.org/rfc/rfc6120#section-11.7 */
  private root(i: number): number {
    const { s, end } = this;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c === LT_CHAR) {
        this.state = LT;
        this.handler.markupStart(i);
        return i + 1;
      }
      if (!isSpaceCode(c)) this.textInRoot(i);
    }
    return end;
  }

  private textInRoot(at: number): never {
    throw new XmlStreamError("bad-format", `text is not allowed directly inside <${this.names[0]}>`, at);
  }

  /** [14] CharData inside a stanza, up to '<' or '&'. */
  private content(i: number): number {
    const { s, end } = this;
    if (this.bracketCarry > 0) i = this.brackets(i, this.bracketCarry);
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c >= 0x20 && c < 0xd800 && c !== LT_CHAR && c !== AMP && c !== RSQB) continue;
      if (c === LT_CHAR) {
        this.emitText(i);
        this.state = LT;
        return i + 1;
      }
      if (c === AMP) {
        this.text += s.slice(this.mark, i);
        this.ref.begin();
        this.state = REF;
        return i + 1;
      }
      if (c === RSQB) {
        i = this.brackets(i, 0) - 1;
      } else if (c === CR) {
        i = this.endOfLine(i, true);
      } else {
        i = this.otherChar(i);
      }
    }
    return end;
  }

  /** 2.11: CR LF and a lone CR become LF (kept in the text when `keep`); returns the index of the last char used. */
  private endOfLine(i: number, keep: boolean): number {
    const { s, end } = this;
    if (keep) this.text += `${s.slice(this.mark, i)}\n`;
    if (i + 1 < end && s.charCodeAt(i + 1) === LF) i++;
    this.mark = i + 1;
    return i;
  }

  /** [2] Char beyond the plain BMP fast path: a valid surrogate pair, or not well-formed. */
  private otherChar(i: number): number {
    const n = charUnitsAt(this.s, i, this.end);
    if (n === 0) malformed(illegalCharMessage(this.s, i), i);
    return i + n - 1;
  }

  /**
   * A run of ']' in character data starting at `i`, after `carried` ones at
   * the end of the last piece. [14] CharData must not contain ']]>'.
   * Returns the index after the run.
   */
  private brackets(i: number, carried: number): number {
    const { s, end } = this;
    this.bracketCarry = 0;
    let j = i;
    while (j < end && s.charCodeAt(j) === RSQB) j++;
    const run = carried + j - i;
    if (j === end) this.bracketCarry = run > 2 ? 2 : run;
    else if (run >= 2 && s.charCodeAt(j) === GT) malformed("']]>' is not allowed in character data", j);
    return j;
  }

  // ---- markup -----------------------------------------------------------

  /** After '<': a start tag, an end tag, '<!' or '<?'. */
  private afterLt(i: number): number {
    const c = this.s.charCodeAt(i);
    const declPossible = this.declPossible;
    this.declPossible = false;
    if (isNameStartCode(c)) {
      // The element about to open is at stanza depth `depth_` (the root is at 0).
      if (this.depth_ > this.limits.maxStanzaDepth) {
        throw new XmlStreamError("policy-violation", `elements nested deeper than ${this.limits.maxStanzaDepth}`, i);
      }
      this.tag.beginStartTag();
      this.state = TAG;
      return i;
    }
    switch (c) {
      case SLASH:
        if (this.depth_ === 0) malformed("an end tag before the stream header", i);
        this.tag.beginEndTag();
        this.state = TAG;
        return i + 1;
      case BANG_CHAR:
        this.literal = "";
        this.state = BANG;
        return i + 1;
      case QUESTION:
        // https://www.rfc-editor.org/rfc/rfc6120#section-11.1 (no processing instructions)
        if (!declPossible) throw new XmlStreamError("restricted-xml", "processing instructions are not allowed in XMPP", i);
        this.state = DECL;
        return i + 1;
      default:
        return malformed("'<' must start a tag (write &lt; for '<')", i);
    }
  }

  private declaration(i: number): number {
    const decl = this.decl;
    const next = decl.read(this.s, i, this.end);
    if (decl.done) {
      this.state = PROLOG;
      this.handler.xmlDecl(decl.encoding);
    }
    return next;
  }

  /** After '<!': a CDATA section; comments and DOCTYPEs are restricted. */
  private bang(i: number): number {
    const { s, end } = this;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (this.literal === "") {
        this.literal = c === 0x2d ? "--" : c === 0x5b ? "[CDATA[" : c === 0x44 ? "DOCTYPE" : "";
        if (this.literal === "") malformed("'<!' must start a CDATA section", i);
        this.matched = 1;
      } else if (c === this.literal.charCodeAt(this.matched)) {
        this.matched++;
      } else {
        malformed(`malformed <!${this.literal.slice(0, this.matched)}`, i);
      }
      if (this.matched < this.literal.length) continue;
      // https://www.rfc-editor.org/rfc/rfc6120#section-11.1
      if (this.literal === "--") throw new XmlStreamError("restricted-xml", "comments are not allowed in XMPP", i);
      if (this.literal === "DOCTYPE") throw new XmlStreamError("restricted-xml", "a DOCTYPE is not allowed in XMPP", i);
      if (this.depth_ === 0) malformed("a CDATA section before the stream header", i);
      this.state = CDATA;
      this.cdataBrackets = 0;
      this.mark = i + 1;
      return i + 1;
    }
    return end;
  }

  /** [20] CData up to [21] CDEnd ']]>'; directly inside the root it may only hold whitespace. */
  private cdata(i: number): number {
    const { s, end } = this;
    const inStanza = this.depth_ >= 2;
    for (; i < end; i++) {
      const c = s.charCodeAt(i);
      if (c === RSQB) {
        this.cdataBrackets++;
        continue;
      }
      if (c === GT && this.cdataBrackets >= 2) {
        if (inStanza) {
          const t = (this.text + s.slice(this.mark, i + 1)).slice(0, -3); // without ']]>'
          this.text = "";
          this.mark = i + 1;
          this.state = CONTENT;
          if (t.length > 0) this.handler.text(t);
        } else {
          if (this.cdataBrackets > 2) this.textInRoot(i - 2); // ']]]>' holds a ']'
          this.state = ROOT;
          this.handler.markupEnd(i + 1);
        }
        return i + 1;
      }
      if (!inStanza && (this.cdataBrackets > 0 || !isSpaceCode(c))) this.textInRoot(i - this.cdataBrackets);
      this.cdataBrackets = 0;
      if (c >= 0x20 && c < 0xd800) continue;
      if (c === CR) i = this.endOfLine(i, inStanza);
      else i = this.otherChar(i);
    }
    return end;
  }

  /** Hands on CDATA text read so far, keeping up to two ']' that may begin ']]>'. */
  private cdataPieceEnd(): void {
    if (this.depth_ < 2) return;
    const t = this.text + this.s.slice(this.mark, this.end);
    let keep = t.length;
    while (keep > 0 && t.length - keep < 2 && t.charCodeAt(keep - 1) === RSQB) keep--;
    this.text = t.slice(keep);
    if (keep > 0) this.handler.text(t.slice(0, keep));
  }

  // ---- elements ---------------------------------------------------------

  /** The start tag's '>' is at `at - 1`. */
  private openElement(at: number): number {
    const { name, attrNames, attrValues } = this.tag;
    const tag = this.scopes.open(name, attrNames, attrValues);
    if (typeof tag === "string") malformed(tag, at - 1);
    this.names.push(name);
    this.depth_++;
    this.mark = at;
    this.state = this.depth_ === 1 ? ROOT : CONTENT;
    this.handler.startTag(tag, at);
    return this.tag.isEmpty ? this.endElement(at) : at;
  }

  /** WFC: Element Type Match. The end tag's '>' is at `at - 1`. */
  private closeElement(at: number): number {
    const open = this.names[this.depth_ - 1];
    if (this.tag.name !== open) malformed(`</${this.tag.name}> does not end <${open}>`, at - 1);
    return this.endElement(at);
  }

  private endElement(at: number): number {
    this.names.pop();
    this.scopes.close();
    this.depth_--;
    this.mark = at;
    if (this.depth_ === 0) {
      this.state = DONE; // the stream is over
      this.handler.endTag(at);
      return this.end;
    }
    this.state = this.depth_ === 1 ? ROOT : CONTENT;
    this.handler.endTag(at);
    if (this.depth_ === 1) this.handler.markupEnd(at);
    return at;
  }
}
