// Where every stanza goes: https://www.rfc-editor.org/rfc/rfc6121#section-8
// Data walks one way: session -> router -> (module | host's sessions | offline store).
// Policy lives here: which addresses are local, what happens to an unknown
// user or a remote domain (no federation yet: remote-server-not-found).
// Everything that changes state runs in a unit of work (unit-of-work.ts): one
// stanza from a client, a session closing. Every delivery goes through the unit.
import type { Logger } from "../daemon/logger.js";
import type { Store } from "../store/store.js";
import { Jid, parseJid } from "../xmpp/jid.js";
import type { Element } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import type { Carbons } from "./carbons.js";
import type { ServerLimits } from "./limits.js";
import type { OfflineMessages } from "./offline.js";
import { PendingIqs } from "./pending-iqs.js";
import type { Presence } from "./presence.js";
import { errorReply, iqKey } from "./stanza.js";
import { UnitsOfWork, type UnitOfWork } from "./unit-of-work.js";

/** An iq the server answers itself, for the server domain or on behalf of an account's bare JID. */
export interface IqRequest {
  iq: Element;
  from: Jid;
  /** The addressed entity: the domain, or the account's bare JID. */
  to: Jid;
  host: AccountHost;
  /** The sending session, when the sender is this account's own client. */
  session: C2sSession | undefined;
  /** Sender is the account's own user. */
  fromSelf: boolean;
  /** The unit the iq is handled in: store writes and stanzas to send go through it. */
  unit: UnitOfWork;
}
export type IqHandler = (req: IqRequest) => Element;

/** A feature module, in Prosody's spirit: declares what it handles, the router dispatches. */
export interface ServerModule {
  name: string;
  /** disco#info features of the server domain. */
  features?: string[];
  /** Handlers keyed "get <namespace>" / "set <namespace>". */
  iq?: Record<string, IqHandler>;
  /** Stream features offered after authentication. */
  streamFeatures?: () => Element[];
}

export interface RouterDeps {
  store: Store;
  log: Logger;
  limits: ServerLimits;
}

export class Router {
  readonly hosts = new Map<string, AccountHost>();
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly modules: ServerModule[] = [];
  presence!: Presence;
  offline!: OfflineMessages;
  carbons!: Carbons;
  readonly units: UnitsOfWork;
  /** iqs the server sent and awaits an answer to. */
  readonly iqs: PendingIqs;

  constructor(readonly deps: RouterDeps) {
    this.units = new UnitsOfWork(deps.store, deps.log);
    this.iqs = new PendingIqs(this.units, deps.log);
  }

  use(module: ServerModule): void {
    this.modules.push(module);
    for (const [key, handler] of Object.entries(module.iq ?? {})) {
      if (this.iqHandlers.has(key)) throw new Error(`two modules handle ${key}`);
      this.iqHandlers.set(key, handler);
    }
  }

  features(): string[] {
    return this.modules.flatMap((m) => m.features ?? []).sort();
  }

  streamFeatures(): Element[] {
    return this.modules.flatMap((m) => m.streamFeatures?.() ?? []);
  }

  hostOf(j: Jid): AccountHost | undefined {
    return this.hosts.get(j.domain);
  }

  /**
   * A stanza from an authenticated local client, `from` already stamped: one unit of work. If
   * handling it throws, nothing it changed or queued survives, and the error goes to the session.
   */
  fromClient(session: C2sSession, stanza: Element): void {
    this.units.run((unit) => this.handleFromClient(unit, session, stanza));
  }

  /** A bound session is gone: its presence goes away, and what it was asked is not answered. */
  sessionClosed(session: C2sSession): void {
    try {
      this.units.run((unit) => {
        // First: what it was asked is abandoned even if the rest of the unit fails.
        this.iqs.sinkClosed(unit, session);
        this.presence.sessionClosed(unit, session);
      });
    } catch (err) {
      // Closing runs from socket events: a failure here must cost this session only.
      this.deps.log.error("handling a closed session failed", { session: session.id, error: (err as Error).stack ?? String(err) });
    }
  }

  private handleFromClient(unit: UnitOfWork, session: C2sSession, stanza: Element): void {
    const to = stanza.attrs.to;
    if (stanza.name === "presence" && to === undefined) return this.presence.fromClientBroadcast(unit, session, stanza);
    if (stanza.name === "presence") return this.presence.fromClientDirected(unit, session, stanza);
    if (stanza.name === "message") {
      // RFC 6121 8.1.1.1: no 'to' means the sender's own bare JID.
      if (to === undefined) stanza.attrs.to = session.host!.bareJid.toString();
      this.route(unit, stanza);
      this.carbons.afterSent(unit, session, stanza);
      return;
    }
    if (to === undefined) return this.serverIq(unit, stanza, session.host!.bareJid, session.host!);
    this.route(unit, stanza);
  }

