// Tor control protocol (version 1): reply framing, quoting and keyword arguments.
// https://spec.torproject.org/control-spec/message-format.html (control-spec.txt section 2)
//
//   Reply         = *(MidReplyLine / DataReplyLine) EndReplyLine
//   MidReplyLine  = StatusCode "-" ReplyLine
//   DataReplyLine = StatusCode "+" ReplyLine CmdData
//   EndReplyLine  = StatusCode SP ReplyLine
//   CmdData       = *DataLine "." CRLF      (leading "." on a data line doubled, RFC 2821 4.5.2)
//
// Synchronous replies answer commands strictly in order; asynchronous events (status 650)
// are whole replies too, never interleaved inside another reply (control-spec 4.1), so one
// parser frames both and the connection tells them apart by status code.

/** One line of a reply. `data` is the dot-decoded data block that follows a '+' line. */
export interface ReplyLine {
  status: number;
  separator: " " | "-" | "+";
  text: string;
  /** Lines of the data block joined with "\n" (no trailing newline), dot-stuffing removed. */
  data?: string;
}

export interface TorReply {
  /** Status code of the final line (all lines normally share it, control-spec 2.3). */
  status: number;
  lines: ReplyLine[];
}

/** Tor answered a command with a 4xx/5xx status. */
export class TorControlError extends Error {
  constructor(
    readonly status: number,
    message: string,
    readonly reply?: TorReply,
  ) {
    super(message);
    this.name = "TorControlError";
  }
}

/** What came from the control port is not the control protocol; the connection must close. */
export class ControlProtocolError extends Error {
  /** Replies completed in the same chunk before the malformed line, to be delivered first. */
  replies: TorReply[] = [];
  constructor(message: string) {
    super(message);
    this.name = "ControlProtocolError";
  }
}

/** The final line's text, e.g. "OK" or `Unrecognized key "nope"`. */
export function replyMessage(reply: TorReply): string {
  const last = reply.lines[reply.lines.length - 1];
  return last ? `${last.status} ${last.text}` : String(reply.status);
}

/**
 * A control-spec QuotedString (section 2.1): backslashes and quotes escaped, nothing else.
 * Tor (0.4.9, decode_qstring) reads controller QuotedStrings exactly so: a backslash before
 * any character stands for that character, so "\\n" arrives as "n", NOT as a line break
 * (C escapes exist only in some strings Tor *writes*, section 2.1.1). A raw CR or LF would end
 * the command line and NUL ends Tor's C string, so those cannot be quoted at all: this throws
 * TypeError for them (AUTHENTICATE can take such a password hex-encoded instead).
 */
export function quoteString(s: string): string {
  if (/[\r\n\0]/.test(s)) throw new TypeError("a control-protocol QuotedString cannot contain CR, LF or NUL");
  return `"${s.replace(/[\\"]/g, (c) => `\\${c}`)}"`;
}

/**
 * Decode a quoted string starting at `text[start]` (which must be '"'). Tor writes many
 * "QuotedStrings" as CStrings (control-spec 2.1.1): \n \t \r and octal \0..\377 are C escapes
 * (octal escapes are bytes, so a UTF-8 path arrives as several of them); a backslash before
 * any other character stands for that character. Returns the value and the index after the
 * closing quote, or undefined if the quote is never closed.
 */
export function readQuoted(text: string, start: number): { value: string; end: number } | undefined {
  if (text[start] !== '"') return undefined;
  const parts: Buffer[] = [];
  let plain = "";
  const flush = () => {
    if (plain) parts.push(Buffer.from(plain, "utf8"));
    plain = "";
  };
  for (let i = start + 1; i < text.length; i++) {
    const c = text[i]!;
    if (c === '"') {
      flush();
      return { value: Buffer.concat(parts).toString("utf8"), end: i + 1 };
    }
    if (c !== "\\") {
      plain += c;
      continue;
    }
    const next = text[++i];
    if (next === undefined) return undefined;
    if (next === "n") plain += "\n";
    else if (next === "t") plain += "\t";
    else if (next === "r") plain += "\r";
    else if (next >= "0" && next <= "7") {
      let digits = next;
      while (digits.length < 3 && /[0-7]/.test(text[i + 1] ?? "")) digits += text[++i];
      flush();
      parts.push(Buffer.of(parseInt(digits, 8) & 0xff));
    } else plain += next;
  }
  return undefined;
}

/**
 * KEY=VALUE and KEY="quoted value" pairs of a reply line or event
 * (control-spec 4.1: SP KEYWORD ["=" ( QuotedString / *NonSpDquote )]).
 * Positional words (no '=') are skipped; for a repeated key the last value wins.
 */
