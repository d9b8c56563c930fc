// The XML stream of an untrusted peer, turned into a stream header, stanzas and
// an end -- or exactly one stream error.
// https://www.rfc-editor.org/rfc/rfc6120#section-4  (streams)
// https://www.rfc-editor.org/rfc/rfc6120#section-11 (XML usage)
//
// saxes does the tokenizing (strict XML 1.0 + namespaces). Around it this file:
//  * decodes UTF-8 as one stream, so a character split across TCP chunks (or Tor
//    cells) survives, and invalid UTF-8 is an error rather than U+FFFD;
//  * stops at saxes' first complaint (saxes itself would carry on);
//  * counts the raw bytes of the header and of each stanza as they arrive and
//    feeds saxes in bounded slices, so an endless tag or text is cut off near
//    the limit instead of being buffered;
//  * checks the text between stanzas itself (saxes is given no text handler
//    there, so whitespace keepalives are never buffered or counted);
//  * builds namespace-normalized @xmpp/xml Elements;
//  * can be restarted from inside a handler, handing the rest of the chunk to
//    the fresh stream (RFC 6120 4.3.3).
//
// A bare EOF (end()) is not a stream error: the socket is gone, so there is
// nobody to send <stream:error/> to. The parser just stops and reports nothing.
import type { SaxesAttributeNSIncomplete, SaxesTagNS, XMLDecl } from "saxes";
import type { Element } from "./xml.js";
import { NS } from "./namespaces.js";
import { ElementBuilder } from "./stream-elements.js";
import { conditionOfXmlError, type StreamErrorCondition, type StreamParseError } from "./stream-error.js";
import { createTokenizer, type Tokenizer } from "./xml-tokenizer.js";

export interface StreamLimits {
  /** Raw input bytes of one top-level stanza, its opening tag included. */
  maxStanzaBytes: number;
  /** Element nesting inside a stanza; the stanza itself is depth 1. */
  maxDepth: number;
  /** Attributes per element, xmlns declarations included. */
  maxAttributes: number;
  /** The stream header: optional <?xml?> plus <stream:stream ...>. */
  maxHeaderBytes: number;
}

export const DEFAULT_STREAM_LIMITS: StreamLimits = Object.freeze({
  maxStanzaBytes: 256 * 1024,
  maxDepth: 32,
  maxAttributes: 64,
  maxHeaderBytes: 8192,
});

export type { StreamErrorCondition, StreamParseError } from "./stream-error.js";

export interface StreamHeader {
  /** to, from, id, version, xml:lang ... as given (xml:lang under that key). */
  attrs: Record<string, string>;
  /** The default namespace declared on the header (jabber:client, jabber:server). */
  defaultNs: string | undefined;
  /** Every xmlns:prefix declared on the header. */
  prefixes: Record<string, string>;
}

export interface StreamParserHandlers {
  onStreamStart(header: StreamHeader): void;
  /** Each complete top-level child of <stream:stream>, detached (parent === null). */
  onStanza(el: Element): void;
  /** </stream:stream> */
  onStreamEnd(): void;
  /** Called at most once; afterwards all input is ignored. */
  onError(err: StreamParseError): void;
}

// Thrown through saxes to abandon the slice it is parsing.
const STOP = Symbol("stop"); // error reported, end(), stream closed, or a handler threw
const RESTART = Symbol("restart"); // a handler called restart(): resume at cutPos

// Slice size handed to saxes at once: bounds what saxes buffers beyond a limit.
const SLICE_CHARS = 16 * 1024;
// XML whitespace: https://www.w3.org/TR/xml/#NT-S
const NON_WS = /[^\x20\t\r\n]/g;

/** A delivery held back until saxes has finished with the closing tag (see onCloseTag). */
interface Pending {
  el: Element | null; // null: the stream's own closing tag
  pos: number;
}

export class StreamParser {
  private readonly limits: StreamLimits;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private sax!: Tokenizer;
  private phase: "header" | "open" | "ended" = "header";
  private stopped = false;
  private _failed = false;
  private userError: { error: unknown } | null = null;
  private busy = false;
  private readonly queued: Buffer[] = [];
  private rawSeen = 0; // leading raw bytes checked for a UTF-16 signature

  // The slice saxes is parsing, and its first character's saxes position.
  private slice = "";
  private sliceStart = 0;
  private sliceAscii = true;
  private atStreamStart = true; // nothing but whitespace fed to this saxes yet

