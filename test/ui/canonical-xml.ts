// XML compared by meaning, not by bytes: libpurple, Python's ElementTree and
// a test write the same document with different quotes, declarations and
// indentation. canonicalXml() turns a document (or an element of it) into one
// indented form: sorted attributes, whitespace-only text dropped, other text
// trimmed.
import { SaxesParser } from "saxes";

export interface XmlNode {
  name: string;
  attrs: [string, string][];
  children: (XmlNode | string)[];
}

/** The document's root element. */
export function parseXml(text: string): XmlNode {
  const root: XmlNode = { name: "", attrs: [], children: [] };
  const stack: XmlNode[] = [root];
  const parser = new SaxesParser();
  let failure: Error | undefined;
  parser.on("error", (err) => void (failure ??= err));
  parser.on("opentag", (tag) => {
    const node: XmlNode = {
      name: tag.name,
      attrs: Object.entries(tag.attributes as Record<string, string>).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)),
      children: [],
    };
    stack.at(-1)!.children.push(node);
    stack.push(node);
  });
  parser.on("text", (t) => {
    if (t.trim() !== "") stack.at(-1)!.children.push(t.trim());
  });
  parser.on("closetag", () => void stack.pop());
  parser.write(text).close();
  if (failure) throw new Error(`not well-formed XML: ${failure.message}`);
  const [element] = root.children;
  if (!element || typeof element === "string") throw new Error("no root element");
  return element;
}

/** Child elements named `name`. */
export function childElements(node: XmlNode, name: string): XmlNode[] {
  return node.children.filter((c): c is XmlNode => typeof c !== "string" && c.name === name);
}

/** The text of the first child element named `name`, or undefined. */
export function childText(node: XmlNode, name: string): string | undefined {
  const [child] = childElements(node, name);
  return child ? child.children.filter((c) => typeof c === "string").join("") : undefined;
}

export function canonicalXml(doc: string | XmlNode): string {
  const render = (n: XmlNode | string, depth: number): string => {
    const pad = "  ".repeat(depth);
    if (typeof n === "string") return `${pad}${JSON.stringify(n)}\n`;
    const attrs = n.attrs.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join("");
    return `${pad}<${n.name}${attrs}>\n${n.children.map((c) => render(c, depth + 1)).join("")}`;
  };
  return render(typeof doc === "string" ? parseXml(doc) : doc, 0);
}
