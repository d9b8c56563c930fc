import {
  DEFAULT_STREAM_LIMITS,
  StreamParser,
  type StreamHeader,
  type StreamLimits,
  type StreamParseError,
  type StreamParserHandlers,
} from "../../src/xmpp/stream-parser.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { Element } from "../../src/xmpp/xml.js";

const OPEN_C2S =
  "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' " +
  "to='alice.onion' version='1.0' xml:lang='en'>";
const OPEN_S2S =
  "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams' " +
  "xmlns:db='jabber:server:dialback' from='a.onion' to='b.onion' version='1.0'>";

/** Feeds a parser and records everything it reports. */
class Peer {
  readonly headers: StreamHeader[] = [];
  readonly stanzas: Element[] = [];
  readonly errors: StreamParseError[] = [];
  ends = 0;
  readonly parser: StreamParser;

  constructor(limits: Partial<StreamLimits> = {}, hooks: Partial<StreamParserHandlers> = {}) {
    this.parser = new StreamParser(
      {
        onStreamStart: (h) => {
          this.headers.push(h);
          hooks.onStreamStart?.(h);
        },
        onStanza: (el) => {
          this.stanzas.push(el);
          hooks.onStanza?.(el);
        },
        onStreamEnd: () => {
          this.ends++;
          hooks.onStreamEnd?.();
        },
        onError: (e) => {
          this.errors.push(e);
          hooks.onError?.(e);
        },
      },
      limits,
    );
  }

  /** Each argument is one write() call. */
  send(...chunks: (string | Buffer)[]): this {
    for (const c of chunks) this.parser.write(typeof c === "string" ? Buffer.from(c, "utf8") : c);
    return this;
  }

  /** Every byte of `text` in its own write() call. */
  sendBytewise(text: string): this {
    for (const b of Buffer.from(text, "utf8")) this.parser.write(Buffer.from([b]));
    return this;
  }

  get conditions(): string[] {
    return this.errors.map((e) => e.condition);
  }
}

function c2s(limits: Partial<StreamLimits> = {}): Peer {
  return new Peer(limits).send(OPEN_C2S);
}

describe("stream header", () => {
  test("reports attributes, default namespace and prefixes", () => {
    const peer = new Peer().send(OPEN_S2S);
    expect(peer.errors).toEqual([]);
    expect(peer.headers).toEqual([
      {
        attrs: { from: "a.onion", to: "b.onion", version: "1.0" },
        defaultNs: NS.SERVER,
        prefixes: { stream: NS.STREAM, db: NS.DIALBACK },
      },
    ]);
  });

  test("keeps xml:lang under that key", () => {
    expect(c2s().headers[0].attrs).toEqual({ to: "alice.onion", version: "1.0", "xml:lang": "en" });
  });

  test("resolves the streams prefix by namespace, not by name", () => {
    const peer = new Peer().send(
      `<s:stream xmlns='jabber:client' xmlns:s='${NS.STREAM}' version='1.0'><s:features/></s:stream>`,
    );
    expect(peer.errors).toEqual([]);
    expect(peer.headers[0].prefixes).toEqual({ s: NS.STREAM });
    expect(peer.stanzas[0].is("features", NS.STREAM)).toBe(true);
    expect(peer.ends).toBe(1);
  });

  test("rejects a root element in another namespace", () => {
    const peer = new Peer().send(`<stream:stream xmlns:stream='urn:not-streams' xmlns='jabber:client'>`);
    expect(peer.conditions).toEqual(["invalid-namespace"]);
    expect(peer.headers).toEqual([]);
  });

  test("rejects a root element that is not <stream>", () => {
    const peer = new Peer().send(`<stream:foo xmlns:stream='${NS.STREAM}' xmlns='jabber:client'>`);
    expect(peer.conditions).toEqual(["invalid-namespace"]);
  });

  test("rejects an XML declaration with another encoding", () => {
    const peer = new Peer().send(`<?xml version='1.0' encoding='ISO-8859-1'?>` + OPEN_C2S.slice(21));
    expect(peer.conditions).toEqual(["unsupported-encoding"]);
  });

  test("rejects UTF-16", () => {
    const peer = new Peer().send(Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(OPEN_C2S, "utf16le")]));
    expect(peer.conditions).toEqual(["unsupported-encoding"]);
  });

  test("a header over maxHeaderBytes is a policy violation", () => {
    const peer = new Peer({ maxHeaderBytes: 200 }).send(OPEN_C2S.slice(0, -1) + ` id='${"x".repeat(200)}'>`);
    expect(peer.conditions).toEqual(["policy-violation"]);
    expect(peer.headers).toEqual([]);
  });

  test("a header that never ends is stopped near maxHeaderBytes", () => {
    const peer = new Peer().send(`<stream:stream xmlns:stream='${NS.STREAM}' id='`);
    let fed = 0;
    while (fed < 1024 * 1024 && peer.errors.length === 0) {
      peer.send("y".repeat(1024));
      fed += 1024;
    }
    expect(peer.conditions).toEqual(["policy-violation"]);
    expect(fed).toBeLessThanOrEqual(DEFAULT_STREAM_LIMITS.maxHeaderBytes + 1024);
  });
});

