// The daemon's Tor: launched by us or attached to, kept connected, its
// bootstrap progress and SOCKS port known, the accounts' onions kept up.
import path from "node:path";
import type { Logger } from "../daemon/logger.js";
import type { ControlTarget, AuthOptions, TorControlConnection } from "./control-connection.js";
import { TorControlSupervisor } from "./control-supervisor.js";
import type { TorReply } from "./control-reply.js";
import { TorLauncher } from "./launcher.js";
import { OnionServices } from "./onion-services.js";
import { parseBootstrap } from "./tor-events.js";

export type TorMode = "none" | "launch" | "attach";

export interface TorServiceOptions {
  mode: "launch" | "attach";
  dataDir: string;
  log: Logger;
  /** attach: where the running tor's control port or socket is. */
  control?: ControlTarget;
  /** attach: its SOCKS listener, when GETINFO should not be asked. */
  socks?: { host: string; port: number };
  auth?: AuthOptions;
  /** launch: extra torrc lines (private test networks). */
  extraTorrc?: string[];
  /** launch: the tor program. */
  binary?: string;
}

export type TorState = "starting" | "bootstrapping" | "ready" | "disconnected" | "failed";

export interface TorStatus {
  mode: TorMode;
  state: TorState;
  bootstrap: { progress: number; summary: string; warning?: string };
  socks?: { host: string; port: number };
  pid?: number;
  error?: string;
}

export class TorService {
  readonly onions: OnionServices;
  private readonly launcher: TorLauncher | undefined;
  private readonly supervisor: TorControlSupervisor;
  private state: TorState = "starting";
  private error: string | undefined;
  private bootstrap = { progress: 0, summary: "starting" } as TorStatus["bootstrap"];
  private socksEndpoint: { host: string; port: number } | undefined;
  private readonly changeListeners = new Set<(s: TorStatus) => void>();
  private lastLoggedProgress = -1;

  constructor(private readonly opts: TorServiceOptions) {
    const log = opts.log;
    this.onions = new OnionServices(log.child("onion"));
    this.socksEndpoint = opts.socks;
    if (opts.mode === "launch") {
      this.launcher = new TorLauncher({ torDir: path.join(opts.dataDir, "tor"), extraTorrc: opts.extraTorrc, binary: opts.binary, log });
      this.launcher.onExit(() => {
        this.onions.detach();
        this.setState("disconnected", "tor exited; restarting it");
      });
    } else if (!opts.control) {
      throw new Error("--tor attach needs --tor-control HOST:PORT or unix:PATH");
    }
    this.supervisor = new TorControlSupervisor({
      target: () => (this.launcher ? this.launcher.ensureRunning() : opts.control!),
      auth: opts.auth,
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
    await this.supervisor.stop();
    await this.launcher?.stop();
  }

  /** Where outbound streams go; undefined until tor told us. */
  socks(): { host: string; port: number } | undefined {
    return this.socksEndpoint;
  }

  status(): TorStatus {
    return { mode: this.opts.mode, state: this.state, bootstrap: { ...this.bootstrap }, socks: this.socksEndpoint, pid: this.launcher?.pid, error: this.error };
  }

  onChange(fn: (s: TorStatus) => void): () => void {
    this.changeListeners.add(fn);
    return () => this.changeListeners.delete(fn);
  }

  private async onConnected(c: TorControlConnection): Promise<void> {
    if (!this.opts.socks) this.socksEndpoint = await discoverSocks(c);
    const info = await c.getInfo("status/bootstrap-phase");
    this.applyBootstrap(parseBootstrap(info["status/bootstrap-phase"] ?? ""));
    if (this.state !== "ready") this.setState("bootstrapping");
    await this.onions.attach(c);
  }

  private onEvent(e: TorReply): void {
    this.applyBootstrap(parseBootstrap(e));
    this.onions.onEvent(e);
  }

  private applyBootstrap(b: ReturnType<typeof parseBootstrap>): void {
    if (!b) return;
    this.bootstrap = { progress: b.progress, summary: b.summary, warning: b.warning };
    // Progress for a long wait, without flooding the log.
    if (b.progress !== this.lastLoggedProgress) {
      this.lastLoggedProgress = b.progress;
      this.opts.log.info("tor bootstrap", { progress: `${b.progress}%`, summary: b.summary });
    }
    if (b.warning) this.opts.log.warn("tor bootstrap problem", { warning: b.warning });
    this.setState(b.progress >= 100 ? "ready" : "bootstrapping");
  }

  private setState(state: TorState, error?: string): void {
    const changed = state !== this.state || error !== this.error;
    this.state = state;
    this.error = error;
    if (changed) for (const fn of this.changeListeners) fn(this.status());
  }
}

/** GETINFO net/listeners/socks answers e.g. "127.0.0.1:9050" (quoted, space separated). */
async function discoverSocks(c: TorControlConnection): Promise<{ host: string; port: number }> {
  const raw = (await c.getInfo("net/listeners/socks"))["net/listeners/socks"] ?? "";
  for (const item of raw.split(/\s+/)) {
    const m = /^"?([0-9.]+):(\d+)"?$/.exec(item);
    if (m) return { host: m[1]!, port: Number(m[2]) };
  }
  throw new Error(`tor has no SOCKS listener on an IPv4 address (net/listeners/socks = ${raw || "nothing"}): enable SocksPort, or pass --tor-socks`);
}
