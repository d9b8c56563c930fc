// The daemon: one per OS user and data dir. Owns the store, the account
// servers and the control socket; runs until SIGINT/SIGTERM or "shutdown".
import { randomBytes } from "node:crypto";
import { XmppServer } from "../server/xmpp-server.js";
import { openStore, type Store } from "../store/store.js";
import { mergeLimits, type LimitOverrides } from "../server/limits.js";
import { AccountService } from "./accounts.js";
import { ControlServer } from "./control-server.js";
import { ControlError, ERROR_CODES, EVENTS, OPS, requireStringArg, type StatusResult, type TorMode, type TorReachResult } from "./control-protocol.js";
import type { DaemonTor } from "./daemon-tor.js";
import type { Federation } from "../s2s/federation.js";
import type { S2sTlsPolicy } from "../s2s/tls-identities.js";
import { mergeS2sLimits, type S2sLimitOverrides } from "../server/policy-limits.js";
import { createLogger, type LogLevel, type Logger } from "./logger.js";
import { controlSocketPath, ensureDataDir } from "./paths.js";

export interface DaemonOptions {
  dataDir: string;
  tor: TorMode;
  /** attach: tor's control port or socket. */
  torControl?: { host: string; port: number } | { path: string };
  /** attach: tor's SOCKS port, when not asked from tor itself. */
  torSocks?: { host: string; port: number } | { path: string };
  /** attach: how to authenticate to tor (default SAFECOOKIE with tor's cookie file). */
  torAuth?: { method: "HASHEDPASSWORD"; password: string } | { method: "NULL" } | { method: "SAFECOOKIE"; cookieFile?: string };
  /** attach: the uid tor must run as (else learned at the first connection and pinned). */
  torUid?: number;
  /** launch: extra torrc lines (private test networks). */
  torExtraTorrc?: string[];
  c2sPort?: number;
  logLevel: LogLevel;
  /** Where log lines go (default: stderr). */
  logStream?: NodeJS.WritableStream;
  /** Tests shrink limits to exercise them; users get the defaults. */
  limits?: LimitOverrides;
  s2sLimits?: S2sLimitOverrides;
  /** STARTTLS on server streams (s2s/tls-identities.ts); default "when-required". */
  s2sTls?: S2sTlsPolicy;
}

const C2S_PORT_SETTING = "c2s.port";
const UNKNOWN_USER_SECRET_SETTING = "sasl.unknown-user-secret";
const DIALBACK_SECRET_SETTING = "s2s.dialback-secret";

/** A 32-byte secret made once and kept in the settings (the database is 0600 in the 0700 data dir). */
function persistentSecret(store: Store, key: string): Buffer {
  const saved = store.settings.get(key);
  if (saved && /^[0-9a-f]{64}$/.test(saved)) return Buffer.from(saved, "hex");
  const secret = randomBytes(32);
  store.settings.set(key, secret.toString("hex"));
  return secret;
}

