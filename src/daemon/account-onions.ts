// Each account's presence on Tor: its inbound s2s listener and its onion
// service, started with the daemon or the account, stopped with them. Where
// the onion delivers depends on who tor runs as (see s2s/inbound-listener.ts):
// the listener is chosen when tor is known, and changed if tor's user changes.
import type { Socket } from "node:net";
import type { Logger } from "./logger.js";
import { InboundS2sListener, s2sSocketPath } from "../s2s/inbound-listener.js";
import type { TorIdentity } from "../tor/onion-services.js";
import type { TorService } from "../tor/tor-service.js";

export interface OnionAccountInfo {
  domain: string;
  seed: Buffer;
}

/** Where inbound server sockets go (S2sManager). */
export interface InboundS2sAcceptor {
  acceptInbound(local: string, socket: Socket): void;
  /** The onion is going away: close its streams. */
  closeOnion(local: string): void;
}

export class AccountOnions {
  /** Set before accounts start (DaemonTor.attachS2s); listeners made without it refuse federation. */
  s2s: InboundS2sAcceptor | undefined;
  private readonly listeners = new Map<string, InboundS2sListener>();
  private readonly ownUid = process.getuid?.();
  private readonly changing = new Map<string, Promise<string>>();

  constructor(private readonly tor: TorService, private readonly dataDir: string, private readonly log: Logger) {}

  async add(account: OnionAccountInfo): Promise<void> {
    this.tor.onions.publish({ domain: account.domain, seed: account.seed, target: (tor) => this.targetFor(account.domain, tor) });
  }

  /** The listener for a tor running as `tor.uid`: reused while that stays the same. One change at a time per onion. */
  private targetFor(domain: string, tor: TorIdentity): Promise<string> {
    const next = (this.changing.get(domain) ?? Promise.resolve("")).catch(() => "").then(() => this.switchListener(domain, tor));
    this.changing.set(domain, next);
    return next;
  }

  private async switchListener(domain: string, tor: TorIdentity): Promise<string> {
    const wanted = tor.uid === this.ownUid ? { path: s2sSocketPath(this.dataDir, domain) } : { tcpForUid: tor.uid };
    const current = this.listeners.get(domain);
    if (current && JSON.stringify(current.endpoint) === JSON.stringify(wanted)) return current.target;
    await current?.close();
    // attachS2s() comes before any account starts; a socket without streams to take it is closed.
    const listener = new InboundS2sListener(domain, wanted, this.log.child("s2s"), (socket) => (this.s2s ? this.s2s.acceptInbound(domain, socket) : socket.destroy()));
    this.listeners.set(domain, listener);
    await listener.listen();
    if ("tcpForUid" in wanted) this.log.info("tor runs as another user: the onion delivers to a loopback port that admits only tor", { onion: domain, target: listener.target });
    return listener.target;
  }

  async remove(domain: string): Promise<void> {
    await this.tor.onions.unpublish(domain);
    this.s2s?.closeOnion(domain);
    await this.changing.get(domain)?.catch(() => undefined);
    this.changing.delete(domain);
    await this.listeners.get(domain)?.close();
    this.listeners.delete(domain);
  }

  state(domain: string): { onionState: string | null; published: boolean; onionError?: string } {
    const s = this.tor.onions.state(domain);
    return { onionState: s?.state ?? null, published: s?.state === "published", ...(s?.error ? { onionError: s.error } : {}) };
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) await l.close();
    this.listeners.clear();
  }
}
