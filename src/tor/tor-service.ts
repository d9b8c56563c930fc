// The daemon's Tor: launched by us or attached to, trusted only as far as
// tor-trust.ts allows, kept connected, its bootstrap progress (and problems,
// in words) and SOCKS listener known, the accounts' onions kept up.
import path from "node:path";
import type { Socket } from "node:net";
import type { Logger } from "../daemon/logger.js";
import { RepeatedLog } from "../daemon/repeated-log.js";
import { describeUid } from "../net/socket-owner.js";
import { explainBootstrapProblem } from "./bootstrap-problem.js";
import { describeTarget, type ControlTarget, type TorControlConnection } from "./control-connection.js";
import { TorControlSupervisor } from "./control-supervisor.js";
import { parseQuotedList, type TorReply } from "./control-reply.js";
import { TorLauncher } from "./launcher.js";
import { OnionServices } from "./onion-services.js";
import type { SocksEndpoint } from "./socks-dialer.js";
import { parseBootstrap, type BootstrapStatus } from "./tor-events.js";
import { memoryPinStore, type PinStore, type TorPin } from "./tor-pin.js";
import { TorTrust, type TorTrustConfig } from "./tor-trust.js";

export type TorMode = "none" | "launch" | "attach";

export interface TorServiceOptions {
  mode: "launch" | "attach";
  dataDir: string;
  log: Logger;
  /** attach: where the running tor's control port or socket is. */
  control?: ControlTarget;
  /** attach: its SOCKS listener, when GETINFO should not be asked. */
  socks?: SocksEndpoint;
  /** attach: how to authenticate (default SAFECOOKIE) and, optionally, which user tor must be. */
  auth?: TorTrustConfig["auth"];
  torUid?: number;
  /** attach: where the pin is kept (the daemon's settings). */
  pins?: PinStore;
  /** launch: extra torrc lines (private test networks). */
  extraTorrc?: string[];
  /** launch: the tor program. */
  binary?: string;
}

export type TorState = "starting" | "bootstrapping" | "ready" | "disconnected" | "failed";

export interface TorStatus {
  mode: TorMode;
  state: TorState;
  bootstrap: {
    progress: number;
    summary: string;
    /** A bootstrap problem, explained (tor's own keyword in `reason`). */
    warning?: string;
    reason?: string;
    recommendation?: string;
    /** How many times tor has seen this problem. */
    count?: number;
  };
  /** "127.0.0.1:9050" or "unix:/path". */
  socks?: string;
  pid?: number;
  error?: string;
  /** What this daemon trusts as its tor (attach: pinned at the first connection). */
  pin?: { control: string; auth: string; cookieFile?: string; user: string; pinnedAt: string };
}

export class TorService {
  readonly onions: OnionServices;
  private readonly launcher: TorLauncher | undefined;
  private readonly trust: TorTrust;
  private readonly supervisor: TorControlSupervisor;
  private state: TorState = "starting";
  private error: string | undefined;
  private bootstrap: TorStatus["bootstrap"] = { progress: 0, summary: "starting" };
  private socksEndpoint: SocksEndpoint | undefined;
  /** Why there is no SOCKS endpoint, when tor has none. */
  private socksProblem: string | undefined;
  /** The uid of the tor we are connected to (known once connected). */
  private torUid: number | undefined;
  private readonly changeListeners = new Set<(s: TorStatus) => void>();
  private lastLoggedProgress = -1;
  private readonly problems: RepeatedLog;

  constructor(private readonly opts: TorServiceOptions) {
    const log = opts.log;
    this.problems = new RepeatedLog(log);
    this.onions = new OnionServices(log.child("onion"));
    this.socksEndpoint = opts.socks;
    let trustConfig: TorTrustConfig;
    let pins: PinStore;
    if (opts.mode === "launch") {
      const launcher = new TorLauncher({ torDir: path.join(opts.dataDir, "tor"), extraTorrc: opts.extraTorrc, binary: opts.binary, log });
      this.launcher = launcher;
      launcher.onExit(() => {
        this.onions.detach();
        this.setState("disconnected", "tor exited; restarting it");
      });
      // Everything about our own tor is known in advance: our uid, our sockets, our cookie.
      const p = launcher.paths;
      trustConfig = { control: { path: p.controlSocket }, auth: { method: "SAFECOOKIE", cookieFile: p.cookieFile }, torUid: process.getuid?.() };
      pins = memoryPinStore();
    } else {
      if (!opts.control) throw new Error("--tor attach needs --tor-control HOST:PORT or unix:PATH");
      trustConfig = { control: opts.control, auth: opts.auth, torUid: opts.torUid };
      pins = opts.pins ?? memoryPinStore();
    }
    this.trust = new TorTrust(trustConfig, pins, log.child("trust"));
    const where = describeTarget(trustConfig.control);
    this.supervisor = new TorControlSupervisor({
      open: async () => {
        if (this.launcher) await this.launcher.ensureRunning();
        const trusted = await this.trust.connect();
        this.torUid = trusted.torUid;
        return { conn: trusted.conn, method: trusted.method, where };
      },
      events: ["STATUS_CLIENT", "HS_DESC"],
      onReady: (c) => this.onConnected(c),
      log: log.child("control"),
    });
    this.supervisor.onEvent((e) => this.onEvent(e));
    this.supervisor.onState(({ state, error }) => {
      if (state === "disconnected") {
        this.onions.detach();
        this.setState("disconnected", error ?? "lost the control connection to tor; reconnecting");
      }
    });
  }

  get mode(): TorMode {
    return this.opts.mode;
  }

  /**
   * Launch mode starts tor here, so a missing or broken tor fails the daemon's
   * start with a clear error; later deaths are handled by restarting it.
   */
  async start(): Promise<void> {
    if (this.launcher) await this.launcher.ensureRunning();
    this.supervisor.start();
  }