  /** Deliver a stanza that has valid from/to, from any local source. */
  route(unit: UnitOfWork, stanza: Element): void {
    const to = parseJid(stanza.attrs.to ?? "");
    if (!to) return;
    const host = this.hostOf(to);
    if (!host) return this.remote(unit, stanza);
    if (!to.local) {
      if (stanza.name === "iq") return this.serverIq(unit, stanza, to, host);
      // Messages and presence for the server itself: nothing to do with them.
      return;
    }
    if (!host.isUser(to)) return this.noSuchUser(unit, stanza);
    if (to.resource) return this.toFullJid(unit, stanza, host, to);
    return this.toBareJid(unit, stanza, host, to);
  }

  // No federation yet: the next issue routes these through Tor.
  private remote(unit: UnitOfWork, stanza: Element): void {
    this.bounce(unit, stanza, "remote-server-not-found", "federation is not available yet");
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-8.5.1
  private noSuchUser(unit: UnitOfWork, stanza: Element): void {
    if (stanza.name === "presence") return;
    this.bounce(unit, stanza, "service-unavailable");
  }

  /** Send an error back to the sender, unless the stanza is itself an error or an iq answer (no loops). */
  bounce(unit: UnitOfWork, stanza: Element, condition: string, text?: string): void {
    const type = stanza.attrs.type;
    if (type === "error" || (stanza.name === "iq" && (type === "result" || type === "error"))) return;
    this.route(unit, errorReply(stanza, condition, text));
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-8.5.3
  private toFullJid(unit: UnitOfWork, stanza: Element, host: AccountHost, to: Jid): void {
    const session = host.sessions.get(to.resource);
    if (session) {
      if (stanza.name === "presence" && this.presence.isSubscriptionType(stanza)) return this.presence.inbound(unit, host, stanza);
      unit.send(session, stanza);
      if (stanza.name === "message") this.carbons.afterReceived(unit, host, stanza, [session]);
      return;
    }
    const type = stanza.attrs.type ?? (stanza.name === "message" ? "normal" : undefined);
    if (stanza.name === "message") {
      if (type === "chat" || type === "normal" || type === "headline") return this.toBareJid(unit, stanza, host, to.bare());
      if (type === "groupchat") return this.bounce(unit, stanza, "service-unavailable");
      return;
    }
    if (stanza.name === "presence") {
      if (this.presence.isSubscriptionType(stanza)) return this.presence.inbound(unit, host, stanza);
      return;
    }
    this.bounce(unit, stanza, "service-unavailable");
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-8.5.2
  private toBareJid(unit: UnitOfWork, stanza: Element, host: AccountHost, to: Jid): void {
    if (stanza.name === "presence") return this.presence.inbound(unit, host, stanza);
    if (stanza.name === "iq") return this.serverIq(unit, stanza, to, host);
    const type = stanza.attrs.type ?? "normal";
    if (type === "groupchat") return this.bounce(unit, stanza, "service-unavailable");
    const targets = host.messageTargets();
    if (type === "headline") {
      for (const s of host.availableSessions()) if (s.priority >= 0) unit.send(s, stanza);
      return;
    }
    if (type === "error") {
      for (const s of targets) unit.send(s, stanza);
      return;
    }
    if (targets.length === 0) return this.offline.store(unit, host, stanza);
    for (const s of targets) unit.send(s, stanza);
    this.carbons.afterReceived(unit, host, stanza, targets);
  }

  /** iqs the server answers: to the domain, or to the bare JID on the account's behalf. */
  private serverIq(unit: UnitOfWork, iq: Element, to: Jid, host: AccountHost): void {
    const type = iq.attrs.type;
    // An answer to an iq of ours (pending-iqs.ts), or to nothing that waits: dropped either way.
    if (type === "result" || type === "error") {
      this.iqs.answer(unit, iq);
      return;
    }
    const from = parseJid(iq.attrs.from ?? "");
    if (!from) return;
    const session = host.isUser(from) ? host.sessions.get(from.resource) : undefined;
    const key = iqKey(iq);
    if (!key) return this.route(unit, errorReply(iq, "bad-request", "an iq get/set carries exactly one payload"));
    const handler = this.iqHandlers.get(key);
    // XEP-0092 version, XEP-0202 time, XEP-0012 last activity have no handler on purpose:
    // they would tell a peer our software, OS or time zone.
    if (!handler) return this.route(unit, errorReply(iq, "service-unavailable"));
    let reply: Element;
    try {
      // A savepoint: a handler that fails half-way leaves neither writes nor stanzas behind.
      reply = unit.attempt(() => handler({ iq, from, to, host, session, fromSelf: host.isUser(from), unit }));
    } catch (err) {
      this.deps.log.error("iq handler failed", { key, error: (err as Error).message });
      reply = errorReply(iq, "internal-server-error");
    }
    // The reply comes from the addressed entity.
    reply.attrs.from = to.toString();
    reply.attrs.to = iq.attrs.from;
    if (session) unit.send(session, reply);
    else this.route(unit, reply);
  }
}