export function parseKeywords(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < text.length) {
    while (text[i] === " ") i++;
    if (i >= text.length) break;
    if (text[i] === '"') {
      // A quoted positional argument: skip it whole so its spaces do not split words.
      const q = readQuoted(text, i);
      i = q ? q.end : text.length;
      continue;
    }
    const wordEnd = nextSpace(text, i);
    const eq = text.indexOf("=", i);
    if (eq === -1 || eq > wordEnd || eq === i) {
      i = wordEnd;
      continue;
    }
    const key = text.slice(i, eq);
    if (text[eq + 1] === '"') {
      const q = readQuoted(text, eq + 1);
      if (q) {
        out[key] = q.value;
        i = q.end;
        continue;
      }
    }
    const valueEnd = nextSpace(text, eq + 1);
    out[key] = text.slice(eq + 1, valueEnd);
    i = valueEnd;
  }
  return out;
}

/** A space-separated list of QuotedStrings, as in GETINFO net/listeners/*. */
export function parseQuotedList(text: string): string[] {
  const out: string[] = [];
  let i = 0;
  while (i < text.length) {
    while (text[i] === " ") i++;
    if (i >= text.length) break;
    const q = readQuoted(text, i);
    if (q) {
      out.push(q.value);
      i = q.end;
    } else {
      const end = nextSpace(text, i);
      out.push(text.slice(i, end));
      i = end;
    }
  }
  return out;
}

function nextSpace(text: string, from: number): number {
  const sp = text.indexOf(" ", from);
  return sp === -1 ? text.length : sp;
}

export interface ReplyParserOptions {
  /** Largest reply (all its lines and data) we buffer before declaring the peer broken. Default 64 MiB. */
  maxReplyBytes?: number;
}

const LINE = /^(\d{3})([ +-])(.*)$/s;
const LF = 0x0a;
const CR = 0x0d;

/**
 * Frames the byte stream from Tor into replies. Chunks may split a reply anywhere (even a
 * UTF-8 character: text is decoded per complete line). Lines end in CRLF; a bare LF is
 * tolerated. After a malformed line push() throws ControlProtocolError, and so does every
 * later call: the stream cannot be resynchronised.
 */
export class ReplyParser {
  private readonly maxReplyBytes: number;
  /** Bytes of a line whose LF has not arrived yet. */
  private partial: Buffer[] = [];
  private partialBytes = 0;
  private lines: ReplyLine[] = [];
  private replyBytes = 0;
  /** Lines of the data block being read, when the last line ended in '+'. */
  private dataLines: string[] | undefined;
  private failure: ControlProtocolError | undefined;

  constructor(opts: ReplyParserOptions = {}) {
    this.maxReplyBytes = opts.maxReplyBytes ?? 64 * 1024 * 1024;
  }

  /** Complete replies (synchronous and 650 events) found so far, in order. */
  push(chunk: Buffer): TorReply[] {
    if (this.failure) throw this.failure;
    const out: TorReply[] = [];
    try {
      let start = 0;
      for (;;) {
        const nl = chunk.indexOf(LF, start);
        if (nl === -1) break;
        let line = chunk.subarray(start, nl);
        if (this.partial.length > 0) {
          line = Buffer.concat([...this.partial, line]);
          this.partial = [];
          this.partialBytes = 0;
        }
        start = nl + 1;
        const reply = this.line(line.length > 0 && line[line.length - 1] === CR ? line.subarray(0, -1) : line);
        if (reply) out.push(reply);
      }
      if (start < chunk.length) {
        const rest = chunk.subarray(start);
        this.partial.push(rest);
        this.partialBytes += rest.length;
        if (this.replyBytes + this.partialBytes > this.maxReplyBytes) {
          throw new ControlProtocolError(`a reply from tor exceeds ${this.maxReplyBytes} bytes`);
        }
      }
    } catch (err) {
      const failure = err instanceof ControlProtocolError ? err : new ControlProtocolError(String(err));
      failure.replies = out;
      this.failure = failure;
      throw failure;
    }
    return out;
  }

  private line(bytes: Buffer): TorReply | undefined {
    this.replyBytes += bytes.length + 2;
    if (this.replyBytes > this.maxReplyBytes) {
      throw new ControlProtocolError(`a reply from tor exceeds ${this.maxReplyBytes} bytes`);
    }
    if (this.dataLines) {
      if (bytes.length === 1 && bytes[0] === 0x2e) {
        this.lines[this.lines.length - 1]!.data = this.dataLines.join("\n");
        this.dataLines = undefined;
      } else {
        // Undo dot-stuffing: a data line starting with "." was sent with one more.
        const unstuffed = bytes[0] === 0x2e ? bytes.subarray(1) : bytes;
        this.dataLines.push(unstuffed.toString("utf8"));
      }
      return undefined;
    }
    const text = bytes.toString("utf8");
    const m = LINE.exec(text);
    if (!m) {
      throw new ControlProtocolError(`malformed line from tor's control port: ${JSON.stringify(text.slice(0, 80))}`);
    }
    const status = Number(m[1]);
    const separator = m[2] as ReplyLine["separator"];
    this.lines.push({ status, separator, text: m[3]! });
    if (separator === "+") this.dataLines = [];
    if (separator !== " ") return undefined;
    const reply: TorReply = { status, lines: this.lines };
    this.lines = [];
    this.replyBytes = 0;
    return reply;
  }
}