describe("namespace normalization", () => {
  test("a stanza carries its namespace and no parent", () => {
    const [msg] = c2s().send(`<message to='bob.onion'><body>hi</body></message>`).stanzas;
    expect(msg.attrs).toEqual({ xmlns: NS.CLIENT, to: "bob.onion" });
    expect(msg.is("message", NS.CLIENT)).toBe(true);
    expect(msg.getChildText("body")).toBe("hi");
    expect(msg.parent).toBeNull();
    expect(msg.toString()).toBe(`<message xmlns="jabber:client" to="bob.onion"><body>hi</body></message>`);
  });

  test("a prefixed stanza loses its prefix and declaration", () => {
    const peer = new Peer().send(OPEN_S2S, `<db:result from='a.onion' to='b.onion'>key</db:result>`);
    expect(peer.stanzas[0].toString()).toBe(`<result xmlns="jabber:server:dialback" from="a.onion" to="b.onion">key</result>`);
  });

  test("stream-level elements are in the streams namespace", () => {
    const peer = c2s().send(`<stream:error><host-unknown xmlns='${NS.STREAM_ERRORS}'/></stream:error>`);
    const err = peer.stanzas[0];
    expect(err.is("error", NS.STREAM)).toBe(true);
    expect(err.getChild("host-unknown", NS.STREAM_ERRORS)).toBeDefined();
  });

  test("children get xmlns only where the namespace changes", () => {
    const peer = c2s().send(
      `<iq type='result' id='1'><r:query xmlns:r='jabber:iq:roster'><r:item jid='b@x.onion'><r:group>G</r:group></r:item></r:query></iq>`,
    );
    expect(peer.stanzas[0].toString()).toBe(
      `<iq xmlns="jabber:client" type="result" id="1"><query xmlns="jabber:iq:roster"><item jid="b@x.onion"><group>G</group></item></query></iq>`,
    );
  });

  test("a child back in the parent's namespace needs no xmlns", () => {
    const peer = c2s().send(`<message><x xmlns='urn:x'><body xmlns='jabber:client'/></x><body/></message>`);
    expect(peer.stanzas[0].toString()).toBe(
      `<message xmlns="jabber:client"><x xmlns="urn:x"><body xmlns="jabber:client"/></x><body/></message>`,
    );
  });

  test("prefixed attributes keep their prefix and a declaration for it", () => {
    const peer = c2s().send(`<message xml:lang='de' xmlns:e='urn:extra' e:flag='1'><body e:more='2'/></message>`);
    const msg = peer.stanzas[0];
    expect(msg.attrs).toEqual({ xmlns: NS.CLIENT, "xml:lang": "de", "e:flag": "1", "xmlns:e": "urn:extra" });
    expect(msg.getChild("body")?.attrs).toEqual({ "e:more": "2" });
  });

  test("normalized stanzas parse back to the same thing", () => {
    const first = c2s().send(`<message xmlns:e='urn:extra' e:flag='1'><e:x><body>a &amp; b</body></e:x></message>`);
    const again = c2s().send(first.stanzas[0].toString());
    expect(again.stanzas[0].toString()).toBe(first.stanzas[0].toString());
  });

  test("a stanza in a stream without default namespace has xmlns=''", () => {
    const peer = new Peer().send(`<stream:stream xmlns:stream='${NS.STREAM}'><message/>`);
    expect(peer.headers[0].defaultNs).toBeUndefined();
    expect(peer.stanzas[0].attrs).toEqual({ xmlns: "" });
  });
});

