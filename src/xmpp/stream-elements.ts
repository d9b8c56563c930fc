// Builds namespace-normalized @xmpp/xml Elements from the tokenizer's
// namespace-resolved start tags, for StreamParser.
//
// Normalized means: element names carry no prefix; an element whose namespace
// differs from its parent's gets an explicit xmlns, and the stanza (top level)
// always does. So <db:result/> in a dialback stream becomes
// <result xmlns="jabber:server:dialback"/> and el.is("result", NS.DIALBACK) works
// without knowing which prefix the peer picked. xmlns:prefix declarations are
// dropped except where a prefixed attribute (other than xml:) still needs one.
import { Element } from "./xml.js";
import type { XmlStartTag } from "./xml-namespaces.js";

/** The namespace an output element (or an ancestor) binds `prefix` to. */
function prefixInScope(el: Element | null, prefix: string): string | undefined {
  const key = `xmlns:${prefix}`;
  for (; el !== null; el = el.parent) {
    const uri = el.attrs[key];
    if (uri !== undefined) return uri;
  }
  return undefined;
}

export class ElementBuilder {
  private readonly stack: Element[] = [];
  private readonly nsStack: string[] = [];

  /** A start tag; its attributes are in document order. */
  open(tag: XmlStartTag): void {
    const n = this.stack.length;
    const parent = n > 0 ? this.stack[n - 1] : null;
    const uri = tag.uri;
    const attrs: Record<string, string> = {};
    if (parent === null || uri !== this.nsStack[n - 1]) attrs.xmlns = uri;
    const list = tag.attributes;
    for (let i = 0; i < list.length; i++) {
      const { name, prefix, value } = list[i];
      if (prefix === "") {
        if (name !== "xmlns") attrs[name] = value;
      } else if (prefix !== "xmlns") {
        attrs[name] = value;
        // A prefixed attribute keeps its prefix, so it needs a declaration in scope.
        const attrUri = list[i].uri;
        if (prefix !== "xml" && prefixInScope(parent, prefix) !== attrUri) attrs[`xmlns:${prefix}`] = attrUri;
      }
    }
    const el = new Element(tag.local);
    el.attrs = attrs;
    if (parent !== null) {
      el.parent = parent;
      parent.children.push(el);
    }
    this.stack.push(el);
    this.nsStack.push(uri);
  }

  /** Character data (text or CDATA) inside the innermost open element. */
  text(text: string): void {
    const children = this.stack[this.stack.length - 1].children;
    const last = children.length - 1;
    if (last >= 0 && typeof children[last] === "string") children[last] += text;
    else children.push(text);
  }

  /** Closes the innermost element; returns it if it was the top-level one. */
  close(): Element | null {
    const el = this.stack.pop();
    this.nsStack.pop();
    return this.stack.length === 0 && el !== undefined ? el : null;
  }

  reset(): void {
    this.stack.length = 0;
    this.nsStack.length = 0;
  }
}