export class Daemon {
  private store: Store | undefined;
  private server: XmppServer | undefined;
  private control: ControlServer | undefined;
  private tor: DaemonTor | undefined;
  private federation: Federation | undefined;
  private port = 0;
  private readonly startedAt = Date.now();
  private stopping: Promise<void> | undefined;
  /** Started and not stopping: control ops may use the store, the server and the accounts. */
  private serving = false;
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
    // The control socket answers from the start, but not before everything behind it exists.
    const started = (): AccountService => {
      if (!this.serving || !accounts) throw new ControlError(ERROR_CODES.STARTING, "the daemon is still starting: try again in a moment");
      return accounts;
    };
    // The control socket first: it is what tells us another daemon already owns this data dir.
    this.control = new ControlServer({
      socketPath: controlSocketPath(dataDir),
      log: this.log.child("control"),
      handlers: {
        [OPS.STATUS]: () => (started(), this.status()),
        [OPS.ACCOUNT_ADD]: (args) => started().add(args),
        [OPS.ACCOUNT_ENSURE]: (args) => started().ensure(args),
        [OPS.ACCOUNT_LIST]: () => started().list(),
        [OPS.ACCOUNT_REMOVE]: (args) => started().remove(args),
        [OPS.ACCOUNT_RESET_PASSWORD]: (args) => started().resetPassword(args),
        [OPS.TOR_REACH]: (args) => this.reach(started(), args),
        [OPS.TOR_REPIN]: () => {
          started();
          if (!this.tor) throw new ControlError(ERROR_CODES.TOR_UNAVAILABLE, "this daemon runs with --tor none: there is no tor to pin");
          return this.tor.repin();
        },
        [OPS.SHUTDOWN]: () => {
          setImmediate(() => void this.stop("shutdown requested"));
          return {};
        },
      },
    });
    await this.control.listen();
    try {
      const limits = mergeLimits(this.opts.limits);
      this.store = openStore(dataDir, { maxOfflinePerAccount: limits.maxOfflineMessages, maxOutboxPerPair: mergeS2sLimits(this.opts.s2sLimits).maxOutboxPerPeer });
      this.server = new XmppServer({ store: this.store, log: this.log, limits, s2sLimits: this.opts.s2sLimits, unknownUserSecret: persistentSecret(this.store, UNKNOWN_USER_SECRET_SETTING) });
      const saved = this.store.settings.get(C2S_PORT_SETTING);
      const wanted = this.opts.c2sPort ?? (saved ? Number(saved) : 0);
      this.port = await this.server.listen(wanted);
      // Pidgin keeps the port in its account settings: it must not change between runs.
      if (String(this.port) !== saved) this.store.settings.set(C2S_PORT_SETTING, String(this.port));
      if (this.opts.tor !== "none") {
        const { DaemonTor } = await import("./daemon-tor.js");
        this.tor = new DaemonTor({ ...this.opts, tor: this.opts.tor }, this.store, this.log, (event, data) => this.control?.broadcast(event, data));
        const { Federation } = await import("../s2s/federation.js");
        this.federation = new Federation({
          store: this.store,
          router: this.server.router,
          log: this.log,
          secret: persistentSecret(this.store, DIALBACK_SECRET_SETTING),
          dial: this.tor.s2sDialer(this.server.policy.s2s.connectTimeoutMs),
          limits: this.opts.s2sLimits,
          ...(this.opts.s2sTls ? { tls: this.opts.s2sTls } : {}),
        });
        // Before the accounts start: their listeners hand inbound sockets to the streams.
        this.tor.attachS2s(this.federation.manager);
        const federation = this.federation;
        let torReady = false;
        this.tor.service.onChange((status) => {
          if (status.state === "ready" && !torReady) federation.torReady();
          torReady = status.state === "ready";
        });
      }
      accounts = new AccountService(this.store, this.server, this.tor?.onions, () => this.port, (data) => this.control?.broadcast(EVENTS.ACCOUNT_CHANGED, data), this.log.child("accounts"));
      await accounts.loadAll();
      await this.tor?.start();
      this.federation?.start();
      this.serving = true;
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
        ...(this.federation ? { s2s: this.federation.status(a.domain) } : {}),
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
    this.serving = false;
    this.federation?.close();
    this.federation = undefined;
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
  // Handlers before "ready" is printed: a SIGTERM right after it must stop the daemon cleanly,
  // and one that arrives while it starts stops it as soon as it has started.
  let started = false;
  let pending: NodeJS.Signals | undefined;
  const onSignal = (signal: NodeJS.Signals) => {
    if (started) void daemon.stop(`received ${signal}`);
    else pending = signal;
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  try {
    await daemon.start();
    started = true;
    if (pending) void daemon.stop(`received ${pending}`);
    else onReady?.();
    await daemon.stopped;
  } finally {
    process.off("SIGINT", onSignal);
    process.off("SIGTERM", onSignal);
  }
}