describe("restricted XML (RFC 6120 11.1)", () => {
  test("a DOCTYPE is reported, not swallowed with the rest of the stream", () => {
    const peer = new Peer().send(`<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a "b">]>`, OPEN_C2S.slice(21), "<message/>");
    expect(peer.conditions).toEqual(["restricted-xml"]);
    expect(peer.headers).toEqual([]);
  });

  test("a DOCTYPE inside the stream is restricted", () => {
    expect(c2s().send(`<!DOCTYPE x>`).conditions).toEqual(["restricted-xml"]);
  });

  test("a comment between stanzas is restricted, after the stanza before it", () => {
    const peer = c2s().send(`<message/><!-- hi --><presence/>`);
    expect(peer.conditions).toEqual(["restricted-xml"]);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["message"]);
  });

  test("a comment inside a stanza is restricted and the stanza is not delivered", () => {
    const peer = c2s().send(`<message><!-- hi --></message>`);
    expect(peer.conditions).toEqual(["restricted-xml"]);
    expect(peer.stanzas).toEqual([]);
  });

  test("a processing instruction is restricted", () => {
    expect(c2s().send(`<message><?php echo 1 ?></message>`).conditions).toEqual(["restricted-xml"]);
  });

  test("an XML declaration in the middle of a stream is restricted", () => {
    expect(c2s().send(`<message/><?xml version='1.0'?>`).conditions).toEqual(["restricted-xml"]);
  });

  test("CDATA sections are allowed", () => {
    const peer = c2s().send(`<message><body>a <![CDATA[<b> & ]]> c</body></message>`);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas[0].getChildText("body")).toBe("a <b> &  c");
  });
});

describe("well-formedness", () => {
  test("the predefined entities and character references are decoded", () => {
    const peer = c2s().send(`<message a='&quot;&apos;'><body>&lt;&gt;&amp;&#65;&#x1F600;</body></message>`);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas[0].attrs.a).toBe(`"'`);
    expect(peer.stanzas[0].getChildText("body")).toBe("<>&A\u{1F600}");
  });

  test("an undeclared entity is an error, not an exception", () => {
    const peer = c2s();
    expect(() => peer.send(`<message><body>&nbsp;</body></message>`)).not.toThrow();
    expect(peer.conditions).toEqual(["not-well-formed"]);
    expect(peer.stanzas).toEqual([]);
  });

  test("an undeclared prefix is not well-formed", () => {
    expect(c2s().send(`<foo:message/>`).conditions).toEqual(["not-well-formed"]);
  });

  test("a duplicate attribute is not well-formed", () => {
    expect(c2s().send(`<message to='a' to='b'/>`).conditions).toEqual(["not-well-formed"]);
  });

  test("the same attribute through two prefixes is not well-formed", () => {
    const peer = c2s().send(`<message xmlns:a='urn:x' xmlns:b='urn:x' a:t='1' b:t='2'/>`);
    expect(peer.conditions).toEqual(["not-well-formed"]);
  });

  test("a mismatched closing tag is not well-formed", () => {
    expect(c2s().send(`<message><body></message>`).conditions).toEqual(["not-well-formed"]);
  });

  test("a stanza closed by </stream:stream> is neither delivered nor an end", () => {
    const peer = c2s().send(`<message><body>x</body></stream:stream>`);
    expect(peer.conditions).toEqual(["not-well-formed"]);
    expect(peer.stanzas).toEqual([]);
    expect(peer.ends).toBe(0);
  });

  test("a wrong closing tag for the stream is not an end", () => {
    const peer = c2s().send(`</stream:foo>`);
    expect(peer.conditions).toEqual(["not-well-formed"]);
    expect(peer.ends).toBe(0);
  });

  test("invalid UTF-8 is not well-formed", () => {
    const peer = c2s().send(Buffer.from("<message><body>"), Buffer.from([0xc3, 0x28]), Buffer.from("</body></message>"));
    expect(peer.conditions).toEqual(["not-well-formed"]);
  });

  test("a control character is not well-formed", () => {
    expect(c2s().send(`<message><body>\u0001</body></message>`).conditions).toEqual(["not-well-formed"]);
  });

  test("only the first error is reported and later input is ignored", () => {
    const peer = c2s().send(`<message>&bad;</message>`, `<message/>`, `<<<`);
    expect(peer.conditions).toEqual(["not-well-formed"]);
    expect(peer.parser.failed).toBe(true);
    expect(peer.stanzas).toEqual([]);
  });

  test("stanzas before an error are delivered", () => {
    const peer = c2s().send(`<presence/><message/><foo:x/>`);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["presence", "message"]);
    expect(peer.conditions).toEqual(["not-well-formed"]);
  });

  test("no input makes write() throw", () => {
    // Mutations of a valid stream: random bytes replaced, dropped, repeated.
    const valid = Buffer.from(OPEN_S2S + `<db:result to='b'>k&amp;</db:result><message><body>h\u00e9\u{1F600}</body></message>`);
    let seed = 42;
    const rand = (n: number): number => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed % n;
    };
    for (let round = 0; round < 500; round++) {
      const bytes = Buffer.from(valid);
      for (let k = 0; k < 3; k++) bytes[rand(bytes.length)] = rand(256);
      const peer = new Peer({ maxStanzaBytes: 64, maxDepth: 2, maxAttributes: 3 });
      let at = 0;
      expect(() => {
        while (at < bytes.length) {
          const n = 1 + rand(20);
          peer.send(bytes.subarray(at, at + n));
          at += n;
        }
        peer.parser.end();
      }).not.toThrow();
      expect(peer.errors.length).toBeLessThanOrEqual(1);
    }
  });
});

