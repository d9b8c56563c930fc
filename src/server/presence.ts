// Presence broadcast, probes and the subscription state machine:
// https://www.rfc-editor.org/rfc/rfc6121#section-3 and #section-4, state tables in Appendix A.
import type { Logger } from "../daemon/logger.js";
import type { RosterItem, Store, Subscription } from "../store/store.js";
import { parseJid } from "../xmpp/jid.js";
import { Element, xml } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Roster } from "./roster.js";
import type { Router } from "./router.js";
import { cloneElement, errorReply } from "./stanza.js";
import type { UnitOfWork } from "./unit-of-work.js";

const SUBSCRIPTION_TYPES = new Set(["subscribe", "subscribed", "unsubscribe", "unsubscribed"]);

const hasFrom = (s: Subscription) => s === "from" || s === "both";
const hasTo = (s: Subscription) => s === "to" || s === "both";

function withTo(s: Subscription, on: boolean): Subscription {
  const from = hasFrom(s);
  if (on) return from ? "both" : "to";
  return from ? "from" : "none";
}
function withFrom(s: Subscription, on: boolean): Subscription {
  const to = hasTo(s);
  if (on) return to ? "both" : "from";
  return to ? "to" : "none";
}

function newItem(jid: string): RosterItem {
  return { jid, subscription: "none", ask: false, approved: false, groups: [] };
}

export class Presence {
  constructor(
    private readonly router: Router,
    private readonly store: Store,
    private readonly roster: Roster,
    private readonly log: Logger,
  ) {}

  isSubscriptionType(stanza: Element): boolean {
    return SUBSCRIPTION_TYPES.has(stanza.attrs.type ?? "");
  }

