// The daemon's Tor half: tor itself (launched or attached, trusted as pinned),
// each account's onion and inbound s2s listener, and reaching peers. Loaded
// only when the daemon runs with Tor, so --tor none does not pay for it.
import { randomBytes } from "node:crypto";
import { probePeer } from "../s2s/probe.js";
import type { AccountRecord, Store } from "../store/store.js";
import { isolationCredentials } from "../tor/isolation.js";
import { S2S_VIRTUAL_PORT } from "../tor/onion-services.js";
import { dialThroughTor, TorDialError } from "../tor/socks-dialer.js";
import { settingsPinStore } from "../tor/tor-pin.js";
import { TorService, pinInfo } from "../tor/tor-service.js";
import type { Socket } from "node:net";
import { AccountOnions, type InboundS2sAcceptor } from "./account-onions.js";
import { ControlError, ERROR_CODES, EVENTS, type TorReachResult, type TorRepinResult, type TorStatus } from "./control-protocol.js";
import type { DaemonOptions } from "./daemon.js";
import type { Logger } from "./logger.js";

const REACH_TIMEOUT_MS = 60_000;

export class DaemonTor {
  readonly service: TorService;
  readonly onions: AccountOnions;
  /** Keys the per-account SOCKS credentials; new each run, only tor sees them. */
  private readonly isolationSecret = randomBytes(32);

  constructor(o: DaemonOptions & { tor: "launch" | "attach" }, store: Store, log: Logger, broadcast: (event: string, data: unknown) => void) {
    this.service = new TorService({
      mode: o.tor,
      dataDir: o.dataDir,
      log: log.child("tor"),
      control: o.torControl,
      socks: o.torSocks,
      auth: o.torAuth,
      torUid: o.torUid,
      // What was pinned survives restarts: the daemon's settings.
      pins: settingsPinStore(store.settings),
      extraTorrc: o.torExtraTorrc,
    });
    this.onions = new AccountOnions(this.service, o.dataDir, log);
    // The plugin shows Tor's progress and each onion's state as they change.
    this.service.onChange((status) => broadcast(EVENTS.TOR_CHANGED, status));
    this.service.onions.onChange((onion, state, error) => broadcast(EVENTS.ONION_CHANGED, error ? { onion, state, error } : { onion, state }));
  }

  start(): Promise<void> {
    return this.service.start();
  }

  async stop(): Promise<void> {
    await this.service.stop();
    await this.onions.close();
  }

  status(): TorStatus {
    return this.service.status();
  }

  /** tor.repin: forget the pinned tor, connect again and pin what answers now. */
  async repin(): Promise<TorRepinResult> {
    const r = await this.service.repin();
    const out: TorRepinResult = { state: r.state };
    if (r.previous) out.previous = pinInfo(r.previous);
    if (r.pin) out.pin = pinInfo(r.pin);
    if (r.error) out.error = r.error;
    return out;
  }

  /** Inbound server sockets of every onion go to `s2s` (S2sManager); call before accounts start. */
  attachS2s(s2s: InboundS2sAcceptor): void {
    this.onions.s2s = s2s;
  }

  /**
   * S2sManager's `dial`: a socket from our onion `local` to `remote`'s s2s port through tor, on the
   * account's own circuits (isolation.ts). Rejects with a TorDialError whose message is tor's reason.
   */
  s2sDialer(timeoutMs: number): (local: string, remote: string) => Promise<Socket> {
    return async (local, remote) => {
      const socks = this.service.socks();
      if ("unavailable" in socks) throw new TorDialError("tor-unreachable", socks.unavailable);
      const credentials = isolationCredentials(local, this.isolationSecret);
      return dialThroughTor(remote, S2S_VIRTUAL_PORT, { socks: socks.endpoint, verifyProxy: socks.verify, credentials, timeoutMs });
    };
  }

  /** Open a server-to-server stream from `account` to `onion` through Tor, with the account's own circuits. */
  async reach(account: AccountRecord, onion: string): Promise<TorReachResult> {
    const socks = this.service.socks();
    if ("unavailable" in socks) throw new ControlError(ERROR_CODES.TOR_UNAVAILABLE, socks.unavailable);
    const credentials = isolationCredentials(account.domain, this.isolationSecret);
    try {
      const dial = () => dialThroughTor(onion, S2S_VIRTUAL_PORT, { socks: socks.endpoint, verifyProxy: socks.verify, credentials, timeoutMs: REACH_TIMEOUT_MS });
      const r = await probePeer(dial, account.domain, onion, REACH_TIMEOUT_MS);
      return { from: account.jid, onion, ms: r.ms, answer: r.answer };
    } catch (err) {
      throw new ControlError(ERROR_CODES.UNREACHABLE, (err as Error).message);
    }
  }
}
