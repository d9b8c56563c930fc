// The daemon's side of the control socket: accepts connections on <dataDir>/control.sock,
// reads requests line by line, runs the op handlers and writes their responses, and
// fans events out to subscribed connections. The wire format is docs/control-protocol.md.
import fs from "node:fs";
import net from "node:net";
import path from "node:path";

import { connectControl, ControlTimeoutError, DaemonNotRunningError } from "./control-client.js";
import {
  ControlError,
  decodeLine,
  encodeLine,
  ERROR_CODES,
  errorResponse,
  LineSplitter,
  MAX_LINE_BYTES,
  OPS,
  okResponse,
  parseRequest,
  PROTOCOL_VERSION,
  type ControlEvent,
  type ControlResponse,
  type HelloResult,
  type RequestId,
} from "./control-protocol.js";
import type { Logger } from "./logger.js";
import { MAX_SOCKET_PATH_BYTES } from "./paths.js";

export { ControlError } from "./control-protocol.js";

/** What a handler may know and do about the connection a request came on. */
export interface ControlConnection {
  /** Unique per server, for log lines. */
  readonly id: number;
  /** True once the client sent "subscribe". */
  readonly subscribed: boolean;
  /** Sends one event to this connection only (e.g. an initial snapshot after subscribe). */
  sendEvent(event: string, data: unknown): void;
  /** Closes the connection after the responses already queued are written. */
  close(): void;
}

/** Throw ControlError(code, message) for errors the client should see; anything else becomes "internal". */
export type ControlHandler = (args: Record<string, unknown>, conn: ControlConnection) => Promise<unknown> | unknown;

export interface ControlServerOptions {
  socketPath: string;
  /**
   * One handler per op. "hello" is answered by the server ({protocol, pid}) unless a handler is
   * given. "subscribe" always marks the connection subscribed; a handler, if given, runs after
   * that and its result is the response.
   */
  handlers: Record<string, ControlHandler>;
  log: Logger;
}

/** Another daemon answers on the socket we want: two daemons must never share a data dir. */
export class DaemonAlreadyRunningError extends Error {
  override readonly name = "DaemonAlreadyRunningError";
  constructor(
    readonly socketPath: string,
    readonly pid: number | undefined,
  ) {
    const dataDir = path.dirname(socketPath);
    const who = pid === undefined ? "another purple-onion daemon" : `another purple-onion daemon (pid ${pid})`;
    super(
      `${who} is already running for data dir ${dataDir}: use it, stop it with ` +
        `'purple-onion stop --data-dir ${dataDir}', or choose another --data-dir`,
    );
  }
}

/** A subscriber that stops reading must not make the daemon buffer without limit. */
const MAX_BUFFERED_BYTES = 1024 * 1024;
/** Requests read ahead of the one being handled before we stop reading from the socket. */
const MAX_QUEUED_REQUESTS = 32;
/** How long close() waits for connections to finish their current request. */
const CLOSE_GRACE_MS = 2000;

export class ControlServer {
  private server: net.Server | undefined;
  private readonly conns = new Set<Connection>();
  private nextConnId = 1;
  private socketIno: number | undefined;
  private closing: Promise<void> | undefined;

  constructor(private readonly opts: ControlServerOptions) {}

  get socketPath(): string {
    return this.opts.socketPath;
  }

