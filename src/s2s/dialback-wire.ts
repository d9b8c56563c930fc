// The dialback elements we write (XEP-0220), as strings with the db: prefix our stream headers
// declare, and the small checks both stream directions share.
import { parseOnionAddress } from "../tor/onion-address.js";
import { parseJid } from "../xmpp/jid.js";
import { NS } from "../xmpp/namespaces.js";
import { escapeXML, escapeXMLText, type Element } from "../xmpp/xml.js";

export type DialbackType = "valid" | "invalid" | "error";

/** Stanza error conditions a db:result or db:verify of type error carries (XEP-0220 section 2.4). */
export type DialbackErrorCondition =
  | "item-not-found"
  | "improper-addressing"
  | "remote-server-not-found"
  | "remote-server-timeout"
  | "resource-constraint"
  | "policy-violation"
  | "internal-server-error";

const ERROR_TYPE: Record<DialbackErrorCondition, string> = {
  "item-not-found": "cancel",
  "improper-addressing": "modify",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "policy-violation": "auth",
  "internal-server-error": "cancel",
};

function attrs(a: Record<string, string | undefined>): string {
  let s = "";
  for (const [k, v] of Object.entries(a)) if (v !== undefined) s += ` ${k}='${escapeXML(v)}'`;
  return s;
}

/** XEP-0220 section 2.1.1: the key we send on our outbound stream, or section 2.1.3/2.4: the answer. */
export function dbResult(a: { from: string; to: string; type?: DialbackType; key?: string; error?: DialbackErrorCondition; text?: string }): string {
  const head = `<db:result${attrs({ from: a.from, to: a.to, type: a.type })}`;
  if (a.key !== undefined) return `${head}>${escapeXMLText(a.key)}</db:result>`;
  if (a.error) return `${head}>${errorChild(a.error, a.text)}</db:result>`;
  return `${head}/>`;
}

/** XEP-0220 section 2.1.2: the verification request (with key) or the authoritative answer. */
export function dbVerify(a: { from: string; to: string; id: string; type?: DialbackType; key?: string; error?: DialbackErrorCondition }): string {
  const head = `<db:verify${attrs({ from: a.from, to: a.to, id: a.id, type: a.type })}`;
  if (a.key !== undefined) return `${head}>${escapeXMLText(a.key)}</db:verify>`;
  if (a.error) return `${head}>${errorChild(a.error)}</db:verify>`;
  return `${head}/>`;
}

function errorChild(condition: DialbackErrorCondition, text?: string): string {
  const t = text ? `<text xmlns='${NS.STANZA_ERRORS}' xml:lang='en'>${escapeXMLText(text)}</text>` : "";
  return `<error type='${ERROR_TYPE[condition]}'><${condition} xmlns='${NS.STANZA_ERRORS}'/>${t}</error>`;
}

/** The condition inside a db:result / db:verify of type error, for reports. */
export function dialbackErrorCondition(el: Element): string {
  const cond = el.getChild("error")?.getChildElements().find((c) => c.attrs.xmlns === NS.STANZA_ERRORS && c.name !== "text");
  return cond?.name ?? "undefined-condition";
}

/** A domain we could dial: a v3 onion address or a subdomain of one, lower case (rend-spec-v3 section 6). */
export function isOnionDomain(domain: string | undefined): domain is string {
  return typeof domain === "string" && domain === domain.toLowerCase() && !domain.endsWith(".") && parseOnionAddress(domain) !== undefined;
}

/** The (normalized) domain part of a JID string, or undefined when it is not a valid JID. */
export function jidDomain(jid: string | undefined): string | undefined {
  return jid === undefined ? undefined : parseJid(jid)?.domain;
}

/** "30 s", or "300 ms" under a second: how long we waited, in an error text. */
export function duration(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Math.round(ms / 1000)} s`;
}