  /** Presence is this module: what clients send, what arrives for the account, sessions going away. */
  register(router: Router): void {
    router.stanzas.on("pre-presence", ({ unit, origin, stanza }) => {
      if (origin.kind !== "c2s") return false;
      if (stanza.attrs.to === undefined) this.fromClientBroadcast(unit, origin.session, stanza);
      else this.fromClientDirected(unit, origin.session, stanza);
      return true;
    });
    router.stanzas.on("presence/bare", ({ unit, host, stanza }) => (this.inbound(unit, host!, stanza), true));
    // Subscription stanzas to a full JID are handled as if sent to the bare JID (RFC 6121 3.1.3).
    router.stanzas.on("presence/full", ({ unit, host, stanza }) => this.isSubscriptionType(stanza) && (this.inbound(unit, host!, stanza), true), 10);
    router.sessions.on("session-closed", ({ unit, session }) => this.sessionClosed(unit, session));
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-4.2 (initial), 4.4 (updates), 4.5 (unavailable)
  fromClientBroadcast(unit: UnitOfWork, session: C2sSession, stanza: Element): void {
    const type = stanza.attrs.type;
    if (type !== undefined && type !== "unavailable") return; // probes, subscriptions and errors need a 'to'
    if (type === "unavailable") {
      if (!session.available) return;
      session.available = false;
      session.lastPresence = undefined;
      this.broadcast(unit, session, stanza);
      this.undirect(unit, session);
      return;
    }
    const initial = !session.available;
    const priority = Number.parseInt(stanza.getChildText("priority") ?? "0", 10);
    session.priority = Number.isFinite(priority) ? Math.max(-128, Math.min(127, priority)) : 0;
    session.available = true;
    session.lastPresence = cloneElement(stanza);
    this.broadcast(unit, session, stanza);
    if (initial) this.initialPresence(unit, session);
    // XEP-0160: stored messages go to a resource that is available with a non-negative priority;
    // also on a later update, for messages a vanished resource never acknowledged (offline.ts).
    if (session.priority >= 0) this.router.sessionAvailable(unit, session);
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-4.2.2 (probes) and 4.2.4 (what the new resource learns)
  private initialPresence(unit: UnitOfWork, session: C2sSession): void {
    const host = session.host!;
    const owner = host.bareJid.toString();
    for (const item of this.store.roster.list(owner)) {
      if (hasTo(item.subscription)) this.router.route(unit, xml("presence", { type: "probe", from: owner, to: item.jid }));
    }
    for (const other of host.availableSessions()) {
      if (other !== session && other.lastPresence) unit.send(session, this.addressed(other.lastPresence, other.fullJid, session.fullJid));
    }
    // Subscription requests that arrived while the user was offline (RFC 6121 3.1.3).
    for (const pending of this.store.roster.listPendingIn(owner)) unit.send(session, pending.stanzaXml);
  }

  fromClientDirected(unit: UnitOfWork, session: C2sSession, stanza: Element): void {
    const type = stanza.attrs.type;
    if (this.isSubscriptionType(stanza)) return this.outboundSubscription(unit, session.host!, stanza);
    if (type === "probe") return; // clients have no business probing; the server does it for them
    const to = stanza.attrs.to!;
    if (type === "unavailable") session.directedPresence.delete(to);
    else if (type === undefined && session.available) {
      if (!this.router.policy.mayDirectPresence(session, to)) {
        unit.send(session, errorReply(stanza, "policy-violation", "too many contacts hold a directed presence of this session"));
        return;
      }
      session.directedPresence.add(to);
    }
    this.router.route(unit, stanza);
  }

  /** The session went away without saying unavailable: say it for it. */
  sessionClosed(unit: UnitOfWork, session: C2sSession): void {
    if (!session.available) return;
    session.available = false;
    this.broadcast(unit, session, xml("presence", { type: "unavailable", from: session.fullJid }));
    this.undirect(unit, session);
  }

  /** Presence for a local account's bare JID (or a subscription stanza to any of its JIDs). */
  inbound(unit: UnitOfWork, host: AccountHost, stanza: Element): void {
    const type = stanza.attrs.type;
    if (this.isSubscriptionType(stanza)) return this.inboundSubscription(unit, host, stanza);
    if (type === "probe") return this.answerProbe(unit, host, stanza);
    for (const s of host.availableSessions()) unit.send(s, stanza);
  }

  private broadcast(unit: UnitOfWork, session: C2sSession, stanza: Element): void {
    const host = session.host!;
    for (const item of this.store.roster.list(host.bareJid.toString())) {
      if (hasFrom(item.subscription)) this.router.route(unit, this.addressed(stanza, session.fullJid, item.jid));
    }
    for (const s of host.availableSessions()) unit.send(s, this.addressed(stanza, session.fullJid, s.fullJid));
    // A resource going unavailable is told of it too, then it stops hearing from itself.
    if (!session.available) unit.send(session, this.addressed(stanza, session.fullJid, session.fullJid));
  }

  private undirect(unit: UnitOfWork, session: C2sSession): void {
    for (const to of session.directedPresence) this.router.route(unit, xml("presence", { type: "unavailable", from: session.fullJid, to }));
    session.directedPresence.clear();
  }

  private addressed(stanza: Element, from: string, to: string): Element {
    const copy = cloneElement(stanza);
    copy.attrs.from = from;
    copy.attrs.to = to;
    return copy;
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-4.3.2
  private answerProbe(unit: UnitOfWork, host: AccountHost, probe: Element): void {
    const from = parseJid(probe.attrs.from ?? "");
    if (!from) return;
    // Presence is only for those the user lets see it: say nothing to anyone else.
    if (!this.router.policy.maySeePresence(host, from)) return;
    const available = host.availableSessions();
    if (available.length === 0) {
      this.router.route(unit, xml("presence", { type: "unavailable", from: host.bareJid.toString(), to: probe.attrs.from }));
      return;
    }
    for (const s of available) this.router.route(unit, this.addressed(s.lastPresence ?? xml("presence"), s.fullJid, probe.attrs.from!));
  }

  // https://www.rfc-editor.org/rfc/rfc6121#appendix-A.2 (outbound)
  private outboundSubscription(unit: UnitOfWork, host: AccountHost, stanza: Element): void {
    const to = parseJid(stanza.attrs.to!);
    if (!to) return;
    const contact = to.bare().toString();
    const owner = host.bareJid.toString();
    // Subscription stanzas carry the user's bare JID (RFC 6121 3.1.2).
    const out = xml("presence", { type: stanza.attrs.type, from: owner, to: contact, id: stanza.attrs.id });
    for (const child of stanza.getChildElements()) out.cnode(cloneElement(child));
    const item = this.roster.get(host, contact);
    const before = item ?? newItem(contact);
    let after: RosterItem = before;
    switch (stanza.attrs.type) {
      case "subscribe":
        if (!hasTo(before.subscription)) after = { ...before, ask: true };
        break;
      case "unsubscribe":
        after = { ...before, subscription: withTo(before.subscription, false), ask: false };
        break;
      case "subscribed": {
        const pending = this.store.roster.listPendingIn(owner).some((p) => p.contact === contact);
        if (!pending && !hasFrom(before.subscription)) {
          // RFC 6121 3.4: pre-approval; nothing goes to the contact yet.
          if (!before.approved) this.roster.put(unit, host, { ...before, approved: true });
          return;
        }
        this.store.roster.removePendingIn(owner, contact);
        after = { ...before, subscription: withFrom(before.subscription, true), approved: false };
        break;
      }
      case "unsubscribed":
        this.store.roster.removePendingIn(owner, contact);
        after = { ...before, subscription: withFrom(before.subscription, false), approved: false };
        break;
    }
    // A cancel or denial about someone not on the roster must not add them to it.
    const worthKeeping = item !== undefined || after.ask || after.subscription !== "none";
    if (!sameItem(item, after) && worthKeeping) this.roster.put(unit, host, after);
    this.router.route(unit, out);
    // The new subscriber learns the current presence; the former one learns we are gone for it.
    if (stanza.attrs.type === "subscribed") {
      for (const s of host.availableSessions()) this.router.route(unit, this.addressed(s.lastPresence ?? xml("presence"), s.fullJid, contact));
    } else if (stanza.attrs.type === "unsubscribed" && item && hasFrom(item.subscription)) {
      for (const s of host.availableSessions()) this.router.route(unit, xml("presence", { type: "unavailable", from: s.fullJid, to: contact }));
    }
  }

  // https://www.rfc-editor.org/rfc/rfc6121#appendix-A.3 (inbound)
  private inboundSubscription(unit: UnitOfWork, host: AccountHost, stanza: Element): void {
    const from = parseJid(stanza.attrs.from ?? "");
    if (!from) return;
    const contact = from.bare().toString();
    const owner = host.bareJid.toString();
    // Deliver with the contact's bare JID as sender and our bare JID as recipient.
    const delivered = this.addressed(stanza, contact, owner);
    const item = this.roster.get(host, contact);
    const before = item ?? newItem(contact);
    switch (stanza.attrs.type) {
      case "subscribe": {
        if (hasFrom(before.subscription)) {
          this.router.route(unit, xml("presence", { type: "subscribed", from: owner, to: contact }));
          return;
        }
        if (before.approved) {
          this.roster.put(unit, host, { ...before, subscription: withFrom(before.subscription, true), approved: false });
          this.router.route(unit, xml("presence", { type: "subscribed", from: owner, to: contact }));
          for (const s of host.availableSessions()) this.router.route(unit, this.addressed(s.lastPresence ?? xml("presence"), s.fullJid, contact));
          return;
        }
        // Kept until the user answers, and shown again at each login until then: within limits.
        if (!this.router.policy.mayHoldSubscriptionRequest(host, from)) {
          this.log.debug("subscription request dropped: too many pending from that peer", { owner });
          return;
        }
        this.store.roster.putPendingIn(owner, contact, delivered.toString());
        for (const s of host.availableSessions()) unit.send(s, delivered);
        return;
      }
      case "subscribed":
        if (!before.ask) return;
        this.roster.put(unit, host, { ...before, subscription: withTo(before.subscription, true), ask: false });
        break;
      case "unsubscribe":
        this.store.roster.removePendingIn(owner, contact);
        if (!hasFrom(before.subscription)) return;
        this.roster.put(unit, host, { ...before, subscription: withFrom(before.subscription, false), approved: false });
        // RFC 6121 3.3.3: the former subscriber learns we are gone for it.
        for (const s of host.availableSessions()) this.router.route(unit, xml("presence", { type: "unavailable", from: s.fullJid, to: contact }));
        break;
      case "unsubscribed":
        if (!hasTo(before.subscription) && !before.ask) return;
        this.roster.put(unit, host, { ...before, subscription: withTo(before.subscription, false), ask: false });
        break;
    }
    for (const s of host.availableSessions()) unit.send(s, delivered);
    this.log.debug("subscription state changed", { owner, contact, type: stanza.attrs.type });
  }

  /** Removing a contact cancels both directions (RFC 6121 2.5.2). */
  onRosterRemove(unit: UnitOfWork, host: AccountHost, item: RosterItem): void {
    const owner = host.bareJid.toString();
    if (hasTo(item.subscription) || item.ask) this.router.route(unit, xml("presence", { type: "unsubscribe", from: owner, to: item.jid }));
    if (hasFrom(item.subscription)) {
      this.router.route(unit, xml("presence", { type: "unsubscribed", from: owner, to: item.jid }));
      for (const s of host.availableSessions()) this.router.route(unit, xml("presence", { type: "unavailable", from: s.fullJid, to: item.jid }));
    }
    this.store.roster.removePendingIn(owner, item.jid);
  }
}

function sameItem(a: RosterItem | undefined, b: RosterItem): boolean {
  return !!a && a.subscription === b.subscription && a.ask === b.ask && a.approved === b.approved;
}
