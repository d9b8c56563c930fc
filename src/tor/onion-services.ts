// One onion service per account, from the account's own key: added with
// ADD_ONION, published once tor reports HS_DESC UPLOADED, added again after
// tor restarts or the control connection drops (the services are tied to
// the control connection that added them), removed with DEL_ONION.
//
// Publication is watched: an onion whose descriptor was not uploaded within
// uploadTimeoutMs of tor being bootstrapped (100%) is "failed", with the reason
// tor gave (HS_DESC FAILED ... REASON=), and is taken down and added again
// with growing pauses. One FAILED among several uploads (one per HSDir) is
// normal and changes nothing.
import type { Logger } from "../daemon/logger.js";
import type { TorControlConnection } from "./control-connection.js";
import type { TorReply } from "./control-reply.js";
import { expandedSecretKey } from "./onion-address.js";
import { parseHsDesc } from "./tor-events.js";

export type OnionState = "pending" | "adding" | "uploading" | "published" | "failed";

/** Who the tor we talk to is: decides where its onions can deliver connections. */
export interface TorIdentity {
  uid: number;
}

export interface OnionAccount {
  /** The account's domain, "<56 chars>.onion". */
  domain: string;
  /** 32-byte ed25519 seed the domain was computed from. */
  seed: Buffer;
  /**
   * Where tor sends the onion's port 5269 ("unix:/path" or "127.0.0.1:port"); asked at each
   * ADD_ONION, because it depends on which user tor runs as.
   */
  target: (tor: TorIdentity) => Promise<string>;
}

export interface OnionServicesOptions {
  /** Time from "tor is bootstrapped" (or the ADD_ONION, if later) to HS_DESC UPLOADED. Default 120 s. */
  uploadTimeoutMs?: number;
  /** First pause before adding a failed onion again; doubles up to retryMaxMs. Default 10 s. */
  retryMinMs?: number;
  /** Default 10 min. */
  retryMaxMs?: number;
}

/** The onion's virtual port: XMPP server-to-server. */
export const S2S_VIRTUAL_PORT = 5269;
/** Streams one client circuit may open to an onion: a peer server needs one or two at a time. */
export const ONION_MAX_STREAMS = 8;

interface Entry {
  account: OnionAccount;
  state: OnionState;
  error?: string;
  /** Reasons of HS_DESC FAILED events since the last ADD_ONION. */
  failures: string[];
  /** Consecutive failed publications (backoff). */
  attempts: number;
  /** Tor holds the service for us (ADD_ONION succeeded on the current connection). */
  up: boolean;
  uploadTimer?: NodeJS.Timeout;
  retryTimer?: NodeJS.Timeout;
}

export class OnionServices {
  /** This tor refused ADD_ONION's proof-of-work keywords once: do not ask again. */
  private powRefused = false;
  private readonly entries = new Map<string, Entry>();
  private connection: TorControlConnection | undefined;
  private tor: TorIdentity | undefined;
  private bootstrapped = false;
  private readonly listeners = new Set<(domain: string, state: OnionState, error?: string) => void>();
  private readonly uploadTimeoutMs: number;
  private readonly retryMinMs: number;
  private readonly retryMaxMs: number;

  constructor(
    private readonly log: Logger,
    opts: OnionServicesOptions = {},
  ) {
    this.uploadTimeoutMs = opts.uploadTimeoutMs ?? 120_000;
    this.retryMinMs = opts.retryMinMs ?? 10_000;
    this.retryMaxMs = opts.retryMaxMs ?? 600_000;
  }

  onChange(fn: (domain: string, state: OnionState, error?: string) => void): () => void {
    this.listeners.add(fn);
    return () => this.listeners.delete(fn);
  }

  state(domain: string): { state: OnionState; error?: string } | undefined {
    const e = this.entries.get(domain);
    return e && { state: e.state, error: e.error };
  }

  /** Serve this account as an onion from now on (and after every reconnect). */
  publish(account: OnionAccount): void {
    const entry: Entry = { account, state: "pending", failures: [], attempts: 0, up: false };
    this.entries.set(account.domain, entry);
    if (this.connection && this.tor) void this.add(this.connection, this.tor, entry);
  }

  async unpublish(domain: string): Promise<void> {
    const entry = this.entries.get(domain);
    this.entries.delete(domain);
    if (!entry) return;
    this.clearTimers(entry);
    // "adding": the ADD_ONION in flight sees the entry gone and removes the service itself.
    if (!this.connection || !entry.up) return;
    try {
      await this.connection.delOnion(serviceId(domain));
      this.log.info("onion service removed", { onion: domain });
    } catch (err) {
      this.log.warn("could not remove an onion service", { onion: domain, error: (err as Error).message });
    }
  }

  /** A (new) authenticated control connection to a trusted tor: every account's service goes (back) up. */
  async attach(connection: TorControlConnection, tor: TorIdentity): Promise<void> {
    this.connection = connection;
    this.tor = tor;
    await Promise.all([...this.entries.values()].map((e) => this.add(connection, tor, e)));
  }

  /** The control connection is gone, and the services tor held for it with it. */
  detach(): void {
    this.connection = undefined;
    this.bootstrapped = false;
    for (const e of this.entries.values()) {
      this.clearTimers(e);
      e.attempts = 0;
      e.up = false;
      this.set(e, "pending");
    }
  }

  /** Tor reached (or left) 100%: the upload clock of every onion waiting for it starts (or stops). */
  setBootstrapped(done: boolean): void {
    if (done === this.bootstrapped) return;
    this.bootstrapped = done;
    for (const e of this.entries.values()) {
      if (e.state !== "uploading") continue;
      if (done) this.armUploadTimer(e);
      else if (e.uploadTimer) {
        clearTimeout(e.uploadTimer);
        e.uploadTimer = undefined;
      }
    }
  }

