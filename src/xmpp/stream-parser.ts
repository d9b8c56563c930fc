// The XML stream of an untrusted peer, turned into a stream header, stanzas and
// an end -- or exactly one stream error.
// https://www.rfc-editor.org/rfc/rfc6120#section-4  (streams)
// https://www.rfc-editor.org/rfc/rfc6120#section-11 (XML usage)
//
// XmlTokenizer does the XML (strict XML 1.0 + namespaces, as RFC 6120 11
// restricts it). Around it this file:
//  * decodes UTF-8 as one stream, so a character split across TCP chunks (or Tor
//    cells) survives, and invalid UTF-8 is an error rather than U+FFFD;
//  * counts the raw bytes of the header and of each stanza as they arrive,
//    feeding the tokenizer bounded windows of each chunk, so an endless tag or
//    text is cut off near the limit instead of being buffered;
//  * builds namespace-normalized @xmpp/xml Elements;
//  * can be restarted from inside a handler, handing the rest of the chunk to
//    the fresh stream (RFC 6120 4.3.3).
//
// A bare EOF (end()) is not a stream error: the socket is gone, so there is
// nobody to send <stream:error/> to. The parser just stops and reports nothing.
import type { Element } from "./xml.js";
import { NS } from "./namespaces.js";
import { ElementBuilder } from "./stream-elements.js";
import type { StreamErrorCondition, StreamParseError } from "./stream-error.js";
import { isHighSurrogate, isSpaceCode } from "./xml-chars.js";
import { XmlTokenizer, type XmlStartTag, type XmlTokenHandler } from "./xml-tokenizer.js";

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

// Thrown through the tokenizer to abandon the window it is reading.
const STOP = Symbol("stop"); // error reported, end(), stream closed, or a handler threw
const RESTART = Symbol("restart"); // a handler called restart(): resume at cutAt

// Characters handed to the tokenizer at once: bounds how far past a size
// limit input is read before the limit is checked.
const WINDOW_CHARS = 16 * 1024;

export class StreamParser {
  private readonly limits: StreamLimits;
  private readonly decoder = new TextDecoder("utf-8", { fatal: true });
  private readonly events: XmlTokenHandler;
  private tokenizer!: XmlTokenizer;
  private phase: "header" | "open" | "ended" = "header";
  private stopped = false;
  private _failed = false;
  private userError: { error: unknown } | null = null;
  private busy = false;
  private readonly queued: Buffer[] = [];
  private rawSeen = 0; // leading raw bytes checked for a UTF-16 signature
  private atStreamStart = true; // nothing but whitespace read for this stream yet

  // The decoded chunk being read, and whether it is all ASCII (a byte per char).
  private text = "";
  private ascii = true;

  // Byte count of what is arriving: the header, or one stanza-level construct.
  private inRegion = false;
  private regionBytes = 0;
  private countedTo = 0; // index in `text` up to which regionBytes is counted

  private readonly builder = new ElementBuilder();
  private finished: Element | null = null; // a stanza whose end tag was just read
  private dispatching = false;
  private restartRequested = false;
  private cutAt = 0;

  constructor(
    private readonly handlers: StreamParserHandlers,
    limits: Partial<StreamLimits> = {},
  ) {
    this.limits = { ...DEFAULT_STREAM_LIMITS, ...limits };
    this.events = {
      xmlDecl: (encoding) => this.onXmlDecl(encoding),
      markupStart: (at) => this.beginRegion(at),
      startTag: (tag, at) => this.onStartTag(tag, at),
      text: (text) => this.builder.text(text),
      endTag: (at) => this.onEndTag(at),
      markupEnd: (at) => this.onMarkupEnd(at),
      error: (condition, text) => this.abort(condition, condition === "not-well-formed" ? `malformed XML: ${text}` : text),
    };
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
    this.tokenizer = new XmlTokenizer(this.events, {
      maxStanzaDepth: this.limits.maxDepth,
      maxAttributes: this.limits.maxAttributes,
    });
    this.phase = "header";
    this.atStreamStart = true;
    this.inRegion = false;
    this.builder.reset();
    this.finished = null;
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
    this.text = text;
    this.ascii = Buffer.byteLength(text) === text.length;
    this.countedTo = 0;
    let at = 0;
    while (at < text.length && this.accepting()) {
      if (this.atStreamStart) {
        // Whitespace before a (restarted) stream header is dropped, so that it
        // neither counts toward the header nor hides an <?xml?> from the tokenizer.
        while (at < text.length && isSpaceCode(text.charCodeAt(at))) at++;
        if (at === text.length) return;
        this.atStreamStart = false;
        this.beginRegion(at);
      }
      let end = text.length - at > WINDOW_CHARS ? at + WINDOW_CHARS : text.length;
      if (end < text.length && isHighSurrogate(text.charCodeAt(end - 1))) end++; // keep pairs whole
      at = this.feed(at, end);
    }
  }