  /**
   * Binds the socket (mode 0600). A stale socket left by a dead daemon is removed; a live one
   * throws DaemonAlreadyRunningError.
   */
  async listen(): Promise<void> {
    if (this.server) throw new Error("control server is already listening");
    const socketPath = this.opts.socketPath;
    if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
      throw new Error(
        `control socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, ` +
          `the limit for Unix sockets: choose a shorter --data-dir`,
      );
    }
    // allowHalfOpen: a client may send its requests and shut down its side at once
    // (`printf ... | socat - UNIX-CONNECT:...`); it still gets its responses.
    const server = net.createServer({ allowHalfOpen: true }, (socket) => this.accept(socket));
    await this.clearStaleSocket();
    try {
      await listenOn(server, socketPath);
    } catch (err) {
      // Another daemon may have bound the path between our check and our bind.
      if ((err as NodeJS.ErrnoException).code !== "EADDRINUSE") throw err;
      await this.clearStaleSocket();
      await listenOn(server, socketPath);
    }
    // The data dir is 0700 already; 0600 on the socket keeps it private even if it is not.
    fs.chmodSync(socketPath, 0o600);
    this.socketIno = fs.statSync(socketPath).ino;
    this.server = server;
    this.opts.log.info("control socket listening", { path: socketPath });
  }

  /** Sends an event to every subscribed connection. */
  broadcast(event: string, data: unknown): void {
    for (const conn of this.conns) {
      if (conn.subscribed) conn.sendEvent(event, data);
    }
  }

  /**
   * Stops accepting, lets each connection finish the request it is handling (so a "shutdown"
   * response reaches its client), closes all connections and removes the socket file.
   * Do not await this from inside a handler: the handler's own request would wait for itself.
   */
  close(): Promise<void> {
    this.closing ??= this.doClose();
    return this.closing;
  }

  private async doClose(): Promise<void> {
    const server = this.server;
    if (!server) return;
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const conn of this.conns) conn.close();
    let timer: NodeJS.Timeout | undefined;
    const grace = new Promise<"timeout">((resolve) => {
      timer = setTimeout(() => resolve("timeout"), CLOSE_GRACE_MS);
    });
    if ((await Promise.race([closed, grace])) === "timeout") {
      for (const conn of this.conns) conn.destroy();
      await closed;
    }
    clearTimeout(timer);
    this.removeOwnSocketFile();
    this.opts.log.info("control socket closed");
  }

  private removeOwnSocketFile(): void {
    // libuv unlinks the path on close; this covers the cases it does not, without ever
    // removing a socket that a newer daemon has bound at the same path since.
    try {
      if (fs.statSync(this.opts.socketPath).ino === this.socketIno) fs.unlinkSync(this.opts.socketPath);
    } catch {
      // ENOENT: already gone, as expected.
    }
  }

  private async clearStaleSocket(): Promise<void> {
    const socketPath = this.opts.socketPath;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return;
      throw err;
    }
    if (!st.isSocket()) {
      throw new Error(`${socketPath} exists and is not a socket: move it away so the daemon can create its control socket`);
    }
    const probe = await probeSocket(socketPath);
    if (probe.live) throw new DaemonAlreadyRunningError(socketPath, probe.pid);
    try {
      fs.unlinkSync(socketPath);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ENOENT") throw err;
    }
    this.opts.log.info("removed stale control socket left by a daemon that is gone", { path: socketPath });
  }

  private accept(socket: net.Socket): void {
    if (this.closing) {
      socket.destroy();
      return;
    }
    const conn = new Connection(this.nextConnId++, socket, this.opts.handlers, this.opts.log);
    this.conns.add(conn);
    socket.once("close", () => this.conns.delete(conn));
  }
}

function listenOn(server: net.Server, socketPath: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error) => reject(err);
    server.once("error", onError);
    server.listen(socketPath, () => {
      server.off("error", onError);
      resolve();
    });
  });
}

/** Is something answering on this socket? If it is one of us, which pid? */
async function probeSocket(socketPath: string): Promise<{ live: boolean; pid?: number }> {
  let client;
  try {
    client = await connectControl(socketPath, { timeoutMs: 1000, requestTimeoutMs: 1000 });
  } catch (err) {
    if (err instanceof DaemonNotRunningError) return { live: false };
    // Accepting but silent: refuse to delete what might be alive.
    if (err instanceof ControlTimeoutError) return { live: true };
    throw err;
  }
  try {
    const hello = await client.request<HelloResult>(OPS.HELLO, { client: "purple-onion-probe" });
    return { live: true, pid: typeof hello.pid === "number" ? hello.pid : undefined };
  } catch {
    return { live: true };
  } finally {
    client.close();
  }
}

/** One client connection: requests are handled one at a time, responses go out in request order. */
class Connection implements ControlConnection {
  private readonly splitter = new LineSplitter(MAX_LINE_BYTES);
  private readonly queue: Array<Buffer | "too-long"> = [];
  private working = false;
  private ending = false;
  private _subscribed = false;
  private readonly log: Logger;

  constructor(
    readonly id: number,
    private readonly socket: net.Socket,
    private readonly handlers: Record<string, ControlHandler>,
    log: Logger,
  ) {
    this.log = log;
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    // A client that vanishes mid-request is normal (CLI killed with ^C); nothing to report.
    socket.on("error", (err) => this.log.debug("control connection error", { conn: id, err }));
    socket.on("end", () => {
      // The client is done sending; answer what it asked, then close our side.
      this.ending = true;
      this.maybeFinish();
    });
    this.log.debug("control connection opened", { conn: id });
    socket.once("close", () => this.log.debug("control connection closed", { conn: id }));
  }

