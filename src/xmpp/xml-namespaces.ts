// Namespaces in XML 1.0 (Third Edition) for the tokenizer: splits qualified
// names, keeps the prefix bindings in scope, and resolves each start tag to
// expanded names, rejecting what is not namespace-well-formed.
// https://www.w3.org/TR/xml-names/
import { isNameStartCode } from "./xml-chars.js";

// https://www.w3.org/TR/xml-names/#xmlReserved
export const XML_NS = "http://www.w3.org/XML/1998/namespace";
export const XMLNS_NS = "http://www.w3.org/2000/xmlns/";

export interface XmlAttribute {
  /** The qualified name as written: "to", "xml:lang", "xmlns:db". */
  name: string;
  prefix: string;
  local: string;
  /** "" for unprefixed attributes (they are in no namespace); XMLNS_NS for declarations. */
  uri: string;
  value: string;
}

export interface XmlStartTag {
  name: string;
  prefix: string;
  local: string;
  /** "" when the element is in no namespace. */
  uri: string;
  /** In document order, namespace declarations included. */
  attributes: XmlAttribute[];
}

/** The colon of a [7] QName, -1 if it has none, or -2 if `name` is no QName. */
function qnameColon(name: string): number {
  const colon = name.indexOf(":");
  if (colon < 0) return -1;
  // [8] PrefixedName ::= Prefix ':' LocalPart, both NCNames (Names without
  // ':'). The Name production already made the first character a
  // NameStartChar; the LocalPart must start with one as well.
  if (colon === 0 || colon === name.length - 1 || name.indexOf(":", colon + 1) >= 0) return -2;
  return isNameStartCode(name.charCodeAt(colon + 1)) ? colon : -2;
}

/**
 * What can be checked about one attribute on its own: its name must be a
 * QName, and a namespace declaration (xmlns, xmlns:p) must be allowed.
 * Returns why not, or null. (The rest needs the whole tag: see open().)
 */
export function attributeError(attrName: string, value: string): string | null {
  if (qnameColon(attrName) === -2) return `${attrName} is not a valid qualified name`;
  if (attrName === "xmlns") return declarationError("", value);
  return attrName.startsWith("xmlns:") ? declarationError(attrName.slice(6), value) : null;
}

/** Why `uri` may not be bound to `prefix` ("" = the default namespace), or null. */
function declarationError(prefix: string, uri: string): string | null {
  // https://www.w3.org/TR/xml-names/#xmlReserved
  if (prefix === "xmlns") return "the prefix xmlns must not be declared";
  if (prefix === "xml") return uri === XML_NS ? null : `the prefix xml must be bound to ${XML_NS}`;
  if (uri === XML_NS) return `only the prefix xml may be bound to ${XML_NS}`;
  if (uri === XMLNS_NS) return `${XMLNS_NS} must not be declared`;
  // https://www.w3.org/TR/xml-names/#nsc-NoPrefixUndecl (XML 1.0)
  if (prefix !== "" && uri === "") return `the prefix ${prefix} must not be undeclared (xmlns:${prefix}="")`;
  return null;
}

export class NamespaceScopes {
  // prefix ("" = default) -> the namespaces bound to it, innermost last. A
  // map, so that lookups cost the same however many declarations a peer
  // piles up; emptied entries are deleted, so it holds only live bindings.
  private readonly bindings = new Map<string, string[]>();
  private readonly declared: string[] = []; // prefixes in declaration order, to undo them
  private readonly marks: number[] = []; // declared.length before each open element's declarations

  /** The namespace bound to `prefix` ("" = default), or undefined. */
  resolve(prefix: string): string | undefined {
    const stack = this.bindings.get(prefix);
    if (stack !== undefined) return stack[stack.length - 1];
    return prefix === "xml" ? XML_NS : undefined;
  }

