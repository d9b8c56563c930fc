// XML compared by meaning, not by bytes: libpurple, Python's ElementTree and
// a test write the same document with different quotes, declarations and
// indentation. canonicalXml() turns a document into one indented form: sorted
// attributes, whitespace-only text dropped, other text trimmed.
import { SaxesParser } from "saxes";

interface Node {
  name: string;
  attrs: [string, string][];
  children: (Node | string)[];
}

export function canonicalXml(text: string): string {
  const root: Node = { name: "", attrs: [], children: [] };
  const stack: Node[] = [root];
  const parser = new SaxesParser();
  let failure: Error | undefined;
  parser.on("error", (err) => void (failure ??= err));
  parser.on("opentag", (tag) => {
    const node: Node = {
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
  const render = (n: Node | string, depth: number): string => {
    const pad = "  ".repeat(depth);
    if (typeof n === "string") return `${pad}${JSON.stringify(n)}\n`;
    const attrs = n.attrs.map(([k, v]) => ` ${k}=${JSON.stringify(v)}`).join("");
    return `${pad}<${n.name}${attrs}>\n${n.children.map((c) => render(c, depth + 1)).join("")}`;
  };
  return root.children.map((c) => render(c, 0)).join("");
}
