import {
  ControlProtocolError,
  ReplyParser,
  parseKeywords,
  parseQuotedList,
  quoteString,
  readQuoted,
  type TorReply,
} from "../../src/tor/control-reply.js";
import { passwordToken } from "../../src/tor/control-auth.js";

/** Feed `bytes` split at the given offsets; returns every reply produced. */
function parseSplit(bytes: Buffer, splits: number[]): TorReply[] {
  const parser = new ReplyParser();
  const out: TorReply[] = [];
  let prev = 0;
  for (const at of [...splits, bytes.length]) {
    out.push(...parser.push(bytes.subarray(prev, at)));
    prev = at;
  }
  return out;
}

function parseAll(text: string | Buffer): TorReply[] {
  return new ReplyParser().push(Buffer.isBuffer(text) ? text : Buffer.from(text, "utf8"));
}

// Real tor 0.4.9 output captured on this machine, plus an event before and after.
const PROTOCOLINFO =
  '250-PROTOCOLINFO 1\r\n250-AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/tmp/x/data/control_auth_cookie"\r\n250-VERSION Tor="0.4.9.11"\r\n250 OK\r\n';
const GETINFO_DATA =
  "250-version=0.4.9.11\r\n250+onions/current=\r\n6l4z7ycb5kmn22edqbb3riupa2dtq6nwy5ndgh3tgdiezhoht5q7ggid\r\nzn6nuxlmleziizyxxhizbeert3s3c6kedc77fa3mrlx5p3gczoyfd3qd\r\n.\r\n250 OK\r\n";
const STUFFED = "250+config-text=\r\n..leading dot\r\nplain\r\n...\r\n\r\n.\r\n250 OK\r\n";
const EVENT = '650 STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=0 TAG=starting SUMMARY="Starting"\r\n';
const MULTI_EVENT = "650-CIRC 1000 EXTENDED moria1,moria2 0xBEEF\r\n650-EXTRAMAGIC=99\r\n650 ANONYMITY=high\r\n";

