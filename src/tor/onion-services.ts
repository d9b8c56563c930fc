// One onion service per account, from the account's own key: added with
// ADD_ONION, published once tor reports HS_DESC UPLOADED, added again after
// tor restarts or the control connection drops (the services are tied to
// the control connection that added them), removed with DEL_ONION.
import type { Logger } from "../daemon/logger.js";
import type { TorControlConnection } from "./control-connection.js";
import type { TorReply } from "./control-reply.js";
import { expandedSecretKey } from "./onion-address.js";
import { parseHsDesc } from "./tor-events.js";

export type OnionState = "pending" | "adding" | "uploading" | "published" | "failed";

export interface OnionAccount {
  /** The account's domain, "<56 chars>.onion". */
  domain: string;
  /** 32-byte ed25519 seed the domain was computed from. */
  seed: Buffer;
  /** Where tor sends the onion's port 5269: "unix:/path" or "127.0.0.1:port". */
  target: string;
}

/** The onion's virtual port: XMPP server-to-server. */
export const S2S_VIRTUAL_PORT = 5269;

interface Entry {
  account: OnionAccount;
  state: OnionState;
  error?: string;
}

export class OnionServices {
  private readonly entries = new Map<string, Entry>();
  private connection: TorControlConnection | undefined;
  private readonly listeners = new Set<(domain: string, state: OnionState) => void>();

  constructor(private readonly log: Logger) {}

  onChange(fn: (domain: string, state: OnionState) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  state(domain: string): { state: OnionState; error?: string } | undefined {
    const e = this.entries.get(domain);
    return e && { state: e.state, error: e.error };
  }

  /** Serve this account as an onion from now on (and after every reconnect). */
  publish(account: OnionAccount): void {
    const entry: Entry = { account, state: "pending" };
    this.entries.set(account.domain, entry);
    if (this.connection) void this.add(this.connection, entry);
  }

  async unpublish(domain: string): Promise<void> {
    const entry = this.entries.get(domain);
    this.entries.delete(domain);
    // "adding": the ADD_ONION in flight sees the entry gone and removes the service itself.
    if (!entry || !this.connection || entry.state === "pending" || entry.state === "adding" || entry.state === "failed") return;
    try {
      await this.connection.delOnion(serviceId(domain));
      this.log.info("onion service removed", { onion: domain });
    } catch (err) {
      this.log.warn("could not remove an onion service", { onion: domain, error: (err as Error).message });
    }
  }

  /** A (new) authenticated control connection: every account's service goes (back) up. */
  async attach(connection: TorControlConnection): Promise<void> {
    this.connection = connection;
    await Promise.all([...this.entries.values()].map((e) => this.add(connection, e)));
  }

  /** The control connection is gone, and the services tor held for it with it. */
  detach(): void {
    this.connection = undefined;
    for (const e of this.entries.values()) this.set(e, "pending");
  }

  onEvent(event: TorReply): void {
    const hs = parseHsDesc(event);
    if (!hs) return;
    const entry = this.entries.get(`${hs.address}.onion`);
    if (!entry || entry.state === "pending") return;
    if (hs.action === "UPLOADED" && entry.state !== "published") {
      this.set(entry, "published");
      this.log.info("onion service published", { onion: entry.account.domain });
    }
  }

  private async add(connection: TorControlConnection, entry: Entry): Promise<void> {
    this.set(entry, "adding");
    try {
      const key = expandedSecretKey(entry.account.seed).toString("base64");
      const { serviceId: id } = await connection.addOnion({ ed25519V3: key }, [{ virtPort: S2S_VIRTUAL_PORT, target: entry.account.target }]);
      // tor derives the address from the key we gave; it must be the one we computed.
      if (`${id}.onion` !== entry.account.domain) throw new Error(`tor derived ${id}.onion from the key of ${entry.account.domain}`);
      if (this.entries.get(entry.account.domain) !== entry) {
        await connection.delOnion(id); // removed while we were adding it
        return;
      }
      if (entry.state === "adding") this.set(entry, "uploading");
      this.log.info("onion service added; waiting for its descriptor upload", { onion: entry.account.domain });
    } catch (err) {
      // The connection went away (attach() will retry), or the account did (nothing to report).
      if (this.connection !== connection || this.entries.get(entry.account.domain) !== entry) return;
      entry.error = (err as Error).message;
      this.set(entry, "failed");
      this.log.error("could not add an onion service", { onion: entry.account.domain, error: entry.error });
    }
  }

  private set(entry: Entry, state: OnionState): void {
    if (entry.state === state) return;
    entry.state = state;
    if (state !== "failed") entry.error = undefined;
    for (const fn of this.listeners) fn(entry.account.domain, state);
  }
}

function serviceId(domain: string): string {
  return domain.replace(/\.onion$/, "");
}