  // Byte count of what is arriving: the header, or one stanza-level construct.
  private regionFrom = -1; // saxes position of its first char; -1: idle between stanzas
  private regionCounted = 0; // saxes position up to which regionBytes is counted
  private regionBytes = 0;
  private idleFrom = 0; // stream-level text before this position is checked

  private readonly builder = new ElementBuilder();
  private depth = 0; // open elements of the current stanza
  private readonly attrList: SaxesAttributeNSIncomplete[] = []; // of the tag being opened
  private pending: Pending | null = null;
  private dispatching = false;
  private restartRequested = false;
  private cutPos = 0;

  constructor(
    private readonly handlers: StreamParserHandlers,
    limits: Partial<StreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
    this.resetStream();
  }

  /** True once onError has been called. */
  get failed(): boolean {
    return this._failed;
  }

  /**
   * Feed raw bytes from the socket. Never throws because of the input; an
   * exception thrown by a handler stops the parser and is rethrown here.
   */
  write(chunk: Buffer): void {
    if (this.stopped) return;
    if (this.busy) {
      this.queued.push(chunk); // written from inside a handler: parse it next
      return;
    }
    this.busy = true;
    try {
      let next: Buffer | undefined = chunk;
      while (next !== undefined && !this.stopped) {
        this.process(next);
        next = this.queued.shift();
      }
    } finally {
      this.busy = false;
      this.queued.length = 0;
    }
    if (this.userError !== null) {
      const { error } = this.userError;
      this.userError = null;
      throw error;
    }
  }

  /** The peer closed the connection. Nothing is reported; the parser stops. */
  end(): void {
    this.stopped = true;
    this.queued.length = 0;
  }

  /**
   * Expect a fresh stream header (after SASL success or STARTTLS).
   * https://www.rfc-editor.org/rfc/rfc6120#section-4.3.3
   * From inside a handler, the bytes after the current stanza go to the new
   * stream. Ignored once the parser has stopped.
   */
  restart(): void {
    if (this.stopped) return;
    if (this.dispatching) this.restartRequested = true;
    else this.resetStream();
  }

  private resetStream(): void {
    const sax = createTokenizer();
    sax.on("xmldecl", (decl) => this.onXmlDecl(decl));
    // https://www.rfc-editor.org/rfc/rfc6120#section-11.1
    sax.on("doctype", () => this.restricted("a DOCTYPE is not allowed in XMPP"));
    sax.on("processinginstruction", () => this.restricted("processing instructions are not allowed in XMPP"));
    sax.on("comment", () => this.restricted("comments are not allowed in XMPP"));
    sax.on("opentagstart", () => this.onOpenTagStart());
    sax.on("attribute", (attr) => this.onAttribute(attr));
    sax.on("opentag", (tag) => this.onOpenTag(tag));
    sax.on("closetag", (tag) => this.onCloseTag(tag));
    sax.on("cdata", (text) => this.onCdata(text));
    sax.on("error", (err) => this.onSaxError(err));
    this.sax = sax;
    this.phase = "header";
    this.sliceStart = 0;
    this.atStreamStart = true;
    this.regionFrom = 0;
    this.regionCounted = 0;
    this.regionBytes = 0;
    this.idleFrom = 0;
    this.builder.reset();
    this.depth = 0;
    this.pending = null;
    this.restartRequested = false;
  }

  // ---- feeding ----------------------------------------------------------

  private process(chunk: Buffer): void {
    if (!this.accepting()) return;
    let text: string;
    try {
      this.checkEncodingSignature(chunk);
      text = this.decoder.decode(chunk, { stream: true });
    } catch (e) {
      if (e !== STOP) this.report("not-well-formed", "the stream is not valid UTF-8");
      return;
    }
    let offset = 0;
    while (offset < text.length && this.accepting()) {
      if (this.atStreamStart) {
        // Whitespace before a (restarted) stream header is dropped, so that it
        // neither counts toward the header nor hides an <?xml?> from saxes.
        NON_WS.lastIndex = offset;
        const first = NON_WS.exec(text);
        if (first === null) return;
        offset = first.index;
        this.atStreamStart = false;
      }
      const end = text.length - offset > SLICE_CHARS ? offset + SLICE_CHARS : text.length;
      offset += this.feedSlice(offset === 0 && end === text.length ? text : text.slice(offset, end));
    }
  }

  /** Neither stopped nor past </stream:stream> (after which nothing matters). */
  private accepting(): boolean {
    return !this.stopped && this.phase !== "ended";
  }

