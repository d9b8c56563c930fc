import { STREAM_CLOSE, streamError, streamHeader } from "../../src/xmpp/stream-writer.js";
import { StreamParser, type StreamHeader, type StreamParseError } from "../../src/xmpp/stream-parser.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { Element } from "../../src/xmpp/xml.js";

/** Parses what we would send, the way a peer running our parser would. */
function parse(...chunks: string[]): { headers: StreamHeader[]; stanzas: Element[]; ends: number; errors: StreamParseError[] } {
  const seen = { headers: [] as StreamHeader[], stanzas: [] as Element[], ends: 0, errors: [] as StreamParseError[] };
  const parser = new StreamParser({
    onStreamStart: (h) => seen.headers.push(h),
    onStanza: (el) => seen.stanzas.push(el),
    onStreamEnd: () => seen.ends++,
    onError: (e) => seen.errors.push(e),
  });
  for (const c of chunks) parser.write(Buffer.from(c));
  return seen;
}

describe("streamHeader", () => {
  test("parses back with the same attributes", () => {
    const { headers, errors } = parse(streamHeader({ ns: NS.CLIENT, from: "alice.onion", to: "bob.onion", id: "s1" }));
    expect(errors).toEqual([]);
    expect(headers).toEqual([
      {
        attrs: { from: "alice.onion", to: "bob.onion", id: "s1", version: "1.0", "xml:lang": "en" },
        defaultNs: NS.CLIENT,
        prefixes: { stream: NS.STREAM },
      },
    ]);
  });

  test("starts with the XML declaration", () => {
    expect(streamHeader({ ns: NS.CLIENT })).toMatch(/^<\?xml version='1\.0'\?><stream:stream /);
  });

  test("declares the dialback prefix on request", () => {
    const { headers } = parse(streamHeader({ ns: NS.SERVER, dialback: true }));
    expect(headers[0].defaultNs).toBe(NS.SERVER);
    expect(headers[0].prefixes).toEqual({ stream: NS.STREAM, db: NS.DIALBACK });
  });

  test("uses the given version and language", () => {
    const { headers } = parse(streamHeader({ ns: NS.CLIENT, version: "1.1", lang: "de" }));
    expect(headers[0].attrs).toEqual({ version: "1.1", "xml:lang": "de" });
  });

  test("escapes attribute values", () => {
    const nasty = `a'b"c<d>&e\tf\ng`;
    const { headers, errors } = parse(streamHeader({ ns: NS.CLIENT, id: nasty }));
    expect(errors).toEqual([]);
    expect(headers[0].attrs.id).toBe(nasty);
  });
});

describe("STREAM_CLOSE", () => {
  test("ends a stream opened by streamHeader", () => {
    const { ends, errors } = parse(streamHeader({ ns: NS.CLIENT }), STREAM_CLOSE);
    expect(errors).toEqual([]);
    expect(ends).toBe(1);
  });
});

describe("streamError", () => {
  test("carries the condition in the stream errors namespace", () => {
    const { stanzas } = parse(streamHeader({ ns: NS.CLIENT }), streamError("host-unknown"));
    expect(stanzas).toHaveLength(1);
    expect(stanzas[0].is("error", NS.STREAM)).toBe(true);
    expect(stanzas[0].getChild("host-unknown", NS.STREAM_ERRORS)).toBeDefined();
    expect(stanzas[0].getChild("text")).toBeUndefined();
  });

  test("carries an escaped text", () => {
    const { stanzas } = parse(streamHeader({ ns: NS.CLIENT }), streamError("policy-violation", "a < b & c"));
    const text = stanzas[0].getChild("text", NS.STREAM_ERRORS);
    expect(text?.getText()).toBe("a < b & c");
    expect(text?.attrs["xml:lang"]).toBe("en");
  });

  test("refuses a condition RFC 6120 does not define", () => {
    expect(() => streamError("made-up")).toThrow(TypeError);
  });
});