  get subscribed(): boolean {
    return this._subscribed;
  }

  sendEvent(event: string, data: unknown): void {
    const message: ControlEvent = { event, data: data ?? {} };
    this.write(message);
  }

  close(): void {
    this.ending = true;
    this.queue.length = 0;
    this.maybeFinish();
  }

  destroy(): void {
    this.socket.destroy();
  }

  private onData(chunk: Buffer): void {
    if (this.ending) return;
    const { lines, tooLong } = this.splitter.push(chunk);
    this.queue.push(...lines);
    if (tooLong) {
      // Nothing after an oversized line can be trusted to be framed right: answer what came
      // before it, then the error, then close.
      this.queue.push("too-long");
      this.ending = true;
    }
    if (this.queue.length > MAX_QUEUED_REQUESTS) this.socket.pause();
    void this.drain();
  }

  private async drain(): Promise<void> {
    if (this.working) return;
    this.working = true;
    try {
      for (let item = this.queue.shift(); item !== undefined; item = this.queue.shift()) {
        if (this.queue.length <= MAX_QUEUED_REQUESTS && this.socket.isPaused()) this.socket.resume();
        if (item === "too-long") {
          this.log.warn("control client sent an oversized line; closing its connection", { conn: this.id });
          this.write(errorResponse(null, ERROR_CODES.LINE_TOO_LONG, `line longer than ${MAX_LINE_BYTES} bytes`));
          this.queue.length = 0;
          break;
        }
        await this.handleLine(item);
      }
    } finally {
      this.working = false;
    }
    this.maybeFinish();
  }

  private maybeFinish(): void {
    if (this.ending && !this.working && this.queue.length === 0 && !this.socket.destroyed) this.socket.end();
  }

  private async handleLine(line: Buffer): Promise<void> {
    const text = decodeLine(line);
    if (text === null) {
      this.write(errorResponse(null, ERROR_CODES.BAD_REQUEST, "line is not valid UTF-8"));
      return;
    }
    if (text.trim() === "") return;
    const parsed = parseRequest(text);
    if (!parsed.ok) {
      this.write(errorResponse(parsed.id, parsed.error.code, parsed.error.message));
      return;
    }
    const { id, op, args } = parsed.request;
    // Only the op name is logged: args may hold names a user would not want in a log file.
    this.log.debug("control request", { conn: this.id, id, op });
    this.write(await this.run(id, op, args));
  }

  private async run(id: RequestId, op: string, args: Record<string, unknown>): Promise<ControlResponse> {
    const handler = Object.hasOwn(this.handlers, op) ? this.handlers[op] : undefined;
    try {
      if (op === OPS.SUBSCRIBE) {
        this._subscribed = true;
        return okResponse(id, (handler ? await handler(args, this) : undefined) ?? {});
      }
      if (op === OPS.HELLO && !handler) {
        const hello: HelloResult = { protocol: PROTOCOL_VERSION, pid: process.pid };
        return okResponse(id, hello);
      }
      if (!handler) {
        const known = [...new Set([OPS.HELLO, OPS.SUBSCRIBE, ...Object.keys(this.handlers)])].sort();
        return errorResponse(id, ERROR_CODES.UNKNOWN_OP, `unknown op '${op}'; this daemon knows: ${known.join(", ")}`);
      }
      const result = await handler(args, this);
      return okResponse(id, result ?? {});
    } catch (err) {
      if (err instanceof ControlError) return errorResponse(id, err.code, err.message);
      this.log.error("control op failed", { conn: this.id, op, err: err as Error });
      const message = err instanceof Error ? err.message : String(err);
      return errorResponse(id, ERROR_CODES.INTERNAL, `internal error in '${op}': ${message}`);
    }
  }

  private write(message: ControlResponse | ControlEvent): void {
    if (this.socket.destroyed || this.socket.writableEnded) return;
    let line: string;
    try {
      line = encodeLine(message);
    } catch (err) {
      // A handler returned something JSON cannot carry (a cycle, a BigInt): that is our bug.
      this.log.error("control message is not serialisable", { conn: this.id, err: err as Error });
      if (!("event" in message)) {
        line = encodeLine(errorResponse(message.id, ERROR_CODES.INTERNAL, "internal error: result is not serialisable"));
      } else {
        return;
      }
    }
    if (this.socket.writableLength > MAX_BUFFERED_BYTES) {
      this.log.warn("control client is not reading; dropping its connection", { conn: this.id });
      this.socket.destroy();
      return;
    }
    this.socket.write(line);
  }
}
