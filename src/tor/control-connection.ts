// One connection to Tor's control port (TCP or Unix socket), control protocol version 1.
// https://spec.torproject.org/control-spec/ (control-spec.txt)
//
// Tor answers commands strictly in the order it received them (control-spec 1), so replies
// are matched to commands first-in first-out; asynchronous 650 events can arrive between
// replies (never inside one, section 4.1) and go to event subscribers instead. A command
// that times out closes the connection: its late reply would be taken as the answer to the
// next command.
//
// Secrets (passwords, cookies, onion keys) travel in command lines, so errors name only a
// command's keyword, never its arguments.
import { connect as netConnect, type Socket } from "node:net";
import {
  ControlProtocolError,
  ReplyParser,
  TorControlError,
  parseKeywords,
  quoteString,
  replyMessage,
  type TorReply,
} from "./control-reply.js";
import { TorAuthError, authenticateConnection, type AuthChoice, type AuthMethod, type ProtocolInfo } from "./control-auth.js";

export type ControlTarget = { host: string; port: number } | { path: string };
export type { AuthChoice, AuthMethod, ProtocolInfo };

/** The connection was closed (by Tor, by us, or because it broke) before a reply came. */
export class TorControlClosedError extends Error {
  constructor(message: string) {
    super(message);
    this.name = "TorControlClosedError";
  }
}

/** "127.0.0.1:9051" or "unix:/run/tor/control", for messages and logs. */
export function describeTarget(target: ControlTarget): string {
  return "path" in target ? `unix:${target.path}` : `${target.host}:${target.port}`;
}

export interface CommandOptions {
  /** Default: the connection's commandTimeoutMs (30 s). 0 waits forever. */
  timeoutMs?: number;
}

export interface ConnectOptions {
  /** How long to wait for the socket to connect. Default 10 s. */
  timeoutMs?: number;
  /** Default timeout of each command. Default 30 s. */
  commandTimeoutMs?: number;
}

export interface OnionPort {
  virtPort: number;
  /** "unix:/path/to/socket" or "127.0.0.1:port" (HiddenServicePort TARGET syntax). */
  target: string;
}

export type OnionKey = { ed25519V3: string } | "NEW";

interface Pending {
  keyword: string;
  resolve: (reply: TorReply) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_COMMAND_TIMEOUT_MS = 30_000;
const SERVICE_ID = /^[a-z2-7]{56}$/;

export class TorControlConnection {
  /** Resolves once the connection is closed: with the reason, or undefined after close(). */
  readonly closed: Promise<Error | undefined>;
  private resolveClosed!: (err: Error | undefined) => void;
  private closeReason: Error | undefined;
  private isClosed = false;
  private readonly parser = new ReplyParser();
  private readonly pending: Pending[] = [];
  private readonly eventListeners = new Set<(event: TorReply) => void>();
  private protocolInfoPromise: Promise<ProtocolInfo> | undefined;

  private constructor(
    private readonly socket: Socket,
    readonly target: ControlTarget,
    private readonly commandTimeoutMs: number,
  ) {
    this.closed = new Promise((resolve) => (this.resolveClosed = resolve));
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.finish(new TorControlClosedError(`tor control connection ${describeTarget(target)} failed: ${errText(err)}`)));
    socket.on("close", () => this.finish(new TorControlClosedError(`tor closed the control connection ${describeTarget(target)}`)));
  }

  static connect(target: ControlTarget, opts: ConnectOptions = {}): Promise<TorControlConnection> {
    const timeoutMs = opts.timeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS;
    const where = describeTarget(target);
    return new Promise((resolve, reject) => {
      const socket = "path" in target ? netConnect({ path: target.path }) : netConnect({ host: target.host, port: target.port });
      const timer = setTimeout(() => {
        socket.destroy();
        reject(new TorControlClosedError(`cannot connect to tor's control port ${where}: no answer within ${timeoutMs} ms`));
      }, timeoutMs);
      socket.once("error", (err) => {
        clearTimeout(timer);
        reject(new TorControlClosedError(`cannot connect to tor's control port ${where}: ${errText(err)}${connectHint(err)}`));
      });
      socket.once("connect", () => {
        clearTimeout(timer);
        socket.removeAllListeners("error");
        socket.setNoDelay(true);
        resolve(new TorControlConnection(socket, target, opts.commandTimeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS));
      });
    });
  }

