// Small builders for the replies the server sends on its own behalf.
import { randomBytes } from "node:crypto";
import { NS } from "../xmpp/namespaces.js";
import { Element, xml } from "../xmpp/xml.js";

export type StanzaErrorType = "auth" | "cancel" | "continue" | "modify" | "wait";

// https://www.rfc-editor.org/rfc/rfc6120#section-8.3.3 (condition -> usual type)
const DEFAULT_ERROR_TYPE: Record<string, StanzaErrorType> = {
  "bad-request": "modify",
  conflict: "cancel",
  "feature-not-implemented": "cancel",
  forbidden: "auth",
  "item-not-found": "cancel",
  "jid-malformed": "modify",
  "not-acceptable": "modify",
  "not-allowed": "cancel",
  "not-authorized": "auth",
  "policy-violation": "modify",
  "recipient-unavailable": "wait",
  "remote-server-not-found": "cancel",
  "remote-server-timeout": "wait",
  "resource-constraint": "wait",
  "service-unavailable": "cancel",
  "internal-server-error": "cancel",
  "undefined-condition": "cancel",
};

export const STANZA_NAMES = new Set(["message", "presence", "iq"]);

export function newId(): string {
  return randomBytes(8).toString("hex");
}

/**
 * The error reply to a stanza: to/from swapped, original children kept for
 * context (RFC 6120 8.3.1), type="error".
 */
export function errorReply(stanza: Element, condition: string, text?: string, type?: StanzaErrorType): Element {
  const reply = xml(stanza.name, {
    xmlns: stanza.attrs.xmlns,
    type: "error",
    id: stanza.attrs.id,
    to: stanza.attrs.from,
    from: stanza.attrs.to,
  });
  // An iq error need not echo the request; for message/presence it helps the sender see what bounced.
  if (stanza.name !== "iq") for (const child of stanza.getChildElements()) if (child.name !== "error") reply.cnode(cloneElement(child));
  const error = reply.c("error", { type: type ?? DEFAULT_ERROR_TYPE[condition] ?? "cancel" });
  error.c(condition, { xmlns: NS.STANZA_ERRORS });
  if (text) error.c("text", { xmlns: NS.STANZA_ERRORS, "xml:lang": "en" }).t(text);
  return reply;
}

export function iqResult(iq: Element, payload?: Element): Element {
  const reply = xml("iq", { xmlns: iq.attrs.xmlns, type: "result", id: iq.attrs.id, to: iq.attrs.from, from: iq.attrs.to });
  if (payload) reply.cnode(payload);
  return reply;
}

/** A deep copy detached from any parent, safe to re-address and send on. */
export function cloneElement(el: Element): Element {
  const copy = new Element(el.name, { ...el.attrs });
  for (const child of el.children) copy.cnode(typeof child === "string" ? child : cloneElement(child));
  return copy;
}

/** The namespace of an iq's single payload child, e.g. "get jabber:iq:roster". */
export function iqKey(iq: Element): string | undefined {
  const children = iq.getChildElements();
  if (children.length !== 1) return undefined;
  return `${iq.attrs.type} ${children[0]!.attrs.xmlns ?? ""}`;
}

/** XEP-0082 timestamp in UTC: the server never reveals its time zone. */
export function xmppStamp(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, "Z");
}
