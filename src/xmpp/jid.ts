// XMPP addresses: localpart@domainpart/resourcepart.
// https://www.rfc-editor.org/rfc/rfc7622
//
// PRECIS is approximated, and the approximation is deliberate:
//  * localpart: NFKC + toLowerCase stands in for the UsernameCaseMapped profile
//    (RFC 8265 section 3.3: width mapping, case mapping, NFC). NFKC also folds full-width
//    forms, which is what the width-mapping rule is for. We do not check PRECIS's
//    "disallowed" code point classes beyond spaces, controls and the characters RFC 7622
//    section 3.3.1 forbids.
//  * domainpart: lowercase + NFKC, then each non-ASCII label must survive IDNA's
//    ToASCII (node:url domainToASCII) instead of a full IDNA2008 check.
//  * resourcepart: NFC + non-ASCII spaces mapped to U+0020 stand in for the OpaqueString
//    profile (RFC 8265 section 4.2); controls are rejected.
// Every JID we see is passed through the same functions, so comparisons stay consistent.
import { isIPv4, isIPv6 } from "node:net";
import { domainToASCII } from "node:url";

// https://www.rfc-editor.org/rfc/rfc7622#section-3.1: each part is 1 to 1023 octets.
const MAX_PART_BYTES = 1023;

// https://www.rfc-editor.org/rfc/rfc7622#section-3.3.1
const LOCALPART_FORBIDDEN = /["&'/:<>@]/u;
// Spaces and controls: PRECIS IdentifierClass disallows them (RFC 8264 section 9).
const SPACE_OR_CONTROL = /[\p{Cc}\p{Zs}\p{Zl}\p{Zp}]/u;
// OpaqueString disallows controls (Cc) but allows spaces; lone surrogates are never valid.
const CONTROL = /[\p{Cc}]/u;
const LONE_SURROGATE = /[\uD800-\uDFFF]/u;
const NON_ASCII_SPACE = /[\u00A0\u1680\u2000-\u200A\u202F\u205F\u3000]/gu;

// https://www.rfc-editor.org/rfc/rfc1123#section-2.1 letters, digits, hyphens; not at the ends.
const LDH_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;

function byteLength(s: string): number {
  return Buffer.byteLength(s, "utf8");
}

function sizeOk(s: string): boolean {
  const n = byteLength(s);
  return n >= 1 && n <= MAX_PART_BYTES;
}

/** Canonical localpart, or undefined when `raw` cannot be one (RFC 7622 section 3.3). */
export function normalizeLocalpart(raw: string): string | undefined {
  if (LONE_SURROGATE.test(raw)) return undefined;
  const s = raw.normalize("NFKC").toLowerCase().normalize("NFC");
  if (!sizeOk(s) || LOCALPART_FORBIDDEN.test(s) || SPACE_OR_CONTROL.test(s)) return undefined;
  return s;
}

/** Canonical domainpart, or undefined when `raw` cannot be one (RFC 7622 section 3.2). */
export function normalizeDomainpart(raw: string): string | undefined {
  if (LONE_SURROGATE.test(raw)) return undefined;
  // https://www.rfc-editor.org/rfc/rfc7622#section-3.2: an IPv6 literal is in brackets.
  if (raw.startsWith("[") && raw.endsWith("]")) {
    const inner = raw.slice(1, -1);
    return isIPv6(inner) ? `[${inner.toLowerCase()}]` : undefined;
  }
  let s = raw.normalize("NFKC").toLowerCase();
  // RFC 7622 section 3.2: "If the domainpart includes a final character considered to be a
  // label separator (dot) ... this character MUST be stripped".
  if (s.endsWith(".")) s = s.slice(0, -1);
  if (!sizeOk(s)) return undefined;
  if (isIPv4(s)) return s;
  for (const label of s.split(".")) {
    if (!validLabel(label)) return undefined;
  }
  return s;
}

function validLabel(label: string): boolean {
  // An ASCII label is LDH (this covers the 56-character base32 label of a v3 .onion name).
  if (/^[\x00-\x7f]*$/.test(label)) return LDH_LABEL.test(label);
  // A U-label: its A-label form must be a valid LDH label too.
  const ascii = domainToASCII(label);
  return ascii !== "" && !ascii.includes(".") && LDH_LABEL.test(ascii);
}

/** Canonical resourcepart, or undefined when `raw` cannot be one (RFC 7622 section 3.4). */
export function normalizeResourcepart(raw: string): string | undefined {
  if (LONE_SURROGATE.test(raw)) return undefined;
  const s = raw.replace(NON_ASCII_SPACE, " ").normalize("NFC");
  if (!sizeOk(s) || CONTROL.test(s)) return undefined;
  return s;
}

export class Jid {
  private constructor(
    readonly local: string,
    readonly domain: string,
    /** "" when absent. */
    readonly resource: string,
  ) {}

  /** Build from raw parts; undefined when any part is invalid. Parts are normalized. */
  static fromParts(local: string, domain: string, resource = ""): Jid | undefined {
    const l = local === "" ? "" : normalizeLocalpart(local);
    const d = normalizeDomainpart(domain);
    const r = resource === "" ? "" : normalizeResourcepart(resource);
    if (l === undefined || d === undefined || r === undefined) return undefined;
    return new Jid(l, d, r);
  }

  bare(): Jid {
    return this.resource === "" ? this : new Jid(this.local, this.domain, "");
  }

  isBare(): boolean {
    return this.resource === "";
  }

  toString(): string {
    const head = this.local === "" ? this.domain : `${this.local}@${this.domain}`;
    return this.resource === "" ? head : `${head}/${this.resource}`;
  }

  equals(o: Jid): boolean {
    return this.local === o.local && this.domain === o.domain && this.resource === o.resource;
  }
}

/**
 * Parse a JID; undefined when it is not a valid one. Never throws.
 * https://www.rfc-editor.org/rfc/rfc7622#section-3.2: split at the first "/" (the resource
 * may itself contain "/" and "@"), then at an "@" before it. We take the last "@"; since
 * neither localpart nor domainpart may contain "@", the first would accept exactly the
 * same JIDs.
 */
export function parseJid(s: string): Jid | undefined {
  if (typeof s !== "string") return undefined;
  const slash = s.indexOf("/");
  const head = slash === -1 ? s : s.slice(0, slash);
  const resource = slash === -1 ? undefined : s.slice(slash + 1);
  const at = head.lastIndexOf("@");
  const local = at === -1 ? undefined : head.slice(0, at);
  const domain = at === -1 ? head : head.slice(at + 1);
  // A separator with nothing after (or before) it is an empty part, which is invalid,
  // unlike a part that is absent altogether.
  if (local === "" || resource === "") return undefined;
  return Jid.fromParts(local ?? "", domain, resource ?? "");
}

/** Build a JID from parts we control (constants, configuration); throws when invalid. */
export function jid(local: string, domain: string, resource?: string): Jid {
  const j = Jid.fromParts(local, domain, resource ?? "");
  if (j === undefined) {
    throw new Error(`not a valid JID: local=${JSON.stringify(local)} domain=${JSON.stringify(domain)}` +
      (resource === undefined ? "" : ` resource=${JSON.stringify(resource)}`));
  }
  return j;
}
