// The account servers of one daemon: a c2s listener on loopback, the router
// and its modules, one virtual host per account.
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import type { Store } from "../store/store.js";
import { AccountHost } from "./account-host.js";
import { Carbons } from "./carbons.js";
import { C2sSession, type SessionContext } from "./c2s-session.js";
import { mergeLimits, type LimitOverrides, type ServerLimits } from "./limits.js";
import { discoModule } from "./modules/disco.js";
import { pingModule } from "./modules/ping.js";
import { legacySessionModule } from "./modules/session.js";
import { vcardModule } from "./modules/vcard.js";
import { OfflineMessages } from "./offline.js";
import { Presence } from "./presence.js";
import { Roster } from "./roster.js";
import { Router } from "./router.js";

export interface XmppServerOptions {
  store: Store;
  log: Logger;
  limits?: LimitOverrides;
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port 127.0.0.1:${port} is already in use by another program: stop it, or start with --c2s-port 0 (any free port) or another port`);
  }
}

export class XmppServer {
  readonly router: Router;
  readonly limits: ServerLimits;
  private readonly sessions = new Set<C2sSession>();
  private listener: Server | undefined;
  private readonly log: Logger;
  private readonly store: Store;

  constructor(opts: XmppServerOptions) {
    this.store = opts.store;
    this.log = opts.log.child("c2s");
    this.limits = mergeLimits(opts.limits);
    const router = new Router({ store: opts.store, log: opts.log.child("router"), limits: this.limits });
    this.router = router;
    const roster = new Roster(opts.store, this.limits, (unit, host, item) => router.presence.onRosterRemove(unit, host, item));
    router.presence = new Presence(router, opts.store, roster, opts.log.child("presence"));
    router.offline = new OfflineMessages(router, opts.store, opts.log.child("offline"));
    router.carbons = new Carbons();
    router.use(roster.module());
    router.use(router.carbons.module());
    router.use(pingModule);
    router.use(legacySessionModule);
    router.use(vcardModule(opts.store, this.limits.maxVcardBytes));
    router.use(discoModule(opts.store, () => router.features()));
    router.use({ name: "offline", features: ["msgoffline"] });
  }

  addHost(localpart: string, domain: string): AccountHost {
    const host = new AccountHost(localpart, domain);
    this.router.hosts.set(domain, host);
    return host;
  }

  /** Close the account's sessions and stop serving its domain. */
  removeHost(domain: string): void {
    const host = this.router.hosts.get(domain);
    if (!host) return;
    this.router.hosts.delete(domain);
    for (const s of [...host.sessions.values()]) s.streamErrorAndClose("not-authorized", "this account was removed");
  }

  sessionCount(domain: string): number {
    return this.router.hosts.get(domain)?.sessions.size ?? 0;
  }

  /** Listen on 127.0.0.1 only; resolves with the bound port. */
  listen(port: number): Promise<number> {
    const server = createServer((socket) => this.accept(socket));
    server.maxConnections = this.limits.maxConnections;
    this.listener = server;
    return new Promise((resolve, reject) => {
      server.once("error", (err: NodeJS.ErrnoException) => reject(err.code === "EADDRINUSE" ? new PortInUseError(port) : err));
      server.listen({ port, host: "127.0.0.1", exclusive: true }, () => {
        server.removeAllListeners("error");
        server.on("error", (err) => this.log.error("c2s listener error", { error: err.message }));
        resolve((server.address() as { port: number }).port);
      });
    });
  }

  private accept(socket: Socket): void {
    const ctx: SessionContext = {
      limits: this.limits,
      log: this.log,
      hostFor: (domain) => this.router.hosts.get(domain),
      credentials: (host) => this.store.accounts.get(host.bareJid.toString())?.credentials,
      postAuthFeatures: () => this.router.streamFeatures(),
      bound: (session) => {
        session.host!.sessions.set(session.jid!.resource, session);
        this.log.info("session bound", { session: session.id, sessions: session.host!.sessions.size });
      },
      fromClient: (session, stanza) => this.router.fromClient(session, stanza),
      closed: (session) => this.closed(session),
    };
    this.sessions.add(new C2sSession(socket, ctx));
  }

  private closed(session: C2sSession): void {
    this.sessions.delete(session);
    const host = session.host;
    if (!host || !session.jid || host.sessions.get(session.jid.resource) !== session) return;
    this.router.sessionClosed(session);
    host.sessions.delete(session.jid.resource);
    this.log.info("session closed", { session: session.id });
  }

  /** Tell every client the server is going away, then stop listening. */
  async close(): Promise<void> {
    for (const s of [...this.sessions]) s.streamErrorAndClose("system-shutdown", "the purple-onion daemon is stopping");
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}
