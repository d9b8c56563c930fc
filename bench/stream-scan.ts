// Two cheap scanners for the benchmark client's receive path. Neither is a
// real XML parser; they only find boundaries in well-formed server output.
//
// Both work on bytes (or latin1 strings, one char per byte): every byte of a
// multi-byte UTF-8 sequence is >= 0x80, so the ASCII markup characters we
// look for can never be confused with part of a character, and a chunk split
// inside a character needs no special care.

/** What the splitter found at the top level of the server's stream. */
export type StreamEvent =
  | { kind: "open"; tag: string }
  | { kind: "element"; name: string; xml: string }
  | { kind: "close" };

/**
 * Splits the server's stream into the stream header, its top-level children
 * (stanzas, features, SASL replies) and the closing tag. Used for the login
 * handshake, where clarity matters more than speed.
 */
export class TopLevelSplitter {
  private buf = "";
  private pos = 0;
  private depth = 0;
  private elementStart = -1;

  /** Feeds one TCP chunk; returns the complete events it finished. */
  push(chunk: Buffer): StreamEvent[] {
    this.buf += chunk.toString("latin1");
    const events: StreamEvent[] = [];
    for (;;) {
      const lt = this.buf.indexOf("<", this.pos);
      if (lt === -1) {
        this.pos = this.buf.length;
        break;
      }
      this.pos = lt;
      const end = this.tokenEnd(lt);
      if (end === -1) break; // token incomplete: wait for more bytes
      const second = this.buf[lt + 1];
      if (second === "?" || second === "!") {
        // XML declaration, comment or CDATA: no structure we care about.
      } else if (second === "/") {
        this.depth--;
        if (this.depth === 1) this.emitElement(events, end);
        else if (this.depth === 0) events.push({ kind: "close" });
      } else if (this.depth === 0) {
        events.push({ kind: "open", tag: utf8(this.buf.slice(lt, end)) });
        this.depth = 1;
      } else {
        if (this.depth === 1) this.elementStart = lt;
        if (this.buf[end - 2] === "/") {
          if (this.depth === 1) this.emitElement(events, end);
        } else {
          this.depth++;
        }
      }
      this.pos = end;
    }
    this.compact();
    return events;
  }

  /** Bytes received but not yet part of a complete top-level element. */
  remainder(): Buffer {
    return Buffer.from(this.buf.slice(this.elementStart >= 0 ? this.elementStart : this.pos), "latin1");
  }

  /** Forget everything: the server is about to send a new stream header (after SASL). */
  reset(): void {
    this.buf = "";
    this.pos = 0;
    this.depth = 0;
    this.elementStart = -1;
  }

  private emitElement(events: StreamEvent[], end: number): void {
    const xml = utf8(this.buf.slice(this.elementStart, end));
    const name = /^<([^\s/>]+)/.exec(xml)?.[1] ?? "";
    events.push({ kind: "element", name, xml });
    this.elementStart = -1;
  }

  // Index just past the token starting at `lt`, or -1 if it is incomplete.
  // Start tags may contain '>' inside quoted attribute values.
  private tokenEnd(lt: number): number {
    const b = this.buf;
    if (b.startsWith("<!--", lt)) return endAfter(b, "-->", lt);
    if (b.startsWith("<![CDATA[", lt)) return endAfter(b, "]]>", lt);
    if (b[lt + 1] === "?") return endAfter(b, "?>", lt);
    let quote = "";
    for (let i = lt + 1; i < b.length; i++) {
      const c = b[i];
      if (quote) {
        if (c === quote) quote = "";
      } else if (c === "'" || c === '"') {
        quote = c;
      } else if (c === ">") {
        return i + 1;
      }
    }
    return -1;
  }

  private compact(): void {
    const keep = this.elementStart >= 0 ? this.elementStart : this.pos;
    if (keep === 0) return;
    this.buf = this.buf.slice(keep);
    this.pos -= keep;
    if (this.elementStart >= 0) this.elementStart = 0;
  }
}

function endAfter(s: string, marker: string, from: number): number {
  const at = s.indexOf(marker, from);
  return at === -1 ? -1 : at + marker.length;
}

function utf8(latin1: string): string {
  return Buffer.from(latin1, "latin1").toString("utf8");
}

const MESSAGE_END = Buffer.from("</message>");
const MESSAGE_START = "<message";
// Carry at most this much unfinished data between chunks; our stanzas are tiny.
const MAX_CARRY = 64 * 1024;

/**
 * Counts <message> stanzas by finding `</message>` boundaries with a native
 * Buffer search, so the benchmark client stays far from being the bottleneck.
 * Every `sampleEvery`-th message (and the first) is decoded and handed to
 * `onSample` for verification.
 */
export class MessageCounter {
  count = 0;
  private carry: Buffer = Buffer.alloc(0);

  constructor(
    private readonly sampleEvery: number,
    private readonly onSample: (index: number, stanza: string) => void,
  ) {}

  push(chunk: Buffer): void {
    const buf = this.carry.length ? Buffer.concat([this.carry, chunk]) : chunk;
    let from = 0;
    for (;;) {
      const at = buf.indexOf(MESSAGE_END, from);
      if (at === -1) break;
      const end = at + MESSAGE_END.length;
      this.count++;
      if (this.count === 1 || this.count % this.sampleEvery === 0) {
        const text = buf.subarray(from, end).toString("utf8");
        const start = text.lastIndexOf(MESSAGE_START);
        this.onSample(this.count, start === -1 ? text : text.slice(start));
      }
      from = end;
    }
    const rest = buf.subarray(from);
    this.carry = rest.length > MAX_CARRY ? Buffer.from(rest.subarray(rest.length - MAX_CARRY)) : rest;
  }
}

/** The value of attribute `name` on the start tag of `xml`, if present. */
export function attr(xml: string, name: string): string | undefined {
  const startTag = xml.slice(0, xml.indexOf(">") + 1);
  const match = new RegExp(`\\s${name}=(['"])(.*?)\\1`).exec(startTag);
  return match?.[2];
}
