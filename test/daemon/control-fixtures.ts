// Shared by the control socket and CLI tests: temp data dirs, a server with fake handlers,
// and a raw line-oriented socket that speaks the protocol by hand, as the C plugin will.
import fs from "node:fs";
import net from "node:net";
import os from "node:os";
import path from "node:path";
import { spawnSync } from "node:child_process";

import { ControlServer, type ControlHandler } from "../../src/daemon/control-server.js";
import { createLogger, type Logger } from "../../src/daemon/logger.js";
import { controlSocketPath } from "../../src/daemon/paths.js";

export function tempDir(prefix = "po-ctl-"): string {
  return fs.mkdtempSync(path.join(os.tmpdir(), prefix));
}

export function removeDir(dir: string): void {
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A logger that keeps its lines, so tests can assert on what was (not) logged. */
export function memoryLogger(level: "error" | "warn" | "info" | "debug" = "debug"): { log: Logger; lines: string[] } {
  const lines: string[] = [];
  const stream = {
    write(chunk: string) {
      lines.push(...chunk.split("\n").filter((l) => l !== ""));
      return true;
    },
  } as unknown as NodeJS.WritableStream;
  return { log: createLogger({ level, stream }), lines };
}

export async function startServer(
  dataDir: string,
  handlers: Record<string, ControlHandler>,
): Promise<{ server: ControlServer; socketPath: string; lines: string[] }> {
  const socketPath = controlSocketPath(dataDir);
  const { log, lines } = memoryLogger();
  const server = new ControlServer({ socketPath, handlers, log });
  await server.listen();
  return { server, socketPath, lines };
}

/** Leaves a socket file nobody listens on, as a daemon killed with SIGKILL does. */
export function makeStaleSocket(socketPath: string): void {
  const script =
    "const net = require('node:net');" +
    "net.createServer().listen(process.argv[1], () => process.kill(process.pid, 'SIGKILL'));";
  spawnSync(process.execPath, ["-e", script, socketPath], { stdio: "ignore" });
  if (!fs.lstatSync(socketPath).isSocket()) throw new Error("could not create a stale socket");
}

/** A hand-driven protocol connection: write raw bytes, read parsed lines. */
export class RawConnection {
  private buffered = "";
  private readonly lines: string[] = [];
  private waiters: Array<() => void> = [];
  ended = false;

  private constructor(readonly socket: net.Socket) {
    socket.setEncoding("utf8");
    socket.on("data", (text: string) => {
      this.buffered += text;
      let nl;
      while ((nl = this.buffered.indexOf("\n")) !== -1) {
        this.lines.push(this.buffered.slice(0, nl));
        this.buffered = this.buffered.slice(nl + 1);
      }
      this.wake();
    });
    socket.on("close", () => {
      this.ended = true;
      this.wake();
    });
    socket.on("error", () => undefined);
  }

  static open(socketPath: string): Promise<RawConnection> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      socket.once("connect", () => resolve(new RawConnection(socket)));
      socket.once("error", reject);
    });
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  send(message: unknown): void {
    this.socket.write(JSON.stringify(message) + "\n");
  }

  /** The next line as parsed JSON; rejects if the connection closes first or after timeoutMs. */
  async next(timeoutMs = 3000): Promise<Record<string, unknown>> {
    const deadline = Date.now() + timeoutMs;
    while (this.lines.length === 0) {
      if (this.ended) throw new Error("connection closed before a line arrived");
      const left = deadline - Date.now();
      if (left <= 0) throw new Error("timed out waiting for a line");
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return JSON.parse(this.lines.shift()!) as Record<string, unknown>;
  }

  /** Resolves true once the daemon has closed the connection, false after timeoutMs. */
  async closedWithin(timeoutMs = 3000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.ended) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiters.push(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    }
    return true;
  }

  /** Lines received and not yet read. */
  get pendingLines(): number {
    return this.lines.length;
  }

  close(): void {
    this.socket.destroy();
  }

  private wake(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }
}
