// The client side of the control socket, used by the CLI (and by tests standing in for the
// Pidgin plugin). One connection, many requests; responses are matched by id; events from
// a "subscribe" go to onEvent listeners. The wire format is docs/control-protocol.md.
import net from "node:net";
import path from "node:path";

import {
  ControlError,
  decodeLine,
  encodeLine,
  LineSplitter,
  MAX_LINE_BYTES,
  parseServerMessage,
  type ControlRequest,
  type RequestId,
} from "./control-protocol.js";
import { MAX_SOCKET_PATH_BYTES } from "./paths.js";

export { ControlError } from "./control-protocol.js";

/** Shell-quotes a path for a command line in a message, only when needed. */
function shellWord(text: string): string {
  return /^[\w@%+=:,./-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/** Nothing listens on the control socket: the daemon is not running for that data dir. */
export class DaemonNotRunningError extends Error {
  override readonly name = "DaemonNotRunningError";
  constructor(
    readonly dataDir: string,
    options?: { cause?: unknown },
  ) {
    const dir = shellWord(dataDir);
    super(
      `no purple-onion daemon is running for data dir ${dataDir}: ` +
        `start one with \`purple-onion serve --data-dir ${dir}\``,
      options,
    );
  }
}

/** The daemon did not accept the connection, or did not answer a request, in time. */
export class ControlTimeoutError extends Error {
  override readonly name = "ControlTimeoutError";
}

export interface ConnectOptions {
  /** How long to wait for the connection; default 5000 ms. */
  timeoutMs?: number;
  /** How long to wait for each response; default 30000 ms. 0 waits forever. */
  requestTimeoutMs?: number;
}

export async function connectControl(socketPath: string, opts: ConnectOptions = {}): Promise<ControlClient> {
  const dataDir = path.dirname(socketPath);
  if (Buffer.byteLength(socketPath) > MAX_SOCKET_PATH_BYTES) {
    throw new Error(
      `control socket path ${socketPath} is longer than ${MAX_SOCKET_PATH_BYTES} bytes, the limit for Unix sockets: ` +
        `use a shorter --data-dir`,
    );
  }
  const timeoutMs = opts.timeoutMs ?? 5000;
  const socket = net.createConnection(socketPath);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new ControlTimeoutError(`timed out after ${timeoutMs} ms connecting to the daemon at ${socketPath}`));
    }, timeoutMs);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve();
    });
    socket.once("error", (err: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(connectError(socketPath, dataDir, err));
    });
  });
  return new ControlClient(socket, opts.requestTimeoutMs ?? 30_000);
}

function connectError(socketPath: string, dataDir: string, err: NodeJS.ErrnoException): Error {
  switch (err.code) {
    case "ENOENT": // no socket file: never started, or stopped cleanly
    case "ECONNREFUSED": // a socket file nobody listens on: the daemon died
    case "ENOTDIR": // the data dir path is a file
      return new DaemonNotRunningError(dataDir, { cause: err });
    case "EACCES":
    case "EPERM":
      return new Error(
        `permission denied on the control socket ${socketPath}: the daemon there belongs to another user`,
        { cause: err },
      );
    default:
      return new Error(`cannot connect to the daemon at ${socketPath}: ${err.message}`, { cause: err });
  }
}

interface Pending {
  op: string;
  resolve: (result: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export type EventListener = (event: string, data: unknown) => void;

export class ControlClient {
  private nextId: RequestId = 1;
  private readonly pending = new Map<RequestId, Pending>();
  private readonly eventListeners: EventListener[] = [];
  private readonly splitter = new LineSplitter(MAX_LINE_BYTES);
  private closeReason: Error | undefined;
  /** Resolves when the connection is gone, for whatever reason. */
  readonly closed: Promise<void>;

  constructor(
    private readonly socket: net.Socket,
    private readonly requestTimeoutMs: number,
  ) {
    socket.on("data", (chunk: Buffer) => this.onData(chunk));
    socket.on("error", (err) => this.fail(new Error(`control connection failed: ${err.message}`, { cause: err })));
    this.closed = new Promise((resolve) => {
      socket.once("close", () => {
        this.fail(new Error("the daemon closed the control connection"));
        resolve();
      });
    });
  }

  /** Sends one request; resolves with its result, rejects with ControlError when the daemon says ok:false. */
  request<T = unknown>(op: string, args: Record<string, unknown> = {}): Promise<T> {
    if (this.closeReason) return Promise.reject(this.closeReason);
    const id = this.nextId++;
    const request: ControlRequest = { id, op, args };
    return new Promise<T>((resolve, reject) => {
      const timer =
        this.requestTimeoutMs > 0
          ? setTimeout(() => {
              this.pending.delete(id);
              reject(new ControlTimeoutError(`the daemon did not answer '${op}' within ${this.requestTimeoutMs} ms`));
            }, this.requestTimeoutMs)
          : undefined;
      timer?.unref();
      this.pending.set(id, { op, resolve: resolve as (result: unknown) => void, reject, timer });
      this.socket.write(encodeLine(request));
    });
  }

  /** Calls fn for every event the daemon sends (after a "subscribe" request). */
  onEvent(fn: EventListener): void {
    this.eventListeners.push(fn);
  }

  /** Closes the connection; requests still waiting are rejected. */
  close(): void {
    this.fail(new Error("control connection closed by the client"));
    this.socket.end();
    // A daemon that never closes its side must not keep this process alive.
    setTimeout(() => this.socket.destroy(), 1000).unref();
  }

  private onData(chunk: Buffer): void {
    const { lines, tooLong } = this.splitter.push(chunk);
    for (const line of lines) this.onLine(line);
    if (tooLong) {
      this.fail(new Error(`the daemon sent a line longer than ${MAX_LINE_BYTES} bytes`));
      this.socket.destroy();
    }
  }

  private onLine(line: Buffer): void {
    const text = decodeLine(line);
    if (text === null || text.trim() === "") return;
    let message;
    try {
      message = parseServerMessage(text);
    } catch (err) {
      this.fail(new Error(`the daemon sent something that is not the control protocol: ${(err as Error).message}`));
      this.socket.destroy();
      return;
    }
    if (message.kind === "event") {
      for (const fn of this.eventListeners) fn(message.event.event, message.event.data);
      return;
    }
    const response = message.response;
    // id null: the daemon could not read a request of ours. Responses come in request order,
    // so it belongs to the oldest one still waiting.
    const id = response.id ?? this.pending.keys().next().value;
    if (id === undefined) return;
    const waiting = this.pending.get(id);
    if (!waiting) return; // timed out already
    this.pending.delete(id);
    clearTimeout(waiting.timer);
    if (response.ok) waiting.resolve(response.result);
    else waiting.reject(new ControlError(response.error.code, response.error.message));
  }

  private fail(reason: Error): void {
    this.closeReason ??= reason;
    for (const [id, waiting] of this.pending) {
      this.pending.delete(id);
      clearTimeout(waiting.timer);
      waiting.reject(reason);
    }
  }
}
