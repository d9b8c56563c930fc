// The matching rules of test/support/stanza-match.ts, which every
// conversation relies on: they must reject what they claim to reject.
import { xml } from "../../src/xmpp/xml.js";
import { NS } from "../../src/xmpp/namespaces.js";
import { matchUnordered, mismatch, prettyXml } from "../support/stanza-match.js";
import { parseXmlFragment } from "../support/xml-fragment.js";

function one(text: string) {
  const [el] = parseXmlFragment(text);
  if (!el) throw new Error("no element");
  return el;
}

describe("stanza matching", () => {
  test("top-level elements default to jabber:client; children inherit their parent's namespace", () => {
    expect(mismatch(one("<presence/>"), xml("presence"))).toBeUndefined();
    expect(mismatch(one("<presence/>"), xml("presence", { xmlns: "jabber:server" }))).toBe(
      "/presence: expected element presence{jabber:client}, got presence{jabber:server}",
    );
    const expected = one('<iq type="result"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>');
    expect(mismatch(expected, one('<iq type="result"><query xmlns="jabber:iq:roster"><item jid="a@b"/></query></iq>'))).toBeUndefined();
    expect(mismatch(expected, one('<iq type="result"><query xmlns="jabber:iq:roster"><item xmlns="urn:other" jid="a@b"/></query></iq>'))).toBe(
      "/iq/query/item: expected element item{jabber:iq:roster}, got item{urn:other}",
    );
    expect(mismatch(expected, one('<iq type="result"><query xmlns="jabber:iq:roster"/></iq>'))).toBe("/iq/query: no child element item{jabber:iq:roster}");
  });

  test("prefixed names resolve through their declarations", () => {
    const streamError = one(`<stream:error><conflict xmlns="${NS.STREAM_ERRORS}"/></stream:error>`);
    expect(streamError.getNS()).toBe(NS.STREAM);
    expect(mismatch(streamError, xml("error", { xmlns: NS.STREAM }, xml("conflict", { xmlns: NS.STREAM_ERRORS })))).toBeUndefined();
    expect(mismatch(streamError, xml("error", { xmlns: NS.CLIENT }))).toMatch(/expected element error/);
  });

  test("attributes: equal values, {any}, {absent}, {optional}; unnamed ones are free", () => {
    const got = xml("presence", { type: "subscribe", from: "a@b", id: "x" });
    expect(mismatch(one('<presence type="subscribe"/>'), got)).toBeUndefined();
    expect(mismatch(one('<presence type="subscribed"/>'), got)).toBe('/presence: attribute type expected "subscribed", got "subscribe"');
    expect(mismatch(one('<presence to="{any}"/>'), got)).toBe('/presence: attribute to missing (expected "{any}")');
    expect(mismatch(one('<presence from="{scansion:any}" id="{any}"/>'), got)).toBeUndefined();
    expect(mismatch(one('<presence to="{absent}"/>'), got)).toBeUndefined();
    expect(mismatch(one('<presence from="{absent}"/>'), got)).toBe('/presence: attribute from should be absent, got "a@b"');
    expect(mismatch(one('<presence to="{optional}" from="{optional}"/>'), got)).toBeUndefined();
  });

  test("children match in any order unless ordered; extra received children are allowed", () => {
    const got = one('<query xmlns="q"><feature var="a"/><identity category="server"/><feature var="b"/></query>');
    expect(mismatch(one('<query xmlns="q"><feature var="b"/><feature var="a"/></query>'), got)).toBeUndefined();
    expect(mismatch(one('<query xmlns="q"><feature var="b"/><feature var="a"/></query>'), got, { ordered: true })).toBe(
      "/query: no child element feature{q} after the 1 expected child element(s) already matched (ordered match)",
    );
    expect(mismatch(one('<query xmlns="q"><feature var="b"/><identity/></query>'), got, { ordered: true })).toBe(
      "/query: no child element identity{q} after the 1 expected child element(s) already matched (ordered match)",
    );
    expect(mismatch(one('<query xmlns="q"><feature var="a"/><feature var="b"/></query>'), got, { ordered: true })).toBeUndefined();
    expect(mismatch(one('<query xmlns="q"><feature var="c"/></query>'), got)).toBe('/query/feature: attribute var expected "c", got "a"');
    expect(mismatch(one('<query xmlns="q"><feature var="a"/><feature var="a"/></query>'), got)).toMatch(/not all at once/);
  });

  test("text is compared trimmed, and only when the expectation has some", () => {
    const got = one("<message><body>  hello  </body></message>");
    expect(mismatch(one("<message><body>hello</body></message>"), got)).toBeUndefined();
    expect(mismatch(one("<message><body/></message>"), got)).toBeUndefined();
    expect(mismatch(one("<message><body>bye</body></message>"), got)).toBe('/message/body: text expected "bye", got "hello"');
  });

  test("exact: no extra attributes, children or text", () => {
    const got = one('<iq type="result" id="1"><query xmlns="jabber:iq:roster" ver="3"/></iq>');
    const expected = one('<iq type="result" id="1"><query xmlns="jabber:iq:roster" ver="{optional}"/></iq>');
    expect(mismatch(expected, got, { exact: true })).toBeUndefined();
    expect(mismatch(one('<iq type="result"><query xmlns="jabber:iq:roster" ver="{optional}"/></iq>'), got, { exact: true })).toBe('/iq: unexpected attribute id="1" (exact match)');
    const withItem = one('<iq type="result" id="1"><query xmlns="jabber:iq:roster"><item jid="x@y"/></query></iq>');
    expect(mismatch(one('<iq type="result" id="1"><query xmlns="jabber:iq:roster"/></iq>'), withItem)).toBeUndefined();
    expect(mismatch(one('<iq type="result" id="1"><query xmlns="jabber:iq:roster"/></iq>'), withItem, { exact: true })).toBe(
      "/iq/query: expected 0 child element(s), got 1 (exact match)",
    );
    expect(mismatch(one("<message><body/></message>"), one("<message><body>x</body></message>"), { exact: true })).toMatch(/text expected "", got "x"/);
  });

  test("matchUnordered finds a one-to-one assignment, backtracking if needed", () => {
    const loose = one("<presence/>");
    const strict = one('<presence type="unavailable"/>');
    const received = [xml("presence", { type: "unavailable" }), xml("presence")];
    expect(matchUnordered([loose, strict], received)).toEqual([1, 0]);
    expect(matchUnordered([strict, strict], received)).toBeUndefined();
  });

  test("script XML is checked: malformed text and unbound prefixes are errors", () => {
    expect(() => parseXmlFragment("<message><body></message>")).toThrow(/invalid XML in test script/);
    expect(() => parseXmlFragment("<foo:bar/>")).toThrow(/invalid XML in test script/);
    expect(() => parseXmlFragment("just text")).toThrow(/text outside any element/);
    expect(parseXmlFragment("<a/> <b/>").map((e) => e.name)).toEqual(["a", "b"]);
  });

  test("prettyXml shows the namespace of the top element and indents children", () => {
    expect(prettyXml(one('<iq type="get"><ping xmlns="urn:xmpp:ping"/></iq>'))).toBe(
      '<iq xmlns="jabber:client" type="get">\n  <ping xmlns="urn:xmpp:ping"/>\n</iq>',
    );
  });
});
