// Differential test: StreamParser (our own XML tokenizer) against saxes, a
// mature strict XML parser, on thousands of random XMPP-like streams, valid
// and broken. Both must accept the same documents, find problems in the same
// places, and yield the same element trees. Plus: any split of the input
// into write() calls gives the same result.
//
// Where the two legitimately differ, disagreement() says why (we report
// restricted XML, bad root-level text, a broken reference or '<!' as soon as
// it starts; saxes trims namespace names and skips one Namespaces check).
//
// Deterministic; for a longer hunt vary the seed and size:
//   FUZZ_SEED=7 FUZZ_DOCS=50000 node --experimental-vm-modules node_modules/jest/bin/jest.js tokenizer-differential
// DUMP_FAILURES=/tmp/fail writes failing documents to /tmp/fail.N; SHOW_TALLY=1 prints counts.
import { writeFileSync } from "node:fs";
import { SaxesParser, type SaxesTagNS } from "saxes";
import { StreamParser, type StreamHeader, type StreamParseError } from "../../src/xmpp/stream-parser.js";
import { NS } from "../../src/xmpp/namespaces.js";
import type { Element } from "../../src/xmpp/xml.js";

const XML_NS = "http://www.w3.org/XML/1998/namespace";

// ---- deterministic randomness -------------------------------------------

