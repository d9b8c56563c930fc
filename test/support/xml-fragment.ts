// Parse XML text written in a test (one or more top-level elements) into
// @xmpp/xml Elements, the same type the test client receives, so that what a
// test expects and what arrives can be compared node by node.
//
// saxes checks well-formedness and namespace prefixes, so a typo in a test
// script is reported as such instead of silently never matching. Top-level
// elements without an xmlns are in jabber:client, as stanzas on a client
// stream are (https://www.rfc-editor.org/rfc/rfc6120#section-4.8.3).
import { SaxesParser } from "saxes";
import { Element } from "../../src/xmpp/xml.js";
import { NS } from "../../src/xmpp/namespaces.js";

export function parseXmlFragment(text: string): Element[] {
  // The wrapper supplies the default namespace and the stream prefix; it is
  // the first element parsed, so stanzas are at depth 2.
  const root = new Element("root");
  let cursor = root;
  let depth = 0;
  const parser = new SaxesParser({ xmlns: true, position: true });
  let failure: Error | undefined;
  parser.on("error", (err) => {
    failure ??= err;
  });
  parser.on("opentag", (tag) => {
    const attrs: Record<string, string> = {};
    for (const [name, attr] of Object.entries(tag.attributes)) attrs[name] = attr.value;
    const el = new Element(tag.name, attrs);
    cursor.cnode(el);
    cursor = el;
    depth++;
  });
  parser.on("text", (t) => {
    if (depth > 1) cursor.t(t);
    else if (t.trim() !== "") failure ??= new Error(`text outside any element: "${t.trim()}"`);
  });
  parser.on("cdata", (t) => {
    if (depth > 1) cursor.t(t);
  });
  parser.on("closetag", () => {
    cursor = cursor.parent ?? root;
    depth--;
  });
  parser.write(`<fragment xmlns="${NS.CLIENT}" xmlns:stream="${NS.STREAM}">`).write(text).write("</fragment>").close();
  if (failure) throw new Error(`invalid XML in test script: ${failure.message}\n${text}`);
  // The fragment wrapper itself was parsed as a child of root.
  const wrapper = root.getChildElements()[0];
  if (!wrapper) throw new Error(`no XML in test script: "${text}"`);
  return wrapper.getChildElements();
}