  /** Parses one slice; returns how many of its chars belong to the current stream. */
  private feedSlice(slice: string): number {
    this.slice = slice;
    this.sliceAscii = Buffer.byteLength(slice) === slice.length;
    try {
      this.sax.write(slice);
      this.flushPending();
      this.afterSlice();
    } catch (e) {
      if (e === RESTART) {
        const cut = this.cutPos - this.sliceStart;
        this.resetStream();
        return Math.min(Math.max(cut, 0), slice.length);
      }
      // Anything else escaping saxes is a saxes bug; treat the input as bad.
      if (e !== STOP) this.report("not-well-formed", `the XML parser gave up: ${String(e)}`);
      return slice.length;
    }
    this.sliceStart += slice.length;
    return slice.length;
  }

  private afterSlice(): void {
    if (this.phase === "header") {
      this.countRegion(this.slice.length);
      this.checkRegion();
    } else if (this.phase === "open") {
      if (this.regionFrom < 0) this.scanIdle(this.slice.length);
      if (this.regionFrom >= 0) {
        this.countRegion(this.slice.length);
        this.checkRegion();
      }
    }
  }

  // UTF-16 (with or without BOM) starts with 0xFE/0xFF/0x00 or has 0x00 second.
  // https://www.rfc-editor.org/rfc/rfc6120#section-11.6 (UTF-8 only)
  private checkEncodingSignature(chunk: Buffer): void {
    for (let i = 0; this.rawSeen < 2 && i < chunk.length; i++, this.rawSeen++) {
      const b = chunk[i];
      if (b === 0x00 || (this.rawSeen === 0 && (b === 0xfe || b === 0xff))) {
        this.abort("unsupported-encoding", "XMPP streams must be UTF-8");
      }
    }
  }

  // ---- byte accounting --------------------------------------------------

  private bytes(from: number, to: number): number {
    if (from < 0) from = 0;
    if (to <= from) return 0;
    return this.sliceAscii ? to - from : Buffer.byteLength(this.slice.slice(from, to));
  }

  /** Adds the bytes of the current region up to slice index `to`. */
  private countRegion(to: number): void {
    this.regionBytes += this.bytes(this.regionCounted - this.sliceStart, to);
    this.regionCounted = this.sliceStart + to;
  }

  private checkRegion(): void {
    if (this.phase === "header") {
      if (this.regionBytes > this.limits.maxHeaderBytes) {
        this.abort("policy-violation", `stream header larger than ${this.limits.maxHeaderBytes} bytes`);
      }
    } else if (this.regionBytes > this.limits.maxStanzaBytes) {
      this.abort("policy-violation", `stanza larger than ${this.limits.maxStanzaBytes} bytes`);
    }
  }

  /** saxes' current position as an index into the slice. */
  private here(): number {
    const i = this.sax.position - this.sliceStart;
    return i < 0 ? 0 : i > this.slice.length ? this.slice.length : i;
  }

  /**
   * Between stanzas, only whitespace may appear until the next "<", which
   * starts a new region. https://www.rfc-editor.org/rfc/rfc6120#section-11.7
   */
  private scanIdle(to: number): void {
    const from = Math.max(this.idleFrom - this.sliceStart, 0);
    let lt = this.slice.indexOf("<", from);
    if (lt >= to) lt = -1;
    NON_WS.lastIndex = from;
    const other = NON_WS.exec(this.slice);
    if (other !== null && other.index < (lt < 0 ? to : lt)) {
      this.abort("bad-format", "text is not allowed directly inside <stream:stream>");
    }
    if (lt < 0) {
      this.idleFrom = this.sliceStart + to;
      return;
    }
    this.regionFrom = this.regionCounted = this.sliceStart + lt;
    this.regionBytes = 0;
  }

  /** A stanza-level construct ended at slice index `to`. */
  private endRegion(to: number): void {
    this.countRegion(to);
    this.checkRegion();
    this.regionFrom = -1;
    this.idleFrom = this.sliceStart + to;
  }

  // ---- saxes events -----------------------------------------------------

  private onXmlDecl(decl: XMLDecl): void {
    const enc = decl.encoding;
    if (enc !== undefined && enc.toLowerCase() !== "utf-8") {
      this.abort("unsupported-encoding", `XMPP streams must be UTF-8, not ${enc}`);
    }
  }

  private restricted(text: string): never {
    this.flushPending();
    this.abort("restricted-xml", text);
  }

