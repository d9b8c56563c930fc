// Federation as the router sees it: one module that takes every stanza addressed to another
// server (the router's "route/remote" event, after the policy's onion-only check), gives it to
// the S2sManager by delivery class, and owns the durable outbox. Loaded only when the daemon runs
// with Tor. ARCHITECTURE.md, "Federation".
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import type { Router } from "../server/router.js";
import type { S2sLimitOverrides } from "../server/policy-limits.js";
import type { Store } from "../store/store.js";
import { parseJid } from "../xmpp/jid.js";
import { S2sOutbox } from "./outbox.js";
import { S2sManager, type S2sOnionCounts } from "./s2s-manager.js";
import { TlsIdentities, type S2sTlsPolicy } from "./tls-identities.js";

export interface FederationOptions {
  store: Store;
  router: Router;
  log: Logger;
  /** 32 persisted bytes (the daemon keeps them in its settings): dialback keys survive restarts. */
  secret: Buffer;
  /** A socket to `remote` on `local`'s own Tor circuits (DaemonTor.s2sDialer). */
  dial(local: string, remote: string): Promise<Socket>;
  limits?: S2sLimitOverrides;
  /** STARTTLS on server streams (default "when-required"). */
  tls?: S2sTlsPolicy;
}

export class Federation {
  readonly manager: S2sManager;
  readonly outbox: S2sOutbox;
  private readonly store: Store;

  constructor(o: FederationOptions) {
    this.store = o.store;
    const log = o.log.child("s2s");
    const { router } = o;
    // Identities are kept in the daemon's settings, one per onion, made on first use.
    const tls = { policy: o.tls ?? "when-required", identities: new TlsIdentities(o.store.settings) };
    this.manager = new S2sManager({ log, limits: o.limits, secret: o.secret, dial: o.dial, routing: router, tls });
    this.outbox = new S2sOutbox({
      store: o.store,
      units: router.units,
      log,
      needConnection: (local, remote) => this.manager.needConnection(local, remote),
      // The sender learns that its message never arrived, and why.
      expired: (unit, _local, _remote, stanza, reason) => router.bounce(unit, stanza, "remote-server-timeout", reason),
    });
    this.manager.setOutbox(this.outbox);
    router.stanzas.on("route/remote", ({ unit, stanza, to }) => {
      // Sent by one of our accounts (or by the server for one): that account's onion is the
      // stream's local end, never another one of ours.
      const local = parseJid(stanza.attrs.from ?? "")?.domain;
      if (!local || !router.hosts.has(local)) {
        o.log.error("a stanza for another server has no sender hosted here; dropped");
        return true;
      }
      this.manager.send(unit, stanza, local, to.domain);
      return true;
    });
  }

  /** After the accounts are loaded: retry what waited in the outbox when the daemon stopped. */
  start(): void {
    this.outbox.resume();
  }

  /** tor became ready (bootstrapped, or back after a restart): what waited for it goes now. */
  torReady(): void {
    this.outbox.retryWaiting();
  }

  /** An account went away: its streams close (its outbox rows went with its store rows). */
  closeOnion(onion: string): void {
    this.manager.closeOnion(onion);
  }

  /** For `status`: how many streams the onion has open and how many stanzas wait for peers. */
  status(onion: string): { inbound: number; outbound: number; established: number; queued: number } {
    const c: S2sOnionCounts | undefined = this.manager.counts()[onion];
    return { inbound: c?.inbound ?? 0, outbound: c?.outbound ?? 0, established: c?.established ?? 0, queued: this.store.outbox.count(onion) };
  }

  close(): void {
    this.outbox.close();
    this.manager.close();
  }
}