  /** Neither stopped nor past </stream:stream> (after which nothing matters). */
  private accepting(): boolean {
    return !this.stopped && this.phase !== "ended";
  }

  /** Reads text[from..to); returns where the current stream's part of it ends. */
  private feed(from: number, to: number): number {
    try {
      this.tokenizer.write(this.text, from, to);
      if (this.inRegion) {
        this.countRegion(to);
        this.checkRegion();
      }
    } catch (e) {
      if (e === RESTART) {
        const cut = this.cutAt;
        this.resetStream();
        return cut;
      }
      // Anything else escaping the tokenizer is a bug in it; treat the input as bad.
      if (e !== STOP) this.report("not-well-formed", `the XML parser gave up: ${String(e)}`);
      return to;
    }
    return to;
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

  /** The header, or a construct directly inside <stream:stream>, starts at text index `at`. */
  private beginRegion(at: number): void {
    this.inRegion = true;
    this.regionBytes = 0;
    this.countedTo = at;
  }

  /** Adds the bytes of the current region up to text index `to`. */
  private countRegion(to: number): void {
    const from = this.countedTo;
    if (to > from) this.regionBytes += this.ascii ? to - from : Buffer.byteLength(this.text.slice(from, to));
    this.countedTo = to;
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

  /** The region ended at text index `to`. */
  private endRegion(to: number): void {
    this.countRegion(to);
    this.checkRegion();
    this.inRegion = false;
  }

  // ---- tokenizer events -------------------------------------------------

  private onXmlDecl(encoding: string | undefined): void {
    if (encoding !== undefined && encoding.toLowerCase() !== "utf-8") {
      this.abort("unsupported-encoding", `XMPP streams must be UTF-8, not ${encoding}`);
    }
  }

  private onStartTag(tag: XmlStartTag, at: number): void {
    if (this.phase === "header") this.onHeader(tag, at);
    else this.builder.open(tag);
  }

  private onHeader(tag: XmlStartTag, at: number): void {
    if (tag.local !== "stream" || tag.uri !== NS.STREAM) {
      this.abort("invalid-namespace", `the root element must be <stream/> in ${NS.STREAM}, not <${tag.local}/> in '${tag.uri}'`);
    }
    const header: StreamHeader = { attrs: {}, defaultNs: undefined, prefixes: {} };
    for (const a of tag.attributes) {
      if (a.name === "xmlns") header.defaultNs = a.value;
      else if (a.prefix === "xmlns") header.prefixes[a.local] = a.value;
      else header.attrs[a.name] = a.value;
    }
    this.endRegion(at);
    this.phase = "open";
    this.deliver(() => this.handlers.onStreamStart(header), at);
  }

  private onEndTag(at: number): void {
    if (this.tokenizer.depth === 0) {
      this.phase = "ended"; // input after </stream:stream> is ignored
      this.deliver(() => this.handlers.onStreamEnd(), at);
      throw STOP;
    }
    const el = this.builder.close();
    if (el !== null) this.finished = el;
  }

  /** A stanza (or a CDATA section) directly inside <stream:stream> ended at `at`. */
  private onMarkupEnd(at: number): void {
    this.endRegion(at);
    const el = this.finished;
    if (el === null) return;
    this.finished = null;
    this.deliver(() => this.handlers.onStanza(el), at);
  }

  // ---- delivering -------------------------------------------------------

  /** Calls a handler; afterwards honours end()/restart() called from inside it. */
  private deliver(call: () => void, at: number): void {
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
      this.cutAt = at;
      throw RESTART;
    }
  }

  private report(condition: StreamErrorCondition, text: string): void {
    if (this.stopped) return;
    this.stopped = true;
    this._failed = true;
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
