// Each account's presence on Tor: its inbound s2s socket and its onion
// service, started with the daemon or the account, stopped with them.
import type { Logger } from "./logger.js";
import { InboundS2sListener, s2sSocketPath } from "../s2s/inbound-listener.js";
import type { TorService } from "../tor/tor-service.js";

export interface OnionAccountInfo {
  domain: string;
  seed: Buffer;
}

export class AccountOnions {
  private readonly listeners = new Map<string, InboundS2sListener>();

  constructor(private readonly tor: TorService, private readonly dataDir: string, private readonly log: Logger) {}

  async add(account: OnionAccountInfo): Promise<void> {
    const listener = new InboundS2sListener(account.domain, s2sSocketPath(this.dataDir, account.domain), this.log.child("s2s"));
    await listener.listen();
    this.listeners.set(account.domain, listener);
    this.tor.onions.publish({ domain: account.domain, seed: account.seed, target: `unix:${listener.socketPath}` });
  }

  async remove(domain: string): Promise<void> {
    await this.tor.onions.unpublish(domain);
    await this.listeners.get(domain)?.close();
    this.listeners.delete(domain);
  }

  state(domain: string): { onionState: string | null; published: boolean } {
    const s = this.tor.onions.state(domain);
    return { onionState: s?.state ?? null, published: s?.state === "published" };
  }

  async close(): Promise<void> {
    for (const l of this.listeners.values()) await l.close();
    this.listeners.clear();
  }
}
