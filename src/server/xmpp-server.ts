// The account servers of one daemon: a c2s listener on loopback, the router
// and its modules, one virtual host per account.
import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { RepeatedLog } from "../daemon/repeated-log.js";
import { LocalPeerGate } from "../net/local-peer-gate.js";
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
import { Policy } from "./policy.js";
import { mergeS2sLimits, type S2sLimitOverrides } from "./policy-limits.js";
import { Presence } from "./presence.js";
import { Roster } from "./roster.js";
import { Router } from "./router.js";

export interface XmppServerOptions {
  store: Store;
  log: Logger;
  limits?: LimitOverrides;
  /** Federation limits (policy-limits.ts); tests shrink them. */
  s2sLimits?: S2sLimitOverrides;
  /** Keys the made-up SCRAM salts of unknown users; persist it (see SaslMechanismOptions). */
  unknownUserSecret: Buffer;
}

export class PortInUseError extends Error {
  constructor(readonly port: number) {
    super(`port 127.0.0.1:${port} is already in use by another program: stop it, or start with --c2s-port 0 (any free port) or another port`);
  }
}

export class XmppServer {
  readonly router: Router;
  readonly limits: ServerLimits;
  readonly policy: Policy;
  private readonly sessions = new Set<C2sSession>();
  private listener: Server | undefined;
  /** Only the daemon's own user may talk to the c2s port (another local user could probe which onions live here, or hold every slot). */
  private readonly gate: LocalPeerGate | undefined;
  private readonly log: Logger;
  private readonly store: Store;
  private readonly unknownUserSecret: Buffer;
  private readonly refusals: RepeatedLog;

  constructor(opts: XmppServerOptions) {
    this.store = opts.store;
    this.unknownUserSecret = opts.unknownUserSecret;
    this.log = opts.log.child("c2s");
    this.refusals = new RepeatedLog(this.log);
    this.limits = mergeLimits(opts.limits);
    const ownUid = process.getuid?.();
    this.gate = ownUid === undefined ? undefined : new LocalPeerGate({ allowedUid: ownUid, what: "c2s", log: this.log });
    this.policy = new Policy(opts.store, this.limits, mergeS2sLimits(opts.s2sLimits));
    const router = new Router({ store: opts.store, log: opts.log.child("router"), policy: this.policy });
    this.router = router;
    this.policy.register(router);
    // Removing a contact cancels its subscriptions (called only once both exist).
    const roster = new Roster(opts.store, this.limits, (unit, host, item) => presence.onRosterRemove(unit, host, item));
    const presence = new Presence(router, opts.store, roster, opts.log.child("presence"));
    presence.register(router);
    new OfflineMessages(router, opts.store, opts.log.child("offline")).register();
    new Carbons().register(router);
    router.use(roster.module());
    router.use(pingModule);
    router.use(legacySessionModule);
    router.use(vcardModule(opts.store, this.policy, this.limits.maxVcardBytes));
    router.use(discoModule(this.policy, () => router.features()));
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
    if (!this.gate?.supported) {
      this.log.warn("cannot tell which local user connects to the c2s port on this system (no /proc/net/tcp): any local user can connect to it and try to log in");
    }
    // Not server.maxConnections: connections the gate refuses must not take a slot.
    const server = createServer((socket) => void this.admit(socket));
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

  private async admit(socket: Socket): Promise<void> {
    socket.on("error", () => socket.destroy());
    if (this.gate) {
      const verdict = await this.gate.check(socket);
      if (verdict !== "admitted") return;
    }
    if (!this.listener || this.sessions.size >= this.limits.maxConnections) {
      socket.destroy();
      this.refusals.report("warn", "too-many", "c2s connection refused: too many connections", { limit: this.limits.maxConnections });
      return;
    }
    this.accept(socket);
    socket.resume();
  }

  private accept(socket: Socket): void {
    const ctx: SessionContext = {
      limits: this.limits,
      log: this.log,
      hostFor: (domain) => this.router.hosts.get(domain),
      credentials: (host) => this.store.accounts.get(host.bareJid.toString())?.credentials,
      unknownUserSecret: this.unknownUserSecret,
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
    this.gate?.close();
    for (const s of [...this.sessions]) s.streamErrorAndClose("system-shutdown", "the purple-onion daemon is stopping");
    const listener = this.listener;
    this.listener = undefined;
    if (listener) await new Promise<void>((resolve) => listener.close(() => resolve()));
  }
}
