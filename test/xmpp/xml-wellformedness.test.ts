// The XML rules the stream tokenizer enforces, one case per rule, each fed
// whole and byte by byte. Productions: https://www.w3.org/TR/xml/ and
// https://www.w3.org/TR/xml-names/ (RFC 6120 section 11 narrows them).
import { StreamParser, type StreamParseError } from "../../src/xmpp/stream-parser.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { Element } from "../../src/xmpp/xml.js";

const OPEN = `<stream:stream xmlns='jabber:client' xmlns:stream='${NS.STREAM}' to='a.onion' version='1.0'>`;

interface Result {
  stanzas: string[];
  error: StreamParseError | null;
  ends: number;
  headers: number;
}

function parse(chunks: Buffer[]): Result & { elements: Element[] } {
  const r: Result & { elements: Element[] } = { stanzas: [], error: null, ends: 0, headers: 0, elements: [] };
  const parser = new StreamParser({
    onStreamStart: () => r.headers++,
    onStanza: (el) => {
      r.elements.push(el);
      r.stanzas.push(el.toString());
    },
    onStreamEnd: () => r.ends++,
    onError: (e) => (r.error = e),
  });
  for (const c of chunks) parser.write(c);
  return r;
}

/** Parses `doc` whole and byte by byte; both must agree. */
function run(doc: string): Result & { elements: Element[] } {
  const bytes = Buffer.from(doc, "utf8");
  const whole = parse([bytes]);
  const bytewise = parse([...bytes].map((b) => Buffer.from([b])));
  expect({ ...bytewise, elements: [] }).toEqual({ ...whole, elements: [] });
  return whole;
}

/** The one stanza `body` (after the stream header) yields. */
function stanza(body: string): Element {
  const r = run(OPEN + body);
  expect(r.error).toBeNull();
  expect(r.elements).toHaveLength(1);
  return r.elements[0];
}

function condition(doc: string): string | undefined {
  return run(doc).error?.condition;
}

describe("names ([4] NameStartChar, [4a] NameChar)", () => {
  test.each([
    ["non-ASCII letters", "<m\u00e9ssage/>"],
    ["a middle dot and combining marks after the first character", "<a\u00b7b\u0300/>"],
    ["'-', '.', '_' and digits after the first character", "<_a-b.c9/>"],
    ["a character beyond the BMP (U+10000)", "<\u{10000}x/>"],
    ["a character in plane 14 (U+E0000)", "<x\u{e0000}/>"],
  ])("accepts %s", (_, body) => {
    stanza(body);
  });

  test.each([
    ["a digit first", "<1m/>"],
    ["'-' first", "<-m/>"],
    ["a middle dot first", "<\u00b7m/>"],
    ["a character in plane 15 (U+F0000)", "<x\u{f0000}/>"],
    ["U+00D7 (not a name character)", "<a\u00d7/>"],
    ["a local part starting with a digit", "<m:1x xmlns:m='urn:m'/>"],
    ["two colons", "<a:b:c xmlns:a='urn:a'/>"],
    ["an empty local part", "<m a:='1'/>"],
    ["an empty prefix", "<m :a='1'/>"],
    ["the prefix xmlns on an element", "<xmlns:m/>"],
  ])("rejects %s", (_, body) => {
    expect(condition(OPEN + body)).toBe("not-well-formed");
  });
});

describe("characters ([2] Char) and references ([66] CharRef, [68] EntityRef)", () => {
  test("the highest and edge code points are legal as references", () => {
    const el = stanza(`<m a='&#xD7FF;&#xE000;&#xFFFD;&#x10FFFF;&#x0000041;&#00066;'/>`);
    expect(el.attrs.a).toBe("\ud7ff\ue000\ufffd\u{10ffff}AB");
  });

  test("C1 controls and DEL are legal XML 1.0 characters", () => {
    expect(stanza(`<m>\u007f\u0080\u0085\u009f</m>`).getText()).toBe("\u007f\u0080\u0085\u009f");
  });

  test.each([
    ["&#0;"], ["&#xFFFE;"], ["&#xFFFF;"], ["&#xD800;"], ["&#xDFFF;"], ["&#x110000;"], ["&#99999999999;"], ["&#x;"], ["&#;"],
    ["&#X41;"], ["&#x4G;"], ["&AMP;"], ["&nbsp;"], ["&amp"], ["& amp;"], ["&"], ["\u0001"], ["\u000b"], ["\u001f"], ["\ufffe"],
    ["\uffff"], ["\u0000"],
  ])("%j in text is not well-formed", (bad) => {
    expect(condition(`${OPEN}<m>${bad}</m>`)).toBe("not-well-formed");
  });

  test.each([["\u0001"], ["\ufffe"], ["&#0;"], ["&bogus;"], ["<"], ["&"]])("%j in an attribute value is not well-formed", (bad) => {
    expect(condition(`${OPEN}<m a='${bad}'/>`)).toBe("not-well-formed");
  });

  test("']]>' is not allowed in text, even split across writes", () => {
    expect(condition(`${OPEN}<m>a]]>b</m>`)).toBe("not-well-formed");
    expect(condition(`${OPEN}<m>]]]]></m>`)).toBe("not-well-formed");
    const split = parse([Buffer.from(`${OPEN}<m>]`), Buffer.from("]"), Buffer.from("></m>")]);
    expect(split.error?.condition).toBe("not-well-formed");
  });

  test("']' and ']]' without '>' are fine, and '>' alone too", () => {
    expect(stanza(`<m>]] ] ]]]x ]> a>b</m>`).getText()).toBe("]] ] ]]]x ]> a>b");
  });
});