describe("UTF-8 across chunks", () => {
  test("multi-byte characters split over byte-sized writes arrive intact", () => {
    const text = "\u00e9 \u20ac \u{1F600} \u4e2d";
    const peer = new Peer().sendBytewise(OPEN_C2S + `<message to='\u00e9@x.onion'><body>${text}</body></message>`);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas[0].attrs.to).toBe("\u00e9@x.onion");
    expect(peer.stanzas[0].getChildText("body")).toBe(text);
  });

  test("a UTF-8 byte order mark at the start is ignored", () => {
    const peer = new Peer().send(Buffer.from([0xef, 0xbb, 0xbf]), OPEN_C2S);
    expect(peer.errors).toEqual([]);
    expect(peer.headers).toHaveLength(1);
  });
});

describe("limits", () => {
  const LIMIT = 1000;
  /** A <message/> of exactly `bytes` bytes, padded with two-byte characters. */
  function messageOfBytes(bytes: number): string {
    const shell = `<message><body></body></message>`;
    const pad = bytes - shell.length;
    return `<message><body>${"\u00e9".repeat(pad >> 1)}${pad & 1 ? "a" : ""}</body></message>`;
  }

  test("a stanza of exactly maxStanzaBytes passes", () => {
    const stanza = messageOfBytes(LIMIT);
    expect(Buffer.byteLength(stanza)).toBe(LIMIT);
    const peer = c2s({ maxStanzaBytes: LIMIT }).send(stanza);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas).toHaveLength(1);
  });

  test("a stanza one byte over maxStanzaBytes is a policy violation", () => {
    const peer = c2s({ maxStanzaBytes: LIMIT }).send(messageOfBytes(LIMIT + 1));
    expect(peer.conditions).toEqual(["policy-violation"]);
    expect(peer.stanzas).toEqual([]);
  });

  test("the limit counts each stanza on its own", () => {
    const stanza = messageOfBytes(LIMIT);
    const peer = c2s({ maxStanzaBytes: LIMIT }).send(stanza + stanza, stanza.slice(0, 10), stanza.slice(10) + stanza);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas).toHaveLength(4);
  });

  test("an opening tag that never ends is stopped while it arrives", () => {
    const peer = c2s().send(`<message to='`);
    let fed = 0;
    while (fed < 1024 * 1024 && peer.errors.length === 0) {
      peer.send("a".repeat(1024));
      fed += 1024;
    }
    expect(peer.conditions).toEqual(["policy-violation"]);
    expect(fed).toBeLessThanOrEqual(DEFAULT_STREAM_LIMITS.maxStanzaBytes + 1024);
  });

  test("text that never ends is stopped while it arrives", () => {
    const peer = c2s().send(`<message><body>`);
    let fed = 0;
    while (fed < 1024 * 1024 && peer.errors.length === 0) {
      peer.send("\u00e9".repeat(512));
      fed += 1024;
    }
    expect(peer.conditions).toEqual(["policy-violation"]);
    expect(fed).toBeLessThanOrEqual(DEFAULT_STREAM_LIMITS.maxStanzaBytes + 1024);
  });

  test("a 1 MiB stanza in a single write() is a policy violation", () => {
    const peer = c2s().send(`<message><body>${"z".repeat(1024 * 1024)}`);
    expect(peer.conditions).toEqual(["policy-violation"]);
  });

  test("whitespace keepalives never add up to a limit", () => {
    const peer = c2s({ maxStanzaBytes: 100, maxHeaderBytes: 300 });
    for (let i = 0; i < 1024; i++) peer.send(" \n\t ".repeat(256));
    peer.send("<message/>", " ", "<presence/>");
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas).toHaveLength(2);
  });

  test("nesting at maxDepth passes", () => {
    const peer = c2s({ maxDepth: 3 }).send(`<message><a><b/></a></message>`);
    expect(peer.errors).toEqual([]);
  });

  test("nesting deeper than maxDepth is a policy violation", () => {
    const peer = c2s({ maxDepth: 3 }).send(`<message><a><b><c/></b></a></message>`);
    expect(peer.conditions).toEqual(["policy-violation"]);
  });

  test("maxAttributes attributes pass, xmlns declarations included", () => {
    // The header has 5 attributes too.
    const peer = c2s({ maxAttributes: 5 }).send(`<message xmlns='jabber:client' xmlns:x='urn:x' a='1' b='2' c='3'/>`);
    expect(peer.errors).toEqual([]);
  });

  test("more than maxAttributes attributes is a policy violation", () => {
    const peer = c2s({ maxAttributes: 5 }).send(`<message xmlns:x='urn:x' a='1' b='2' c='3' d='4' e='5'/>`);
    expect(peer.conditions).toEqual(["policy-violation"]);
  });
});