  /**
   * Send one command line and wait for its reply. Resolves for 2xx replies, rejects with
   * TorControlError for 4xx/5xx, with TorControlClosedError if the connection closes first.
   */
  command(line: string, opts: CommandOptions = {}): Promise<TorReply> {
    if (/[\r\n\0]/.test(line)) {
      return Promise.reject(new TypeError("a tor control command must be one line without CR, LF or NUL"));
    }
    const keyword = line.split(" ", 1)[0] || "(empty)";
    if (this.isClosed) {
      return Promise.reject(new TorControlClosedError(`cannot send ${keyword}: ${this.closeReason?.message ?? "the control connection is closed"}`));
    }
    const timeoutMs = opts.timeoutMs ?? this.commandTimeoutMs;
    return new Promise((resolve, reject) => {
      const entry: Pending = { keyword, resolve, reject, timer: undefined };
      if (timeoutMs > 0) {
        entry.timer = setTimeout(() => {
          // A late reply would be matched to the next command: the stream is no longer usable.
          this.finish(new TorControlClosedError(`tor did not answer ${keyword} within ${timeoutMs} ms; control connection closed`));
        }, timeoutMs);
      }
      this.pending.push(entry);
      this.socket.write(`${line}\r\n`);
    });
  }

  /** PROTOCOLINFO (control-spec 3.21); Tor allows it once before authenticating, so it is cached. */
  protocolInfo(): Promise<ProtocolInfo> {
    this.protocolInfoPromise ??= this.command("PROTOCOLINFO 1").then(parseProtocolInfo);
    return this.protocolInfoPromise;
  }

  /** Authenticate with the chosen method (tor-trust.ts decides which); returns it. */
  authenticate(choice: AuthChoice): Promise<AuthMethod> {
    return authenticateConnection(this, choice);
  }

