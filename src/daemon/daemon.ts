// The daemon: one per OS user and data dir. Owns the store, the account
// servers and the control socket; runs until SIGINT/SIGTERM or "shutdown".
import { XmppServer } from "../server/xmpp-server.js";
import { openStore, type Store } from "../store/store.js";
import { mergeLimits, type LimitOverrides } from "../server/limits.js";
import { AccountService } from "./accounts.js";
import { ControlServer } from "./control-server.js";
import { ControlError, ERROR_CODES, EVENTS, OPS, requireStringArg, type StatusResult, type TorMode, type TorReachResult } from "./control-protocol.js";
import type { DaemonTor } from "./daemon-tor.js";
import { createLogger, type LogLevel, type Logger } from "./logger.js";
import { controlSocketPath, ensureDataDir } from "./paths.js";

export interface DaemonOptions {
  dataDir: string;
  tor: TorMode;
  /** attach: tor's control port or socket. */
  torControl?: { host: string; port: number } | { path: string };
  /** attach: tor's SOCKS port, when not asked from tor itself. */
  torSocks?: { host: string; port: number };
  /** HASHEDPASSWORD authentication to an attached tor. */
  torPassword?: string;
  /** launch: extra torrc lines (private test networks). */
  torExtraTorrc?: string[];
  c2sPort?: number;
  logLevel: LogLevel;
  /** Where log lines go (default: stderr). */
  logStream?: NodeJS.WritableStream;
  /** Tests shrink limits to exercise them; users get the defaults. */
  limits?: LimitOverrides;
}

const C2S_PORT_SETTING = "c2s.port";

export class Daemon {
  private store: Store | undefined;
  private server: XmppServer | undefined;
  private control: ControlServer | undefined;
  private tor: DaemonTor | undefined;
  private port = 0;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  private resolveStopped!: () => void;
  /** Resolves once the daemon has fully stopped. */
  readonly stopped = new Promise<void>((resolve) => (this.resolveStopped = resolve));
  readonly log: Logger;

  constructor(private readonly opts: DaemonOptions) {
    this.log = createLogger({ level: opts.logLevel, component: "daemon", stream: opts.logStream });
  }

  async start(): Promise<void> {
    const { dataDir } = this.opts;
    ensureDataDir(dataDir);
    let accounts: AccountService | undefined;
    // The control socket first: it is what tells us another daemon already owns this data dir.
    this.control = new ControlServer({
      socketPath: controlSocketPath(dataDir),
      log: this.log.child("control"),
      handlers: {
        [OPS.STATUS]: () => this.status(),
        [OPS.ACCOUNT_ADD]: (args) => accounts!.add(args),
        [OPS.ACCOUNT_LIST]: () => accounts!.list(),
        [OPS.ACCOUNT_REMOVE]: (args) => accounts!.remove(args),
        [OPS.ACCOUNT_RESET_PASSWORD]: (args) => accounts!.resetPassword(args),
        [OPS.TOR_REACH]: (args) => this.reach(accounts!, args),
        [OPS.SHUTDOWN]: () => {
          setImmediate(() => void this.stop("shutdown requested"));
          return {};
        },
      },
    });
    await this.control.listen();
    try {
      const limits = mergeLimits(this.opts.limits);
      this.store = openStore(dataDir, { maxOfflinePerAccount: limits.maxOfflineMessages });
      this.server = new XmppServer({ store: this.store, log: this.log, limits });
      const saved = this.store.settings.get(C2S_PORT_SETTING);
      const wanted = this.opts.c2sPort ?? (saved ? Number(saved) : 0);
      this.port = await this.server.listen(wanted);
      // Pidgin keeps the port in its account settings: it must not change between runs.
      if (String(this.port) !== saved) this.store.settings.set(C2S_PORT_SETTING, String(this.port));
      if (this.opts.tor !== "none") {
        const { DaemonTor } = await import("./daemon-tor.js");
        this.tor = new DaemonTor({ ...this.opts, tor: this.opts.tor }, this.log, (event, data) => this.control?.broadcast(event, data));
      }
      accounts = new AccountService(this.store, this.server, this.tor?.onions, () => this.port, (data) => this.control?.broadcast(EVENTS.ACCOUNT_CHANGED, data), this.log.child("accounts"));
      await accounts.loadAll();
      await this.tor?.start();
    } catch (err) {
      await this.release();
      throw err;
    }
    this.log.info("purple-onion daemon ready", { dataDir, c2s: `127.0.0.1:${this.port}`, tor: this.opts.tor, accounts: this.store.accounts.list().length });
  }

  /** tor.reach: open a server-to-server stream from one of our accounts to an onion, through Tor. */
  private async reach(accounts: AccountService, args: Record<string, unknown>): Promise<TorReachResult> {
    const account = accounts.find(requireStringArg(args, "from"));
    const onion = requireStringArg(args, "onion").toLowerCase();
    if (!this.tor) throw new ControlError(ERROR_CODES.TOR_UNAVAILABLE, "this daemon runs with --tor none: restart it with --tor launch or --tor attach");
    return this.tor.reach(account, onion);
  }

  get c2sPort(): number {
    return this.port;
  }

  status(): StatusResult {
    const store = this.store!;
    return {
      pid: process.pid,
      dataDir: this.opts.dataDir,
      uptimeSeconds: Math.floor((Date.now() - this.startedAt) / 1000),
      c2s: { host: "127.0.0.1", port: this.port },
      tor: this.tor ? this.tor.status() : { mode: "none" },
      accounts: store.accounts.list().map((a) => ({
        jid: a.jid,
        host: "127.0.0.1",
        port: this.port,
        onion: a.domain,
        sessions: this.server!.sessionCount(a.domain),
        ...(this.tor ? this.tor.onions.state(a.domain) : { onionState: null, published: false }),
      })),
    };
  }

  stop(reason: string): Promise<void> {
    this.stopping ??= (async () => {
      this.log.info("stopping", { reason });
      await this.release();
      this.log.info("stopped");
      this.resolveStopped();
    })();
    return this.stopping;
  }

  private async release(): Promise<void> {
    await this.tor?.stop();
    this.tor = undefined;
    await this.server?.close();
    await this.control?.close();
    this.store?.close();
    this.server = undefined;
    this.control = undefined;
    this.store = undefined;
  }
}

/** `purple-onion serve`: runs until the daemon is stopped. `onReady` runs once it has started. */
export async function runDaemon(opts: DaemonOptions, onReady?: () => void): Promise<void> {
  const daemon = new Daemon(opts);
  await daemon.start();
  onReady?.();
  const onSignal = (signal: NodeJS.Signals) => void daemon.stop(`received ${signal}`);
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  await daemon.stopped;
  process.off("SIGINT", onSignal);
  process.off("SIGTERM", onSignal);
}
