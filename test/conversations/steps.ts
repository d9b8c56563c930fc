// Step builders shared by several conversations. They only write steps that
// every conforming server must produce identically.
import type { Step } from "../support/conversation.js";

/** A placeholder for an actor: ${alice}, ${alice.full}, ... */
export function jid(actor: string, field?: "full" | "domain" | "local" | "resource"): string {
  return field ? `\${${actor}.${field}}` : `\${${actor}}`;
}

/** Ask for the roster (which makes the resource "interested", RFC 6121 §2.1.6). */
export function getsRoster(actor: string, id = `${actor}-roster`): Step[] {
  return [
    { actor, sends: `<iq type="get" id="${id}"><query xmlns="jabber:iq:roster"/></iq>` },
    {
      actor,
      receives: `<iq type="result" id="${id}"><query xmlns="jabber:iq:roster"/></iq>`,
      note: "RFC 6121 §2.1.3: the server answers a roster get with the roster",
    },
  ];
}

/** The result of a roster get on an empty roster: nothing inside <query/>. */
export function emptyRosterResult(id: string): string {
  return `<iq type="result" id="${id}" to="{optional}" from="{optional}" xml:lang="{optional}"><query xmlns="jabber:iq:roster" ver="{optional}"/></iq>`;
}

/**
 * Connect, get the roster, send initial presence and receive it back. Only for
 * an actor whose account has no other resource online and no contacts yet.
 */
export function comesOnline(actor: string): Step[] {
  return [
    { actor, connects: true },
    ...getsRoster(actor),
    { actor, sends: "<presence/>", note: "RFC 6121 §4.2.1 initial presence" },
    {
      actor,
      receives: `<presence from="${jid(actor, "full")}" type="{absent}"/>`,
      note: "RFC 6121 §4.2.2: initial presence is also sent to the resource that sent it",
    },
  ];
}

/** A roster push (RFC 6121 §2.1.6) carrying one item; `item` is its attributes. */
export function rosterPush(item: string, children = ""): string {
  return `<iq type="set"><query xmlns="jabber:iq:roster"><item ${item}>${children}</item></query></iq>`;
}