describe("line ends ([2.11]) and attribute-value normalization ([3.3.3])", () => {
  test("CR LF and lone CR become LF in text", () => {
    expect(stanza("<m>a\r\nb\rc\n\rd</m>").getText()).toBe("a\nb\nc\n\nd");
  });

  test("a CR LF pair split between writes is one line end", () => {
    const r = parse([Buffer.from(`${OPEN}<m>a\r`), Buffer.from("\nb</m>")]);
    expect(r.elements[0].getText()).toBe("a\nb");
  });

  test("whitespace characters in attribute values become spaces, CR LF one space", () => {
    expect(stanza("<m a='x\ty\nz\r\nw\rv'/>").attrs.a).toBe("x y z w v");
  });

  test("character references to whitespace survive normalization", () => {
    expect(stanza("<m a='&#10;&#9;&#13;&#32;'/>").attrs.a).toBe("\n\t\r ");
  });

  test("quotes of the other kind and '>' may appear in values", () => {
    expect(stanza(`<m a="it's > ]]>" b='say "hi"'/>`).attrs).toMatchObject({ a: "it's > ]]>", b: 'say "hi"' });
  });
});

describe("tags ([40] STag, [42] ETag, [44] EmptyElemTag)", () => {
  test("whitespace is allowed around '=' and before '>' and '/>'", () => {
    expect(stanza("<m\n a\t=\r\n'1' \n b = \"2\"\n/>").attrs).toMatchObject({ a: "1", b: "2" });
    expect(stanza("<m><b>x</b \t\n></m\r\n>").toString()).toBe(`<m xmlns="jabber:client"><b>x</b></m>`);
  });

  test.each([
    ["no whitespace between attributes", "<m a='1'b='2'/>"],
    ["an unquoted value", "<m a=1/>"],
    ["an attribute without value", "<m a/>"],
    ["an attribute without '='", "<m a '1'/>"],
    ["'/' not followed by '>'", "<m / >"],
    ["whitespace after '<'", "< m/>"],
    ["whitespace after '</'", "<m></ m>"],
    ["an attribute in an end tag", "<m></m a='1'>"],
    ["a mismatched end tag", "<m></n>"],
    ["an end tag matching only by namespace", "<p:m xmlns:p='urn:x' xmlns:q='urn:x'></q:m>"],
    ["a duplicate attribute", "<m a='1' a='1'/>"],
    ["a duplicate declaration", "<m xmlns:a='urn:a' xmlns:a='urn:a'/>"],
    ["one attribute through two prefixes", "<m xmlns:a='u' xmlns:b='u' a:x='' b:x=''/>"],
    ["an undeclared attribute prefix", "<m p:x='1'/>"],
    ["a prefix used outside its scope", "<m><p:x xmlns:p='urn:p'/><p:x/></m>"],
    ["'<!' that starts nothing", "<m><!x></m>"],
  ])("rejects %s", (_, body) => {
    expect(condition(OPEN + body)).toBe("not-well-formed");
  });
});

