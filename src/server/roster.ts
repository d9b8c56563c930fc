// Roster management: https://www.rfc-editor.org/rfc/rfc6121#section-2
import type { RosterItem, Store } from "../store/store.js";
import { NS } from "../xmpp/namespaces.js";
import { parseJid } from "../xmpp/jid.js";
import { Element, xml } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { ServerLimits } from "./limits.js";
import type { IqRequest, ServerModule } from "./router.js";
import { errorReply, iqResult, newId } from "./stanza.js";
import type { UnitOfWork } from "./unit-of-work.js";

export type RosterChange = RosterItem | { jid: string; removed: true };

/** Called when the user removes a contact: the subscriptions go with it (RFC 6121 2.5.2). */
export type OnRosterRemove = (unit: UnitOfWork, host: AccountHost, item: RosterItem) => void;

export function rosterItemElement(item: RosterChange): Element {
  if ("removed" in item) return xml("item", { jid: item.jid, subscription: "remove" });
  const el = xml("item", { jid: item.jid, subscription: item.subscription, name: item.name || undefined, ask: item.ask ? "subscribe" : undefined });
  if (item.approved) el.attrs.approved = "true";
  for (const g of item.groups) el.c("group").t(g);
  return el;
}

export class Roster {
  constructor(private readonly store: Store, private readonly limits: ServerLimits, private readonly onRemove: OnRosterRemove) {}

  get(host: AccountHost, contact: string): RosterItem | undefined {
    return this.store.roster.get(host.bareJid.toString(), contact);
  }

  /** Save an item and push it to every resource that asked for the roster (RFC 6121 2.1.6). */
  put(unit: UnitOfWork, host: AccountHost, item: RosterItem): void {
    const ver = this.store.roster.put(host.bareJid.toString(), item);
    this.push(unit, host, item, ver);
  }

  remove(unit: UnitOfWork, host: AccountHost, contact: string): void {
    const ver = this.store.roster.remove(host.bareJid.toString(), contact);
    if (ver !== undefined) this.push(unit, host, { jid: contact, removed: true }, ver);
  }

  private push(unit: UnitOfWork, host: AccountHost, item: RosterChange, ver: number): void {
    for (const s of host.sessions.values()) {
      if (!s.rosterInterested) continue;
      unit.send(
        s,
        xml("iq", { type: "set", id: `push-${newId()}`, to: s.fullJid }, xml("query", { xmlns: NS.ROSTER, ver: String(ver) }, rosterItemElement(item))),
      );
    }
  }

  module(): ServerModule {
    return {
      name: "roster",
      iq: { [`get ${NS.ROSTER}`]: (r) => this.onGet(r), [`set ${NS.ROSTER}`]: (r) => this.onSet(r) },
      streamFeatures: () => [xml("ver", { xmlns: NS.ROSTER_VER })],
    };
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-2.1.3 and 2.6 (versioning)
  private onGet({ iq, host, session, fromSelf }: IqRequest): Element {
    if (!fromSelf) return errorReply(iq, "service-unavailable");
    if (session) session.rosterInterested = true;
    const owner = host.bareJid.toString();
    const ver = String(this.store.roster.version(owner));
    const asked = iq.getChild("query")?.attrs.ver;
    if (asked !== undefined && asked === ver) return iqResult(iq);
    const query = xml("query", { xmlns: NS.ROSTER, ver });
    for (const item of this.store.roster.list(owner)) query.cnode(rosterItemElement(item));
    return iqResult(iq, query);
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-2.3 and 2.5
  private onSet({ iq, host, fromSelf, unit }: IqRequest): Element {
    if (!fromSelf) return errorReply(iq, "forbidden");
    const items = iq.getChild("query")?.getChildren("item") ?? [];
    if (items.length !== 1) return errorReply(iq, "bad-request", "a roster set carries exactly one item");
    const el = items[0]!;
    const contact = parseJid(el.attrs.jid ?? "");
    if (!contact || contact.resource) return errorReply(iq, "jid-malformed", "roster items are bare JIDs");
    const jidStr = contact.toString();
    const existing = this.get(host, jidStr);
    if (el.attrs.subscription === "remove") {
      if (!existing) return errorReply(iq, "item-not-found");
      // The item and every side effect of its removal commit together (the unit's transaction).
      this.onRemove(unit, host, existing);
      this.remove(unit, host, jidStr);
      return iqResult(iq);
    }
    const groups = el.getChildren("group").map((g) => g.getText().trim());
    if (groups.some((g) => g === "") || new Set(groups).size !== groups.length) return errorReply(iq, "bad-request", "empty or duplicate group");
    const name = el.attrs.name;
    if ((name?.length ?? 0) > 1024 || groups.some((g) => g.length > 1024)) return errorReply(iq, "not-acceptable", "name or group too long");
    if (!existing && this.store.roster.list(host.bareJid.toString()).length >= this.limits.maxRosterItems)
      return errorReply(iq, "resource-constraint", "roster is full");
    // The client may only change name and groups; the subscription attribute is the server's (RFC 6121 2.1.2.5).
    this.put(unit, host, {
      jid: jidStr,
      name: name ?? undefined,
      groups,
      subscription: existing?.subscription ?? "none",
      ask: existing?.ask ?? false,
      approved: existing?.approved ?? false,
    });
    return iqResult(iq);
  }
}
