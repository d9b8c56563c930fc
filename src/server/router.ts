// Where every stanza goes: https://www.rfc-editor.org/rfc/rfc6121#section-8
// Data walks one way: stream -> router -> hooks (features) -> sessions or other servers.
// Every stanza enters with its origin (origin.ts): an account's client, a server stream
// authenticated for one of our onions, or the server itself. The router decides only where a
// stanza is addressed and fires the event for it (hooks.ts); presence, carbons, offline storage
// and federation are hooks, and who may see what is asked of the policy (policy.ts).
// Everything that changes state runs in a unit of work (unit-of-work.ts): one stanza, a session
// closing. Every delivery goes through the unit.
import type { Logger } from "../daemon/logger.js";
import type { Store } from "../store/store.js";
import { Jid, parseJid } from "../xmpp/jid.js";
import type { Element } from "../xmpp/xml.js";
import type { AccountHost } from "./account-host.js";
import type { C2sSession } from "./c2s-session.js";
import { Hooks, type SessionEvent, type SessionEventName, type StanzaEvent, type StanzaEventName, type StanzaKind } from "./hooks.js";
import { LOCAL, withinDomain, type ClientOrigin, type Origin, type ServerOrigin } from "./origin.js";
import { PendingIqs } from "./pending-iqs.js";
import type { Policy } from "./policy.js";
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
  policy: Policy;
}

export class Router {
  readonly hosts = new Map<string, AccountHost>();
  /** What features hook: one chain per stanza event (hooks.ts). */
  readonly stanzas = new Hooks<StanzaEventName, StanzaEvent>();
  readonly sessions = new Hooks<SessionEventName, SessionEvent>();
  private readonly iqHandlers = new Map<string, IqHandler>();
  private readonly modules: ServerModule[] = [];
  readonly units: UnitsOfWork;
  /** iqs the server sent and awaits an answer to. */
  readonly iqs: PendingIqs;
  readonly policy: Policy;

  constructor(readonly deps: RouterDeps) {
    this.policy = deps.policy;
    this.units = new UnitsOfWork(deps.store, deps.log);
    this.iqs = new PendingIqs(this.units, deps.log);
    this.deliveryHooks();
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
    this.units.run((unit) => this.fromOwnClient(unit, { kind: "c2s", session, host: session.host! }, stanza));
  }

  /**
   * A stanza from a server stream authenticated for (origin.local, origin.remote); the stream
   * checked from and to. It reaches only the onion it arrived on: never relayed, never another
   * account of this daemon.
   */
  fromServer(origin: ServerOrigin, stanza: Element): void {
    this.units.run((unit) => {
      const to = parseJid(stanza.attrs.to ?? "");
      if (!to || !withinDomain(to.domain, origin.local)) {
        this.deps.log.error("a server stream let through a stanza for another domain; dropped", { stream: origin.streamId });
        return;
      }
      this.route(unit, stanza, origin);
    });
  }

  /** A session announced itself available (offline storage delivers to it). */
  sessionAvailable(unit: UnitOfWork, session: C2sSession): void {
    this.sessions.fire("session-available", { unit, session, host: session.host! });
  }

  /** A bound session is gone: its presence goes away, and what it was asked is not answered. */
  sessionClosed(session: C2sSession): void {
    try {
      this.units.run((unit) => {
        // First: what it was asked is abandoned even if the rest of the unit fails.
        this.iqs.sinkClosed(unit, session);
        this.sessions.fire("session-closed", { unit, session, host: session.host! });
      });
    } catch (err) {
      // Closing runs from socket events: a failure here must cost this session only.
      this.deps.log.error("handling a closed session failed", { session: session.id, error: (err as Error).stack ?? String(err) });
    }
  }