  private onOpenTagStart(): void {
    this.flushPending();
    this.attrList.length = 0;
    if (this.phase === "header") return;
    if (this.depth === 0) {
      // The "<" is in this slice: had the previous slice ended after it,
      // afterSlice() would already have opened the region.
      if (this.regionFrom < 0) this.scanIdle(this.here());
      this.sax.on("text", this.onText);
    }
    if (++this.depth > this.limits.maxDepth) {
      this.abort("policy-violation", `elements nested deeper than ${this.limits.maxDepth}`);
    }
  }

  private onAttribute(attr: SaxesAttributeNSIncomplete): void {
    if (this.attrList.push(attr) > this.limits.maxAttributes) {
      this.abort("policy-violation", `more than ${this.limits.maxAttributes} attributes on one element`);
    }
  }

  private onOpenTag(tag: SaxesTagNS): void {
    if (this.phase === "header") this.onHeader(tag);
    else this.builder.open(tag, this.attrList);
  }

  private onHeader(tag: SaxesTagNS): void {
    if (tag.local !== "stream" || tag.uri !== NS.STREAM) {
      this.abort("invalid-namespace", `the root element must be <stream/> in ${NS.STREAM}, not <${tag.local}/> in '${tag.uri}'`);
    }
    const header: StreamHeader = { attrs: {}, defaultNs: undefined, prefixes: {} };
    const list = tag.attributes;
    for (const name in list) {
      const a = list[name];
      if (name === "xmlns") header.defaultNs = a.value;
      else if (a.prefix === "xmlns") header.prefixes[a.local] = a.value;
      else header.attrs[name] = a.value;
    }
    const to = this.here();
    this.countRegion(to);
    this.checkRegion();
    this.phase = "open";
    this.regionFrom = -1;
    this.idleFrom = this.sliceStart + to;
    this.deliver(() => this.handlers.onStreamStart(header), this.sax.position);
  }

  private readonly onText = (text: string): void => this.builder.text(text);

  private onCdata(text: string): void {
    this.flushPending();
    if (this.depth > 0) return this.onText(text);
    // CDATA directly inside <stream:stream> is stream-level text.
    if (this.regionFrom < 0) this.scanIdle(this.here());
    NON_WS.lastIndex = 0;
    if (NON_WS.test(text)) this.abort("bad-format", "text is not allowed directly inside <stream:stream>");
    this.endRegion(this.here());
  }

  // saxes calls this *before* it checks that the closing tag matches
  // (<message></stream:stream> closes <message/> and then fails), so the
  // delivery waits until saxes moves on or the slice ends; see onSaxError.
  private onCloseTag(_tag: SaxesTagNS): void {
    this.flushPending();
    const pos = this.sax.position;
    if (this.depth === 0) {
      this.pending = { el: null, pos };
      return;
    }
    const el = this.builder.close();
    if (--this.depth > 0 || el === null) return;
    this.sax.off("text");
    this.endRegion(this.here());
    this.pending = { el, pos };
  }

  private onSaxError(err: Error): void {
    const p = this.pending;
    if (p !== null) {
      // Same position: the error is about the closing tag just seen; drop it.
      if (p.pos === this.sax.position) this.pending = null;
      else this.flushPending();
    }
    this.abort(conditionOfXmlError(err.message), `malformed XML: ${err.message}`);
  }

  // ---- delivering -------------------------------------------------------

  private flushPending(): void {
    const p = this.pending;
    if (p === null) return;
    this.pending = null;
    if (p.el === null) {
      this.phase = "ended"; // input after </stream:stream> is ignored
      this.deliver(() => this.handlers.onStreamEnd(), p.pos);
      throw STOP;
    }
    const el = p.el;
    this.deliver(() => this.handlers.onStanza(el), p.pos);
  }

  /** Calls a handler; afterwards honours end()/restart() called from inside it. */
  private deliver(call: () => void, pos: number): void {
    this.dispatching = true;
    try {
      call();
    } catch (error) {
      this.userError = { error };
      this.stopped = true;
    } finally {
      this.dispatching = false;
    }
    if (this.stopped) throw STOP;
    if (this.restartRequested) {
      this.cutPos = pos;
      throw RESTART;
    }
  }

  private report(condition: StreamErrorCondition, text: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this._failed = true;
    this.pending = null;
    try {
      this.handlers.onError({ condition, text });
    } catch (error) {
      this.userError = { error };
    }
  }

  private abort(condition: StreamErrorCondition, text: string): never {
    this.report(condition, text);
    throw STOP;
  }
}