  onEvent(event: TorReply): void {
    const hs = parseHsDesc(event);
    if (!hs) return;
    const entry = this.entries.get(`${hs.address}.onion`);
    if (!entry || entry.state === "pending" || entry.state === "adding") return;
    if (hs.action === "FAILED") {
      entry.failures.push(hs.reason ?? "no reason given");
      this.log.debug("an onion descriptor upload failed (others may succeed)", { onion: entry.account.domain, reason: hs.reason });
    } else if (hs.action === "UPLOADED" && entry.state !== "published") {
      this.clearTimers(entry);
      entry.attempts = 0;
      this.set(entry, "published");
      this.log.info("onion service published", { onion: entry.account.domain });
    }
  }

  private async add(connection: TorControlConnection, tor: TorIdentity, entry: Entry): Promise<void> {
    this.clearTimers(entry);
    this.set(entry, "adding");
    entry.failures = [];
    try {
      const target = await entry.account.target(tor);
      const key = expandedSecretKey(entry.account.seed).toString("base64");
      const { serviceId: id } = await this.addWithDefenses(connection, key, target);
      // tor derives the address from the key we gave; it must be the one we computed.
      if (`${id}.onion` !== entry.account.domain) throw new Error(`tor derived ${id}.onion from the key of ${entry.account.domain}`);
      entry.up = true;
      if (this.entries.get(entry.account.domain) !== entry) {
        await connection.delOnion(id); // removed while we were adding it
        return;
      }
      if (entry.state === "adding") this.set(entry, "uploading");
      if (this.bootstrapped) this.armUploadTimer(entry);
      this.log.info("onion service added; waiting for its descriptor upload", { onion: entry.account.domain });
    } catch (err) {
      // The connection went away (attach() will retry), or the account did (nothing to report).
      if (this.connection !== connection || this.entries.get(entry.account.domain) !== entry) return;
      this.fail(entry, (err as Error).message);
    }
  }

  /**
   * ADD_ONION with MaxStreams (a client's circuit carries at most a few s2s connections) and
   * tor's proof-of-work defense against introduction floods, where this tor has it (the "pow"
   * module; tor 0.4.8+). A tor that refuses the PoW keywords gets the service without them.
   */
  private async addWithDefenses(connection: TorControlConnection, key: string, target: string): Promise<{ serviceId: string }> {
    const ports = [{ virtPort: S2S_VIRTUAL_PORT, target }];
    const limits = { maxStreams: ONION_MAX_STREAMS, maxStreamsCloseCircuit: true };
    if (this.powRefused) return connection.addOnion({ ed25519V3: key }, ports, [], limits);
    try {
      return await connection.addOnion({ ed25519V3: key }, ports, [], { ...limits, pow: {} });
    } catch (err) {
      if (!/pow/i.test((err as Error).message)) throw err;
      this.powRefused = true;
      this.log.warn("this tor has no proof-of-work defense for onion services; adding them without it", { reason: (err as Error).message });
      return connection.addOnion({ ed25519V3: key }, ports, [], limits);
    }
  }

  private armUploadTimer(entry: Entry): void {
    if (entry.uploadTimer) clearTimeout(entry.uploadTimer);
    entry.uploadTimer = setTimeout(() => {
      entry.uploadTimer = undefined;
      if (this.entries.get(entry.account.domain) !== entry || entry.state !== "uploading") return;
      const seconds = Math.round(this.uploadTimeoutMs / 1000);
      const why = entry.failures.length
        ? `tor's reason: ${[...new Set(entry.failures)].join(", ")}`
        : "tor reported no upload at all";
      this.fail(entry, `the onion's descriptor was not uploaded within ${seconds} s of tor being ready (${why})`);
    }, this.uploadTimeoutMs);
  }

  /** Report the failure, then take the service down (if it is up) and add it again after a pause. */
  private fail(entry: Entry, error: string): void {
    entry.error = error;
    this.set(entry, "failed");
    const delay = Math.min(this.retryMaxMs, this.retryMinMs * 2 ** Math.min(entry.attempts, 20));
    entry.attempts++;
    this.log.error("onion service failed; adding it again later", { onion: entry.account.domain, error, retryInMs: delay });
    entry.retryTimer = setTimeout(() => {
      entry.retryTimer = undefined;
      const connection = this.connection;
      const tor = this.tor;
      if (!connection || !tor || this.entries.get(entry.account.domain) !== entry || entry.state !== "failed") return;
      void (async () => {
        if (entry.up) await connection.delOnion(serviceId(entry.account.domain)).catch(() => undefined);
        entry.up = false;
        await this.add(connection, tor, entry);
      })();
    }, delay);
  }

  private clearTimers(entry: Entry): void {
    for (const t of [entry.uploadTimer, entry.retryTimer]) if (t) clearTimeout(t);
    entry.uploadTimer = undefined;
    entry.retryTimer = undefined;
  }

  /** Stop every timer (the daemon is stopping). */
  close(): void {
    for (const e of this.entries.values()) this.clearTimers(e);
  }

  private set(entry: Entry, state: OnionState): void {
    if (entry.state === state) return;
    entry.state = state;
    if (state !== "failed") entry.error = undefined;
    for (const fn of this.listeners) fn(entry.account.domain, state, entry.error);
  }
}

function serviceId(domain: string): string {
  return domain.replace(/\.onion$/, "");
}