describe("stream-level text", () => {
  test("text directly inside <stream:stream> is bad-format", () => {
    const peer = c2s().send(`<message/>hello<message/>`);
    expect(peer.conditions).toEqual(["bad-format"]);
    expect(peer.stanzas).toHaveLength(1);
  });

  test("text without a following tag is caught when its chunk ends", () => {
    expect(c2s().send(`  hello`).conditions).toEqual(["bad-format"]);
  });

  test("CDATA directly inside <stream:stream> is bad-format", () => {
    expect(c2s().send(`<![CDATA[x]]>`).conditions).toEqual(["bad-format"]);
  });
});

describe("restart (RFC 6120 4.3.3)", () => {
  test("restart() inside onStanza hands the rest of the chunk to the new stream", () => {
    let restarted = false;
    const peer = new Peer(
      {},
      {
        onStanza: (el) => {
          if (el.is("auth", NS.SASL)) {
            restarted = true;
            peer.parser.restart();
          }
        },
      },
    );
    peer.send(OPEN_C2S);
    peer.send(
      `<auth xmlns='${NS.SASL}' mechanism='PLAIN'>AGFsaWNlAHNlY3JldA==</auth>` +
        `<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='${NS.STREAM}' to='alice.onion' version='1.0' id='second'>` +
        `<iq type='set' id='b'/>`,
    );
    expect(restarted).toBe(true);
    expect(peer.errors).toEqual([]);
    expect(peer.headers.map((h) => h.attrs.id)).toEqual([undefined, "second"]);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["auth", "iq"]);
  });

  test("restart() inside onStanza works when the new header arrives byte by byte", () => {
    const peer = new Peer({}, { onStanza: (el) => el.name === "auth" && peer.parser.restart() });
    peer.sendBytewise(`${OPEN_C2S}<auth xmlns='${NS.SASL}'/>\n${OPEN_C2S}<message/>`);
    expect(peer.errors).toEqual([]);
    expect(peer.headers).toHaveLength(2);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["auth", "message"]);
  });

  test("restart() between writes expects a fresh header", () => {
    const peer = c2s().send(`<proceed xmlns='${NS.TLS}'/>`);
    peer.parser.restart();
    peer.send(OPEN_C2S, `<message/>`);
    expect(peer.errors).toEqual([]);
    expect(peer.headers).toHaveLength(2);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["proceed", "message"]);
  });

  test("without restart() a second header is an error", () => {
    expect(c2s().send(OPEN_C2S).conditions).toEqual(["restricted-xml"]);
  });
});

describe("end of stream", () => {
  test("</stream:stream> ends the stream and later input is ignored", () => {
    const peer = c2s().send(`<message/></stream:stream><message/>garbage`, Buffer.from([0xff]), "<!-- -->");
    expect(peer.ends).toBe(1);
    expect(peer.stanzas).toHaveLength(1);
    expect(peer.errors).toEqual([]);
  });

  test("end() in the middle of a stanza reports nothing", () => {
    const peer = c2s().send(`<message><bo`);
    peer.parser.end();
    peer.send(`dy/></message>`);
    expect(peer.errors).toEqual([]);
    expect(peer.stanzas).toEqual([]);
    expect(peer.ends).toBe(0);
    expect(peer.parser.failed).toBe(false);
  });
});

describe("handlers", () => {
  test("an exception from a handler reaches the caller of write() and stops the parser", () => {
    const peer = new Peer(
      {},
      {
        onStanza: () => {
          throw new Error("handler bug");
        },
      },
    ).send(OPEN_C2S);
    expect(() => peer.send(`<message/><presence/>`)).toThrow("handler bug");
    peer.send(`<iq/>`);
    expect(peer.stanzas.map((s) => s.name)).toEqual(["message"]);
    expect(peer.errors).toEqual([]);
  });
});