describe("ReplyParser", () => {
  test("a multi-line reply with keyword lines", () => {
    const [r, ...rest] = parseAll(PROTOCOLINFO);
    expect(rest).toEqual([]);
    expect(r!.status).toBe(250);
    expect(r!.lines.map((l) => [l.status, l.separator, l.text])).toEqual([
      [250, "-", "PROTOCOLINFO 1"],
      [250, "-", 'AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/tmp/x/data/control_auth_cookie"'],
      [250, "-", 'VERSION Tor="0.4.9.11"'],
      [250, " ", "OK"],
    ]);
  });

  test("mixed 250- and 250+ lines; the data block is attached to its '+' line", () => {
    const [r] = parseAll(GETINFO_DATA);
    expect(r!.lines).toEqual([
      { status: 250, separator: "-", text: "version=0.4.9.11" },
      {
        status: 250,
        separator: "+",
        text: "onions/current=",
        data: "6l4z7ycb5kmn22edqbb3riupa2dtq6nwy5ndgh3tgdiezhoht5q7ggid\nzn6nuxlmleziizyxxhizbeert3s3c6kedc77fa3mrlx5p3gczoyfd3qd",
      },
      { status: 250, separator: " ", text: "OK" },
    ]);
  });

  test("dot-stuffing is undone and empty data lines are kept", () => {
    const [r] = parseAll(STUFFED);
    expect(r!.lines[0]!.data).toBe(".leading dot\nplain\n..\n");
  });

  test("an empty data block", () => {
    const [r] = parseAll("250+x=\r\n.\r\n250 OK\r\n");
    expect(r!.lines[0]!.data).toBe("");
  });

  test("a line that looks like a reply inside a data block is data", () => {
    const [r, ...rest] = parseAll("250+x=\r\n250 OK\r\n650 FAKE\r\n.\r\n250 OK\r\n");
    expect(rest).toEqual([]);
    expect(r!.lines[0]!.data).toBe("250 OK\n650 FAKE");
  });

  test("events before and after a reply come out as separate replies, in order", () => {
    const replies = parseAll(EVENT + PROTOCOLINFO + MULTI_EVENT + "250 OK\r\n");
    expect(replies.map((r) => [r.status, r.lines.length])).toEqual([
      [650, 1],
      [250, 4],
      [650, 3],
      [250, 1],
    ]);
    expect(replies[2]!.lines[1]!.text).toBe("EXTRAMAGIC=99");
  });

  test("every split point of several replies gives the same result", () => {
    const all = Buffer.from(EVENT + PROTOCOLINFO + GETINFO_DATA + STUFFED + MULTI_EVENT, "utf8");
    const expected = parseAll(all);
    expect(expected).toHaveLength(5);
    for (let i = 0; i <= all.length; i++) {
      expect(parseSplit(all, [i])).toEqual(expected);
    }
    // Two splits, including ones between CR and LF and inside the terminating ".\r\n".
    for (let i = 0; i <= all.length; i += 7) {
      for (let j = i; j <= all.length; j += 11) expect(parseSplit(all, [i, j])).toEqual(expected);
    }
  });

  test("byte-at-a-time delivery, including a UTF-8 character split across chunks", () => {
    const text = '250-path="/tmp/é/ü"\r\n250+d=\r\nüñï\r\n.\r\n250 OK\r\n';
    const bytes = Buffer.from(text, "utf8");
    const replies = parseSplit(bytes, Array.from({ length: bytes.length }, (_, i) => i));
    expect(replies).toEqual(parseAll(text));
    expect(replies[0]!.lines[0]!.text).toBe('path="/tmp/é/ü"');
    expect(replies[0]!.lines[1]!.data).toBe("üñï");
  });

  test("replies complete only at their final line", () => {
    const parser = new ReplyParser();
    expect(parser.push(Buffer.from("250-a=1\r\n250-b=2\r\n"))).toEqual([]);
    expect(parser.push(Buffer.from("250+c=\r\nx\r\n"))).toEqual([]);
    expect(parser.push(Buffer.from(".\r\n"))).toEqual([]);
    expect(parser.push(Buffer.from("250 OK\r"))).toEqual([]);
    expect(parser.push(Buffer.from("\n"))).toHaveLength(1);
  });

  test("a bare LF ends a line too; a CR inside a line is kept", () => {
    const [r] = parseAll("250-a\rb\n250 OK\n");
    expect(r!.lines.map((l) => l.text)).toEqual(["a\rb", "OK"]);
  });

  test("an empty reply text", () => {
    const [r] = parseAll("250 \r\n");
    expect(r!.lines[0]!.text).toBe("");
  });

  test.each([
    ["no status code", "hello\r\n"],
    ["two-digit status", "25 OK\r\n"],
    ["four-digit status", "2500 OK\r\n"],
    ["status without separator", "250\r\n"],
    ["wrong separator", "250=OK\r\n"],
    ["empty line", "\r\n"],
  ])("malformed: %s", (_name, text) => {
    expect(() => parseAll(text)).toThrow(ControlProtocolError);
  });

  test("after a malformed line the parser stays failed, and earlier replies are handed over", () => {
    const parser = new ReplyParser();
    let caught: unknown;
    try {
      parser.push(Buffer.from("250 OK\r\n650 EVENT\r\ngarbage\r\n250 OK\r\n"));
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(ControlProtocolError);
    expect((caught as ControlProtocolError).replies.map((r) => r.status)).toEqual([250, 650]);
    expect(() => parser.push(Buffer.from("250 OK\r\n"))).toThrow(ControlProtocolError);
  });

  test("a reply larger than the limit is refused, even one that never ends its line", () => {
    const small = new ReplyParser({ maxReplyBytes: 100 });
    expect(() => small.push(Buffer.from("250-" + "x".repeat(200) + "\r\n250 OK\r\n"))).toThrow(/exceeds 100 bytes/);
    const partial = new ReplyParser({ maxReplyBytes: 100 });
    partial.push(Buffer.from("250-" + "x".repeat(50)));
    expect(() => partial.push(Buffer.from("x".repeat(60)))).toThrow(/exceeds 100 bytes/);
    const data = new ReplyParser({ maxReplyBytes: 100 });
    expect(() => data.push(Buffer.from("250+d=\r\n" + "line\r\n".repeat(30)))).toThrow(/exceeds/);
  });

  test("the limit applies per reply, not to the whole stream", () => {
    const parser = new ReplyParser({ maxReplyBytes: 100 });
    for (let i = 0; i < 50; i++) expect(parser.push(Buffer.from("250-" + "x".repeat(40) + "\r\n250 OK\r\n"))).toHaveLength(1);
  });
});

describe("quoteString", () => {
  test("escapes backslash and quote, nothing else (tor reads \\x as x, control-spec 2.1)", () => {
    expect(quoteString("plain")).toBe('"plain"');
    expect(quoteString('a "b" \\c')).toBe('"a \\"b\\" \\\\c"');
    expect(quoteString("tab\there é")).toBe('"tab\there é"');
    expect(quoteString("")).toBe('""');
  });

  test("refuses CR, LF and NUL, which no QuotedString can carry to tor", () => {
    for (const bad of ["a\rb", "a\nb", "a\0b"]) expect(() => quoteString(bad)).toThrow(TypeError);
  });

  test("round-trips through readQuoted (quoteString never emits a C escape like \\n)", () => {
    for (const s of ["", "x", 'a "b" \\c', "tab\tend", "é ü", "\\\\", "\\n\\101"]) {
      expect(readQuoted(quoteString(s), 0)).toEqual({ value: s, end: quoteString(s).length });
    }
  });
});

describe("passwordToken", () => {
  test("a QuotedString normally; hex when the password holds CR, LF or NUL", () => {
    expect(passwordToken('pa"ss')).toBe('"pa\\"ss"');
    expect(passwordToken("a\nb")).toBe("610a62");
    expect(passwordToken("a\0b")).toBe("610062");
  });
});

describe("readQuoted", () => {
  test("CString escapes as tor writes them (control-spec 2.1.1), octal bytes decoded as UTF-8", () => {
    expect(readQuoted('"a\\nb\\tc\\rd"', 0)!.value).toBe("a\nb\tc\rd");
    expect(readQuoted('"/tmp/\\303\\251"', 0)!.value).toBe("/tmp/é");
    expect(readQuoted('"\\q\\\\\\""', 0)!.value).toBe('q\\"');
  });

  test("unterminated strings give undefined", () => {
    expect(readQuoted('"abc', 0)).toBeUndefined();
    expect(readQuoted('"abc\\', 0)).toBeUndefined();
    expect(readQuoted("abc", 0)).toBeUndefined();
  });
});

describe("parseKeywords", () => {
  test("bare and quoted values; positional words skipped", () => {
    expect(parseKeywords('STATUS_CLIENT NOTICE BOOTSTRAP PROGRESS=5 TAG=conn SUMMARY="Connecting to a relay"')).toEqual({
      PROGRESS: "5",
      TAG: "conn",
      SUMMARY: "Connecting to a relay",
    });
  });

  test("PROTOCOLINFO AUTH line", () => {
    expect(parseKeywords('AUTH METHODS=COOKIE,SAFECOOKIE COOKIEFILE="/var/run/tor/control.authcookie"')).toEqual({
      METHODS: "COOKIE,SAFECOOKIE",
      COOKIEFILE: "/var/run/tor/control.authcookie",
    });
  });

  test("escaped quotes and spaces inside a value; empty values; '=' inside values", () => {
    expect(parseKeywords('A="x \\"y\\" z" B= C=a=b D=""')).toEqual({ A: 'x "y" z', B: "", C: "a=b", D: "" });
  });

  test("a quoted positional argument does not split into words", () => {
    expect(parseKeywords('EVENT "not K=V here" K=v')).toEqual({ K: "v" });
  });

  test("repeated keys: last wins; extra spaces tolerated", () => {
    expect(parseKeywords("  K=1   K=2  ")).toEqual({ K: "2" });
  });

  test("an unterminated quoted value is taken up to the next space", () => {
    expect(parseKeywords('K="abc def')).toEqual({ K: '"abc' });
  });

  test("ServiceID and PrivateKey lines of ADD_ONION (base64 '=' padding kept)", () => {
    expect(parseKeywords("PrivateKey=ED25519-V3:uM30/Ib1Cy+xg==")).toEqual({ PrivateKey: "ED25519-V3:uM30/Ib1Cy+xg==" });
  });
});

describe("parseQuotedList", () => {
  test("GETINFO net/listeners/* values", () => {
    expect(parseQuotedList('"127.0.0.1:44609" "unix:/tmp/a/control"')).toEqual(["127.0.0.1:44609", "unix:/tmp/a/control"]);
    expect(parseQuotedList("")).toEqual([]);
  });
});