  /**
   * Enters a start tag: applies its declarations and resolves its names.
   * Returns the tag, or why it is not namespace-well-formed (then the scope
   * is left as it was).
   */
  open(name: string, attrNames: readonly string[], attrValues: readonly string[]): XmlStartTag | string {
    const mark = this.declared.length;
    const result = this.enter(name, attrNames, attrValues);
    if (typeof result === "string") this.undo(mark);
    else this.marks.push(mark);
    return result;
  }

  /** Leaves the innermost element's scope. */
  close(): void {
    this.undo(this.marks.pop() ?? 0);
  }

  private bind(prefix: string, uri: string): void {
    const stack = this.bindings.get(prefix);
    if (stack === undefined) this.bindings.set(prefix, [uri]);
    else stack.push(uri);
    this.declared.push(prefix);
  }

  /** Removes the declarations made since `mark`. */
  private undo(mark: number): void {
    const declared = this.declared;
    while (declared.length > mark) {
      const prefix = declared.pop() as string;
      const stack = this.bindings.get(prefix) as string[];
      if (stack.length > 1) stack.pop();
      else this.bindings.delete(prefix);
    }
  }

  private enter(name: string, attrNames: readonly string[], attrValues: readonly string[]): XmlStartTag | string {
    const n = attrNames.length;
    const attributes: XmlAttribute[] = new Array<XmlAttribute>(n);
    // Declarations first: they apply to the element's own names.
    for (let k = 0; k < n; k++) {
      const attrName = attrNames[k];
      // [3.1] Unique Att Spec (XML 1.0): no attribute name twice in a tag.
      for (let j = 0; j < k; j++) {
        if (attrNames[j] === attrName) return `duplicate attribute ${attrName} on <${name}>`;
      }
      const colon = qnameColon(attrName);
      if (colon === -2) return `${attrName} on <${name}> is not a valid qualified name`;
      const prefix = colon < 0 ? "" : attrName.slice(0, colon);
      const local = colon < 0 ? attrName : attrName.slice(colon + 1);
      const value = attrValues[k];
      let uri = "";
      if (prefix === "xmlns" || attrName === "xmlns") {
        // [1] NSAttName ::= PrefixedAttName | DefaultAttName
        const declared = prefix === "" ? "" : local;
        const problem = declarationError(declared, value);
        if (problem !== null) return `${problem} (on <${name}>)`;
        this.bind(declared, value);
        uri = XMLNS_NS;
      }
      attributes[k] = { name: attrName, prefix, local, uri, value };
    }

    const colon = qnameColon(name);
    if (colon === -2) return `<${name}> is not a valid qualified name`;
    const prefix = colon < 0 ? "" : name.slice(0, colon);
    // https://www.w3.org/TR/xml-names/#xmlReserved: elements must not have the prefix xmlns.
    if (prefix === "xmlns") return `<${name}>: element names must not have the prefix xmlns`;
    const uri = this.resolve(prefix);
    // [NSC: Prefix Declared]
    if (uri === undefined && prefix !== "") return `<${name}> uses the undeclared namespace prefix ${prefix}`;

    for (let k = 0; k < n; k++) {
      const attr = attributes[k];
      if (attr.prefix === "" || attr.prefix === "xmlns") continue;
      const attrUri = this.resolve(attr.prefix);
      if (attrUri === undefined) return `attribute ${attr.name} on <${name}> uses the undeclared namespace prefix ${attr.prefix}`;
      attr.uri = attrUri;
      // [NSC: Attributes Unique]: no two attributes with the same expanded name.
      for (let j = 0; j < k; j++) {
        const other = attributes[j];
        if (other.uri === attrUri && other.local === attr.local && other.prefix !== "") {
          return `attributes ${other.name} and ${attr.name} on <${name}> are the same attribute {${attrUri}}${attr.local}`;
        }
      }
    }
    return { name, prefix, local: colon < 0 ? name : name.slice(colon + 1), uri: uri ?? "", attributes };
  }
}