describe("namespace declarations (Namespaces in XML 1.0, 3)", () => {
  test("xml: needs no declaration; declaring it correctly is allowed", () => {
    expect(stanza("<m xml:lang='en'/>").attrs["xml:lang"]).toBe("en");
    stanza("<m xmlns:xml='http://www.w3.org/XML/1998/namespace' xml:lang='en'/>");
  });

  test("xmlns='' puts an element in no namespace", () => {
    expect(stanza("<m><x xmlns=''/></m>").toString()).toBe(`<m xmlns="jabber:client"><x xmlns=""/></m>`);
  });

  test("a prefix may be redeclared in an inner scope", () => {
    const el = stanza("<p:m xmlns:p='urn:a'><p:x xmlns:p='urn:b'/><p:y/></p:m>");
    expect(el.toString()).toBe(`<m xmlns="urn:a"><x xmlns="urn:b"/><y/></m>`);
  });

  test("the namespace name is the attribute value as written", () => {
    expect(stanza("<m xmlns=' urn:x '/>").attrs.xmlns).toBe(" urn:x ");
  });

  test.each([
    ["xml bound elsewhere", "<m xmlns:xml='urn:x'/>"],
    ["xmlns declared", "<m xmlns:xmlns='urn:x'/>"],
    ["the XML namespace bound to another prefix", "<m xmlns:p='http://www.w3.org/XML/1998/namespace'/>"],
    ["the XML namespace as default", "<m xmlns='http://www.w3.org/XML/1998/namespace'/>"],
    ["the xmlns namespace bound", "<m xmlns:p='http://www.w3.org/2000/xmlns/'/>"],
    ["the xmlns namespace as default", "<m xmlns='http://www.w3.org/2000/xmlns/'/>"],
    ["a prefix undeclared (XML 1.0)", "<m xmlns:p=''/>"],
  ])("rejects %s", (_, body) => {
    expect(condition(OPEN + body)).toBe("not-well-formed");
  });
});

describe("CDATA sections ([18] CDSect)", () => {
  test("content is text, ']]' inside is fine, references are not expanded", () => {
    expect(stanza("<m><![CDATA[]]]]><![CDATA[>&amp;<x>]]></m>").getText()).toBe("]]>&amp;<x>");
  });

  test("line ends are normalized in CDATA too", () => {
    expect(stanza("<m><![CDATA[a\r\nb\rc]]></m>").getText()).toBe("a\nb\nc");
  });

  test("a CDATA section before the stream header is not well-formed", () => {
    expect(condition(`<![CDATA[x]]>${OPEN}`)).toBe("not-well-formed");
  });

  test("directly inside the stream, a CDATA section may hold whitespace only", () => {
    expect(run(`${OPEN}<![CDATA[ \n]]><m/>`).error).toBeNull();
    expect(condition(`${OPEN}<![CDATA[]]]>`)).toBe("bad-format");
    expect(condition(`${OPEN}<![CDATA[ ] ]]>`)).toBe("bad-format");
  });
});

describe("the XML declaration ([23] XMLDecl)", () => {
  test.each([
    [`<?xml version="1.0" encoding="utf-8" standalone="no" ?>`],
    [`<?xml version = '1.0'\n?>`],
    [`<?xml version='1.1'?>`],
    [`<?xml version='1.0' standalone='yes'?>`],
  ])("accepts %j", (decl) => {
    const r = run(decl + OPEN);
    expect(r.error).toBeNull();
    expect(r.headers).toBe(1);
  });

  test("version 1.1 does not switch to XML 1.1 rules (NEL is no line end)", () => {
    const r = run(`<?xml version='1.1'?>${OPEN}<m a='\u0085'/>`);
    expect(r.elements[0].attrs.a).toBe("\u0085");
  });

  test.each([
    [`<?xml version='2.0'?>`],
    [`<?xml version='1.'?>`],
    [`<?xml encoding='UTF-8'?>`],
    [`<?xml?>`],
    [`<?xml version='1.0' standalone='maybe'?>`],
    [`<?xml version='1.0' standalone='yes' encoding='UTF-8'?>`],
    [`<?xml version='1.0'encoding='UTF-8'?>`],
    [`<?xml version="1.0'?>`],
    [`<?xml version='1.0' encoding='8bit'?>`],
    [`<?xml version='1.0' ?`],
  ])("rejects %j", (decl) => {
    expect(condition(decl + OPEN)).toBe("not-well-formed");
  });

  test.each([
    ["a processing instruction before the header", `<?xml-stylesheet href='a'?>${OPEN}`],
    ["an upper-case declaration (a reserved PI target)", `<?XML version='1.0'?>${OPEN}`],
    ["a comment before the header", `<!-- hi -->${OPEN}`],
    ["a DOCTYPE inside a stanza", `${OPEN}<m><!DOCTYPE m></m>`],
    ["a second declaration", `<?xml version='1.0'?><?xml version='1.0'?>${OPEN}`],
  ])("%s is restricted", (_, doc) => {
    expect(condition(doc)).toBe("restricted-xml");
  });

  test("text before the header is not well-formed", () => {
    expect(condition(`hello${OPEN}`)).toBe("not-well-formed");
  });
});

describe("directly inside <stream:stream> (RFC 6120 11.7)", () => {
  test.each([["x"], ["&amp;"], ["&#32;"], ["\u00a0"], ["]]>"]])("%j is bad-format", (text) => {
    expect(condition(`${OPEN}<m/>${text}<m/>`)).toBe("bad-format");
  });

  test("error texts say where the problem is", () => {
    expect(run(`${OPEN}<m>&bogus;</m>`).error?.text).toMatch(/undefined entity.*at stream position \d+/);
  });
});
