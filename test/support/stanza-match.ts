// Does a received stanza match what a test script expects? The rules, used by
// test/support/conversation.ts (and usable directly):
//
// * Element local name and namespace must be equal. An element written without
//   xmlns in a script inherits its parent's namespace; a top-level one is in
//   jabber:client.
// * Every attribute the expectation gives must be present with the same value.
//   Special values: "{any}" (or scansion's "{scansion:any}") = present, any
//   value; "{absent}" = must not be present; "{optional}" = anything or absent
//   (useful with exact). Namespace declarations are not attributes.
//   Attributes the expectation does not name may have any value.
// * Each expected child element must match a different received child
//   element, in any order (XMPP payloads such as disco#info features have no
//   defined order); extra received children are allowed. ordered: true also
//   requires the expected children to appear in the same relative order.
// * If the expectation has text (trimmed, non-empty) the received text,
//   trimmed, must be equal. Text the expectation leaves out is not checked.
// * exact: no extra attributes, as many children as expected (each matching
//   one), and equal trimmed text, at every level.
import { escapeXML, escapeXMLText, type Element } from "../../src/xmpp/xml.js";
import { NS } from "../../src/xmpp/namespaces.js";

export interface MatchOptions {
  exact?: boolean;
  ordered?: boolean;
}

const ANY = new Set(["{any}", "{scansion:any}"]);
const ABSENT = "{absent}";
const OPTIONAL = "{optional}";

function namespaceOf(el: Element): string {
  return el.getNS() ?? NS.CLIENT;
}

function isNamespaceDeclaration(attr: string): boolean {
  return attr === "xmlns" || attr.startsWith("xmlns:");
}

function label(el: Element): string {
  return `${el.getName()}{${namespaceOf(el)}}`;
}

function directText(el: Element): string {
  return el.children
    .filter((c): c is string => typeof c === "string")
    .join("")
    .trim();
}

/** undefined when `received` matches `expected`, else why not (with a path). */
export function mismatch(expected: Element, received: Element, options: MatchOptions = {}, path = ""): string | undefined {
  const here = `${path}/${expected.getName()}`;
  if (expected.getName() !== received.getName() || namespaceOf(expected) !== namespaceOf(received)) {
    return `${here}: expected element ${label(expected)}, got ${label(received)}`;
  }
  for (const [attr, want] of Object.entries(expected.attrs)) {
    if (isNamespaceDeclaration(attr)) continue;
    const got = received.attrs[attr];
    if (want === OPTIONAL) continue;
    if (want === ABSENT) {
      if (got !== undefined) return `${here}: attribute ${attr} should be absent, got "${got}"`;
    } else if (got === undefined) {
      return `${here}: attribute ${attr} missing (expected "${want}")`;
    } else if (!ANY.has(want) && got !== want) {
      return `${here}: attribute ${attr} expected "${want}", got "${got}"`;
    }
  }
  if (options.exact) {
    for (const attr of Object.keys(received.attrs)) {
      if (!isNamespaceDeclaration(attr) && !(attr in expected.attrs)) {
        return `${here}: unexpected attribute ${attr}="${received.attrs[attr]}" (exact match)`;
      }
    }
  }
  const wantText = directText(expected);
  if (wantText !== "" || options.exact) {
    const gotText = directText(received);
    if (gotText !== wantText) return `${here}: text expected "${wantText}", got "${gotText}"`;
  }
  return childrenMismatch(expected, received, options, here);
}

function childrenMismatch(expected: Element, received: Element, options: MatchOptions, here: string): string | undefined {
  const want = expected.getChildElements();
  const got = received.getChildElements();
  if (options.exact && want.length !== got.length) {
    return `${here}: expected ${want.length} child element(s), got ${got.length} (exact match)`;
  }
  if (options.ordered) return orderedChildrenMismatch(want, got, options, here);
  if (matchUnordered(want, got, options, here)) return undefined;
  // Say which expected child has no counterpart, and why its likeliest
  // candidate (the first one with the same name) fails.
  for (const child of want) {
    const reasons = got.map((g) => mismatch(child, g, options, here));
    if (reasons.some((r) => r === undefined)) continue;
    const sameName = got.findIndex((g) => g.getName() === child.getName());
    return sameName >= 0 ? reasons[sameName]! : `${here}: no child element ${label(child)}`;
  }
  return `${here}: the expected children each match something, but not all at once (two expect the same received child)`;
}

function orderedChildrenMismatch(want: Element[], got: Element[], options: MatchOptions, here: string): string | undefined {
  // Greedy in-order subsequence: taking the earliest match never hurts later ones.
  let from = 0;
  let matched = 0;
  for (const child of want) {
    let closest: string | undefined;
    let found = -1;
    for (let i = from; i < got.length; i++) {
      const why = mismatch(child, got[i]!, options, here);
      if (!why) {
        found = i;
        break;
      }
      if (closest === undefined && got[i]!.getName() === child.getName()) closest = why;
    }
    if (found < 0) {
      const after = matched > 0 ? ` after the ${matched} expected child element(s) already matched` : "";
      return closest ?? `${here}: no child element ${label(child)}${after} (ordered match)`;
    }
    from = found + 1;
    matched++;
  }
  return undefined;
}

/**
 * Assign each expected element to a distinct received one, in any order.
 * Returns the received index for each expected element, or undefined.
 */
export function matchUnordered(
  expected: Element[],
  received: readonly Element[],
  options: MatchOptions = {},
  path = "",
): number[] | undefined {
  const fits = expected.map((e) => received.map((r) => mismatch(e, r, options, path) === undefined));
  const used = new Array<boolean>(received.length).fill(false);
  const chosen: number[] = [];
  const assign = (i: number): boolean => {
    if (i === expected.length) return true;
    for (let j = 0; j < received.length; j++) {
      if (used[j] || !fits[i]![j]) continue;
      used[j] = true;
      chosen[i] = j;
      if (assign(i + 1)) return true;
      used[j] = false;
    }
    return false;
  };
  return assign(0) ? chosen : undefined;
}

/** Indented XML for failure reports; the top element shows its namespace. */
export function prettyXml(el: Element, indent = "  "): string {
  const lines: string[] = [];
  const render = (node: Element, depth: number, showNs: boolean) => {
    const pad = indent.repeat(depth);
    const attrs = Object.entries(node.attrs).map(([name, value]) => ` ${name}="${escapeXML(value)}"`);
    if (showNs && node.attrs.xmlns === undefined) attrs.unshift(` xmlns="${namespaceOf(node)}"`);
    const open = `${pad}<${node.name}${attrs.join("")}`;
    const kids = node.getChildElements();
    const text = directText(node);
    if (kids.length === 0 && text === "") return void lines.push(`${open}/>`);
    if (kids.length === 0) return void lines.push(`${open}>${escapeXMLText(text)}</${node.name}>`);
    lines.push(`${open}>${escapeXMLText(text)}`);
    for (const kid of kids) render(kid, depth + 1, false);
    lines.push(`${pad}</${node.name}>`);
  };
  render(el, 0, true);
  return lines.join("\n");
}