  async stop(): Promise<void> {
    this.onions.close();
    await this.supervisor.stop();
    await this.launcher?.stop();
  }

  /** Forget the pinned tor and connect again, pinning what answers now. Resolves with the outcome. */
  async repin(): Promise<{ previous?: TorPin; pin?: TorPin; state: TorState; error?: string }> {
    const previous = this.trust.repin();
    let outcome = await this.supervisor.reconnectNow();
    // An attempt that started before the pin was cleared may have succeeded with the old one.
    if (outcome.state === "ready" && !this.trust.pin) outcome = await this.supervisor.reconnectNow();
    return { previous, pin: this.trust.pin, state: this.state, error: outcome.error };
  }

  /** Where outbound streams go, with the check that it is still tor's; or why there is no such place. */
  socks(): { endpoint: SocksEndpoint; verify: (socket: Socket) => string | undefined } | { unavailable: string } {
    const endpoint = this.socksEndpoint;
    const uid = this.torUid;
    if (!endpoint || uid === undefined) return { unavailable: this.socksProblem ?? "tor is not connected yet: see 'purple-onion status'" };
    return { endpoint, verify: (socket) => this.trust.socksPeerProblem(endpoint, socket, uid) };
  }

  status(): TorStatus {
    const pin = this.trust.pin;
    const s: TorStatus = {
      mode: this.opts.mode,
      state: this.state,
      bootstrap: { ...this.bootstrap },
      socks: this.socksEndpoint ? describeTarget(this.socksEndpoint) : undefined,
      pid: this.launcher?.pid,
      error: this.error,
    };
    if (pin) s.pin = pinInfo(pin);
    return s;
  }

  onChange(fn: (s: TorStatus) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  private async onConnected(c: TorControlConnection): Promise<void> {
    const torUid = this.torUid!;
    let socks: SocksEndpoint | undefined = this.opts.socks;
    if (!socks) {
      try {
        socks = await discoverSocks(c);
      } catch (err) {
        // Inbound still works (the onions); only reaching other servers needs SOCKS.
        this.socksProblem = (err as Error).message;
        this.opts.log.warn("tor has no usable SOCKS listener: other servers cannot be reached", { error: this.socksProblem });
      }
    }
    if (socks) {
      this.trust.checkSocksListener(socks, torUid);
      this.socksProblem = undefined;
    }
    this.socksEndpoint = socks;
    const info = await c.getInfo("status/bootstrap-phase");
    this.applyBootstrap(parseBootstrap(info["status/bootstrap-phase"] ?? ""));
    if (this.state !== "ready") this.setState("bootstrapping");
    await this.onions.attach(c, { uid: torUid });
  }

  private onEvent(e: TorReply): void {
    this.applyBootstrap(parseBootstrap(e));
    this.onions.onEvent(e);
  }

  private applyBootstrap(b: BootstrapStatus | undefined): void {
    if (!b) return;
    const problem = explainBootstrapProblem(b);
    this.bootstrap = { progress: b.progress, summary: b.summary };
    if (problem) Object.assign(this.bootstrap, { warning: problem, reason: b.reason, recommendation: b.recommendation, count: b.count });
    // Progress for a long wait, without flooding the log.
    if (b.progress !== this.lastLoggedProgress) {
      this.lastLoggedProgress = b.progress;
      this.opts.log.info("tor bootstrap", { progress: `${b.progress}%`, summary: b.summary });
    }
    if (problem) {
      // Tor repeats a problem every few seconds; once a minute is enough, with a count.
      this.problems.report("warn", `bootstrap:${b.reason ?? b.warning}`, problem, { progress: `${b.progress}%`, reason: b.reason, torCount: b.count });
      // Which guard or bridge this machine uses is nobody's business at the default level.
      if (b.hostAddr || b.hostId) this.opts.log.debug("tor bootstrap problem detail", { warning: b.warning, host: b.hostAddr, hostId: b.hostId });
    }
    const done = b.progress >= 100;
    this.onions.setBootstrapped(done);
    this.setState(done ? "ready" : "bootstrapping");
  }

  private setState(state: TorState, error?: string): void {
    const changed = state !== this.state || error !== this.error;
    this.state = state;
    this.error = error;
    if (changed) for (const fn of this.changeListeners) fn(this.status());
  }
}

/** A pin as status and the CLI show it: the user by name. */
export function pinInfo(pin: TorPin): NonNullable<TorStatus["pin"]> {
  const info: NonNullable<TorStatus["pin"]> = { control: pin.control, auth: pin.auth, user: describeUid(pin.uid), pinnedAt: pin.pinnedAt };
  if (pin.cookieFile !== undefined) info.cookieFile = pin.cookieFile;
  return info;
}

/**
 * GETINFO net/listeners/socks answers a quoted list ("127.0.0.1:9050" "unix:/run/tor/socks").
 * A Unix socket is preferred: nobody can take its place.
 */
export async function discoverSocks(c: TorControlConnection): Promise<SocksEndpoint> {
  const raw = (await c.getInfo("net/listeners/socks"))["net/listeners/socks"] ?? "";
  const items = parseQuotedList(raw);
  const unix = items.find((i) => i.startsWith("unix:"));
  if (unix) return { path: unix.slice(5) };
  for (const item of items) {
    const m = /^([0-9.]+):(\d+)$/.exec(item);
    if (m) return { host: m[1]!, port: Number(m[2]) };
  }
  throw new Error(`tor has no SOCKS listener on a Unix socket or an IPv4 address (net/listeners/socks = ${raw || "nothing"}): enable SocksPort, or pass --tor-socks`);
}