  private fromOwnClient(unit: UnitOfWork, origin: ClientOrigin, stanza: Element): void {
    const { host } = origin;
    // RFC 6121 8.1.1.1: a message without 'to' is for the sender's own bare JID.
    if (stanza.name === "message" && stanza.attrs.to === undefined) stanza.attrs.to = host.bareJid.toString();
    const to = stanza.attrs.to === undefined ? host.bareJid : parseJid(stanza.attrs.to);
    if (!to) return;
    const kind = stanza.name as StanzaKind;
    if (this.stanzas.fire(`pre-${kind}`, { unit, origin, stanza, to, host })) return;
    // An iq without 'to' is for the account, answered by the server on its behalf.
    if (stanza.attrs.to === undefined) return this.serverIq(unit, stanza, host.bareJid, host);
    this.route(unit, stanza, origin);
  }

  /**
   * Deliver a stanza that has valid from/to. Local addresses fire `<kind>/bare|full|host`,
   * others `route/remote` (only for local origins: a peer's stanza is never relayed).
   */
  route(unit: UnitOfWork, stanza: Element, origin: Origin = LOCAL): void {
    const to = parseJid(stanza.attrs.to ?? "");
    if (!to) return;
    const kind = stanza.name as StanzaKind;
    const host = this.hostOf(to);
    if (!host) {
      // A subdomain of the onion that nothing serves (yet): no answer, so none can loop back out.
      if (origin.kind === "s2s") return;
      const event: StanzaEvent = { unit, origin, stanza, to, host: undefined };
      if (!this.stanzas.fire("route/remote", event)) this.bounce(unit, stanza, "remote-server-not-found", "federation needs Tor: this daemon runs without it");
      return;
    }
    const addressing = !to.local ? "host" : to.resource ? "full" : "bare";
    if (addressing !== "host" && !host.isUser(to)) return this.noSuchUser(unit, stanza);
    this.stanzas.fire(`${kind}/${addressing}`, { unit, origin, stanza, to, host });
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

  /** What the router itself does at priority 0; features hook before (higher) or after (lower). */
  private deliveryHooks(): void {
    const on = (name: StanzaEventName, fn: (e: StanzaEvent & { host: AccountHost }) => boolean | void) => this.stanzas.on(name, (e) => fn(e as StanzaEvent & { host: AccountHost }));
    on("message/full", (e) => this.messageToFullJid(e));
    on("message/bare", (e) => this.messageToBareJid(e));
    // Messages and presence for the server itself: nothing to do with them.
    on("message/host", () => true);
    on("presence/host", () => true);
    on("presence/full", ({ unit, stanza, host, to }) => {
      const session = host.sessions.get(to.resource);
      if (session) unit.send(session, stanza);
      return true;
    });
    on("iq/full", ({ unit, stanza, host, to }) => {
      const session = host.sessions.get(to.resource);
      if (session) unit.send(session, stanza);
      else this.bounce(unit, stanza, "service-unavailable");
      return true;
    });
    on("iq/bare", ({ unit, stanza, to, host }) => (this.serverIq(unit, stanza, to, host), true));
    on("iq/host", ({ unit, stanza, to, host }) => (this.serverIq(unit, stanza, to, host), true));
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-8.5.3
  private messageToFullJid({ unit, stanza, host, to, origin }: StanzaEvent & { host: AccountHost }): boolean {
    const session = host.sessions.get(to.resource);
    if (session) {
      unit.send(session, stanza);
      return true;
    }
    const type = stanza.attrs.type ?? "normal";
    if (type === "chat" || type === "normal" || type === "headline") {
      this.stanzas.fire("message/bare", { unit, origin, stanza, to: to.bare(), host });
    } else if (type === "groupchat") this.bounce(unit, stanza, "service-unavailable");
    return true;
  }

  // https://www.rfc-editor.org/rfc/rfc6121#section-8.5.2: false when no resource took it (offline storage hooks after).
  private messageToBareJid({ unit, stanza, host }: StanzaEvent & { host: AccountHost }): boolean {
    const type = stanza.attrs.type ?? "normal";
    if (type === "groupchat") {
      this.bounce(unit, stanza, "service-unavailable");
      return true;
    }
    if (type === "headline") {
      for (const s of host.availableSessions()) if (s.priority >= 0) unit.send(s, stanza);
      return true;
    }
    const targets = host.messageTargets();
    for (const s of targets) unit.send(s, stanza);
    return targets.length > 0 || type === "error";
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