  /** GETINFO (control-spec 3.9): `250-key=value` lines and `250+key=` data blocks. */
  async getInfo(...keys: string[]): Promise<Record<string, string>> {
    if (keys.length === 0) throw new TypeError("getInfo needs at least one key");
    for (const key of keys) {
      if (!/^[^\s"]+$/.test(key)) throw new TypeError(`invalid GETINFO key ${JSON.stringify(key)}`);
    }
    const reply = await this.command(`GETINFO ${keys.join(" ")}`);
    const out: Record<string, string> = {};
    for (const line of reply.lines) {
      if (line.separator === " ") continue; // the final "250 OK"
      const eq = line.text.indexOf("=");
      if (eq <= 0) continue;
      const key = line.text.slice(0, eq);
      out[key] = line.data !== undefined ? line.data : line.text.slice(eq + 1);
    }
    for (const key of keys) {
      if (!(key in out)) throw new ControlProtocolError(`tor's GETINFO reply has no value for ${key}`);
    }
    return out;
  }

  /** SETEVENTS (control-spec 3.4): replaces the set of events this connection receives. */
  async setEvents(events: string[]): Promise<void> {
    for (const e of events) {
      if (!/^[A-Za-z_]+$/.test(e)) throw new TypeError(`invalid tor event name ${JSON.stringify(e)}`);
    }
    await this.command(events.length ? `SETEVENTS ${events.join(" ")}` : "SETEVENTS");
  }

  /** Subscribe to asynchronous (6xx) replies; returns the unsubscribe function. */
  onEvent(fn: (event: TorReply) => void): () => void {
    this.eventListeners.add(fn);
    return () => this.eventListeners.delete(fn);
  }

  /**
   * ADD_ONION (control-spec 3.27). Without the "Detach" flag the service lives only as long as
   * this connection (and only this connection can DEL_ONION it). `privateKey` is returned as
   * "ED25519-V3:<base64>" when tor generated the key (NEW) and DiscardPK was not given.
   */
  async addOnion(key: OnionKey, ports: OnionPort[], flags: string[] = [], limits: OnionLimits = {}): Promise<{ serviceId: string; privateKey?: string }> {
    let keyArg: string;
    if (key === "NEW") keyArg = "NEW:ED25519-V3";
    else {
      const blob = key.ed25519V3;
      if (!/^[A-Za-z0-9+/]+={0,2}$/.test(blob) || Buffer.from(blob, "base64").length !== 64) {
        throw new TypeError("ed25519V3 must be the base64 of a 64-byte expanded ed25519 secret key");
      }
      keyArg = `ED25519-V3:${blob}`;
    }
    if (ports.length === 0) throw new TypeError("an onion service needs at least one port");
    const parts = [`ADD_ONION ${keyArg}`];
    if (limits.maxStreamsCloseCircuit) flags = [...flags, "MaxStreamsCloseCircuit"];
    if (flags.length) {
      for (const f of flags) if (!/^[A-Za-z]+$/.test(f)) throw new TypeError(`invalid ADD_ONION flag ${JSON.stringify(f)}`);
      parts.push(`Flags=${flags.join(",")}`);
    }
    parts.push(...onionLimitArgs(limits));
    for (const p of ports) {
      if (!Number.isInteger(p.virtPort) || p.virtPort < 1 || p.virtPort > 65535) {
        throw new TypeError(`invalid onion virtual port ${p.virtPort}`);
      }
      // Tor's ADD_ONION argument parser has no way to quote a target (checked with tor 0.4.9:
      // Port="80,unix:\"/a b\"" is refused), so a path with spaces cannot be used at all.
      if (!/^[^\s",\\]+$/.test(p.target)) {
        throw new TypeError(`onion port target ${JSON.stringify(p.target)} must not contain spaces, quotes, commas or backslashes`);
      }
      parts.push(`Port=${p.virtPort},${p.target}`);
    }
    const reply = await this.command(parts.join(" "));
    const kv: Record<string, string> = {};
    for (const line of reply.lines) Object.assign(kv, parseKeywords(line.text));
    const serviceId = kv["ServiceID"];
    if (!serviceId) throw new ControlProtocolError(`tor's ADD_ONION reply has no ServiceID (${replyMessage(reply)})`);
    return kv["PrivateKey"] !== undefined ? { serviceId, privateKey: kv["PrivateKey"] } : { serviceId };
  }

  /** DEL_ONION (control-spec 3.28); accepts the service id with or without ".onion". */
  async delOnion(serviceId: string): Promise<void> {
    const id = serviceId.replace(/\.onion$/, "");
    if (!SERVICE_ID.test(id)) throw new TypeError(`not a v3 onion service id: ${JSON.stringify(serviceId)}`);
    await this.command(`DEL_ONION ${id}`);
  }

  /** Close the connection; pending commands are rejected. Idempotent. */
  close(): void {
    this.finish(undefined);
  }

  /** Both ends of the underlying socket (TCP), for checking who is at the other end. */
  get socketEnds(): { localAddress?: string; localPort?: number; remoteAddress?: string; remotePort?: number } {
    const { localAddress, localPort, remoteAddress, remotePort } = this.socket;
    return { localAddress, localPort, remoteAddress, remotePort };
  }

  get isOpen(): boolean {
    return !this.isClosed;
  }

  private onData(chunk: Buffer): void {
    let replies: TorReply[];
    let failure: ControlProtocolError | undefined;
    try {
      replies = this.parser.push(chunk);
    } catch (err) {
      failure = err instanceof ControlProtocolError ? err : new ControlProtocolError(String(err));
      replies = failure.replies;
    }
    for (const reply of replies) {
      if (this.isClosed) return;
      this.dispatch(reply);
    }
    if (failure) this.finish(failure);
  }

  private dispatch(reply: TorReply): void {
    if (reply.status >= 600 && reply.status < 700) {
      for (const fn of [...this.eventListeners]) {
        try {
          fn(reply);
        } catch {
          // A subscriber's bug must not break the connection for everyone else.
        }
      }
      return;
    }
    const entry = this.pending.shift();
    if (!entry) {
      this.finish(new ControlProtocolError(`tor sent a reply nobody asked for: ${replyMessage(reply)}`));
      return;
    }
    if (entry.timer) clearTimeout(entry.timer);
    if (reply.status >= 200 && reply.status < 300) entry.resolve(reply);
    else entry.reject(new TorControlError(reply.status, `tor refused ${entry.keyword}: ${replyMessage(reply)}`, reply));
  }

  private finish(reason: Error | undefined): void {
    if (this.isClosed) return;
    this.isClosed = true;
    this.closeReason = reason;
    this.socket.destroy();
    const err = reason ?? new TorControlClosedError("the tor control connection was closed");
    for (const entry of this.pending.splice(0)) {
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(err);
    }
    this.eventListeners.clear();
    this.resolveClosed(reason);
  }
}

function parseProtocolInfo(reply: TorReply): ProtocolInfo {
  const info: ProtocolInfo = { methods: [] };
  for (const line of reply.lines) {
    const [word, rest = ""] = splitFirst(line.text);
    const kv = parseKeywords(rest);
    if (word === "AUTH") {
      info.methods = (kv["METHODS"] ?? "").split(",").filter(Boolean);
      if (kv["COOKIEFILE"] !== undefined) info.cookieFile = kv["COOKIEFILE"];
    } else if (word === "VERSION" && kv["Tor"] !== undefined) {
      info.torVersion = kv["Tor"];
    }
  }
  return info;
}

function splitFirst(text: string): [string, string?] {
  const sp = text.indexOf(" ");
  return sp === -1 ? [text] : [text.slice(0, sp), text.slice(sp + 1)];
}

/** The errno code alone when there is one: node's messages repeat the address we already name. */
function errText(err: Error): string {
  return (err as NodeJS.ErrnoException).code ?? err.message;
}

function connectHint(err: Error): string {
  switch ((err as NodeJS.ErrnoException).code) {
    case "ECONNREFUSED":
      return " (is tor running with a ControlPort?)";
    case "ENOENT":
      return " (no such socket: is tor running with this ControlSocket?)";
    case "EACCES":
      return " (no permission to open the control socket)";
    default:
      return "";
  }
}

// Re-exported so callers need one import for the control client.
export { TorControlError, ControlProtocolError, TorAuthError, quoteString };
export type { TorReply };

/**
 * ADD_ONION's defenses (control-spec 3.27): MaxStreams caps the streams one rendezvous circuit
 * may open; the proof-of-work keywords (tor 0.4.8+, builds with "pow: yes" in --list-modules)
 * make clients pay for introductions when the service is flooded.
 */
export interface OnionLimits {
  maxStreams?: number;
  /** Close the whole circuit of a client that exceeds maxStreams. */
  maxStreamsCloseCircuit?: boolean;
  pow?: { queueRate?: number; queueBurst?: number };
}

function onionLimitArgs(limits: OnionLimits): string[] {
  const out: string[] = [];
  const int = (name: string, v: number, max: number) => {
    if (!Number.isInteger(v) || v < 0 || v > max) throw new TypeError(`invalid ADD_ONION ${name} ${v}`);
    return `${name}=${v}`;
  };
  if (limits.maxStreams !== undefined) out.push(int("MaxStreams", limits.maxStreams, 65535));
  if (limits.pow) {
    out.push("PoWDefensesEnabled=1");
    if (limits.pow.queueRate !== undefined) out.push(int("PoWQueueRate", limits.pow.queueRate, 2 ** 31 - 1));
    if (limits.pow.queueBurst !== undefined) out.push(int("PoWQueueBurst", limits.pow.queueBurst, 2 ** 31 - 1));
  }
  return out;
}