function mulberry32(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

class Rand {
  private readonly next: () => number;
  constructor(seed: number) {
    this.next = mulberry32(seed);
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
  pick<T>(items: readonly T[]): T {
    return items[this.int(items.length)];
  }
}

// ---- XMPP-like documents ------------------------------------------------

const TEXT_PIECES = [
  "hello", "a b", " ", "\n", "\r\n", "\r", "\t", "&amp;", "&lt;", "&gt;", "&quot;", "&apos;", "&#65;", "&#x1F600;",
  "&#x0000041;", "&#10;", "&#13;", "&#9;", "\u00e9", "\u4e2d", "\u{1F600}", "]", "]]", ">", "'", '"', "\u0085", "\u2028",
  "\u00a0", "\ufffd", "\u007f", "x]]y", "=", "/", "?", "!",
];
const ELEMENT_NAMES = ["message", "presence", "iq", "body", "query", "item", "x", "error", "text", "subject", "q\u00e9", "a.b", "a-b", "_u"];
const ATTR_NAMES = ["to", "from", "id", "type", "jid", "name", "subscription", "xml:lang", "n\u00e9", "a.b"];
const NAMESPACES = ["jabber:client", "jabber:iq:roster", "urn:x", "urn:y", "http://jabber.org/protocol/disco#info", "", "urn:\u00e9"];

function text(r: Rand, max: number): string {
  let s = "";
  for (let n = r.int(max); n > 0; n--) s += r.pick(TEXT_PIECES);
  return s;
}

function attrValue(r: Rand, quote: string): string {
  return text(r, 4).replace(/</g, "&lt;").split(quote).join(quote === "'" ? "&apos;" : "&quot;");
}

interface Scope {
  prefixes: string[];
}

function element(r: Rand, depth: number, scope: Scope): string {
  const prefixes = [...scope.prefixes];
  let decls = "";
  let prefix = "";
  if (r.chance(0.15)) {
    const p = r.pick(["p", "q", "db", "\u00e9x"]);
    decls += ` xmlns:${p}='${r.pick(NAMESPACES.filter((ns) => ns !== ""))}'`;
    prefixes.push(p);
  }
  if (r.chance(0.15)) decls += ` xmlns='${r.pick(NAMESPACES)}'`;
  if (prefixes.length > 0 && r.chance(0.3)) prefix = `${r.pick(prefixes)}:`;
  const name = prefix + r.pick(ELEMENT_NAMES);
  let attrs = decls;
  const used = new Set<string>();
  for (let n = r.int(4); n > 0; n--) {
    let a = r.pick(ATTR_NAMES);
    if (prefixes.length > 0 && r.chance(0.2)) a = `${r.pick(prefixes)}:${a.replace(/^xml:/, "")}`;
    if (used.has(a)) continue;
    used.add(a);
    const q = r.chance(0.5) ? "'" : '"';
    attrs += `${r.pick([" ", "\n", "  ", "\t"])}${a}${r.pick(["=", " = "])}${q}${attrValue(r, q)}${q}`;
  }
  if (r.chance(0.1)) attrs += r.pick([" ", "\n"]);
  if (depth > 3 || r.chance(0.25)) return `<${name}${attrs}${r.pick(["/>", " />"])}`;
  let body = "";
  for (let n = r.int(4); n > 0; n--) {
    const k = r.int(10);
    if (k < 4) body += text(r, 5).replace(/</g, "&lt;").replace(/&(?![a-z#])/g, "&amp;").replace(/]]>/g, "]]&gt;");
    else if (k < 5) body += `<![CDATA[${text(r, 4).replace(/]]>/g, "")}]]>`;
    else body += element(r, depth + 1, { prefixes });
  }
  return `<${name}${attrs}>${body}</${name}${r.pick(["", " ", "\n"])}>`;
}

// Things that may not stand directly inside <stream:stream> (or may: whitespace CDATA).
const ROOT_JUNK = ["x", "&amp;", "&#32;", "<![CDATA[x]]>", "<![CDATA[ ]]>", "<![CDATA[]]]>", "<!-- c -->", "<?pi?>", "]]>", "\u0001", "\u00a0"];

function documentOf(r: Rand): string {
  const decl = r.pick(["", "<?xml version='1.0'?>", `<?xml version="1.0" encoding="UTF-8"?>`, "<?xml version='1.0' encoding='utf-8' standalone='yes' ?>\n"]);
  const root = r.pick(["stream", "s"]);
  const extra = r.chance(0.5) ? ` xmlns:db='jabber:server:dialback'` : "";
  const header =
    `${decl}<${root}:stream xmlns='${r.pick(["jabber:client", "jabber:server"])}' xmlns:${root}='${NS.STREAM}'${extra}` +
    ` to='b.onion' version='1.0' xml:lang='en'>`;
  let doc = header;
  const scope = { prefixes: extra ? ["db"] : [] };
  for (let n = 1 + r.int(5); n > 0; n--) {
    doc += r.pick(["", " ", "\n", "\r\n\t "]);
    if (r.chance(0.04)) doc += r.pick(ROOT_JUNK);
    doc += element(r, 1, scope);
  }
  if (r.chance(0.1)) doc += "<![CDATA[ \n]]>";
  if (r.chance(0.7)) doc += `</${root}:stream>`;
  return doc;
}

const INSERTIONS = [
  "<", ">", "&", "]]>", "'", '"', "=", "/", ":", " ", "\u0001", "\u000b", "\ufffe", "\uffff", "\ud7ff", "#", ";", "x", "1", "-",
  ".", "\u00e9", "\u00b7", "\u0300", "\u203f", "&#0;", "&#xFFFE;", "&#x110000;", "&#xD800;", "&#xDFFF;", "&foo;", "&amp",
  "&#x;", "&#;", "&#X41;", "<![CDATA[", "<![CDATA[x]]>", "\r", "\t", "a:b:", "xmlns:q='urn:q' ", " a='1'", " q:z='2'", "<!-- c -->",
  "<?pi x?>", "<!DOCTYPE x>", "</x>", "<x>", "<x/>", "\u0085", "<?xml version='1.0'?>", "xmlns:xml='urn:x' ", "xmlns:xmlns='urn:x' ",
  ` xmlns:p='${XML_NS}'`, " xmlns:p=''", " xmlns=''", "<xmlns:a/>", " :a='1'", "<:a/>", "<a:/>", " b:1c='1'", "<p:1x/>", "&#x10FFFF;",
  "\u{10000}", "\u{E0000}", "\u{F0000}", "<\u{10000}/>", "<\u{F0000}/>", "<!", "<!-", "<!D", "<?", "]]", "]",
];

function mutate(r: Rand, doc: string): string {
  const at = (): number => r.int(doc.length + 1);
  for (let n = 1 + r.int(3); n > 0; n--) {
    const i = at();
    switch (r.int(8)) {
      case 0:
        doc = doc.slice(0, i); // truncation
        break;
      case 1:
        doc = doc.slice(0, i) + doc.slice(i + 1);
        break;
      case 2:
        if (i + 1 < doc.length) doc = doc.slice(0, i) + doc[i + 1] + doc[i] + doc.slice(i + 2); // swap
        break;
      case 3: {
        // A copy of an attribute in the same tag: duplicate attribute.
        const m = / [a-z:]+='[^'<]*'/.exec(doc.slice(i));
        if (m) doc = doc.slice(0, i + m.index) + m[0] + doc.slice(i + m.index);
        break;
      }
      case 4:
        doc = doc.replace(r.pick(["db:", "p:", "q:", "stream:", "xml:"]), "zz:"); // an undeclared prefix
        break;
      default:
        doc = doc.slice(0, i) + r.pick(INSERTIONS) + doc.slice(i);
    }
  }
  return doc;
}

// ---- running both parsers -------------------------------------------------

type Tree = { ns: string; local: string; attrs: string[][]; children: (Tree | string)[] };

interface Outcome {
  header: StreamHeader | null;
  stanzas: Tree[];
  ends: number;
  error: StreamParseError | null;
}

/** Our parser, fed `bytes` in the given chunk sizes (cycled). */
function ours(bytes: Buffer, sizes: number[]): Outcome & { raw: string[] } {
  const out: Outcome & { raw: string[] } = { header: null, stanzas: [], ends: 0, error: null, raw: [] };
  const parser = new StreamParser(
    {
      onStreamStart: (h) => (out.header = h),
      onStanza: (el) => {
        out.stanzas.push(treeOfElement(el));
        out.raw.push(el.toString());
      },
      onStreamEnd: () => out.ends++,
      onError: (e) => (out.error = e),
    },
    { maxStanzaBytes: 1 << 30, maxHeaderBytes: 1 << 30, maxDepth: 1000, maxAttributes: 1000 },
  );
  for (let at = 0, k = 0; at < bytes.length; k++) {
    const n = sizes[k % sizes.length];
    parser.write(bytes.subarray(at, at + n));
    at += n;
  }
  return out;
}

/** The namespace-resolved tree of one of our normalized elements. */
function treeOfElement(el: Element, parentNs = ""): Tree {
  const ns = el.attrs.xmlns ?? parentNs;
  const attrs: string[][] = [];
  for (const [name, value] of Object.entries(el.attrs)) {
    if (name === "xmlns" || name.startsWith("xmlns:")) continue;
    const colon = name.indexOf(":");
    if (colon < 0) {
      attrs.push(["", name, value]);
      continue;
    }
    const prefix = name.slice(0, colon);
    let uri = prefix === "xml" ? XML_NS : undefined;
    for (let e: Element | null = el; uri === undefined && e !== null; e = e.parent) uri = e.attrs[`xmlns:${prefix}`];
    attrs.push([uri ?? "?", name.slice(colon + 1), value]);
  }
  const children = el.children.map((c) => (typeof c === "string" ? c : treeOfElement(c, ns)));
  return { ns, local: el.name, attrs: attrs.sort(), children: mergeText(children) };
}

function mergeText(children: (Tree | string)[]): (Tree | string)[] {
  const merged: (Tree | string)[] = [];
  for (const c of children) {
    if (typeof c === "string" && typeof merged[merged.length - 1] === "string") merged[merged.length - 1] += c;
    else if (c !== "") merged.push(c);
  }
  return merged;
}

const NOT_NAME_START = /^[-.0-9\u00b7\u0300-\u036f\u203f\u2040]/;
const S = /^[ \t\r\n]*$/;

/** What saxes finds: everything up to its first complaint, with positions. */
interface SaxesView {
  header: StreamHeader | null;
  stanzas: { tree: Tree; at: number }[];
  ends: number;
  /** The first problem, as the condition StreamParser should report. */
  problem: { condition: string; at: number; why: string } | null;
  /** Where elements opened and closed: [position, depth after]. */
  depths: [number, number][];
  /** saxes trims namespace names; documents that depend on that are skipped. */
  trimsNamespace: boolean;
}

function saxesView(text: string): SaxesView {
  const view: SaxesView = { header: null, stanzas: [], ends: 0, problem: null, depths: [[0, 0]], trimsNamespace: false };
  // As StreamParser used it: <?xml version='1.1'?> must not switch to XML 1.1 rules.
  const sax = new SaxesParser({ xmlns: true, position: true, forceXMLVersion: true, defaultXMLVersion: "1.0" });
  const stack: Tree[] = [];
  // After the root's end tag the stream is over and nothing counts, except a
  // complaint about that end tag itself (saxes ends the root, then complains).
  let closedAt = Infinity;
  let markupEnd = 0; // where the last markup ended: root-level text starts there
  const problem = (condition: string, why: string): void => {
    if (sax.position > closedAt || view.problem !== null) return;
    view.problem = { condition, at: sax.position, why };
    if (sax.position === closedAt) view.ends = 0;
  };
  const rawText = (): string => {
    const lt = text.indexOf("<", markupEnd);
    return text.slice(markupEnd, lt < 0 ? text.length : lt);
  };
  const qnameProblem = (name: string): void => {
    const colon = name.indexOf(":");
    // Namespaces in XML [8]: the local part is an NCName. saxes does not check its first character.
    if (colon >= 0 && NOT_NAME_START.test(name.slice(colon + 1))) problem("not-well-formed", `local part of ${name}`);
  };
  sax.on("error", (e) => problem(/doctype|processing instruction|XML declaration must/i.test(e.message) ? "restricted-xml" : "not-well-formed", e.message));
  sax.on("xmldecl", (d) => {
    if (d.encoding !== undefined && d.encoding.toLowerCase() !== "utf-8") problem("unsupported-encoding", "encoding");
    markupEnd = sax.position;
  });
  sax.on("processinginstruction", () => problem("restricted-xml", "pi"));
  sax.on("comment", () => problem("restricted-xml", "comment"));
  sax.on("doctype", () => problem("restricted-xml", "doctype"));
  sax.on("attribute", (a) => qnameProblem(a.name));
  sax.on("opentag", (tag: SaxesTagNS) => {
    if (closedAt !== Infinity) return;
    markupEnd = sax.position;
    qnameProblem(tag.name);
    const attrs: string[][] = [];
    for (const a of Object.values(tag.attributes)) {
      qnameProblem(a.name);
      if (a.prefix === "xmlns" || a.name === "xmlns") {
        if (a.value !== a.value.trim()) view.trimsNamespace = true;
        continue;
      }
      attrs.push([a.uri, a.local, a.value]);
    }
    if (stack.length === 0 && view.header === null && view.problem === null) {
      if (tag.local !== "stream" || tag.uri !== NS.STREAM) problem("invalid-namespace", "root");
      const header: StreamHeader = { attrs: {}, defaultNs: undefined, prefixes: {} };
      for (const a of Object.values(tag.attributes)) {
        if (a.name === "xmlns") header.defaultNs = a.value;
        else if (a.prefix === "xmlns") header.prefixes[a.local] = a.value;
        else header.attrs[a.name] = a.value;
      }
      if (view.problem === null) view.header = header;
    }
    const node: Tree = { ns: tag.uri, local: tag.local, attrs: attrs.sort(), children: [] };
    if (stack.length > 1) stack[stack.length - 1].children.push(node);
    stack.push(node);
    view.depths.push([sax.position, stack.length]);
  });
  // Directly inside the root only raw whitespace may stand (not even &#32;).
  sax.on("text", (t) => {
    if (stack.length > 1) stack[stack.length - 1].children.push(t);
    else if (stack.length === 1 && !S.test(rawText())) problem("bad-format", "text in root");
  });
  sax.on("cdata", (t) => {
    markupEnd = sax.position;
    if (stack.length > 1) stack[stack.length - 1].children.push(t);
    else if (stack.length === 1 && !S.test(t)) problem("bad-format", "CDATA text in root");
  });
  sax.on("closetag", () => {
    if (closedAt !== Infinity) return;
    markupEnd = sax.position;
    const node = stack.pop();
    view.depths.push([sax.position, stack.length]);
    if (node === undefined) return;
    node.children = mergeText(node.children);
    if (stack.length === 1 && view.problem === null) view.stanzas.push({ tree: node, at: sax.position });
    if (stack.length === 0 && view.problem === null) view.ends++;
    if (stack.length === 0) closedAt = sax.position;
  });
  sax.write(text);
  // saxes reports text only at the next '<'; text at the end of the input is pending.
  if (stack.length === 1 && !S.test(rawText())) problem("bad-format", "trailing text in root");
  return view;
}

function depthAt(view: SaxesView, pos: number): number {
  let depth = 0;
  for (const [at, d] of view.depths) if (at <= pos) depth = d;
  return depth;
}

/**
 * Compares our outcome with saxes' view; returns why they disagree, or null.
 * Where we report restricted-xml or bad-format, we do it as soon as the
 * construct is recognized, while saxes reports it at its end (or not at all
 * for unfinished input): then the position we report is checked instead.
 */
function disagreement(text: string, got: Outcome, view: SaxesView): string | null {
  const err = got.error;
  const posMatch = err === null ? null : /at stream position (\d+)\)$/.exec(err.text);
  const pos = posMatch === null ? -1 : Number(posMatch[1]);
  // Stanzas whose end tag ends at or before this position count. (saxes
  // reports a position after the offending character: a stanza that ends
  // where saxes complains, say with a mismatched end tag, is not complete.)
  let limit = view.problem === null ? Infinity : view.problem.at - 1;
  // The input ends inside the XML declaration. We check its characters as
  // they come and its grammar when its '?>' arrives; saxes the other way round.
  const inDeclaration = /^<\?xml[ \t\r\n][^?]*$/.test(text);
  if (err === null) {
    if (view.problem !== null && !inDeclaration) return `saxes found a problem we missed: ${JSON.stringify(view.problem)}`;
  } else if (inDeclaration && err.condition === "not-well-formed" && view.problem === null) {
    // A character no declaration can hold.
  } else if (view.problem !== null && err.condition === view.problem.condition) {
    // The same finding, and never later than saxes (saxes reports the
    // position after the character it complains about) -- except in the XML
    // declaration, whose grammar we check at its '?'.
    const declEnd = text.startsWith("<?xml") ? text.indexOf("?", 2) : -2;
    const inDecl = declEnd === -1 || pos <= declEnd;
    if (pos > view.problem.at && !inDecl) return `we found it at ${pos}, saxes at ${view.problem.at}: ${view.problem.why}`;
  } else if (err.condition === "not-well-formed" && pos >= 0 && !text.slice(text.lastIndexOf("&", pos)).includes(";")) {
    // A malformed reference: we see it at once, saxes when its ';' arrives,
    // and the input ends before one does.
    if (view.problem !== null) return `saxes found another problem: ${JSON.stringify(view.problem)}`;
    limit = pos;
  } else if (err.condition === "not-well-formed" && pos >= 0 && pos - text.lastIndexOf("<!", pos) < 9 && view.problem === null) {
    // A malformed '<!...': we see its first wrong character, saxes judges
    // once seven characters have come, and the input ends before they do.
    if (text.length - text.lastIndexOf("<!", pos) - 2 >= 7) return "saxes saw the whole '<!...' and found nothing wrong";
    limit = pos;
  } else if (err.condition === "restricted-xml" && pos >= 0) {
    const start = text.lastIndexOf("<", pos);
    const construct = text.slice(start, pos + 1);
    if (!/^<(!--|!DOCTYPE|\?)/.test(construct)) return `restricted-xml at ${pos} but no comment/PI/DOCTYPE there: ${JSON.stringify(construct)}`;
    if (view.problem !== null && view.problem.at <= start) return `saxes found an earlier problem: ${JSON.stringify(view.problem)}`;
    limit = start;
  } else if (err.condition === "bad-format" && pos >= 0) {
    if (S.test(text[pos])) return `bad-format at whitespace (${pos})`;
    if (depthAt(view, pos) !== 1) return `bad-format at ${pos}, where saxes is at depth ${depthAt(view, pos)}`;
    if (view.problem !== null && view.problem.at <= pos) return `saxes found an earlier problem: ${JSON.stringify(view.problem)}`;
    limit = pos;
  } else {
    return `we report ${err.condition} (${err.text}), saxes ${JSON.stringify(view.problem)}`;
  }
  const expected = view.stanzas.filter((s) => s.at <= limit).map((s) => s.tree);
  if (JSON.stringify(got.stanzas) !== JSON.stringify(expected)) {
    return `stanzas differ:\n ours  ${JSON.stringify(got.stanzas)}\n saxes ${JSON.stringify(expected)}`;
  }
  if (err === null && JSON.stringify(got.header) !== JSON.stringify(view.header)) return "headers differ";
  if (got.ends !== (err === null ? view.ends : 0)) return "stream ends differ";
  return null;
}

// ---- the tests --------------------------------------------------------------

const DOCUMENTS = Number(process.env.FUZZ_DOCS ?? 3000);

describe("differential test against saxes", () => {
  test(`${DOCUMENTS} random streams, valid and broken, give saxes' verdict and trees`, () => {
    const r = new Rand(Number(process.env.FUZZ_SEED ?? 20240601));
    const failures: string[] = [];
    const tally = { accepted: 0, rejected: 0, skipped: 0, conditions: {} as Record<string, number> };
    for (let n = 0; n < DOCUMENTS && failures.length < 5; n++) {
      let doc = documentOf(r);
      if (r.chance(0.6)) doc = mutate(r, doc);
      const bytes = Buffer.from(doc, "utf8");
      // What the parser reads: lone surrogates became U+FFFD, leading whitespace is dropped.
      const text = bytes.toString("utf8").replace(/^[ \t\r\n]+/, "");
      const view = saxesView(text);
      if (view.trimsNamespace) {
        tally.skipped++;
        continue;
      }
      const got = ours(bytes, [bytes.length]);
      const why = disagreement(text, got, view);
      if (why !== null) {
        const original = text === doc ? "" : `\noriginal: ${JSON.stringify(doc)}`;
        failures.push(`document ${n}: ${why}\n${JSON.stringify(text)}${original}\nours: ${JSON.stringify(got.error)}`);
        if (process.env.DUMP_FAILURES) writeFileSync(`${process.env.DUMP_FAILURES}.${failures.length}`, text);
      }
      if (got.error === null) tally.accepted++;
      else {
        tally.rejected++;
        tally.conditions[got.error.condition] = (tally.conditions[got.error.condition] ?? 0) + 1;
      }
    }
    expect(failures).toEqual([]);
    // The generator must exercise both sides and every condition it can produce.
    expect(tally.accepted).toBeGreaterThan(DOCUMENTS / 4);
    expect(tally.rejected).toBeGreaterThan(DOCUMENTS / 4);
    expect(Object.keys(tally.conditions).sort()).toEqual([
      "bad-format",
      "invalid-namespace",
      "not-well-formed",
      "restricted-xml",
      "unsupported-encoding",
    ]);
    if (process.env.SHOW_TALLY) console.log(JSON.stringify(tally));
    expect(tally.skipped).toBeLessThan(DOCUMENTS / 50);
  });
});

describe("chunking invariance", () => {
  test("any split of the input into writes gives the same result", () => {
    const r = new Rand(Number(process.env.FUZZ_SEED ?? 7));
    const failures: string[] = [];
    for (let n = 0; n < 1500 && failures.length < 5; n++) {
      let doc = documentOf(r);
      if (r.chance(0.6)) doc = mutate(r, doc);
      const bytes = Buffer.from(doc, "utf8");
      const whole = JSON.stringify(ours(bytes, [bytes.length]));
      const sizes = Array.from({ length: 8 }, () => 1 + r.int(r.chance(0.5) ? 4 : 64));
      const split = JSON.stringify(ours(bytes, sizes));
      if (split !== whole) failures.push(`document ${n}, sizes ${sizes}: ${JSON.stringify(doc)}\n whole ${whole}\n split ${split}`);
      if (n % 10 === 0) {
        const bytewise = JSON.stringify(ours(bytes, [1]));
        if (bytewise !== whole) failures.push(`document ${n}, byte by byte: ${JSON.stringify(doc)}\n whole ${whole}\n bytes ${bytewise}`);
      }
    }
    expect(failures).toEqual([]);
  });
});
